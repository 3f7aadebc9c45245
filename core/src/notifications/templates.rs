//! The messages notifications send: a subject, a plain-text body and an HTML body per event
//! type, rendered with minijinja. HTML bodies are auto-escaped (a patient named `<b>` is shown
//! as typed, never as markup); subjects and text bodies are not, since they are not HTML.
//!
//! The defaults below are what every clinic sends unless it saved its own template for the
//! trigger and channel; they branch on `audience` so the patient reads "your appointment" and
//! the staff address reads whose it is.
//!
//! A clinic's own template is untrusted input, so every template renders in one sandbox
//! ([`sandbox`]): no loader (`include`, `import` and `extends` find nothing: no file system, no
//! other template), undefined variables are errors, a fuel limit stops a template that loops or
//! allocates without end, and the rendered parts have a size limit. A clinic's template is
//! checked with the same sandbox when it is saved ([`validate`]), so a broken one is refused
//! then and not found out when a patient's message is due.

use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};

use super::{Audience, Channel, QueueProgress, RuleKey, Trigger};
use crate::Result;
use crate::error::{Error, FieldError};
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
    /// A queue message's news: the patient's place, or the doctor's delay (queue rules only).
    pub queue: Option<QueueProgress>,
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
            queue: None,
        }
    }

    /// Made-up data for a preview of `trigger`'s messages (place 2 for a queue rule).
    pub fn sample_for(trigger: Trigger) -> Self {
        Self {
            queue: (trigger == Trigger::Queue).then_some(QueueProgress::Place(2)),
            ..Self::sample()
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
        Trigger::Queue => QUEUE_EMAIL,
        _ => (
            "{% if audience == 'staff' %}Booked: {{ patient_name }}, {{ when }}{% else %}Your appointment on {{ when }} is booked{% endif %}",
            "{% if audience == 'staff' %}{{ patient_name }} booked an appointment on {{ when }} ({{ time_zone }}).{% else %}Hello {{ patient_name }},\n\nyour appointment is booked for {{ when }} ({{ time_zone }}). The attached invitation adds it to your calendar.{% endif %}\n",
            "{% if audience == 'staff' %}<p>{{ patient_name }} booked an appointment on {{ when }} ({{ time_zone }}).</p>{% else %}<p>Hello {{ patient_name }},</p><p>your appointment is booked for <strong>{{ when }}</strong> ({{ time_zone }}). The attached invitation adds it to your calendar.</p>{% endif %}",
        ),
    }
}

/// The variables a template can use (the context of every message).
pub const VARIABLES: [&str; 6] = [
    "event",
    "audience",
    "patient_name",
    "when",
    "time_zone",
    "appointment_id",
];

/// The variables a queue template has besides [`VARIABLES`]: the patient's `place` (none when
/// the message says the doctor is running late) and the delay in `late_minutes` (none otherwise).
pub const QUEUE_VARIABLES: [&str; 2] = ["place", "late_minutes"];

/// Every variable a template of `trigger` can use.
pub fn variables(trigger: Trigger) -> Vec<&'static str> {
    let mut names = VARIABLES.to_vec();
    if trigger == Trigger::Queue {
        names.extend(QUEUE_VARIABLES);
    }
    names
}

/// The longest subject template, in characters.
pub const MAX_SUBJECT_CHARS: usize = 1_000;
/// The longest plain-text template, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;
/// The longest HTML template, in characters.
pub const MAX_HTML_CHARS: usize = 50_000;
/// The longest rendered part, in bytes: a template that grows past it (a loop, a repeated
/// string) does not render.
const MAX_RENDERED_BYTES: usize = 200_000;
/// Instructions (and allocations) one part may spend: the defaults use a few dozen, a loop over
/// a large range runs out.
const FUEL: u64 = 20_000;
/// How deep macros may call each other.
const RECURSION_LIMIT: usize = 16;

/// The sources of one message: for an e-mail a subject, a plain-text and an HTML template; for
/// a text-only channel the text alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSources {
    /// The subject line (e-mail only).
    pub subject: Option<String>,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (e-mail only), auto-escaped.
    pub html: Option<String>,
}

/// Whether messages of `channel` have a subject and an HTML part (an e-mail) or a text only.
pub fn has_subject_and_html(channel: Channel) -> bool {
    channel == Channel::Email
}

/// The built-in templates of `trigger` on `channel`: what a clinic sends until it saves its own.
pub fn default_sources(trigger: Trigger, channel: Channel) -> TemplateSources {
    match channel {
        Channel::Email => {
            let (subject, text, html) = defaults(trigger);
            TemplateSources {
                subject: Some(subject.to_owned()),
                text: text.to_owned(),
                html: Some(html.to_owned()),
            }
        }
        Channel::Sms => TemplateSources {
            subject: None,
            text: sms_default(trigger).to_owned(),
            html: None,
        },
    }
}

/// The environment every template renders in: nothing to load, strict about undefined
/// variables, fuelled, HTML auto-escaped by template name (`*.html`).
fn sandbox() -> Environment<'static> {
    // `Environment::new` has no loader: `include`, `import` and `extends` fail with "template
    // not found" instead of reading anything.
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
}

/// One part of a message: its wire field and its template name (which decides escaping).
struct Part<'a> {
    field: &'static str,
    name: &'static str,
    source: &'a str,
}

/// The parts of `sources` that `channel` has, or what is wrong with their presence.
fn parts(
    channel: Channel,
    sources: &TemplateSources,
) -> std::result::Result<Vec<Part<'_>>, Vec<FieldError>> {
    let email = has_subject_and_html(channel);
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    for (field, name, source, max_chars) in [
        (
            "subject",
            "subject.txt",
            sources.subject.as_deref(),
            MAX_SUBJECT_CHARS,
        ),
        (
            "text",
            "body.txt",
            Some(sources.text.as_str()),
            MAX_TEXT_CHARS,
        ),
        ("html", "body.html", sources.html.as_deref(), MAX_HTML_CHARS),
    ] {
        let wanted = email || field == "text";
        match source {
            // An empty part a channel does not have is as good as none.
            Some(source) if !wanted && !source.trim().is_empty() => {
                errors.push(FieldError::new(
                    field,
                    "not_allowed",
                    format!("{} messages have no {field}", channel.as_str()),
                ));
            }
            Some(_) if !wanted => {}
            None if wanted => errors.push(FieldError::new(field, "required", "give a template")),
            Some(source) if source.trim().is_empty() => {
                errors.push(FieldError::new(field, "required", "give a template"));
            }
            Some(source) => {
                if source.chars().count() > max_chars {
                    errors.push(FieldError::new(
                        field,
                        "too_long",
                        format!("at most {max_chars} characters"),
                    ));
                } else {
                    parts.push(Part {
                        field,
                        name,
                        source,
                    });
                }
            }
            None => {}
        }
    }
    if errors.is_empty() {
        Ok(parts)
    } else {
        Err(errors)
    }
}

/// The context of a message of `rule` about `data`: [`variables`] of its trigger.
fn context_of(rule: RuleKey, data: &SampleData) -> minijinja::Value {
    let ctx = context! {
        event => rule.trigger.as_str(),
        audience => rule.audience.as_str(),
        patient_name => data.patient_name.as_str(),
        when => data.when.as_str(),
        time_zone => data.time_zone.as_str(),
        appointment_id => data.appointment_id.as_str(),
    };
    if rule.trigger != Trigger::Queue {
        return ctx;
    }
    let (place, late_minutes) = match data.queue {
        Some(QueueProgress::Place(place)) => (Some(place), None),
        Some(QueueProgress::Late { minutes }) => (None, Some(minutes)),
        None => (None, None),
    };
    context! { place => place, late_minutes => late_minutes, ..ctx }
}

/// What went wrong in a template, for the clinic: the line and minijinja's description, never
/// the data it was rendered with.
fn described(err: &minijinja::Error) -> String {
    let what = err
        .detail()
        .map_or_else(|| err.kind().to_string(), str::to_owned);
    match err.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}

/// The first line of `source` that names `variable` as a whole word (1-based).
fn line_naming(source: &str, variable: &str) -> usize {
    source
        .lines()
        .position(|line| {
            line.match_indices(variable).any(|(at, _)| {
                let word = |c: char| c.is_alphanumeric() || c == '_';
                let before = line[..at].chars().next_back();
                let after = line[at + variable.len()..].chars().next();
                !before.is_some_and(word) && !after.is_some_and(word)
            })
        })
        .map_or(1, |i| i + 1)
}

/// `part` rendered in `env` with `ctx`.
fn render_part(
    env: &Environment<'_>,
    part: &Part<'_>,
    ctx: &minijinja::Value,
) -> std::result::Result<String, String> {
    let template = env
        .template_from_named_str(part.name, part.source)
        .map_err(|err| described(&err))?;
    let rendered = template.render(ctx).map_err(|err| described(&err))?;
    if rendered.len() > MAX_RENDERED_BYTES {
        return Err(format!("renders to more than {MAX_RENDERED_BYTES} bytes"));
    }
    Ok(rendered)
}

/// Checks a clinic's templates for `trigger` on `channel` before they are saved: the parts the
/// channel has are present and within their size limits, parse, name only [`VARIABLES`], and
/// render (within the fuel and size limits) for the patient and for staff with sample data.
///
/// # Errors
/// One [`FieldError`] per wrong part (`subject`, `text`, `html`), its message naming the line.
pub fn validate(
    trigger: Trigger,
    channel: Channel,
    sources: &TemplateSources,
) -> std::result::Result<(), Vec<FieldError>> {
    let parts = parts(channel, sources)?;
    let env = sandbox();
    let globals: Vec<&str> = env.globals().map(|(name, _)| name).collect();
    let known = variables(trigger);
    // A queue template renders for a place and for a delay; the others for their appointment.
    let samples: Vec<SampleData> = if trigger == Trigger::Queue {
        [QueueProgress::Place(2), QueueProgress::Late { minutes: 25 }]
            .into_iter()
            .map(|queue| SampleData {
                queue: Some(queue),
                ..SampleData::sample()
            })
            .collect()
    } else {
        vec![SampleData::sample()]
    };
    let mut errors = Vec::new();
    for part in &parts {
        let template = match env.template_from_named_str(part.name, part.source) {
            Ok(template) => template,
            Err(err) => {
                errors.push(FieldError::new(part.field, "syntax", described(&err)));
                continue;
            }
        };
        let mut unknown: Vec<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|name| !known.contains(&name.as_str()) && !globals.contains(&name.as_str()))
            .collect();
        unknown.sort_unstable();
        if let Some(name) = unknown.first() {
            errors.push(FieldError::new(
                part.field,
                "unknown_variable",
                format!(
                    "line {}: unknown variable `{name}`; use {}",
                    line_naming(part.source, name),
                    known.join(", ")
                ),
            ));
            continue;
        }
        'audiences: for audience in Audience::ALL {
            let rule = RuleKey {
                trigger,
                channel,
                audience,
            };
            for sample in &samples {
                if let Err(why) = render_part(&env, part, &context_of(rule, sample)) {
                    errors.push(FieldError::new(part.field, "render", why));
                    break 'audiences;
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Renders `sources` for `rule` about `data` in the sandbox. A part the channel does not have
/// renders empty.
///
/// # Errors
/// `Validation` naming the part and line when a template does not render (a clinic's template
/// saved before a limit changed; the defaults always render).
pub fn render_with(
    sources: &TemplateSources,
    rule: RuleKey,
    data: &SampleData,
) -> Result<Rendered> {
    let parts = parts(rule.channel, sources).map_err(Error::Validation)?;
    let env = sandbox();
    let ctx = context_of(rule, data);
    let mut rendered = Rendered {
        subject: String::new(),
        text: String::new(),
        html: String::new(),
    };
    for part in &parts {
        let out = render_part(&env, part, &ctx)
            .map_err(|why| Error::Validation(vec![FieldError::new(part.field, "render", why)]))?;
        match part.field {
            // A subject is one line: a newline in the data must not start a header.
            "subject" => rendered.subject = out.replace(['\r', '\n'], " "),
            "html" => rendered.html = out,
            // A text message is one line.
            _ if !has_subject_and_html(rule.channel) => {
                rendered.text = out.replace(['\r', '\n'], " ").trim().to_owned();
            }
            _ => rendered.text = out,
        }
    }
    Ok(rendered)
}

/// Renders the default message of `rule` about `data`.
///
/// # Errors
/// `Internal` when a default template does not render (they always do; a test renders each).
pub fn render(rule: RuleKey, data: &SampleData) -> Result<Rendered> {
    render_with(&default_sources(rule.trigger, rule.channel), rule, data)
        .map_err(|err| Error::internal(format!("a default notification template: {err}")))
}

/// The default message of `rule` rendered with made-up data, for previews.
///
/// # Errors
/// As [`render`].
pub fn render_sample(rule: RuleKey) -> Result<Rendered> {
    render(rule, &SampleData::sample_for(rule.trigger))
}

/// `rendered` with the unsubscribe footer every patient e-mail carries: a line with the link in
/// the text, a paragraph with it in the HTML (escaped like any other value).
///
/// # Errors
/// `Internal` if the footer does not render (it always does).
pub fn with_unsubscribe(mut rendered: Rendered, url: &str) -> Result<Rendered> {
    let env = sandbox();
    let ctx = context! { url => url };
    let footer = |name: &str, source: &str| {
        env.template_from_named_str(name, source)
            .and_then(|template| template.render(&ctx))
            .map_err(|err| Error::internal(format!("the unsubscribe footer: {err}")))
    };
    rendered.text.push_str(&footer(
        "footer.txt",
        "\n--\nTo stop these e-mails, unsubscribe: {{ url }}\n",
    )?);
    rendered.html.push_str(&footer(
        "footer.html",
        "<hr><p style=\"font-size:small;color:#555\">Don\u{2019}t want these e-mails? <a href=\"{{ url }}\">Unsubscribe</a>.</p>",
    )?);
    Ok(rendered)
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

    fn sources(subject: &str, text: &str, html: &str) -> TemplateSources {
        TemplateSources {
            subject: Some(subject.to_owned()),
            text: text.to_owned(),
            html: Some(html.to_owned()),
        }
    }

    fn refused(sources: &TemplateSources) -> Vec<FieldError> {
        validate(Trigger::Reminder, Channel::Email, sources).unwrap_err()
    }

    #[test]
    fn every_default_passes_its_own_check() {
        for trigger in Trigger::ALL {
            for channel in Channel::ALL {
                validate(trigger, channel, &default_sources(trigger, channel)).unwrap();
            }
        }
    }

    #[test]
    fn loops_sets_filters_and_the_builtin_functions_are_not_unknown_variables() {
        validate(
            Trigger::Reminder,
            Channel::Email,
            &sources(
                "{{ patient_name|upper }} {{ when|default('soon') }}",
                "{% for i in range(2) %}{{ loop.index }}{% endfor %}{% set ns = namespace(n=1) %}{{ ns.n }}",
                "{% macro hi(name) %}<b>{{ name }}</b>{% endmacro %}{{ hi(patient_name) }}",
            ),
        )
        .unwrap();
    }

    #[test]
    fn a_syntax_error_or_an_unknown_variable_is_refused_naming_the_part_and_line() {
        let errors = refused(&sources("Hi", "ok", "<p>\n{% if %}</p>"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "html");
        assert_eq!(errors[0].code, "syntax");
        assert!(errors[0].message.starts_with("line 2: "), "{errors:?}");

        let errors = refused(&sources(
            "Hi {{ patient_nme }}",
            "a\n{{ when }}\n{{ secret }}",
            "x",
        ));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].field, "subject");
        assert_eq!(errors[0].code, "unknown_variable");
        assert!(errors[0].message.contains("`patient_nme`"), "{errors:?}");
        assert_eq!(errors[1].field, "text");
        assert!(
            errors[1]
                .message
                .starts_with("line 3: unknown variable `secret`"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_template_cannot_include_loop_forever_or_grow_without_end() {
        let include = refused(&sources("Hi", "{% include 'body.html' %}", "x"));
        assert_eq!(include[0].field, "text", "{include:?}");
        assert_eq!(include[0].code, "render");
        let looping = refused(&sources(
            "Hi",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "x",
        ));
        assert_eq!(looping[0].code, "render", "{looping:?}");
        let recursive = refused(&sources(
            "Hi",
            "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
            "x",
        ));
        assert_eq!(recursive[0].code, "render", "{recursive:?}");
        let huge = refused(&sources("Hi", "{{ 'x' * 10000000 }}", "x"));
        assert_eq!(huge[0].code, "render", "{huge:?}");
        let long = refused(&sources(&"s".repeat(MAX_SUBJECT_CHARS + 1), "ok", "x"));
        assert_eq!(
            (long[0].field.as_str(), long[0].code),
            ("subject", "too_long")
        );
        let missing = refused(&TemplateSources {
            subject: None,
            text: " ".to_owned(),
            html: Some("x".to_owned()),
        });
        let fields: Vec<&str> = missing.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["subject", "text"]);
    }

    #[test]
    fn a_clinics_template_escapes_html_keeps_subjects_on_one_line_and_gets_the_footer() {
        let data = SampleData {
            patient_name: "<script>x</script>\r\nBcc: a@b.c".to_owned(),
            ..SampleData::sample()
        };
        let mine = sources(
            "Dear {{ patient_name }}",
            "See you {{ when }}, {{ patient_name }}",
            "<h1>See you</h1><p>{{ patient_name }}</p>",
        );
        let rendered = render_with(
            &mine,
            key(EventType::AppointmentCreated, Audience::Patient),
            &data,
        )
        .unwrap();
        assert!(
            rendered
                .html
                .starts_with("<h1>See you</h1><p>&lt;script&gt;")
        );
        assert!(!rendered.html.contains("<script>"));
        assert!(!rendered.subject.contains(['\r', '\n']));
        assert!(rendered.text.contains("<script>x</script>"));
        let footed = with_unsubscribe(rendered, "https://h.example/unsubscribe/a\"b").unwrap();
        assert!(
            footed
                .text
                .ends_with("unsubscribe: https://h.example/unsubscribe/a\"b")
        );
        assert!(
            footed
                .html
                .contains("href=\"https:&#x2f;&#x2f;h.example&#x2f;unsubscribe&#x2f;a&quot;b\""),
            "{}",
            footed.html
        );
    }
}

// ---- SMS texts and queue-progress messages -------------------------------------------------
// Text messages are plain, short (one or two segments) and never HTML; queue messages carry a
// place or a delay instead of a booking.

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
        let staff = render(
            sms(
                Trigger::Event(EventType::AppointmentCreated),
                Audience::Staff,
            ),
            &data,
        )
        .unwrap();
        assert_eq!(staff.text, "Booked: <b>Jo</b> Bo, Mon 7 Dec 2026, 9:30.");
        assert_eq!((staff.subject.as_str(), staff.html.as_str()), ("", ""));
        let patient = render_sample(sms(Trigger::Reminder, Audience::Patient)).unwrap();
        assert_eq!(
            patient.text,
            "Reminder: your appointment is on Mon 7 Dec 2026, 9:30."
        );
        assert!(patient.text.len() <= 160);
    }

    #[test]
    fn queue_messages_give_the_place_or_the_delay() {
        let rule = sms(Trigger::Queue, Audience::Patient);
        let at = |queue| SampleData {
            queue: Some(queue),
            ..SampleData::sample()
        };
        let place = render(rule, &at(QueueProgress::Place(3))).unwrap();
        assert_eq!(
            place.text,
            "You are number 3 in the queue for your Mon 7 Dec 2026, 9:30 appointment."
        );
        let late = render(rule, &at(QueueProgress::Late { minutes: 25 })).unwrap();
        assert_eq!(
            late.text,
            "The doctor is running about 25 minutes late. Thank you for waiting."
        );
        let email = RuleKey {
            channel: Channel::Email,
            ..rule
        };
        let email = render(email, &at(QueueProgress::Late { minutes: 25 })).unwrap();
        assert_eq!(email.subject, "The doctor is running late");
        assert!(email.html.contains("<strong>25 minutes</strong>"));
    }

    #[test]
    fn queue_variables_are_for_queue_templates_only() {
        let text = |text: &str| TemplateSources {
            subject: None,
            text: text.to_owned(),
            html: None,
        };
        assert!(validate(Trigger::Queue, Channel::Sms, &text("You are {{ place }}.")).is_ok());
        let refused = validate(
            Trigger::Reminder,
            Channel::Sms,
            &text("You are {{ place }}."),
        )
        .unwrap_err();
        assert_eq!(refused[0].code, "unknown_variable", "{refused:?}");
        let with_subject = validate(
            Trigger::Reminder,
            Channel::Sms,
            &TemplateSources {
                subject: Some("Hi".to_owned()),
                ..text("ok")
            },
        )
        .unwrap_err();
        assert_eq!(with_subject[0].code, "not_allowed");
    }
}
