//! `Practitioner` and `PractitionerRole` from Cliniko practitioners (`doctors:read`), served
//! from the clinic's cached reference data (no Cliniko call per page). A practitioner has one
//! role: its specialty is Cliniko's designation, its locations the businesses where it takes
//! online bookings (the public directory's, which the booking guard also uses), its
//! `availableTime` the weekly hours Cliniko keeps for it at those businesses (daily
//! availabilities: one Cliniko list call per read or page of roles).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, get, web};
use clinicgate_core::Error;
use clinicgate_core::cliniko::{
    AvailabilitySpan, ClinikoId, DailyAvailability, Lane, Practitioner, PractitionerScope,
};
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

/// The daily availabilities of `practitioners` (one Cliniko call; none for no practitioners).
async fn hours_of(
    state: &AppState,
    ctx: &TenantContext,
    practitioners: Vec<ClinikoId>,
) -> Result<Vec<DailyAvailability>, Error> {
    if practitioners.is_empty() {
        return Ok(Vec::new());
    }
    let cliniko = &state.cliniko;
    with_cliniko(state, ctx, |account| async move {
        cliniko
            .daily_availabilities(&account, Lane::Api, &practitioners)
            .await
    })
    .await
}

/// FHIR's day codes, by ISO weekday (1 = Monday).
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `availableTime` from a practitioner's weekly hours at `locations`: one entry per span of
/// the day, with the weekdays it applies to. Times are each business's local clock, as Cliniko
/// keeps them (FHIR's `time` has no zone).
fn available_time(
    practitioner: &ClinikoId,
    locations: &[ClinikoId],
    hours: &[DailyAvailability],
) -> Vec<Value> {
    let mut days_by_span: BTreeMap<AvailabilitySpan, BTreeSet<u32>> = BTreeMap::new();
    for day in hours.iter().filter(|day| {
        day.practitioner_id.as_ref() == Some(practitioner)
            && day
                .business_id
                .as_ref()
                .is_some_and(|b| locations.contains(b))
    }) {
        let Some(weekday) = day.day_of_week.filter(|d| (1..=7).contains(d)) else {
            continue;
        };
        for span in day
            .availabilities
            .iter()
            .filter(|s| s.starts_at < s.ends_at)
        {
            days_by_span.entry(*span).or_default().insert(weekday);
        }
    }
    days_by_span
        .into_iter()
        .map(|(span, days)| {
            json!({
                "daysOfWeek": days.iter().filter_map(|d| DAYS.get((*d - 1) as usize)).collect::<Vec<_>>(),
                "availableStartTime": span.starts_at.format("%H:%M:%S").to_string(),
                "availableEndTime": span.ends_at.format("%H:%M:%S").to_string(),
            })
        })
        .collect()
}

/// A practitioner's role, with its hours from `hours` (which may hold others' too).
pub fn role(p: &Practitioner, directory: &Directory, hours: &[DailyAvailability]) -> Value {
    let location_ids: Vec<ClinikoId> = directory
        .doctor(&p.id)
        .map(|d| d.clinic_ids.clone())
        .unwrap_or_default();
    let locations: Vec<Value> = location_ids
        .iter()
        .map(|id| json!({"reference": format!("Location/{id}")}))
        .collect();
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
        "availableTime": available_time(&p.id, &location_ids, hours),
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
    let hours = hours_of(&state, caller.ctx(), vec![found.id.clone()]).await?;
    Ok(read_response(&role(found, &directory, &hours), false))
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
    let page = if search.summary_count {
        &[][..]
    } else {
        search.slice(&found)
    };
    let hours = hours_of(&state, ctx, page.iter().map(|p| p.id.clone()).collect()).await?;
    let matches = page.iter().map(|p| role(p, &directory, &hours)).collect();
    Ok(search
        .bundle(&state, ctx, matches, Vec::new(), found.len())
        .await?)
}
