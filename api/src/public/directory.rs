//! The directory endpoints (`doctors:read`): doctors, one doctor, specialties, clinics and
//! appointment types, served from the clinic's cached Cliniko reference data.

use actix_web::http::header::{self, ContentType};
use actix_web::http::uri::PathAndQuery;
use actix_web::{HttpRequest, HttpResponse, get, web};
use clinicgate_core::Error;
use clinicgate_core::directory::{AppointmentKind, Clinic, Directory, Doctor, DoctorFilter, Page};
use clinicgate_core::tenancy::TenantContext;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::listing::{PageParams, check, list_of, optional_id, parse_id};
use super::{ApiCaller, DoctorsRead};
use crate::http::problem::ApiError;
use crate::http::responses::{BearerErrors, ClinikoErrors, QueryErrors, route_problems};
use crate::state::AppState;

/// A doctor (a Cliniko practitioner shown in online bookings).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "836447129235007919", "display_name": "Eleanor Vance", "title": "Dr",
    "first_name": "Eleanor", "last_name": "Vance", "specialty": "Physiotherapist",
    "description": "Physiotherapist with a special interest in sports injuries.",
    "clinic_ids": ["836447129235031676"], "appointment_type_ids": ["836447129235015838", "836447129235023757"]
}))]
pub struct DoctorOut {
    /// Cliniko's practitioner id (an int64, as a string: it exceeds 2^53).
    pub id: String,
    /// The name shown to patients.
    pub display_name: String,
    /// Title, e.g. `Dr`.
    pub title: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Specialty (Cliniko's `designation`).
    pub specialty: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Clinics the doctor works at.
    pub clinic_ids: Vec<String>,
    /// Appointment types the doctor offers.
    pub appointment_type_ids: Vec<String>,
}

impl From<Doctor> for DoctorOut {
    fn from(d: Doctor) -> Self {
        Self {
            id: d.id.to_string(),
            display_name: d.display_name,
            title: d.title,
            first_name: d.first_name,
            last_name: d.last_name,
            specialty: d.specialty,
            description: d.description,
            clinic_ids: d.clinic_ids.iter().map(ToString::to_string).collect(),
            appointment_type_ids: d
                .appointment_type_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}

/// A clinic's postal address.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClinicAddressOut {
    /// Street lines.
    #[schema(example = json!(["123 George Street"]))]
    pub lines: Vec<String>,
    /// City.
    #[schema(example = "Sydney")]
    pub city: Option<String>,
    /// State or region.
    #[schema(example = "NSW")]
    pub state: Option<String>,
    /// Post code.
    #[schema(example = "2000")]
    pub post_code: Option<String>,
}

/// A clinic (a Cliniko business shown in online bookings).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "836447129235031676", "name": "Harbour Physio Sydney CBD",
    "address": {"lines": ["123 George Street"], "city": "Sydney", "state": "NSW", "post_code": "2000"},
    "country": "Australia", "country_code": "AU", "time_zone": "Australia/Sydney",
    "contact": "+614 555 0100", "website": "https://harbourphysio.example"
}))]
pub struct PublicClinicOut {
    /// Cliniko's business id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Postal address.
    pub address: ClinicAddressOut,
    /// Country.
    pub country: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country_code: Option<String>,
    /// IANA time zone; slots and appointments give their local times in it.
    pub time_zone: String,
    /// Contact details (free text from Cliniko).
    pub contact: Option<String>,
    /// Website.
    pub website: Option<String>,
}

impl From<Clinic> for PublicClinicOut {
    fn from(c: Clinic) -> Self {
        Self {
            id: c.id.to_string(),
            name: c.name,
            address: ClinicAddressOut {
                lines: c.address_lines,
                city: c.city,
                state: c.state,
                post_code: c.post_code,
            },
            country: c.country,
            country_code: c.country_code,
            time_zone: c.time_zone.name().to_owned(),
            contact: c.contact,
            website: c.website,
        }
    }
}

/// An appointment type bookable online.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "836447129235015838", "name": "Initial Consultation", "category": "Clinic",
    "description": "Initial Consultation (60 minutes)", "duration_minutes": 60, "telehealth": false,
    "doctor_ids": ["836447129235007919"]
}))]
pub struct AppointmentTypeOut {
    /// Cliniko's appointment type id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Category.
    pub category: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Length in minutes.
    pub duration_minutes: u32,
    /// Whether it is held by video.
    pub telehealth: bool,
    /// Doctors offering it.
    pub doctor_ids: Vec<String>,
}

impl From<AppointmentKind> for AppointmentTypeOut {
    fn from(t: AppointmentKind) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            category: t.category,
            description: t.description,
            duration_minutes: t.duration_minutes,
            telehealth: t.telehealth,
            doctor_ids: t.doctor_ids.iter().map(ToString::to_string).collect(),
        }
    }
}

/// A specialty and how many doctors have it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"name": "Physiotherapist", "doctors": 2}))]
pub struct SpecialtyOut {
    /// The specialty.
    pub name: String,
    /// Doctors with it.
    pub doctors: usize,
}

list_of!(
    /// A page of doctors.
    DoctorList,
    DoctorOut
);
list_of!(
    /// A page of clinics.
    ClinicList,
    PublicClinicOut
);
list_of!(
    /// A page of appointment types.
    AppointmentTypeList,
    AppointmentTypeOut
);
list_of!(
    /// A page of specialties.
    SpecialtyList,
    SpecialtyOut
);

/// Filters of `GET /api/public/doctors`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoctorsQuery {
    /// Only doctors with this specialty (case-insensitive).
    #[param(example = "Physiotherapist")]
    pub specialty: Option<String>,
    /// Only doctors working at this clinic.
    pub clinic_id: Option<String>,
    /// Only doctors offering this appointment type.
    pub appointment_type_id: Option<String>,
    /// Only doctors whose name contains this text (case-insensitive).
    #[param(example = "vance")]
    pub q: Option<String>,
}

/// Filter of `GET /api/public/appointment-types`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppointmentTypesQuery {
    /// Only types this doctor offers.
    pub doctor_id: Option<String>,
}

/// The JSON response of a public read (not cacheable by shared caches: it is per client).
fn ok_json(body: &impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// A directory list's response: the clinic's directory, and a body made from it by `render` only
/// once per directory, path and query (see [`ListBodies`](crate::state::ListBodies)).
async fn directory_list<L: Serialize>(
    state: &AppState,
    req: &HttpRequest,
    ctx: &TenantContext,
    render: impl FnOnce(&Directory) -> L,
) -> Result<HttpResponse, ApiError> {
    let directory = state.directory.directory(ctx).await?;
    let key = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path(), PathAndQuery::as_str);
    let body = state
        .list_bodies
        .get_or_render(ctx.tenant_id(), &directory, key, || {
            serde_json::to_vec(&render(&directory)).map_err(Error::internal)
        })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type(ContentType::json())
        .body(body))
}

route_problems!(
    /// What `GET /api/public/doctors` answers itself.
    ListDoctorsProblems {
        422 => "An id that is not a Cliniko id, or `page`/`per_page` out of range (`validation_failed`)",
    }
);

/// Lists doctors, filtered and paged. Ordered by display name.
#[utoipa::path(
    tag = "public",
    params(DoctorsQuery, PageParams),
    responses(
        (status = 200, description = "A page of doctors", body = DoctorList),
        BearerErrors, QueryErrors, ClinikoErrors,
        ListDoctorsProblems,
    ),
    security(("bearer" = ["doctors:read"]))
)]
#[get("/api/public/doctors")]
pub async fn list_doctors(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    filter: web::Query<DoctorsQuery>,
    paging: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let filter = DoctorFilter {
        specialty: filter.specialty.clone(),
        clinic_id: optional_id("clinic_id", filter.clinic_id.as_deref(), &mut errors),
        appointment_type_id: optional_id(
            "appointment_type_id",
            filter.appointment_type_id.as_deref(),
            &mut errors,
        ),
        q: filter.q.clone(),
    };
    check(errors)?;
    let page = paging.page()?;
    directory_list(&state, &req, caller.ctx(), |directory| {
        let doctors: Vec<&Doctor> = directory
            .doctors()
            .iter()
            .filter(|d| filter.matches(d))
            .collect();
        DoctorList::new(&state, &req, page.of(&doctors), |d| {
            DoctorOut::from(d.clone())
        })
    })
    .await
}

route_problems!(
    /// What `GET /api/public/doctors/{id}` answers itself.
    GetDoctorProblems {
        404 => "No public doctor has this id (`not_found`)",
    }
);

/// One doctor.
#[utoipa::path(
    tag = "public",
    params(("id" = String, Path, description = "The doctor's id", example = "836447129235007919")),
    responses(
        (status = 200, description = "The doctor", body = DoctorOut),
        BearerErrors, ClinikoErrors,
        GetDoctorProblems,
    ),
    security(("bearer" = ["doctors:read"]))
)]
#[get("/api/public/doctors/{id}")]
pub async fn get_doctor(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || Error::NotFound { resource: "doctor" };
    let id = parse_id("id", &id).map_err(|_| not_found())?;
    let directory = state.directory.directory(caller.ctx()).await?;
    let doctor = directory.doctor(&id).ok_or_else(not_found)?;
    Ok(ok_json(&DoctorOut::from(doctor.clone())))
}

/// The distinct specialties of the clinic's doctors, with how many doctors have each. Ordered by
/// name.
#[utoipa::path(
    tag = "public",
    params(PageParams),
    responses(
        (status = 200, description = "A page of specialties", body = SpecialtyList),
        BearerErrors, QueryErrors, ClinikoErrors,
    ),
    security(("bearer" = ["doctors:read"]))
)]
#[get("/api/public/specialties")]
pub async fn list_specialties(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    paging: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.page()?;
    directory_list(&state, &req, caller.ctx(), |directory| {
        SpecialtyList::new(&state, &req, page.of(&directory.specialties()), |s| {
            SpecialtyOut {
                name: s.name,
                doctors: s.doctors,
            }
        })
    })
    .await
}

/// The clinic's locations taking online bookings. Ordered by name.
#[utoipa::path(
    tag = "public",
    params(PageParams),
    responses(
        (status = 200, description = "A page of clinics", body = ClinicList),
        BearerErrors, QueryErrors, ClinikoErrors,
    ),
    security(("bearer" = ["doctors:read"]))
)]
#[get("/api/public/clinics")]
pub async fn list_clinics(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    paging: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let page = paging.page()?;
    directory_list(&state, &req, caller.ctx(), |directory| {
        ClinicList::new(
            &state,
            &req,
            page.of(directory.clinics()),
            PublicClinicOut::from,
        )
    })
    .await
}

route_problems!(
    /// What `GET /api/public/appointment-types` answers itself.
    ListAppointmentTypesProblems {
        422 => "`doctor_id` is not a Cliniko id (`validation_failed`)",
    }
);

/// Appointment types bookable online, optionally those one doctor offers. Ordered by name.
#[utoipa::path(
    tag = "public",
    params(AppointmentTypesQuery, PageParams),
    responses(
        (status = 200, description = "A page of appointment types", body = AppointmentTypeList),
        BearerErrors, QueryErrors, ClinikoErrors,
        ListAppointmentTypesProblems,
    ),
    security(("bearer" = ["doctors:read"]))
)]
#[get("/api/public/appointment-types")]
pub async fn list_appointment_types(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<AppointmentTypesQuery>,
    paging: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let doctor = optional_id("doctor_id", query.doctor_id.as_deref(), &mut errors);
    check(errors)?;
    let page: Page = paging.page()?;
    directory_list(&state, &req, caller.ctx(), |directory| {
        let types: Vec<&AppointmentKind> = directory
            .appointment_types()
            .iter()
            .filter(|t| doctor.as_ref().is_none_or(|d| t.doctor_ids.contains(d)))
            .collect();
        AppointmentTypeList::new(&state, &req, page.of(&types), |t| {
            AppointmentTypeOut::from(t.clone())
        })
    })
    .await
}
