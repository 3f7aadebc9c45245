//! A partner's patients by its own ids: `POST /api/public/patients` (`patients:write`) creates a
//! Cliniko patient for a `partner_id`, once per (clinic, client) however often or concurrently it
//! is sent; `GET /api/public/patients?partner_id=…` and `GET /api/public/patients/{id}`
//! (`patients:read`) read one, `PATCH /api/public/patients/{id}` (`patients:write`) changes it in
//! Cliniko. The rules are `clinicgate_core::partner_links`'; this is their HTTP face.
//!
//! Patient data: every answer is `Cache-Control: no-store`, and every patient shown is recorded
//! in the clinic's access ledger as the client *before* it is sent (not sent if that fails).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{Days, Utc};
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::events::PatientRecord;
use clinicgate_core::ledger::{Categories, Category, Channel};
use clinicgate_core::partner_links::{LinkedPatient, PartnerId, PatientDetails, PostalAddress};
use clinicgate_core::{Error, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::event_data::PatientEventOut;
use super::listing::{check, list_of, parse_date, parse_id};
use super::{ApiCaller, PatientsRead, PatientsWrite};
use crate::http::extract::invalid_body;
use crate::http::phi::request_meta;
use crate::http::problem::ApiError;
use crate::http::responses::{
    BearerErrors, ClinikoErrors, JsonBodyErrors, QueryErrors, route_problems,
};
use crate::state::AppState;

/// A postal address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientAddressIn {
    /// Address lines, at most three.
    #[serde(default)]
    pub lines: Vec<String>,
    /// City.
    pub city: Option<String>,
    /// State or region.
    pub state: Option<String>,
    /// Post code.
    pub post_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. `AU`.
    pub country_code: Option<String>,
}

impl From<PatientAddressIn> for PostalAddress {
    fn from(address: PatientAddressIn) -> Self {
        Self {
            lines: address.lines,
            city: address.city,
            state: address.state,
            post_code: address.post_code,
            country_code: address.country_code,
        }
    }
}

/// A patient to create under the partner's own id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "partner_id": "pat_12345678", "first_name": "Alice", "last_name": "Example",
    "date_of_birth": "1980-02-22", "sex": "Female", "email": "alice@example.org",
    "phone": "+61 444 444 444",
    "address": {"lines": ["1 High Street"], "city": "Sydney", "state": "NSW", "post_code": "2000", "country_code": "AU"}
}))]
pub struct PartnerPatientIn {
    /// The partner's own id for the patient: 1 to 255 visible ASCII characters, unique per
    /// clinic and client. Sending it again returns the same patient.
    pub partner_id: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// Sex, as the partner records it (Cliniko keeps it as text).
    pub sex: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Mobile phone number.
    pub phone: Option<String>,
    /// Postal address.
    pub address: Option<PatientAddressIn>,
}

/// A change to a patient: only the fields sent change (at least one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "alice.new@example.org", "phone": "+61 400 000 000"}))]
pub struct PartnerPatientPatch {
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// Sex.
    pub sex: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Mobile phone number (replaces Cliniko's phone numbers).
    pub phone: Option<String>,
    /// Postal address (the fields sent replace Cliniko's).
    pub address: Option<PatientAddressIn>,
}

/// A patient, as the public API shows one: the patient event's shape plus the calling client's
/// `partner_id` for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerPatientOut {
    /// The patient; `id` is Cliniko's id.
    #[serde(flatten)]
    pub patient: PatientEventOut,
    /// The calling client's own id for the patient; `null` when it gave none.
    #[schema(example = "pat_12345678")]
    pub partner_id: Option<String>,
}

impl From<LinkedPatient> for PartnerPatientOut {
    fn from(linked: LinkedPatient) -> Self {
        Self {
            patient: PatientRecord::from(&linked.patient).into(),
            partner_id: linked.partner_id.map(|id| id.as_str().to_owned()),
        }
    }
}

list_of!(
    /// Patients matching a query.
    PartnerPatientList,
    PartnerPatientOut
);

/// `GET /api/public/patients`'s query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PartnerPatientQuery {
    /// The partner's own id for the patient.
    #[param(example = "pat_12345678")]
    pub partner_id: String,
}

/// A day of slack over today: "today" differs across time zones.
fn tomorrow() -> chrono::NaiveDate {
    let today = Utc::now().date_naive();
    today.checked_add_days(Days::new(1)).unwrap_or(today)
}

fn born(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<chrono::NaiveDate> {
    raw.and_then(|raw| {
        parse_date("date_of_birth", raw)
            .map_err(|e| errors.push(e))
            .ok()
    })
}

/// Checks the details, reporting the date's problems with the others'.
fn details_fields(
    details: PatientDetails,
    mut errors: Vec<FieldError>,
    creating: bool,
) -> Result<clinicgate_core::cliniko::PatientFields, Error> {
    let checked = if creating {
        details.for_create(tomorrow())
    } else {
        details.for_update(tomorrow())
    };
    match checked {
        Ok(fields) => {
            check(errors)?;
            Ok(fields)
        }
        Err(Error::Validation(found)) => {
            errors.extend(found);
            Err(Error::Validation(errors))
        }
        Err(err) => Err(err),
    }
}

/// The patient id in a path; any malformed id names nothing (404).
fn patient_id(raw: &str) -> Result<ClinikoId, Error> {
    parse_id("id", raw).map_err(|_| Error::NotFound {
        resource: "patient",
    })
}

/// A Cliniko budget refusal (or Cliniko's own 429) is not the client's doing: 503 with the
/// `Retry-After` it gave, so the client retries later (its own rate limit stays a 429).
fn cliniko_refusal(err: Error) -> ApiError {
    match err {
        Error::RateLimited { retry_after } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cliniko_busy",
            "the clinic's Cliniko cannot take more requests right now; nothing was changed, \
             retry after the time in Retry-After",
        )
        .with_retry_after(retry_after),
        other => other.into(),
    }
}

/// Records that `patients` are shown to the calling client, then answers them.
async fn disclose(
    state: &AppState,
    caller_ctx: &clinicgate_core::tenancy::TenantContext,
    req: &HttpRequest,
    patients: &[&LinkedPatient],
) -> Result<(), Error> {
    let ids: Vec<ClinikoId> = patients.iter().map(|p| p.patient.id.clone()).collect();
    state
        .ledger
        .record(
            caller_ctx,
            Channel::Api,
            Categories::of(&[Category::Demographics, Category::Contact]),
            &ids,
            &request_meta(req, state),
        )
        .await
}

fn no_store(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

route_problems!(
    /// What `POST /api/public/patients` answers itself.
    CreatePatientProblems {
        409 => "Another request with this `partner_id` is still creating the patient (`partner_id_in_progress`): retry shortly; or `cliniko_not_connected`",
        422 => "Invalid fields (`validation_failed`, `invalid_body`), or Cliniko's own validation messages",
        503 => "The clinic's Cliniko is busy (`cliniko_busy`): nothing was created and no link kept; retry after `Retry-After`",
    }
);

/// Creates a patient in the clinic's Cliniko under the partner's own `partner_id`, or returns
/// the patient that `partner_id` already names for this client (200). The partner id is claimed
/// in ClinicGate's database before Cliniko is called, so concurrent requests with one partner id,
/// on any instance, create one Cliniko patient: the others wait for it and get it (or 409
/// `partner_id_in_progress` if it takes long). A create Cliniko refuses leaves no link behind;
/// retry it as it was.
#[utoipa::path(
    tag = "public",
    request_body = PartnerPatientIn,
    responses(
        (status = 201, description = "Created in Cliniko and linked to the partner id", body = PartnerPatientOut),
        (status = 200, description = "The partner id already names this patient", body = PartnerPatientOut),
        BearerErrors, JsonBodyErrors, ClinikoErrors,
        CreatePatientProblems,
    ),
    security(("bearer" = ["patients:write"]))
)]
#[post("/api/public/patients")]
pub async fn create_patient(
    caller: ApiCaller<PatientsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let input: PartnerPatientIn =
        serde_json::from_value(body.into_inner()).map_err(|e| invalid_body(&e))?;
    let mut errors = Vec::new();
    let partner_id = PartnerId::parse("partner_id", &input.partner_id)
        .map_err(|e| errors.push(e))
        .ok();
    let date_of_birth = born(input.date_of_birth.as_deref(), &mut errors);
    let details = PatientDetails {
        first_name: Some(input.first_name),
        last_name: Some(input.last_name),
        date_of_birth,
        sex: input.sex,
        email: input.email,
        phone: input.phone,
        address: input.address.map(PostalAddress::from),
    };
    let fields = details_fields(details, errors, true)?;
    let partner_id = partner_id
        .ok_or_else(|| Error::internal("a partner id passed validation without a value"))?;
    let ctx = caller.ctx();
    let (created, linked) = state
        .partner_patients
        .create(ctx, partner_id, fields)
        .await
        .map_err(cliniko_refusal)?;
    disclose(&state, ctx, &req, &[&linked]).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(no_store(status, &PartnerPatientOut::from(linked)))
}

route_problems!(
    /// What `GET /api/public/patients` answers itself.
    ListPatientsProblems {
        503 => "The clinic's Cliniko is busy (`cliniko_busy`); retry after `Retry-After`",
    }
);

/// The patient this client's `partner_id` names, as a list of at most one (empty when the
/// partner id names no patient, or its create is still running).
#[utoipa::path(
    tag = "public",
    params(PartnerPatientQuery),
    responses(
        (status = 200, description = "The patient, if any", body = PartnerPatientList),
        BearerErrors, QueryErrors, ClinikoErrors,
        ListPatientsProblems,
    ),
    security(("bearer" = ["patients:read"]))
)]
#[get("/api/public/patients")]
pub async fn list_patients(
    caller: ApiCaller<PatientsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<PartnerPatientQuery>,
) -> Result<HttpResponse, ApiError> {
    let partner_id = PartnerId::parse("partner_id", &query.partner_id)
        .map_err(|e| Error::Validation(vec![e]))?;
    let ctx = caller.ctx();
    let found = match state.partner_patients.by_partner_id(ctx, partner_id).await {
        Ok(linked) => vec![linked],
        Err(Error::NotFound { .. }) => Vec::new(),
        Err(err) => return Err(cliniko_refusal(err)),
    };
    disclose(&state, ctx, &req, &found.iter().collect::<Vec<_>>()).await?;
    let page = clinicgate_core::directory::Page::new(None, None)?;
    let paged = clinicgate_core::directory::Paged {
        total: found.len(),
        items: found,
        page,
    };
    let list = PartnerPatientList::new(&state, &req, paged, PartnerPatientOut::from);
    Ok(no_store(StatusCode::OK, &list))
}

route_problems!(
    /// What `GET /api/public/patients/{id}` answers itself.
    GetPatientProblems {
        404 => "No such patient in this clinic's Cliniko (`not_found`)",
        503 => "The clinic's Cliniko is busy (`cliniko_busy`); retry after `Retry-After`",
    }
);

/// A patient of the clinic by Cliniko id, with this client's `partner_id` for it. Another
/// clinic's patient is 404.
#[utoipa::path(
    tag = "public",
    params(("id" = String, Path, description = "Cliniko's patient id", example = "836447129235883061")),
    responses(
        (status = 200, description = "The patient", body = PartnerPatientOut),
        BearerErrors, ClinikoErrors,
        GetPatientProblems,
    ),
    security(("bearer" = ["patients:read"]))
)]
#[get("/api/public/patients/{id}")]
pub async fn get_patient(
    caller: ApiCaller<PatientsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = patient_id(&id)?;
    let ctx = caller.ctx();
    let linked = state
        .partner_patients
        .get(ctx, &id)
        .await
        .map_err(cliniko_refusal)?;
    disclose(&state, ctx, &req, &[&linked]).await?;
    Ok(no_store(StatusCode::OK, &PartnerPatientOut::from(linked)))
}

route_problems!(
    /// What `PATCH /api/public/patients/{id}` answers itself.
    UpdatePatientProblems {
        404 => "No such patient in this clinic's Cliniko (`not_found`)",
        422 => "Invalid fields or nothing to change (`validation_failed`, `invalid_body`), or Cliniko's own validation messages",
        503 => "The clinic's Cliniko is busy (`cliniko_busy`): nothing was changed; retry after `Retry-After`",
    }
);

/// Changes a patient in the clinic's Cliniko: only the fields sent. Another clinic's patient is
/// 404.
#[utoipa::path(
    tag = "public",
    request_body = PartnerPatientPatch,
    params(("id" = String, Path, description = "Cliniko's patient id", example = "836447129235883061")),
    responses(
        (status = 200, description = "The changed patient", body = PartnerPatientOut),
        BearerErrors, JsonBodyErrors, ClinikoErrors,
        UpdatePatientProblems,
    ),
    security(("bearer" = ["patients:write"]))
)]
#[patch("/api/public/patients/{id}")]
pub async fn update_patient(
    caller: ApiCaller<PatientsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = patient_id(&id)?;
    let input: PartnerPatientPatch =
        serde_json::from_value(body.into_inner()).map_err(|e| invalid_body(&e))?;
    let mut errors = Vec::new();
    let date_of_birth = born(input.date_of_birth.as_deref(), &mut errors);
    let details = PatientDetails {
        first_name: input.first_name,
        last_name: input.last_name,
        date_of_birth,
        sex: input.sex,
        email: input.email,
        phone: input.phone,
        address: input.address.map(PostalAddress::from),
    };
    let date_unparsed = !errors.is_empty();
    let fields = details_fields(details, errors, false).map_err(|err| match err {
        // A date that did not parse was still sent: the body is not empty, only wrong.
        Error::Validation(found) if date_unparsed => Error::Validation(
            found
                .into_iter()
                .filter(|e| e.code != "nothing_to_change")
                .collect(),
        ),
        other => other,
    })?;
    let ctx = caller.ctx();
    let linked = state
        .partner_patients
        .update(ctx, &id, fields)
        .await
        .map_err(cliniko_refusal)?;
    disclose(&state, ctx, &req, &[&linked]).await?;
    Ok(no_store(StatusCode::OK, &PartnerPatientOut::from(linked)))
}
