//! `Organization` (the clinic: its Cliniko account) and `Location` (Cliniko businesses)
//! (`doctors:read`), from the clinic's cached reference data.

use actix_web::{HttpRequest, HttpResponse, get, web};
use clinicgate_core::Error;
use clinicgate_core::cliniko::{Business, ClinikoSettings, Lane};
use clinicgate_core::tenancy::TenantContext;
use serde_json::{Value, json};

use super::search::{Search, reference_ids};
use super::{identifier, meta, path_id, prune, read_response, text, with_cliniko};
use crate::http::problem::ApiError;
use crate::public::{ApiCaller, DoctorsRead};
use crate::state::AppState;

/// Search parameters of `Organization`.
pub const ORGANIZATION_PARAMS: &[&str] = &["_id", "name"];
/// Search parameters of `Location`.
pub const LOCATION_PARAMS: &[&str] = &["_id", "name"];

/// The id of the clinic's `Organization` when Cliniko does not give its account id.
const CLINIC_ID: &str = "clinic";

/// The clinic's Cliniko settings (cached).
async fn settings(state: &AppState, ctx: &TenantContext) -> Result<ClinikoSettings, Error> {
    let cliniko = &state.cliniko;
    with_cliniko(state, ctx, |account| async move {
        cliniko.settings(&account, Lane::Api).await
    })
    .await
}

/// The clinic's businesses (cached).
async fn businesses(state: &AppState, ctx: &TenantContext) -> Result<Vec<Business>, Error> {
    let cliniko = &state.cliniko;
    with_cliniko(state, ctx, |account| async move {
        cliniko.businesses(&account, Lane::Api).await
    })
    .await
}

/// The `Organization` id of the clinic.
fn organization_id(settings: &ClinikoSettings) -> String {
    settings
        .account
        .id
        .as_ref()
        .map_or_else(|| CLINIC_ID.to_owned(), ToString::to_string)
}

/// The clinic as a FHIR `Organization`.
fn organization(settings: &ClinikoSettings) -> Value {
    let id = organization_id(settings);
    let identifier = settings
        .account
        .id
        .as_ref()
        .map(|id| identifier("account", id));
    prune(json!({
        "resourceType": "Organization",
        "id": id,
        "identifier": identifier,
        "active": true,
        "name": text(settings.account.name.as_deref()),
    }))
}

/// A Cliniko business as a FHIR `Location`.
pub fn location(b: &Business, organization_id: &str) -> Value {
    let lines: Vec<String> = [&b.address_1, &b.address_2]
        .into_iter()
        .filter_map(|line| text(line.as_deref()))
        .collect();
    prune(json!({
        "resourceType": "Location",
        "id": b.id.as_str(),
        "meta": meta(b.updated_at),
        "identifier": identifier("business", &b.id),
        "status": if b.archived_at.is_some() { "inactive" } else { "active" },
        "name": text(Some(b.name())),
        "mode": "instance",
        "address": {
            "line": lines,
            "city": text(b.city.as_deref()),
            "state": text(b.state.as_deref()),
            "postalCode": text(b.post_code.as_deref()),
            "country": text(b.country_code.as_deref()).or_else(|| text(b.country.as_deref())),
        },
        "managingOrganization": {"reference": format!("Organization/{organization_id}")},
    }))
}

/// Whether the `name` values (contained, case-insensitive) all admit `name`.
fn name_matches(search: &Search, name: &str) -> bool {
    let name = name.to_lowercase();
    search
        .all("name")
        .all(|wanted| name.contains(wanted.trim().to_lowercase().as_str()))
}

/// `GET /fhir/r4/Organization/{id}`.
#[get("/Organization/{id}")]
pub async fn read_organization(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let settings = settings(&state, caller.ctx()).await?;
    if organization_id(&settings) != *id {
        return Err(Error::NotFound {
            resource: "Organization",
        }
        .into());
    }
    Ok(read_response(&organization(&settings), false))
}

/// `GET /fhir/r4/Organization?…`.
#[get("/Organization")]
pub async fn search_organizations(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = caller.ctx();
    let search = Search::read(&req, &state, ctx, "Organization", ORGANIZATION_PARAMS).await?;
    let settings = settings(&state, ctx).await?;
    let id = organization_id(&settings);
    let admitted = search
        .all("_id")
        .all(|wanted| wanted.split(',').any(|w| w.trim() == id))
        && name_matches(&search, settings.account.name.as_deref().unwrap_or(""));
    let found: Vec<Value> = if admitted {
        vec![organization(&settings)]
    } else {
        Vec::new()
    };
    let matches = search.slice(&found).to_vec();
    Ok(search
        .bundle(&state, ctx, matches, Vec::new(), found.len())
        .await?)
}

/// `GET /fhir/r4/Location/{id}`.
#[get("/Location/{id}")]
pub async fn read_location(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "Location")?;
    let ctx = caller.ctx();
    let all = businesses(&state, ctx).await?;
    let business = all.iter().find(|b| b.id == id).ok_or(Error::NotFound {
        resource: "Location",
    })?;
    let organization_id = organization_id(&settings(&state, ctx).await?);
    Ok(read_response(&location(business, &organization_id), false))
}

/// `GET /fhir/r4/Location?…`.
#[get("/Location")]
pub async fn search_locations(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = caller.ctx();
    let search = Search::read(&req, &state, ctx, "Location", LOCATION_PARAMS).await?;
    let all = businesses(&state, ctx).await?;
    let organization_id = organization_id(&settings(&state, ctx).await?);
    let mut found = Vec::new();
    for business in &all {
        let mut admitted = name_matches(&search, business.name());
        for raw in search.all("_id") {
            admitted &= reference_ids("_id", raw, "Location")?.contains(&business.id);
        }
        if admitted {
            found.push(business);
        }
    }
    let matches = search
        .slice(&found)
        .iter()
        .map(|b| location(b, &organization_id))
        .collect();
    Ok(search
        .bundle(&state, ctx, matches, Vec::new(), found.len())
        .await?)
}
