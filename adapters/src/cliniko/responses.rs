//! Turning Cliniko's answers into values or typed errors.
//!
//! Cliniko's error bodies vary: 422 is JSON `{"message", "errors": {field: "text"}}` (single
//! strings), 401 is Rails' plain text, others are undocumented. Nothing here assumes JSON unless it
//! parses; no upstream text is copied into errors except validation messages meant for users.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clinicgate_core::{Error, FieldError, UpstreamFailure};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use crate::retry_after::retry_after;

/// The `service` of every upstream error from Cliniko.
pub(crate) const SERVICE: &str = "cliniko";

/// The `code` of validation messages that come from Cliniko.
const REJECTED: &str = "rejected_by_cliniko";

/// An upstream failure of Cliniko.
pub(crate) fn upstream(failure: UpstreamFailure) -> Error {
    Error::Upstream {
        service: SERVICE,
        failure,
    }
}

/// What to do with an answer that is not a success.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The error to return if no retry happens.
    pub error: Error,
    /// The outcome label for metrics.
    pub outcome: &'static str,
    /// Whether an idempotent request may be retried.
    pub retryable: bool,
    /// For a 429: until when the key must pause.
    pub pause_until: Option<SystemTime>,
    /// A server-suggested delay before retrying (503 `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure that is not retried.
    pub(crate) fn new(error: Error, outcome: &'static str) -> Self {
        Self {
            error,
            outcome,
            retryable: false,
            pause_until: None,
            retry_after: None,
        }
    }
}

/// Classifies a non-2xx answer. `resource` names what a 404 did not find; `default_pause` is used
/// for a 429 without timing headers.
pub(crate) fn classify_status(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    resource: &'static str,
    default_pause: Duration,
) -> Failure {
    match status.as_u16() {
        401 => Failure::new(upstream(UpstreamFailure::Unauthorized), "unauthorized"),
        403 => Failure::new(upstream(UpstreamFailure::Forbidden), "forbidden"),
        404 => Failure::new(Error::NotFound { resource }, "not_found"),
        400 | 422 => Failure::new(Error::Validation(validation_messages(body)), "rejected"),
        429 => {
            let now = SystemTime::now();
            let until = rate_limit_reset(headers)
                .filter(|reset| *reset > now)
                .or_else(|| retry_after(headers).map(|wait| now + wait))
                .unwrap_or(now + default_pause);
            let wait = until.duration_since(now).unwrap_or_default();
            Failure {
                retryable: true,
                pause_until: Some(until),
                ..Failure::new(Error::RateLimited { retry_after: wait }, "rate_limited")
            }
        }
        code @ (502..=504) => Failure {
            retryable: true,
            retry_after: retry_after(headers),
            ..Failure::new(upstream(UpstreamFailure::ServerError(code)), "server_error")
        },
        code @ 500..=599 => {
            Failure::new(upstream(UpstreamFailure::ServerError(code)), "server_error")
        }
        code => Failure::new(
            upstream(UpstreamFailure::BadResponse(format!(
                "unexpected status {code}"
            ))),
            "bad_response",
        ),
    }
}

/// A transport failure (no HTTP answer).
pub(crate) fn classify_transport(err: &reqwest::Error) -> Failure {
    if err.is_timeout() {
        Failure::new(upstream(UpstreamFailure::Timeout), "timeout")
    } else if err.is_connect() {
        Failure {
            retryable: true,
            ..Failure::new(upstream(UpstreamFailure::Unreachable), "unreachable")
        }
    } else {
        // The connection broke before or during the answer (a kept-alive connection the server
        // closed just as it was reused, say), or the answer was malformed HTTP. Cliniko may have
        // acted on the request, so only a read is repeated: the send loop retries GETs alone.
        Failure {
            retryable: true,
            ..Failure::new(upstream(UpstreamFailure::Unreachable), "unreachable")
        }
    }
}

/// Parses a success body, naming the operation (never the body) when it is not what we expect.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8], operation: &'static str) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|err| bad_json(operation, &err))
}

/// The error for a body that is not the JSON we expect. serde's message can quote values from
/// the body (patient data), so only the category and the position are kept.
pub(crate) fn bad_json(operation: &'static str, err: &serde_json::Error) -> Error {
    let category = match err.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not JSON",
        serde_json::error::Category::Data => "JSON of an unexpected shape",
    };
    upstream(UpstreamFailure::BadResponse(format!(
        "{operation}: the answer is {category} (line {}, column {})",
        err.line(),
        err.column()
    )))
}

/// Cliniko's 422 body as field errors. Values are single strings; `base` (and a body with only a
/// `message`) describe the record as a whole.
fn validation_messages(body: &[u8]) -> Vec<FieldError> {
    #[derive(serde::Deserialize)]
    struct Body {
        message: Option<String>,
        #[serde(default)]
        errors: serde_json::Map<String, serde_json::Value>,
    }
    let Ok(parsed) = serde_json::from_slice::<Body>(body) else {
        return vec![FieldError::new(
            "base",
            REJECTED,
            "Cliniko refused the request",
        )];
    };
    let mut fields: Vec<FieldError> = parsed
        .errors
        .into_iter()
        .map(|(field, value)| {
            let message = match value {
                serde_json::Value::String(text) => text,
                // Arrays are not documented, but joining them loses nothing.
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(serde_json::Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            };
            FieldError::new(field, REJECTED, message)
        })
        .collect();
    if fields.is_empty() {
        let message = parsed
            .message
            .unwrap_or_else(|| "Cliniko refused the request".to_owned());
        fields.push(FieldError::new("base", REJECTED, message));
    }
    fields
}

/// `X-RateLimit-Reset`: UNIX epoch seconds (UTC) when the limit resets.
fn rate_limit_reset(headers: &HeaderMap) -> Option<SystemTime> {
    let seconds: u64 = headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, headers: &[(&'static str, String)], body: &str) -> Failure {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        classify_status(
            StatusCode::from_u16(status).unwrap(),
            &map,
            body.as_bytes(),
            "patient",
            Duration::from_secs(10),
        )
    }

    #[test]
    fn a_422_keeps_clinikos_field_messages() {
        let failure = classify(
            422,
            &[],
            r#"{"message":"Validation Failed","errors":{"first_name":"can’t be blank","base":"Patient is archived"}}"#,
        );
        let Error::Validation(fields) = failure.error else {
            panic!("expected validation, got {:?}", failure.error);
        };
        let pairs: Vec<_> = fields
            .iter()
            .map(|f| (f.field.as_str(), f.message.as_str()))
            .collect();
        assert!(pairs.contains(&("first_name", "can’t be blank")));
        assert!(pairs.contains(&("base", "Patient is archived")));
        assert!(!failure.retryable);
    }

    #[test]
    fn a_422_with_only_a_message_or_no_json_still_says_what_happened() {
        let Error::Validation(fields) =
            classify(422, &[], r#"{"message":"must be an object"}"#).error
        else {
            panic!("expected validation");
        };
        assert_eq!(fields[0].message, "must be an object");
        let Error::Validation(fields) = classify(422, &[], "<html>oops</html>").error else {
            panic!("expected validation");
        };
        assert_eq!(fields[0].field, "base");
    }

    /// How long from now `failure` pauses calls for.
    fn pause_from_now(failure: &Failure) -> Duration {
        failure
            .pause_until
            .unwrap()
            .duration_since(SystemTime::now())
            .unwrap()
    }

    #[test]
    fn a_429_pauses_until_the_reset_header_or_retry_after_or_the_default() {
        let in_30s = SystemTime::now() + Duration::from_secs(30);
        let epoch = in_30s.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let failure = classify(429, &[("x-ratelimit-reset", epoch.to_string())], "");
        let wait = pause_from_now(&failure);
        assert!(
            wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(failure.retryable);

        let failure = classify(429, &[("retry-after", "7".into())], "");
        let wait = pause_from_now(&failure);
        assert!(
            wait > Duration::from_secs(6) && wait <= Duration::from_secs(7),
            "{wait:?}"
        );

        let failure = classify(429, &[], "");
        let wait = pause_from_now(&failure);
        assert!(
            wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
    }

    #[test]
    fn only_gateway_errors_and_429_are_retryable() {
        for (status, retryable) in [
            (502, true),
            (503, true),
            (504, true),
            (500, false),
            (401, false),
            (404, false),
            (418, false),
        ] {
            assert_eq!(classify(status, &[], "").retryable, retryable, "{status}");
        }
        assert!(matches!(
            classify(401, &[], "HTTP Basic: Access denied.\n").error,
            Error::Upstream {
                failure: UpstreamFailure::Unauthorized,
                ..
            }
        ));
    }

    #[test]
    fn a_bad_json_error_never_quotes_the_body() {
        let err = parse::<Vec<u32>>(br#"["Jane Citizen"]"#, "patients.list").unwrap_err();
        let text = format!("{err:?} {err}");
        assert!(!text.contains("Jane"), "{text}");
        assert!(text.contains("patients.list"), "{text}");
    }
}
