//! `Appointment` from Cliniko individual appointments (`appointments:read`): read, and search by
//! `patient`, `practitioner`, `location`, `date`, `status` and `_lastUpdated` (each a Cliniko
//! filter — but `booked` from `arrived`, see [`appointment_status`] — one Cliniko call a page), with `_include` of the patients (`patients:read` too),
//! practitioners and locations — each kind fetched in one call for the whole page. Every
//! appointment shown is recorded in the access ledger against its patient.

use std::collections::BTreeSet;

use actix_web::{HttpRequest, HttpResponse, get, web};
use clinicgate_core::Error;
use clinicgate_core::cliniko::{
    Appointment, ClinikoId, Filter, Lane, ListQuery, PageRequest, PractitionerScope,
};
use clinicgate_core::ledger::{Categories, Category};
use clinicgate_core::tenancy::TenantContext;
use clinicgate_core::tokens::Scope;
use serde_json::Value;

use super::appointment_status::{self, Residual};
use super::search::{Search, invalid, reference_ids, time_filters};
use super::{disclose, disclosed, path_id, read_response, with_cliniko};
use crate::http::problem::ApiError;
use crate::public::{ApiCaller, AppointmentsRead};
use crate::state::AppState;

/// Search parameters of `Appointment`.
pub const PARAMS: &[&str] = &[
    "_id",
    "patient",
    "practitioner",
    "location",
    "date",
    "status",
    "_lastUpdated",
];

/// What `_include` accepts.
pub const INCLUDES: &[&str] = &[
    "Appointment:patient",
    "Appointment:practitioner",
    "Appointment:location",
];

/// What an Appointment shows.
pub(super) fn categories() -> Categories {
    Categories::of(&[Category::Appointments])
}

/// A Cliniko appointment as a FHIR `Appointment`.
pub use clinicgate_core::fhir::appointment as to_fhir;

/// The Cliniko query of an Appointment search, and what of its `status` is left to each page.
pub(super) fn query(search: &Search) -> Result<(ListQuery, Option<Residual>), Error> {
    let mut query = ListQuery::new();
    let references = [
        ("_id", "id", "Appointment"),
        ("patient", "patient_id", "Patient"),
        ("practitioner", "practitioner_id", "Practitioner"),
        ("location", "business_id", "Location"),
    ];
    for (name, field, resource) in references {
        for raw in search.all(name) {
            query = query.filter(Filter::one_of(field, &reference_ids(name, raw, resource)?));
        }
    }
    for raw in search.all("date") {
        for filter in time_filters("date", raw, "starts_at")? {
            query = query.filter(filter);
        }
    }
    for raw in search.all("_lastUpdated") {
        for filter in time_filters("_lastUpdated", raw, "updated_at")? {
            query = query.filter(filter);
        }
    }
    appointment_status::filter(search, query)
}

/// `GET /fhir/r4/Appointment/{id}`.
#[get("/Appointment/{id}")]
pub async fn read_appointment(
    caller: ApiCaller<AppointmentsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "Appointment")?;
    let ctx = caller.ctx();
    let cliniko = &state.cliniko;
    let appointment = with_cliniko(&state, ctx, |account| async move {
        cliniko.appointment(&account, Lane::Api, &id).await
    })
    .await?;
    let patients: Vec<_> = appointment.patient_id.iter().cloned().collect();
    disclose(&state, &req, ctx, categories(), &patients).await?;
    Ok(read_response(&to_fhir(&appointment), true))
}

/// The resources `_include` asks for, for this page's appointments: one Cliniko call per kind.
async fn included(
    state: &AppState,
    req: &HttpRequest,
    ctx: &TenantContext,
    search: &Search,
    page: &[Appointment],
) -> Result<Vec<Value>, Error> {
    let mut kinds = BTreeSet::new();
    for raw in search.all("_include") {
        if !INCLUDES.contains(&raw) {
            return Err(invalid(
                "_include",
                format!("_include supports {}", INCLUDES.join(", ")),
            ));
        }
        kinds.insert(raw);
    }
    let distinct = |pick: fn(&Appointment) -> Option<&ClinikoId>| {
        page.iter()
            .filter_map(pick)
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    };
    let mut resources = Vec::new();
    let cliniko = &state.cliniko;
    if kinds.contains("Appointment:patient") {
        if !ctx.has_scope(Scope::PatientsRead) {
            return Err(Error::Forbidden(format!(
                "_include=Appointment:patient needs the scope {}, which this token does not carry",
                Scope::PatientsRead
            )));
        }
        let ids = distinct(|a| a.patient_id.as_ref());
        if !ids.is_empty() {
            let query = ListQuery::new().filter(Filter::one_of("id", &ids));
            let count = u32::try_from(ids.len()).unwrap_or(PageRequest::MAX_SIZE);
            let found = with_cliniko(state, ctx, |account| async move {
                cliniko
                    .patients_page(&account, Lane::Api, &query, PageRequest::new(1, count))
                    .await
            })
            .await?;
            let shown: Vec<_> = found.items.iter().map(|p| p.id.clone()).collect();
            disclose(state, req, ctx, super::patient::categories(), &shown).await?;
            for patient in &found.items {
                resources.push(super::patient::to_fhir(patient)?);
            }
        }
    }
    if kinds.contains("Appointment:practitioner") {
        let ids = distinct(|a| a.practitioner_id.as_ref());
        let all = with_cliniko(state, ctx, |account| async move {
            cliniko
                .practitioners(&account, Lane::Api, &PractitionerScope::All)
                .await
        })
        .await?;
        resources.extend(
            all.iter()
                .filter(|p| ids.contains(&p.id))
                .map(super::practitioner::practitioner),
        );
    }
    if kinds.contains("Appointment:location") {
        let ids = distinct(|a| a.business_id.as_ref());
        let (all, settings) = with_cliniko(state, ctx, |account| async move {
            let all = cliniko.businesses(&account, Lane::Api).await?;
            let settings = cliniko.settings(&account, Lane::Api).await?;
            Ok((all, settings))
        })
        .await?;
        let organization = settings
            .account
            .id
            .as_ref()
            .map_or_else(|| "clinic".to_owned(), ToString::to_string);
        resources.extend(
            all.iter()
                .filter(|b| ids.contains(&b.id))
                .map(|b| super::location::location(b, &organization)),
        );
    }
    Ok(resources)
}

/// `GET /fhir/r4/Appointment?…`.
#[get("/Appointment")]
pub async fn search_appointments(
    caller: ApiCaller<AppointmentsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = caller.ctx();
    let search = Search::read(&req, &state, ctx, "Appointment", PARAMS).await?;
    let (query, residual) = query(&search)?;
    if let Some(residual) = residual.as_ref().filter(|_| search.summary_count) {
        let total = appointment_status::count(&state, ctx, &query, residual).await?;
        let mut response = search
            .bundle(&state, ctx, Vec::<Value>::new(), Vec::new(), total)
            .await?;
        crate::http::phi::phi_headers(&mut response);
        return Ok(response);
    }
    let cliniko = &state.cliniko;
    let query = &query;
    let found = search
        .list(&state, ctx, |account, page| async move {
            cliniko
                .appointments_page(&account, Lane::Api, query, page)
                .await
        })
        .await?;
    let more = !found.is_last(search.page_request());
    let mut items = found.items;
    if let Some(residual) = &residual {
        items.retain(|a| residual.admits(a));
    }
    let included = included(&state, &req, ctx, &search, &items).await?;
    let patients: Vec<_> = items
        .iter()
        .filter_map(|a| a.patient_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Kept here, the page's appointments are no longer Cliniko's count of them.
    let total = residual.is_none().then_some(found.total);
    let page = async {
        let matches: Vec<_> = items.iter().map(to_fhir).collect();
        search
            .bundle_of(&state, ctx, matches, included, total, more)
            .await
    };
    let mut response = disclosed(&state, &req, ctx, categories(), &patients, page).await?;
    crate::http::phi::phi_headers(&mut response);
    Ok(response)
}
