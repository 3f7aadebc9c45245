//! The messages notifications send: a subject, a plain-text body and an HTML body per event
//! type, rendered with minijinja. HTML bodies are auto-escaped (a patient named `<b>` is shown
//! as typed, never as markup); subjects and text bodies are not, since they are not HTML.
//!
//! The defaults below are what every clinic sends; they branch on `audience` so the patient
//! reads "your appointment" and the staff address reads whose it is.

use minijinja::{AutoEscape, Environment, context};

use super::{RuleKey, Trigger};
use crate::Result;
use crate::error::Error;
use crate::events::EventType;

/// What a message says about its appointment (PHI: never logged).
#[derive(Clone, PartialEq, Eq)]
pub struct SampleData {
    /// The patient's name as Cliniko holds it.
    pub patient_name: String,
    /// The start, in the clinic's time zone, written for people (`Mon 7 Dec 2026, 9:30`).
    pub when: String,
    /// The clinic's time zone (`Australia/Sydney`).
    pub time_zone: String,
    /// Cliniko's id of the appointment.
    pub appointment_id: String,
}

impl std::fmt::Debug for SampleData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleData")
            .field("appointment_id", &self.appointment_id)
            .finish_non_exhaustive()
    }
}

impl SampleData {
    /// Made-up data for previews.
    pub fn sample() -> Self {
        Self {
            patient_name: "Jane Citizen".to_owned(),
            when: "Mon 7 Dec 2026, 9:30".to_owned(),
            time_zone: "Australia/Sydney".to_owned(),
            appointment_id: "1000000000000000001".to_owned(),
        }
    }
}

/// A rendered message.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered").finish_non_exhaustive()
    }
}

/// The default subject, text and HTML templates of `trigger`.
const fn defaults(trigger: Trigger) -> (&'static str, &'static str, &'static str) {
    match trigger {
        Trigger::Reminder => (
            "{% if audience == 'staff' %}Reminder: {{ patient_name }}, {{ when }}{% else %}Reminder: your appointment on {{ when }}{% endif %}",
            "{% if audience == 'staff' %}Reminder: {{ patient_name }} has an appointment on {{ when }} ({{ time_zone }}).{% else %}Hello {{ patient_name }},\n\nthis is a reminder of your appointment on {{ when }} ({{ time_zone }}).{% endif %}\n",
            "{% if audience == 'staff' %}<p>Reminder: {{ patient_name }} has an appointment on {{ when }} ({{ time_zone }}).</p>{% else %}<p>Hello {{ patient_name }},</p><p>this is a reminder of your appointment on <strong>{{ when }}</strong> ({{ time_zone }}).</p>{% endif %}",
        ),
        Trigger::Event(EventType::AppointmentCancelled) => (
            "{% if audience == 'staff' %}Cancelled: {{ patient_name }}, {{ when }}{% else %}Your appointment on {{ when }} is cancelled{% endif %}",
            "{% if audience == 'staff' %}The appointment of {{ patient_name }} on {{ when }} ({{ time_zone }}) was cancelled.{% else %}Hello {{ patient_name }},\n\nyour appointment on {{ when }} ({{ time_zone }}) is cancelled.{% endif %}\n",
            "{% if audience == 'staff' %}<p>The appointment of {{ patient_name }} on {{ when }} ({{ time_zone }}) was cancelled.</p>{% else %}<p>Hello {{ patient_name }},</p><p>your appointment on <strong>{{ when }}</strong> ({{ time_zone }}) is cancelled.</p>{% endif %}",
        ),
        Trigger::Event(EventType::AppointmentUpdated) => (
            "{% if audience == 'staff' %}Changed: {{ patient_name }}, {{ when }}{% else %}Your appointment is now on {{ when }}{% endif %}",
            "{% if audience == 'staff' %}The appointment of {{ patient_name }} changed: it is on {{ when }} ({{ time_zone }}).{% else %}Hello {{ patient_name }},\n\nyour appointment changed: it is now on {{ when }} ({{ time_zone }}).{% endif %}\n",
            "{% if audience == 'staff' %}<p>The appointment of {{ patient_name }} changed: it is on {{ when }} ({{ time_zone }}).</p>{% else %}<p>Hello {{ patient_name }},</p><p>your appointment changed: it is now on <strong>{{ when }}</strong> ({{ time_zone }}).</p>{% endif %}",
        ),
        _ => (
            "{% if audience == 'staff' %}Booked: {{ patient_name }}, {{ when }}{% else %}Your appointment on {{ when }} is booked{% endif %}",
            "{% if audience == 'staff' %}{{ patient_name }} booked an appointment on {{ when }} ({{ time_zone }}).{% else %}Hello {{ patient_name }},\n\nyour appointment is booked for {{ when }} ({{ time_zone }}). The attached invitation adds it to your calendar.{% endif %}\n",
            "{% if audience == 'staff' %}<p>{{ patient_name }} booked an appointment on {{ when }} ({{ time_zone }}).</p>{% else %}<p>Hello {{ patient_name }},</p><p>your appointment is booked for <strong>{{ when }}</strong> ({{ time_zone }}). The attached invitation adds it to your calendar.</p>{% endif %}",
        ),
    }
}

/// Renders the message of `rule` about `data`.
///
/// # Errors
/// `Internal` when a template does not render (the defaults always do).
pub fn render(rule: RuleKey, data: &SampleData) -> Result<Rendered> {
    let (subject, text, html) = defaults(rule.trigger);
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let ctx = context! {
        event => rule.trigger.as_str(),
        audience => rule.audience.as_str(),
        patient_name => data.patient_name.as_str(),
        when => data.when.as_str(),
        time_zone => data.time_zone.as_str(),
        appointment_id => data.appointment_id.as_str(),
    };
    let one = |name: &str, source: &str| {
        env.template_from_named_str(name, source)
            .and_then(|template| template.render(&ctx))
            // The error names the template and line, never the data.
            .map_err(|err| Error::internal(format!("notification template {name}: {err}")))
    };
    Ok(Rendered {
        // A subject is one line: a newline in the data must not start a header.
        subject: one("subject.txt", subject)?.replace(['\r', '\n'], " "),
        text: one("body.txt", text)?,
        html: one("body.html", html)?,
    })
}

/// The message of `rule` rendered with made-up data, for previews.
///
/// # Errors
/// As [`render`].
pub fn render_sample(rule: RuleKey) -> Result<Rendered> {
    render(rule, &SampleData::sample())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::{Audience, Channel};

    fn key(event_type: EventType, audience: Audience) -> RuleKey {
        RuleKey {
            trigger: Trigger::Event(event_type),
            channel: Channel::Email,
            audience,
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let data = SampleData {
            patient_name: "<b>Bo & Co</b>".to_owned(),
            ..SampleData::sample()
        };
        let rendered =
            render(key(EventType::AppointmentCreated, Audience::Patient), &data).unwrap();
        // minijinja also escapes `/` in HTML.
        assert!(
            rendered
                .html
                .contains("&lt;b&gt;Bo &amp; Co&lt;&#x2f;b&gt;"),
            "{}",
            rendered.html
        );
        assert!(!rendered.html.contains("<b>Bo"));
        assert!(rendered.text.contains("Hello <b>Bo & Co</b>,"));
    }

    #[test]
    fn staff_and_patients_read_different_words_and_subjects_stay_on_one_line() {
        let data = SampleData {
            patient_name: "Jane\r\nBcc: x@y.z".to_owned(),
            ..SampleData::sample()
        };
        let staff = render(key(EventType::AppointmentCancelled, Audience::Staff), &data).unwrap();
        assert!(staff.subject.starts_with("Cancelled: Jane"));
        assert!(!staff.subject.contains('\n'));
        let patient =
            render_sample(key(EventType::AppointmentCancelled, Audience::Patient)).unwrap();
        assert_eq!(
            patient.subject,
            "Your appointment on Mon 7 Dec 2026, 9:30 is cancelled"
        );
    }

    #[test]
    fn a_reminder_reminds_the_patient_and_names_the_patient_to_staff() {
        let reminder = |audience| RuleKey {
            trigger: Trigger::Reminder,
            channel: Channel::Email,
            audience,
        };
        let patient = render_sample(reminder(Audience::Patient)).unwrap();
        assert_eq!(
            patient.subject,
            "Reminder: your appointment on Mon 7 Dec 2026, 9:30"
        );
        assert!(patient.text.contains("this is a reminder"));
        let staff = render_sample(reminder(Audience::Staff)).unwrap();
        assert_eq!(
            staff.subject,
            "Reminder: Jane Citizen, Mon 7 Dec 2026, 9:30"
        );
    }
}
