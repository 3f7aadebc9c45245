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

// ---- SMS texts and queue-progress messages -------------------------------------------------
// Kept apart from the e-mail templates above: text messages are plain, short (one or two
// segments) and never HTML, and queue messages carry a place or a delay instead of a booking.

/// The default SMS text of `trigger` (plain text, no escaping: an SMS is not markup).
const fn sms_default(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Reminder => {
            "{% if audience == 'staff' %}Reminder: {{ patient_name }}, {{ when }}.{% else %}Reminder: your appointment is on {{ when }}.{% endif %}"
        }
        Trigger::Event(EventType::AppointmentCancelled) => {
            "{% if audience == 'staff' %}Cancelled: {{ patient_name }}, {{ when }}.{% else %}Your appointment on {{ when }} is cancelled.{% endif %}"
        }
        Trigger::Event(EventType::AppointmentUpdated) => {
            "{% if audience == 'staff' %}Changed: {{ patient_name }}, now {{ when }}.{% else %}Your appointment is now on {{ when }}.{% endif %}"
        }
        Trigger::Queue => QUEUE_SMS,
        Trigger::Event(_) => {
            "{% if audience == 'staff' %}Booked: {{ patient_name }}, {{ when }}.{% else %}Your appointment on {{ when }} is booked.{% endif %}"
        }
    }
}

/// The queue message as a text (`place`, or `late_minutes` for "running late").
const QUEUE_SMS: &str = "{% if late_minutes %}The doctor is running about {{ late_minutes }} minutes late. Thank you for waiting.{% else %}You are number {{ place }} in the queue for your {{ when }} appointment.{% endif %}";

/// The queue message's e-mail subject, text and HTML.
const QUEUE_EMAIL: (&str, &str, &str) = (
    "{% if late_minutes %}The doctor is running late{% else %}You are number {{ place }} in the queue{% endif %}",
    "Hello {{ patient_name }},\n\n{% if late_minutes %}the doctor is running about {{ late_minutes }} minutes late. Thank you for waiting.{% else %}you are number {{ place }} in the queue for your {{ when }} appointment.{% endif %}\n",
    "<p>Hello {{ patient_name }},</p><p>{% if late_minutes %}the doctor is running about <strong>{{ late_minutes }} minutes</strong> late. Thank you for waiting.{% else %}you are number <strong>{{ place }}</strong> in the queue for your {{ when }} appointment.{% endif %}</p>",
);

/// Renders one template of the SMS and queue section (HTML escaped when `name` ends in `.html`).
fn render_one(name: &str, source: &str, ctx: &minijinja::Value) -> Result<String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.template_from_named_str(name, source)
        .and_then(|template| template.render(ctx))
        // The error names the template and line, never the data.
        .map_err(|err| Error::internal(format!("notification template {name}: {err}")))
}

/// The context of an SMS or queue message; `progress` is the place or the delay.
fn sms_context(
    rule: RuleKey,
    data: &SampleData,
    progress: Option<super::QueueProgress>,
) -> minijinja::Value {
    let (place, late_minutes) = match progress {
        Some(super::QueueProgress::Place(place)) => (Some(place), None),
        Some(super::QueueProgress::Late { minutes }) => (None, Some(minutes)),
        None => (None, None),
    };
    context! {
        event => rule.trigger.as_str(),
        audience => rule.audience.as_str(),
        patient_name => data.patient_name.as_str(),
        when => data.when.as_str(),
        time_zone => data.time_zone.as_str(),
        appointment_id => data.appointment_id.as_str(),
        place => place,
        late_minutes => late_minutes,
    }
}

/// Renders the SMS text of `rule` about `data` (with the queue `progress` for a queue rule),
/// on one line.
///
/// # Errors
/// `Internal` when a template does not render (the defaults always do).
pub fn render_sms(
    rule: RuleKey,
    data: &SampleData,
    progress: Option<super::QueueProgress>,
) -> Result<String> {
    let text = render_one(
        "sms.txt",
        sms_default(rule.trigger),
        &sms_context(rule, data, progress),
    )?;
    Ok(text.replace(['\r', '\n'], " ").trim().to_owned())
}

/// The SMS text of `rule` rendered with made-up data (place 2 for a queue rule), for previews.
///
/// # Errors
/// As [`render_sms`].
pub fn render_sms_sample(rule: RuleKey) -> Result<String> {
    render_sms(rule, &SampleData::sample(), sample_progress(rule))
}

/// The e-mail of a queue rule: the place, or that the doctor is running late.
///
/// # Errors
/// As [`render`].
pub fn render_queue_email(
    rule: RuleKey,
    data: &SampleData,
    progress: super::QueueProgress,
) -> Result<Rendered> {
    let ctx = sms_context(rule, data, Some(progress));
    let (subject, text, html) = QUEUE_EMAIL;
    Ok(Rendered {
        subject: render_one("subject.txt", subject, &ctx)?.replace(['\r', '\n'], " "),
        text: render_one("body.txt", text, &ctx)?,
        html: render_one("body.html", html, &ctx)?,
    })
}

/// The made-up progress a queue rule's preview shows.
fn sample_progress(rule: RuleKey) -> Option<super::QueueProgress> {
    (rule.trigger == Trigger::Queue).then_some(super::QueueProgress::Place(2))
}

/// The e-mail of `rule` with made-up data, queue rules included, for previews.
///
/// # Errors
/// As [`render`].
pub fn render_email_sample(rule: RuleKey) -> Result<Rendered> {
    match sample_progress(rule) {
        Some(progress) => render_queue_email(rule, &SampleData::sample(), progress),
        None => render_sample(rule),
    }
}

#[cfg(test)]
mod sms_tests {
    use super::*;
    use crate::notifications::{Audience, Channel, QueueProgress};

    fn sms(trigger: Trigger, audience: Audience) -> RuleKey {
        RuleKey {
            trigger,
            channel: Channel::Sms,
            audience,
        }
    }

    #[test]
    fn sms_texts_are_one_short_plain_line() {
        let data = SampleData {
            patient_name: "<b>Jo</b>\nBo".to_owned(),
            ..SampleData::sample()
        };
        let staff = render_sms(
            sms(
                Trigger::Event(EventType::AppointmentCreated),
                Audience::Staff,
            ),
            &data,
            None,
        )
        .unwrap();
        assert_eq!(staff, "Booked: <b>Jo</b> Bo, Mon 7 Dec 2026, 9:30.");
        let patient = render_sms_sample(sms(Trigger::Reminder, Audience::Patient)).unwrap();
        assert_eq!(
            patient,
            "Reminder: your appointment is on Mon 7 Dec 2026, 9:30."
        );
        assert!(patient.len() <= 160);
    }

    #[test]
    fn queue_messages_give_the_place_or_the_delay() {
        let rule = sms(Trigger::Queue, Audience::Patient);
        let data = SampleData::sample();
        let place = render_sms(rule, &data, Some(QueueProgress::Place(3))).unwrap();
        assert_eq!(
            place,
            "You are number 3 in the queue for your Mon 7 Dec 2026, 9:30 appointment."
        );
        let late = render_sms(rule, &data, Some(QueueProgress::Late { minutes: 25 })).unwrap();
        assert_eq!(
            late,
            "The doctor is running about 25 minutes late. Thank you for waiting."
        );
        let email = render_queue_email(rule, &data, QueueProgress::Late { minutes: 25 }).unwrap();
        assert_eq!(email.subject, "The doctor is running late");
        assert!(email.html.contains("<strong>25 minutes</strong>"));
    }
}
