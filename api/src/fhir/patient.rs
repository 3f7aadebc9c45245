//! `Patient` from Cliniko patients (`patients:read`): read, and search by `_id`, `identifier`,
//! `family`, `given`, `birthdate`, `email` and `_lastUpdated` — each a Cliniko filter, so a page
//! is one Cliniko call — and `name` (any name part: two Cliniko lists walked one after the
//! other, see [`patient_name`]) and `phone` (Cliniko has no phone filter: candidates from the
//! poller's index, checked on Cliniko's answer, see [`patient_phone`]). Every patient shown is
//! recorded in the access ledger first.

use actix_web::{HttpRequest, HttpResponse, get, web};
use clinicgate_core::Error;
use clinicgate_core::cliniko::{Filter, FilterOp, Lane, ListQuery};
use clinicgate_core::fhir::PatientResource;
use clinicgate_core::ledger::{Categories, Category};

use super::search::{Search, date_filter, invalid, reference_ids, time_filters};
use super::{
    disclose, disclosed, path_id, patient_name, patient_phone, read_response, system, with_cliniko,
};
use crate::http::problem::ApiError;
use crate::public::{ApiCaller, PatientsRead};
use crate::state::AppState;

/// The search parameters `Patient` supports.
pub const PARAMS: &[&str] = &[
    "_id",
    "identifier",
    "name",
    "family",
    "given",
    "birthdate",
    "email",
    "phone",
    "_lastUpdated",
];

/// What a Patient shows: demographics and contact details.
pub fn categories() -> Categories {
    Categories::of(&[Category::Demographics, Category::Contact])
}

/// A Cliniko patient as a FHIR `Patient`.
pub use clinicgate_core::fhir::patient as to_fhir;

/// FHIR's string search (case-insensitive "starts with") as Cliniko's wildcard match.
fn starts_with(field: &'static str, value: &str) -> Filter {
    // `%` and `_` would be wildcards to Cliniko; names and e-mails rarely hold them, and a
    // search holding one only matches more, never leaks another clinic's data.
    Filter::new(field, FilterOp::Like, &format!("{}%", value.trim()))
}

/// The Cliniko query of a Patient search.
fn query(search: &Search) -> Result<ListQuery, Error> {
    let mut query = ListQuery::new();
    for raw in search.all("_id") {
        query = query.filter(Filter::one_of("id", &reference_ids("_id", raw, "Patient")?));
    }
    for raw in search.all("identifier") {
        // `system|value` or a bare value; only Cliniko ids are identifiers here.
        let value = match raw.split_once('|') {
            Some((sys, value)) if sys.is_empty() || sys == system("patient") => value,
            Some(_) => {
                return Err(invalid(
                    "identifier",
                    format!(
                        "patients are identified by the system {}",
                        system("patient")
                    ),
                ));
            }
            None => raw,
        };
        query = query.filter(Filter::one_of(
            "id",
            &reference_ids("identifier", value, "Patient")?,
        ));
    }
    for raw in search.all("family") {
        query = query.filter(starts_with("last_name", raw));
    }
    for raw in search.all("given") {
        query = query.filter(starts_with("first_name", raw));
    }
    for raw in search.all("email") {
        query = query.filter(Filter::eq("email", raw.trim()));
    }
    for raw in search.all("birthdate") {
        query = query.filter(date_filter("birthdate", raw, "date_of_birth")?);
    }
    for raw in search.all("_lastUpdated") {
        for filter in time_filters("_lastUpdated", raw, "updated_at")? {
            query = query.filter(filter);
        }
    }
    Ok(query)
}

/// `GET /fhir/r4/Patient/{id}`.
#[get("/Patient/{id}")]
pub async fn read_patient(
    caller: ApiCaller<PatientsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "Patient")?;
    let ctx = caller.ctx();
    let cliniko = &state.cliniko;
    let patient = with_cliniko(&state, ctx, |account| async move {
        cliniko.patient(&account, Lane::Api, &id).await
    })
    .await?;
    disclose(
        &state,
        &req,
        ctx,
        categories(),
        std::slice::from_ref(&patient.id),
    )
    .await?;
    Ok(read_response(&to_fhir(&patient)?, true))
}

/// `GET /fhir/r4/Patient?…`.
#[get("/Patient")]
pub async fn search_patients(
    caller: ApiCaller<PatientsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = caller.ctx();
    let mut search = Search::read(&req, &state, ctx, "Patient", PARAMS).await?;
    let query = query(&search)?;
    let (items, total, more) = if let Some(numbers) = patient_phone::numbers(&search)? {
        let found = patient_phone::page(&state, ctx, &search, query, &numbers).await?;
        (found.patients, Some(found.total), found.more)
    } else if let Some(name) = patient_name::value(&search)? {
        let found = patient_name::page(&state, ctx, &mut search, query, &name).await?;
        (found.patients, found.total, found.more)
    } else {
        let cliniko = &state.cliniko;
        let found = search
            .list(&state, ctx, |account, page| async move {
                cliniko
                    .patients_page(&account, Lane::Api, &query, page)
                    .await
            })
            .await?;
        let more = search.offset().saturating_add(found.items.len()) < found.total;
        (found.items, Some(found.total), more)
    };
    let ids: Vec<_> = items.iter().map(|p| p.id.clone()).collect();
    let page = async {
        let matches: Vec<_> = items.iter().map(PatientResource::of).collect();
        search
            .bundle_of(&state, ctx, matches, Vec::new(), total, more)
            .await
    };
    let mut response = disclosed(&state, &req, ctx, categories(), &ids, page).await?;
    crate::http::phi::phi_headers(&mut response);
    Ok(response)
}
