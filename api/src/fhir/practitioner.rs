//! `Practitioner` and `PractitionerRole` from Cliniko practitioners (`doctors:read`), served
//! from the clinic's cached reference data (no Cliniko call per page). A practitioner has one
//! role: its specialty is Cliniko's designation, its locations the businesses where it takes
//! online bookings (the public directory's, which the booking guard also uses).

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, get, web};
use clinicgate_core::Error;
use clinicgate_core::cliniko::{ClinikoId, Lane, Practitioner, PractitionerScope};
use clinicgate_core::directory::Directory;
use clinicgate_core::tenancy::TenantContext;
use serde_json::{Value, json};

use super::search::{Search, invalid, reference_ids};
use super::{identifier, meta, path_id, prune, read_response, system, text, with_cliniko};
use crate::http::problem::ApiError;
use crate::public::{ApiCaller, DoctorsRead};
use crate::state::AppState;

/// Search parameters of `Practitioner`.
pub const PRACTITIONER_PARAMS: &[&str] = &["_id", "name", "active"];
/// Search parameters of `PractitionerRole`.
pub const ROLE_PARAMS: &[&str] = &["_id", "practitioner", "specialty", "location", "active"];

/// The clinic's active practitioners (cached) and its public directory.
async fn staff(
    state: &AppState,
    ctx: &TenantContext,
) -> Result<(Vec<Practitioner>, Arc<Directory>), Error> {
    let cliniko = &state.cliniko;
    let practitioners = with_cliniko(state, ctx, |account| async move {
        cliniko
            .practitioners(&account, Lane::Api, &PractitionerScope::All)
            .await
    })
    .await?;
    let directory = state.directory.directory(ctx).await?;
    Ok((practitioners, directory))
}

/// A Cliniko practitioner as a FHIR `Practitioner`.
pub fn practitioner(p: &Practitioner) -> Value {
    prune(json!({
        "resourceType": "Practitioner",
        "id": p.id.as_str(),
        "meta": meta(p.updated_at),
        "identifier": identifier("practitioner", &p.id),
        "active": p.active.unwrap_or(true),
        "name": [{
            "use": "official",
            "text": text(Some(&p.name())),
            "family": text(p.last_name.as_deref()),
            "given": text(p.first_name.as_deref()).into_iter().collect::<Vec<_>>(),
            "prefix": text(p.title.as_deref()).into_iter().collect::<Vec<_>>(),
        }],
    }))
}

/// The designation as a FHIR code (no surrounding or doubled whitespace).
fn specialty_code(designation: &str) -> String {
    designation.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A practitioner's role.
pub fn role(p: &Practitioner, directory: &Directory) -> Value {
    let locations: Vec<Value> = directory
        .doctor(&p.id)
        .map(|d| {
            d.clinic_ids
                .iter()
                .map(|id| json!({"reference": format!("Location/{id}")}))
                .collect()
        })
        .unwrap_or_default();
    let specialty = text(p.designation.as_deref()).map(|designation| {
        json!([{
            "coding": [{"system": system("designation"), "code": specialty_code(&designation)}],
            "text": designation,
        }])
    });
    prune(json!({
        "resourceType": "PractitionerRole",
        "id": p.id.as_str(),
        "meta": meta(p.updated_at),
        "identifier": identifier("practitioner", &p.id),
        "active": p.active.unwrap_or(true),
        "practitioner": {"reference": format!("Practitioner/{}", p.id), "display": text(Some(&p.name()))},
        "specialty": specialty,
        "location": locations,
    }))
}

/// Whether `active` (a FHIR token, `true`/`false`) admits a practitioner.
fn active_matches(search: &Search, p: &Practitioner) -> Result<bool, Error> {
    let Some(raw) = search.get("active") else {
        return Ok(true);
    };
    let wanted = match raw.trim() {
        "true" => true,
        "false" => false,
        _ => return Err(invalid("active", "active is true or false")),
    };
    Ok(p.active.unwrap_or(true) == wanted)
}

/// Whether `_id` admits a practitioner.
fn id_matches(
    search: &Search,
    name: &str,
    resource: &str,
    p: &Practitioner,
) -> Result<bool, Error> {
    for raw in search.all(name) {
        if !reference_ids(name, raw, resource)?.contains(&p.id) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `GET /fhir/r4/Practitioner/{id}`.
#[get("/Practitioner/{id}")]
pub async fn read_practitioner(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "Practitioner")?;
    let (practitioners, _) = staff(&state, caller.ctx()).await?;
    let found = find(&practitioners, &id, "Practitioner")?;
    Ok(read_response(&practitioner(found), false))
}

fn find<'a>(
    practitioners: &'a [Practitioner],
    id: &ClinikoId,
    resource: &'static str,
) -> Result<&'a Practitioner, Error> {
    practitioners
        .iter()
        .find(|p| &p.id == id)
        .ok_or(Error::NotFound { resource })
}

/// `GET /fhir/r4/Practitioner?…`.
#[get("/Practitioner")]
pub async fn search_practitioners(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = caller.ctx();
    let search = Search::read(&req, &state, ctx, "Practitioner", PRACTITIONER_PARAMS).await?;
    let (practitioners, _) = staff(&state, ctx).await?;
    let names: Vec<String> = search.all("name").map(str::to_lowercase).collect();
    let mut found = Vec::new();
    for p in &practitioners {
        let haystack = [
            p.name(),
            p.first_name.clone().unwrap_or_default(),
            p.last_name.clone().unwrap_or_default(),
        ]
        .join(" ")
        .to_lowercase();
        if id_matches(&search, "_id", "Practitioner", p)?
            && active_matches(&search, p)?
            && names.iter().all(|n| haystack.contains(n.trim()))
        {
            found.push(p);
        }
    }
    let matches = search
        .slice(&found)
        .iter()
        .map(|p| practitioner(p))
        .collect();
    Ok(search
        .bundle(&state, ctx, matches, Vec::new(), found.len())
        .await?)
}

/// `GET /fhir/r4/PractitionerRole/{id}` (the role's id is its practitioner's).
#[get("/PractitionerRole/{id}")]
pub async fn read_role(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "PractitionerRole")?;
    let (practitioners, directory) = staff(&state, caller.ctx()).await?;
    let found = find(&practitioners, &id, "PractitionerRole")?;
    Ok(read_response(&role(found, &directory), false))
}

/// `GET /fhir/r4/PractitionerRole?…`.
#[get("/PractitionerRole")]
pub async fn search_roles(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = caller.ctx();
    let search = Search::read(&req, &state, ctx, "PractitionerRole", ROLE_PARAMS).await?;
    let (practitioners, directory) = staff(&state, ctx).await?;
    let mut locations = Vec::new();
    for raw in search.all("location") {
        locations.push(reference_ids("location", raw, "Location")?);
    }
    let specialties: Vec<String> = search
        .all("specialty")
        .map(|raw| raw.rsplit('|').next().unwrap_or("").trim().to_lowercase())
        .collect();
    let mut found = Vec::new();
    for p in &practitioners {
        let works_at = directory
            .doctor(&p.id)
            .map(|d| d.clinic_ids.clone())
            .unwrap_or_default();
        let designation = p
            .designation
            .as_deref()
            .map(specialty_code)
            .unwrap_or_default()
            .to_lowercase();
        if id_matches(&search, "_id", "PractitionerRole", p)?
            && id_matches(&search, "practitioner", "Practitioner", p)?
            && active_matches(&search, p)?
            && specialties.iter().all(|s| *s == designation)
            && locations
                .iter()
                .all(|any| any.iter().any(|l| works_at.contains(l)))
        {
            found.push(p);
        }
    }
    let matches = search
        .slice(&found)
        .iter()
        .map(|p| role(p, &directory))
        .collect();
    Ok(search
        .bundle(&state, ctx, matches, Vec::new(), found.len())
        .await?)
}
