//! `Idempotency-Key` on the public API's writes: required (400 without it), replayed for the same
//! request (same status and body, header `Idempotent-Replayed: true`, Cliniko untouched), refused
//! for another request (422 `idempotency_key_reused`), and 409 `idempotency_in_progress` when the
//! first request with the key is still running after a short wait. The rules live in
//! `clinicgate_core::idempotency`; this module is their HTTP face.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use clinicgate_core::idempotency::{Begun, Fingerprint, IdempotencyKey, StoredResponse};
use clinicgate_core::tenancy::TenantContext;
use serde_json::Value;

use crate::http::problem::ApiError;
use crate::state::AppState;

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The response header marking a replay.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Why a write has no usable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyProblem {
    /// No `Idempotency-Key` header.
    Missing,
    /// Not 1–255 visible ASCII characters.
    Invalid,
}

impl From<KeyProblem> for ApiError {
    fn from(problem: KeyProblem) -> Self {
        match problem {
            KeyProblem::Missing => Self::new(
                StatusCode::BAD_REQUEST,
                "idempotency_key_missing",
                "send an Idempotency-Key header (e.g. a fresh UUID) with every POST and PATCH, \
                 and the same one when retrying",
            ),
            KeyProblem::Invalid => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "the Idempotency-Key must be 1 to 255 visible ASCII characters, e.g. a UUID",
            ),
        }
    }
}

/// The request's key: 400 `idempotency_key_missing` without one, 400 `invalid_idempotency_key`
/// for one that is not 1–255 visible ASCII characters.
pub fn key_of(req: &HttpRequest) -> Result<IdempotencyKey, KeyProblem> {
    let raw = req
        .headers()
        .get(&IDEMPOTENCY_KEY)
        .ok_or(KeyProblem::Missing)?;
    raw.to_str()
        .ok()
        .and_then(|raw| IdempotencyKey::parse(raw).ok())
        .ok_or(KeyProblem::Invalid)
}

/// A JSON answer that may be stored and replayed.
pub type Answer = Result<(StatusCode, Value), ApiError>;

/// Runs `work` once per key and request: see the module documentation.
pub async fn run_once<Fut>(
    state: &AppState,
    ctx: &TenantContext,
    req: &HttpRequest,
    key: IdempotencyKey,
    body: &Value,
    work: impl FnOnce() -> Fut,
) -> Result<HttpResponse, ApiError>
where
    Fut: Future<Output = Answer>,
{
    let fingerprint = Fingerprint::of(req.method().as_str(), req.path(), body);
    let ticket = match state.idempotency.begin(ctx, key, &fingerprint).await? {
        Begun::Proceed(ticket) => ticket,
        Begun::Replay(stored) => {
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            return Ok(respond(status, stored.body, true));
        }
        Begun::Mismatch => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was already used for a different request; use a new key \
                 for a new request",
            ));
        }
        Begun::Busy => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still being processed; retry it shortly",
            ));
        }
    };
    let answer = work().await;
    let stored = match &answer {
        Ok((status, value)) => StoredResponse {
            status: status.as_u16(),
            body: value.to_string(),
        },
        Err(err) => StoredResponse {
            status: actix_web::ResponseError::status_code(err).as_u16(),
            body: String::new(),
        },
    };
    if let Err(err) = state.idempotency.finish(ticket, &stored).await {
        // The answer still goes out; a retry with the key may then run again.
        tracing::warn!(error = %err, "could not record the idempotent answer");
    }
    answer?;
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    Ok(respond(status, stored.body, false))
}

fn respond(status: StatusCode, body: String, replayed: bool) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if replayed {
        response.insert_header((REPLAYED, HeaderValue::from_static("true")));
    }
    response.body(body)
}
