//! Doctors' calendar feeds over HTTP, all on the clinic's own host:
//!
//! - `/api/tenant/calendar-feeds…` (staff session, owners and admins): create a doctor's feed
//!   (the response holds its URL with the token, shown this once), list and revoke feeds, choose
//!   whether feeds show patients' initials or full names, and list the doctors to choose from;
//! - `GET /calendars/doctors/{doctor_id}.ics?token=…`: the feed itself, for calendar
//!   applications (see [`doctor_feed`]).
//!
//! The feed is served on the clinic's host rather than the root host so that the clinic is known
//! from the host before the token is looked up (the lookup is scoped to that clinic like every
//! other query), and a token presented on another clinic's host finds nothing.

mod ics;

pub use ics::IcsInvitations;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use clinicgate_core::Error;
use clinicgate_core::calendar_feeds::{CalendarFeed, CalendarFeedId, CreatedFeed, PatientNames};
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::error::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::host::TenantHost;
use crate::http::phi::{phi_headers, request_meta};
use crate::http::problem::ApiError;
use crate::http::responses::{ClinikoErrors, JsonBodyErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// A doctor's calendar feed (never its token).
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarFeedOut {
    /// The feed's id.
    pub id: String,
    /// The doctor (Cliniko practitioner id).
    #[schema(example = "836447129235007919")]
    pub doctor_id: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl From<CalendarFeed> for CalendarFeedOut {
    fn from(feed: CalendarFeed) -> Self {
        Self {
            id: feed.id.to_string(),
            doctor_id: feed.doctor_id.to_string(),
            created_at: feed.created_at,
        }
    }
}

/// A feed just created, with its URL: shown this once, never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedCalendarFeedOut {
    /// The feed.
    #[serde(flatten)]
    pub feed: CalendarFeedOut,
    /// The URL to subscribe to in a calendar application. It carries the feed's secret token:
    /// ClinicGate keeps only a hash of it and cannot show it again.
    #[schema(
        example = "https://clinic-a.clinicgate.example.com/calendars/doctors/836447129235007919.ics?token=cgcf_0aT3xq9Vb2Lm8Rk5Yw1Hc7Jp4Ns6Fd0Ge3Qu9Zi2Ox5"
    )]
    pub url: String,
}

/// A feed to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CalendarFeedIn {
    /// The doctor: a practitioner id from the clinic's Cliniko.
    #[schema(example = "836447129235007919")]
    pub doctor_id: String,
}

/// How the clinic's feeds name patients.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CalendarFeedSettingsOut {
    /// `initials` (the default, e.g. `J.C.`) or `full` (the name as Cliniko shows it).
    #[schema(example = "initials")]
    pub patient_names: String,
}

/// A doctor a feed can be created for.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedDoctorOut {
    /// The Cliniko practitioner id.
    #[schema(example = "836447129235007919")]
    pub id: String,
    /// The name Cliniko shows.
    #[schema(example = "Dr Eleanor Hart")]
    pub name: String,
}

/// The clinic's calendar feeds, oldest first (owners and admins).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "Every feed, oldest first (no tokens)", body = [CalendarFeedOut]),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/calendar-feeds")]
pub async fn list_calendar_feeds(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<CalendarFeedOut>>, ApiError> {
    let feeds = state.calendar_feeds.list(auth.ctx()).await?;
    Ok(web::Json(
        feeds.into_iter().map(CalendarFeedOut::from).collect(),
    ))
}

route_problems!(
    /// What `POST /api/tenant/calendar-feeds` answers itself.
    CreateCalendarFeedProblems {
        422 => "`doctor_id` is not a Cliniko id (`invalid`) or no practitioner of the clinic's Cliniko (`unknown`); or JSON of the wrong shape (`invalid_body`)",
    }
);

/// Creates a doctor's calendar feed. The response holds the feed's URL with its secret token,
/// which is never shown again.
#[utoipa::path(
    tag = "clinic",
    request_body = CalendarFeedIn,
    responses(
        (status = 201, description = "Created; give `url` to the doctor now", body = CreatedCalendarFeedOut),
        SessionErrors, JsonBodyErrors, ClinikoErrors,
        CreateCalendarFeedProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/calendar-feeds")]
pub async fn create_calendar_feed(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: web::Json<CalendarFeedIn>,
) -> Result<HttpResponse, ApiError> {
    // Managers only, before the id is judged: anyone else learns nothing about it.
    auth.ctx().require_manager()?;
    let doctor_id = ClinikoId::parse(body.doctor_id.trim()).ok_or_else(|| {
        Error::Validation(vec![FieldError::new(
            "doctor_id",
            "invalid",
            "a doctor id is Cliniko's practitioner id: a positive integer",
        )])
    })?;
    let CreatedFeed { feed, token } = state.calendar_feeds.create(auth.ctx(), doctor_id).await?;
    let url = format!(
        "{}/calendars/doctors/{}.ics?token={}",
        state
            .settings
            .public_url
            .tenant_url(auth.clinic.subdomain.as_str()),
        feed.doctor_id,
        token.expose()
    );
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedCalendarFeedOut {
            feed: feed.into(),
            url,
        }))
}

route_problems!(
    /// What `DELETE /api/tenant/calendar-feeds/{feed_id}` answers itself.
    RevokeCalendarFeedProblems {
        404 => "No such feed in this clinic (or it was already revoked)",
    }
);

/// Revokes a feed: its URL answers 404 from now on.
#[utoipa::path(
    tag = "clinic",
    params(("feed_id" = String, Path, description = "The feed's id")),
    responses(
        (status = 204, description = "Revoked"),
        SessionErrors,
        RevokeCalendarFeedProblems,
    ),
    security(("session" = []))
)]
#[delete("/api/tenant/calendar-feeds/{feed_id}")]
pub async fn revoke_calendar_feed(
    auth: Authenticated,
    state: web::Data<AppState>,
    feed_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // An id that cannot be one of ours names no feed (404), but only a manager learns that.
    auth.ctx().require_manager()?;
    let feed_id: CalendarFeedId = feed_id.parse().map_err(|_| Error::NotFound {
        resource: "calendar feed",
    })?;
    state.calendar_feeds.revoke(auth.ctx(), feed_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// How the clinic's feeds name patients (owners and admins).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "The clinic's choice", body = CalendarFeedSettingsOut),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/calendar-feeds/settings")]
pub async fn get_calendar_feed_settings(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<web::Json<CalendarFeedSettingsOut>, ApiError> {
    let names = state.calendar_feeds.patient_names(auth.ctx()).await?;
    Ok(web::Json(CalendarFeedSettingsOut {
        patient_names: names.as_str().to_owned(),
    }))
}

route_problems!(
    /// What `PUT /api/tenant/calendar-feeds/settings` answers itself.
    PutCalendarFeedSettingsProblems {
        422 => "`patient_names` is neither `initials` nor `full`; or JSON of the wrong shape (`invalid_body`)",
    }
);

/// Chooses whether every feed of the clinic shows patients' initials (the default) or their
/// full names. Applies to the next fetch of each feed.
#[utoipa::path(
    tag = "clinic",
    request_body = CalendarFeedSettingsOut,
    responses(
        (status = 200, description = "Saved", body = CalendarFeedSettingsOut),
        SessionErrors, JsonBodyErrors,
        PutCalendarFeedSettingsProblems,
    ),
    security(("session" = []))
)]
#[put("/api/tenant/calendar-feeds/settings")]
pub async fn put_calendar_feed_settings(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: web::Json<CalendarFeedSettingsOut>,
) -> Result<web::Json<CalendarFeedSettingsOut>, ApiError> {
    auth.ctx().require_manager()?;
    let names = PatientNames::parse(body.patient_names.trim()).ok_or_else(|| {
        Error::Validation(vec![FieldError::new(
            "patient_names",
            "invalid",
            "choose initials or full",
        )])
    })?;
    state
        .calendar_feeds
        .set_patient_names(auth.ctx(), names)
        .await?;
    Ok(web::Json(CalendarFeedSettingsOut {
        patient_names: names.as_str().to_owned(),
    }))
}

/// The practitioners of the clinic's Cliniko, to create feeds for (owners and admins).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "Active practitioners, as Cliniko lists them", body = [FeedDoctorOut]),
        SessionErrors, ClinikoErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/calendar-feeds/doctors")]
pub async fn list_calendar_feed_doctors(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<FeedDoctorOut>>, ApiError> {
    let doctors = state.calendar_feeds.doctors(auth.ctx()).await?;
    Ok(web::Json(
        doctors
            .into_iter()
            .map(|doctor| FeedDoctorOut {
                id: doctor.id.to_string(),
                name: doctor.name(),
            })
            .collect(),
    ))
}

/// The `token` of a query string; the first one when there are several.
fn token_of(query: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find_map(|(name, value)| (name == "token").then_some(value))
}

/// `GET /calendars/doctors/{doctor_id}.ics?token=…`: a doctor's appointments as an iCalendar
/// feed, on the clinic's host, for calendar applications (not in the API document: it is not
/// part of the JSON API and no API client calls it).
///
/// A malformed, unknown or revoked token, a token of another doctor or of another clinic's
/// host: 404, the same in every case. Beyond the feed's rate limit: 429 with `Retry-After`.
/// The response is never stored (`no-store`), and each fetch is in the access ledger first.
/// The token is in the query string only: request logs carry the route template, never the URL.
#[get("/calendars/doctors/{doctor_id}.ics")]
pub async fn doctor_feed(
    host: TenantHost,
    state: web::Data<AppState>,
    req: HttpRequest,
    doctor_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let TenantHost(clinic) = host;
    let presented = token_of(req.query_string()).unwrap_or_default();
    let ctx = state
        .calendar_feeds
        .authenticate(clinic.id, &doctor_id, &presented)
        .await?;
    let meta = request_meta(&req, &state);
    let contents = state.calendar_feeds.contents(&ctx, &meta).await?;
    let body = ics::render(&contents, clinic.id, Utc::now());
    let mut response = HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("inline; filename=\"appointments.ics\""),
        ))
        .body(body);
    phi_headers(&mut response);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_the_query_string_alone() {
        assert_eq!(token_of("token=cgcf_abc&x=1"), Some("cgcf_abc".to_owned()));
        assert_eq!(token_of("x=1&token=a%2Bb"), Some("a+b".to_owned()));
        assert_eq!(token_of("tokens=1"), None);
        assert_eq!(token_of(""), None);
    }
}
