//! `Flag` from Cliniko medical alerts (`patients:read`): read by id, and searched by `patient`
//! (required: Cliniko lists alerts per patient, in one call). Cliniko's alerts are free text; it has no structured
//! allergies or medications, so there is no `AllergyIntolerance` or `MedicationStatement`.

use actix_web::{HttpRequest, HttpResponse, get, web};
use clinicgate_core::cliniko::{Lane, MedicalAlert};
use clinicgate_core::ledger::{Categories, Category};
use serde_json::{Value, json};

use super::search::{Search, invalid, reference_id};
use super::{disclose, identifier, meta, path_id, prune, read_response, text, with_cliniko};
use crate::http::problem::ApiError;
use crate::public::{ApiCaller, PatientsRead};
use crate::state::AppState;

/// Search parameters of `Flag`.
pub const PARAMS: &[&str] = &["patient"];

/// A medical alert as a FHIR `Flag` about its patient.
pub fn to_fhir(alert: &MedicalAlert) -> Value {
    prune(json!({
        "resourceType": "Flag",
        "id": alert.id.as_str(),
        "meta": meta(alert.updated_at),
        "identifier": identifier("medical-alert", &alert.id),
        "status": if alert.deleted_at.is_some() { "inactive" } else { "active" },
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/flag-category",
            "code": "clinical",
            "display": "Clinical",
        }]}],
        "code": {"text": text(alert.name.as_deref()).unwrap_or_else(|| "Medical alert".to_owned())},
        "subject": alert.patient_id.as_ref().map(|id| json!({"reference": format!("Patient/{id}")})),
    }))
}

/// What a Flag shows: a patient's medical alert.
fn categories() -> Categories {
    Categories::of(&[Category::Alerts])
}

/// `GET /fhir/r4/Flag/{id}`: one medical alert, recorded in the ledger against its patient.
#[get("/Flag/{id}")]
pub async fn read_flag(
    caller: ApiCaller<PatientsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "Flag")?;
    let ctx = caller.ctx();
    let cliniko = &state.cliniko;
    let alert = with_cliniko(&state, ctx, |account| async move {
        cliniko.medical_alert(&account, Lane::Api, &id).await
    })
    .await?;
    // An alert is about one patient; one Cliniko never answers without its patient link, but
    // if it did there would be nobody to record the disclosure against, so nothing is shown.
    let patient = alert
        .patient_id
        .clone()
        .ok_or(clinicgate_core::Error::NotFound { resource: "Flag" })?;
    disclose(
        &state,
        &req,
        ctx,
        categories(),
        std::slice::from_ref(&patient),
    )
    .await?;
    Ok(read_response(&to_fhir(&alert), true))
}

/// `GET /fhir/r4/Flag?patient=…`.
#[get("/Flag")]
pub async fn search_flags(
    caller: ApiCaller<PatientsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = caller.ctx();
    let search = Search::read(&req, &state, ctx, "Flag", PARAMS).await?;
    let raw = search
        .get("patient")
        .ok_or_else(|| invalid("patient", "Flag searches need a patient"))?;
    let patient = reference_id("patient", raw, "Patient")?;
    let cliniko = &state.cliniko;
    let lookup = patient.clone();
    let alerts = with_cliniko(&state, ctx, |account| async move {
        cliniko.medical_alerts(&account, Lane::Api, &lookup).await
    })
    .await?;
    let page = if search.summary_count {
        &[][..]
    } else {
        search.slice(&alerts)
    };
    if !page.is_empty() {
        disclose(
            &state,
            &req,
            ctx,
            categories(),
            std::slice::from_ref(&patient),
        )
        .await?;
    }
    let matches = page.iter().map(to_fhir).collect();
    let mut response = search
        .bundle(&state, ctx, matches, Vec::new(), alerts.len())
        .await?;
    crate::http::phi::phi_headers(&mut response);
    Ok(response)
}
