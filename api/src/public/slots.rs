//! `GET /api/public/available-slots` (`slots:read`): free start times, live from Cliniko.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono_tz::Tz;
use clinicgate_core::Error;
use clinicgate_core::booking::{Slot, SlotSearch};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::listing::{PageParams, check, list_of, local, parse_date, parse_id, required, utc};
use super::{ApiCaller, SlotsRead};
use crate::http::problem::ApiError;
use crate::http::responses::{BearerErrors, ClinikoErrors, QueryErrors, route_problems};
use crate::state::AppState;

/// One free slot.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "starts_at": "2030-05-21T23:00:00Z", "ends_at": "2030-05-21T23:30:00Z",
    "starts_at_local": "2030-05-22T09:00:00+10:00", "ends_at_local": "2030-05-22T09:30:00+10:00",
    "time_zone": "Australia/Sydney"
}))]
pub struct SlotOut {
    /// Start, UTC. Send exactly this as `starts_at` to book it.
    pub starts_at: String,
    /// End (start plus the appointment type's length), UTC.
    pub ends_at: String,
    /// Start in the clinic's time zone, with its offset.
    pub starts_at_local: String,
    /// End in the clinic's time zone, with its offset.
    pub ends_at_local: String,
    /// The clinic's IANA time zone.
    pub time_zone: String,
}

impl SlotOut {
    fn new(slot: Slot, zone: Tz) -> Self {
        Self {
            starts_at: utc(slot.starts_at),
            ends_at: utc(slot.ends_at),
            starts_at_local: local(slot.starts_at, zone),
            ends_at_local: local(slot.ends_at, zone),
            time_zone: zone.name().to_owned(),
        }
    }
}

list_of!(
    /// A page of free slots, in order.
    SlotList,
    SlotOut
);

/// What to search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotsQuery {
    /// The doctor (required).
    #[param(example = "836447129235007919")]
    pub doctor_id: Option<String>,
    /// The clinic (required).
    #[param(example = "836447129235031676")]
    pub clinic_id: Option<String>,
    /// The appointment type (required).
    #[param(example = "836447129235015838")]
    pub appointment_type_id: Option<String>,
    /// First day, `YYYY-MM-DD` in the clinic's time zone; today or later (required).
    #[param(example = "2030-05-21")]
    pub from: Option<String>,
    /// Last day, inclusive, `YYYY-MM-DD` in the clinic's time zone (required). At most
    /// `public_api.max_slot_days` (62 by default) days from `from`.
    #[param(example = "2030-06-02")]
    pub to: Option<String>,
}

route_problems!(
    /// What `GET /api/public/available-slots` answers itself.
    AvailableSlotsProblems {
        422 => "A missing or malformed parameter, ids that do not go together (`unknown`, `not_offered`), a day in the past (`in_past`), `to` before `from` or too long a range (`validation_failed`)",
    }
);

/// Free slots of a doctor for an appointment type at a clinic over a range of days, live from
/// Cliniko (fetched in Cliniko's 7-day windows in the clinic's time zone and stitched). Each
/// page re-reads Cliniko: ask for the days you need rather than paging far (100 per page at
/// most).
#[utoipa::path(
    tag = "public",
    params(SlotsQuery, PageParams),
    responses(
        (status = 200, description = "A page of free slots", body = SlotList),
        BearerErrors, QueryErrors, ClinikoErrors,
        AvailableSlotsProblems,
    ),
    security(("bearer" = ["slots:read"]))
)]
#[get("/api/public/available-slots")]
pub async fn available_slots(
    caller: ApiCaller<SlotsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<SlotsQuery>,
    paging: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let mut id = |field: &str, raw: Option<&str>| {
        required(field, raw, &mut errors)
            .and_then(|raw| parse_id(field, raw).map_err(|e| errors.push(e)).ok())
    };
    let doctor_id = id("doctor_id", query.doctor_id.as_deref());
    let clinic_id = id("clinic_id", query.clinic_id.as_deref());
    let appointment_type_id = id("appointment_type_id", query.appointment_type_id.as_deref());
    let mut day = |field: &str, raw: Option<&str>| {
        required(field, raw, &mut errors)
            .and_then(|raw| parse_date(field, raw).map_err(|e| errors.push(e)).ok())
    };
    let from = day("from", query.from.as_deref());
    let to = day("to", query.to.as_deref());
    check(errors)?;
    let page = paging.page()?;
    let (Some(doctor_id), Some(clinic_id), Some(appointment_type_id), Some(from), Some(to)) =
        (doctor_id, clinic_id, appointment_type_id, from, to)
    else {
        // Every missing value was reported above.
        return Err(Error::internal("a slot parameter passed validation without a value").into());
    };
    let search = SlotSearch {
        doctor_id,
        clinic_id,
        appointment_type_id,
        from,
        to,
    };
    let slots = state.booking.slots(caller.ctx(), &search).await?;
    let zone = slots.time_zone;
    let paged = page.of(&slots.slots);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(SlotList::new(&state, &req, paged, |slot| {
            SlotOut::new(slot, zone)
        })))
}
