//! The FHIR R4 facade at `/fhir/r4`: a read view of each clinic's Cliniko as FHIR resources,
//! for EHRs and partners that speak FHIR. It is one more surface over the same core services and
//! Cliniko port as `/api/public` — same tokens and scopes ([`ApiCaller`]), same tenancy (the
//! token's clinic), same Cliniko budget, same PHI access ledger (channel `fhir`) — with FHIR's
//! shapes: resources and `searchset` Bundles as `application/fhir+json`, errors as
//! `OperationOutcome` ([`outcome`]), paging by sealed cursors ([`cursor`]).
//!
//! The routes are kept out of the OpenAPI document: FHIR clients read `GET /fhir/r4/metadata`.

mod appointment;
mod appointment_status;
mod booking;
mod capability;
mod cursor;
mod flag;
mod location;
mod outcome;
mod patient;
mod patient_name;
mod patient_phone;
mod practitioner;
mod search;
mod slot;

use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::DateTime;
use clinicgate_core::Error;
use clinicgate_core::cliniko::{ClinikoAccount, ClinikoId};
use clinicgate_core::directory::not_connected;
use clinicgate_core::ledger::{Categories, Channel};
use clinicgate_core::tenancy::TenantContext;
use serde_json::Value;

use crate::http::phi::{phi_headers, request_meta};
use crate::http::problem::ApiError;
use crate::state::AppState;

pub use outcome::FHIR_JSON;

/// Registers the `/fhir/r4` scope: its routes behind the format and `OperationOutcome` layer.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/fhir/r4")
            .wrap(from_fn(outcome::fhir_layer))
            .service(capability::metadata)
            .service(patient::search_patients)
            .service(patient::read_patient)
            .service(practitioner::search_practitioners)
            .service(practitioner::read_practitioner)
            .service(practitioner::search_roles)
            .service(practitioner::read_role)
            .service(location::search_organizations)
            .service(location::read_organization)
            .service(location::search_locations)
            .service(location::read_location)
            .service(slot::search_schedules)
            .service(slot::read_schedule)
            .service(slot::search_slots)
            .service(slot::read_slot)
            .service(appointment::search_appointments)
            .service(appointment::read_appointment)
            .service(booking::create_appointment)
            .service(booking::update_appointment)
            .service(flag::search_flags)
            .service(flag::read_flag)
            .default_service(web::to(unknown)),
    );
}

/// Anything else under `/fhir/r4`: a resource type or interaction this server does not have.
async fn unknown() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "this server has no such resource type or interaction; GET /fhir/r4/metadata lists them",
    ))
}

pub use clinicgate_core::fhir::system;
use clinicgate_core::fhir::{identifier, instant, meta, prune, text};

/// The answer to a read: the resource, `ETag` and `Last-Modified` from its `meta`, never
/// stored; with the PHI headers when it holds patient data.
fn read_response(resource: &Value, phi: bool) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .content_type(FHIR_JSON)
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(version) = resource["meta"]["versionId"].as_str() {
        response.insert_header((header::ETAG, format!("W/\"{version}\"")));
    }
    if let Some(modified) = resource["meta"]["lastUpdated"]
        .as_str()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
    {
        response.insert_header((
            header::LAST_MODIFIED,
            httpdate::fmt_http_date(modified.into()),
        ));
    }
    let mut response = response.body(resource.to_string());
    if phi {
        phi_headers(&mut response);
    }
    response
}

/// A Cliniko id from a read's path; anything else is an id this server cannot have (404).
fn path_id(raw: &str, resource: &'static str) -> Result<ClinikoId, Error> {
    ClinikoId::parse(raw).ok_or(Error::NotFound { resource })
}

/// Runs `call` with the clinic's Cliniko account.
///
/// # Errors
/// `Conflict(cliniko_not_connected)` without a key; what `call` returns.
async fn with_cliniko<T, F, Fut>(state: &AppState, ctx: &TenantContext, call: F) -> Result<T, Error>
where
    F: FnOnce(ClinikoAccount) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    state
        .cliniko_keys
        .with_account(ctx, call)
        .await?
        .ok_or_else(not_connected)
}

/// Records in the access ledger that the caller is about to be shown `categories` of
/// `patients` through FHIR; the data is not sent when recording fails.
async fn disclose(
    state: &AppState,
    req: &HttpRequest,
    ctx: &TenantContext,
    categories: Categories,
    patients: &[ClinikoId],
) -> Result<(), Error> {
    state
        .ledger
        .record(
            ctx,
            Channel::Fhir,
            categories,
            patients,
            &request_meta(req, state),
        )
        .await
}

/// Records `patients` in the ledger as [`disclose`] does while `response` is built (a page's
/// resources mapped and serialised), and gives the response only once the record is stored:
/// the ledger write runs on the database's side while this thread builds the body, so a page
/// waits for the longer of the two rather than both. A failed record fails the request.
async fn disclosed<T>(
    state: &AppState,
    req: &HttpRequest,
    ctx: &TenantContext,
    categories: Categories,
    patients: &[ClinikoId],
    response: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    // The record is polled first, so its statement is on its way before the body is built.
    let ((), response) =
        futures::try_join!(disclose(state, req, ctx, categories, patients), response)?;
    Ok(response)
}
