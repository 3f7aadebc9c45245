//! Reading what a partner sends for an endpoint: the URL (through the outbound guard), the event
//! types (known, and each readable with the client's scopes) and the description. Each reader
//! notes what is wrong in a shared list, so one answer names every invalid field.

use std::collections::BTreeSet;

use crate::FieldError;
use crate::events::EventType;
use crate::outbound::UrlCheck;
use crate::tokens::ScopeSet;

pub use crate::outbound::MAX_URL_LEN;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// The URL as it will be stored, or `None` with the reason noted.
pub(super) async fn url(
    urls: &dyn UrlCheck,
    raw: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    crate::outbound::read_url(
        urls,
        "url",
        "give the https URL ClinicGate should POST events to",
        raw,
        errors,
    )
    .await
}

/// The event types named in `words`, each allowed by `scopes`, or `None` with every problem
/// noted: none given (`required`), unknown names (`unknown_event_type`), types whose data the
/// client may not read (`scope_missing`).
pub(super) fn event_types(
    words: &[String],
    scopes: &ScopeSet,
    errors: &mut Vec<FieldError>,
) -> Option<BTreeSet<EventType>> {
    let known = || {
        EventType::ALL
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if words.iter().all(|word| word.trim().is_empty()) {
        errors.push(FieldError::new(
            "event_types",
            "required",
            format!("choose at least one event type: {}", known()),
        ));
        return None;
    }
    let mut types = BTreeSet::new();
    let mut unknown = Vec::new();
    for word in words.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        match EventType::parse(word) {
            Some(event_type) => {
                types.insert(event_type);
            }
            None => unknown.push(format!("\"{}\"", word.escape_debug())),
        }
    }
    let before = errors.len();
    if !unknown.is_empty() {
        errors.push(FieldError::new(
            "event_types",
            "unknown_event_type",
            format!(
                "unknown event type(s) {}; known types are {} (GET /api/public/event-types)",
                unknown.join(", "),
                known()
            ),
        ));
    }
    let missing: Vec<String> = types
        .iter()
        .filter(|t| !scopes.contains(t.scope()))
        .map(|t| format!("{t} needs {}", t.scope()))
        .collect();
    if !missing.is_empty() {
        errors.push(FieldError::new(
            "event_types",
            "scope_missing",
            format!(
                "this client may not read the data of {}; ask the clinic to grant the scope",
                missing.join(", ")
            ),
        ));
    }
    (errors.len() == before).then_some(types)
}

/// The description, trimmed (blank is none), or `None` with the reason noted.
pub(super) fn description(
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<Option<String>> {
    let Some(text) = raw.map(str::trim).filter(|text| !text.is_empty()) else {
        return Some(None);
    };
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        errors.push(FieldError::new(
            "description",
            "too_long",
            format!("use at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
        return None;
    }
    if text.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "description",
            "invalid_characters",
            "the description must not contain control characters (line breaks included)",
        ));
        return None;
    }
    Some(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::UrlRefused;
    use crate::tokens::Scope;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| (*w).to_owned()).collect()
    }

    fn codes(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.code).collect()
    }

    #[test]
    fn event_types_must_be_given_known_and_readable_with_the_clients_scopes() {
        let scopes: ScopeSet = [Scope::AppointmentsRead].into_iter().collect();
        let mut errors = Vec::new();
        let types = event_types(
            &words(&[
                "appointment.created",
                " appointment.created",
                "appointment.cancelled",
            ]),
            &scopes,
            &mut errors,
        )
        .unwrap();
        assert!(errors.is_empty());
        assert_eq!(
            types.into_iter().collect::<Vec<_>>(),
            [
                EventType::AppointmentCreated,
                EventType::AppointmentCancelled
            ]
        );

        assert!(event_types(&words(&["", " "]), &scopes, &mut errors).is_none());
        assert!(event_types(&[], &scopes, &mut errors).is_none());
        assert_eq!(codes(&errors), ["required", "required"]);

        let mut errors = Vec::new();
        assert!(
            event_types(
                &words(&["appointment.deleted", "patient.created"]),
                &scopes,
                &mut errors
            )
            .is_none()
        );
        assert_eq!(codes(&errors), ["unknown_event_type", "scope_missing"]);
        assert!(errors[0].message.contains("\"appointment.deleted\""));
        assert!(
            errors[1]
                .message
                .contains("patient.created needs patients:read")
        );
    }

    #[test]
    fn a_description_is_trimmed_bounded_and_single_line() {
        let mut errors = Vec::new();
        assert_eq!(description(None, &mut errors), Some(None));
        assert_eq!(description(Some("  "), &mut errors), Some(None));
        assert_eq!(
            description(Some(" Booking sync "), &mut errors),
            Some(Some("Booking sync".to_owned()))
        );
        assert!(errors.is_empty());
        assert_eq!(description(Some(&"x".repeat(501)), &mut errors), None);
        assert_eq!(description(Some("a\nb"), &mut errors), None);
        assert_eq!(codes(&errors), ["too_long", "invalid_characters"]);
    }

    #[derive(Debug)]
    struct RefuseHttp;

    #[async_trait::async_trait]
    impl UrlCheck for RefuseHttp {
        async fn check(&self, url: &str) -> Result<String, UrlRefused> {
            if url.starts_with("https://") {
                Ok(url.to_owned())
            } else {
                Err(UrlRefused {
                    code: "scheme_not_allowed",
                    message: "use https".to_owned(),
                })
            }
        }
    }

    #[tokio::test]
    async fn a_url_is_required_bounded_and_checked_by_the_guard() {
        let mut errors = Vec::new();
        assert_eq!(
            url(&RefuseHttp, " https://hooks.example.com/x ", &mut errors).await,
            Some("https://hooks.example.com/x".to_owned())
        );
        assert_eq!(url(&RefuseHttp, "  ", &mut errors).await, None);
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(url(&RefuseHttp, &long, &mut errors).await, None);
        assert_eq!(
            url(&RefuseHttp, "http://hooks.example.com/", &mut errors).await,
            None
        );
        assert_eq!(
            codes(&errors),
            ["required", "too_long", "scheme_not_allowed"]
        );
        assert!(errors.iter().all(|e| e.field == "url"));
    }
}
