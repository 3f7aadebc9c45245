//! FHIR's error shape and media type for the whole `/fhir/r4` scope: one middleware refuses
//! formats the facade does not speak (406, 415) before any handler runs, and turns every
//! problem document the shared layers answer (authentication, scopes, rate limits, Cliniko,
//! validation) into an `OperationOutcome` with the same status and headers. Handlers therefore
//! return the crate's ordinary [`ApiError`](crate::http::problem::ApiError)s.

use actix_web::body::{BoxBody, MessageBody, to_bytes};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use crate::http::problem::PROBLEM_JSON;

/// The media type of every FHIR answer.
pub const FHIR_JSON: &str = "application/fhir+json; fhirVersion=4.0";

/// Media types the facade reads and writes (`_format` also takes the short `json`).
const JSON_TYPES: &[&str] = &["application/fhir+json", "application/json", "json"];

/// An `OperationOutcome` with one issue.
pub fn outcome(severity: &str, code: &str, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [issue(severity, code, diagnostics)]
    })
}

/// One `OperationOutcome.issue`.
pub fn issue(severity: &str, code: &str, diagnostics: &str) -> Value {
    json!({"severity": severity, "code": code, "diagnostics": diagnostics})
}

/// A response with an `OperationOutcome` body.
pub fn outcome_response(status: StatusCode, code: &str, diagnostics: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(FHIR_JSON)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(outcome("error", code, diagnostics).to_string())
}

/// FHIR's issue type for an HTTP status.
fn issue_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "invalid",
        401 => "login",
        403 => "forbidden",
        404 | 410 => "not-found",
        405 | 406 | 415 => "not-supported",
        409 | 412 => "conflict",
        429 => "throttled",
        503 | 504 => "transient",
        _ => "exception",
    }
}

/// Whether `media` (a media type, parameters allowed) is one the facade speaks.
fn is_json(media: &str) -> bool {
    let bare = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    JSON_TYPES.contains(&bare.as_str())
}

/// Whether an `Accept` header admits JSON (any of its types, wildcards included).
fn accepts_json(accept: &str) -> bool {
    accept.split(',').any(|media| {
        let bare = media.split(';').next().unwrap_or("").trim();
        is_json(bare) || bare == "*/*" || bare == "application/*"
    })
}

/// The refusal a request's formats earn, if any: 406 for a `_format` or `Accept` the facade
/// cannot answer in, 415 for a body that is not JSON.
fn negotiate(req: &HttpRequest) -> Option<(StatusCode, String)> {
    let format = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .unwrap_or_default()
        .into_iter()
        .find(|(name, _)| name == "_format")
        .map(|(_, value)| value);
    if let Some(format) = format {
        if !is_json(&format) {
            return Some((
                StatusCode::NOT_ACCEPTABLE,
                format!(
                    "_format {format:?} is not supported: this server speaks application/fhir+json only"
                ),
            ));
        }
    } else if let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        && !accept.trim().is_empty()
        && !accepts_json(accept)
    {
        return Some((
            StatusCode::NOT_ACCEPTABLE,
            "the Accept header admits no format this server speaks: ask for application/fhir+json"
                .to_owned(),
        ));
    }
    let has_body = [Method::POST, Method::PUT, Method::PATCH].contains(req.method());
    if has_body {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            return Some((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send bodies as application/fhir+json".to_owned(),
            ));
        }
    }
    None
}

/// The `/fhir/r4` middleware (see the module documentation).
pub async fn fhir_layer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some((status, why)) = negotiate(req.request()) {
        let response = outcome_response(status, issue_code(status), &why);
        return Ok(req.into_response(response));
    }
    let is_write = [Method::POST, Method::PUT, Method::PATCH].contains(req.method());
    let response = next.call(req).await?.map_into_boxed_body();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if !is_problem {
        return Ok(response);
    }
    let (req, response) = response.into_parts();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body()).await.unwrap_or_default();
    let problem: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // Validation problems are 422 in the REST API; FHIR answers a bad search with 400 (and a
    // write that breaks a business rule with 422, as the REST API does).
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY && !is_write {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    let mut issues = vec![issue(
        "error",
        issue_code(status),
        problem["detail"].as_str().unwrap_or("the request failed"),
    )];
    for field in problem["errors"].as_array().into_iter().flatten() {
        let mut one = issue(
            "error",
            issue_code(status),
            field["message"].as_str().unwrap_or(""),
        );
        if let Some(name) = field["field"].as_str() {
            one["expression"] = json!([name]);
        }
        issues.push(one);
    }
    let mut body = json!({"resourceType": "OperationOutcome", "issue": issues});
    if let Some(code) = problem["code"].as_str() {
        body["issue"][0]["details"] = json!({"text": code});
    }
    let mut outcome = HttpResponse::build(status);
    for (name, value) in &headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            outcome.append_header((name.clone(), value.clone()));
        }
    }
    let outcome = outcome
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON)))
        .body(body.to_string());
    Ok(ServiceResponse::new(req, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_wildcards_are_accepted_and_xml_is_not() {
        assert!(accepts_json("application/fhir+json"));
        assert!(accepts_json("text/html, */*;q=0.1"));
        assert!(accepts_json("application/json; fhirVersion=4.0"));
        assert!(!accepts_json("application/fhir+xml"));
        assert!(!accepts_json("text/turtle, application/xml"));
        assert!(is_json("json"));
        assert!(!is_json("xml"));
    }

    #[test]
    fn each_status_has_the_issue_type_fhir_names() {
        assert_eq!(issue_code(StatusCode::NOT_FOUND), "not-found");
        assert_eq!(issue_code(StatusCode::FORBIDDEN), "forbidden");
        assert_eq!(issue_code(StatusCode::TOO_MANY_REQUESTS), "throttled");
        assert_eq!(issue_code(StatusCode::NOT_ACCEPTABLE), "not-supported");
        assert_eq!(issue_code(StatusCode::UNPROCESSABLE_ENTITY), "invalid");
    }
}
