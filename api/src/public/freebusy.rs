//! `GET /api/public/doctors/{id}/freebusy` and `…/freebusy.ics` (`slots:read`): a doctor's
//! free and busy time over a range of days, as JSON or as an RFC 5545 `VFREEBUSY`, built from
//! the same stitched Cliniko available times as `GET /api/public/available-slots`
//! (`BookingService::free_busy`). No patient data: busy time never says why.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clinicgate_core::Error;
use clinicgate_core::booking::{FreeBusy, FreeBusySearch, Period};
use clinicgate_core::cliniko::ClinikoId;
use icalendar::{Calendar, Property};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::listing::{check, local, optional_id, parse_date, parse_id, required, utc};
use super::{ApiCaller, SlotsRead};
use crate::http::problem::ApiError;
use crate::http::responses::{BearerErrors, ClinikoErrors, QueryErrors, route_problems};
use crate::state::AppState;

/// One span of time, `[starts_at, ends_at)`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "starts_at": "2030-05-21T23:00:00Z", "ends_at": "2030-05-22T01:30:00Z",
    "starts_at_local": "2030-05-22T09:00:00+10:00", "ends_at_local": "2030-05-22T11:30:00+10:00"
}))]
pub struct PeriodOut {
    /// Start, UTC.
    pub starts_at: String,
    /// End (exclusive), UTC.
    pub ends_at: String,
    /// Start in the clinic's time zone, with its offset.
    pub starts_at_local: String,
    /// End in the clinic's time zone, with its offset.
    pub ends_at_local: String,
}

impl PeriodOut {
    fn new(period: Period, zone: Tz) -> Self {
        Self {
            starts_at: utc(period.starts_at),
            ends_at: utc(period.ends_at),
            starts_at_local: local(period.starts_at, zone),
            ends_at_local: local(period.ends_at, zone),
        }
    }
}

/// A doctor's free and busy time. `free` and `busy` are in order, never overlap, and together
/// cover `from`..`to` exactly.
#[derive(Debug, Serialize, ToSchema)]
pub struct FreeBusyOut {
    /// The doctor.
    #[schema(example = "836447129235007919")]
    pub doctor_id: String,
    /// The clinic the free time is at.
    #[schema(example = "836447129235031676")]
    pub clinic_id: String,
    /// The appointment type whose free slots make the free time (the one asked for, else the
    /// doctor's shortest at the clinic).
    #[schema(example = "836447129235015838")]
    pub appointment_type_id: String,
    /// The clinic's IANA time zone; the days asked for are its days.
    #[schema(example = "Australia/Sydney")]
    pub time_zone: String,
    /// Start of the first day asked for (clinic midnight), UTC.
    pub from: String,
    /// End of the last day asked for (the next clinic midnight), UTC.
    pub to: String,
    /// When an appointment of the type could be booked (its free slots, merged).
    pub free: Vec<PeriodOut>,
    /// The rest: booked, breaks, outside the doctor's hours, or closed to online booking by the
    /// clinic's rules (Cliniko does not say which).
    pub busy: Vec<PeriodOut>,
}

impl FreeBusyOut {
    fn new(doctor: &ClinikoId, found: FreeBusy) -> Self {
        let zone = found.time_zone;
        let out = |periods: Vec<Period>| {
            periods
                .into_iter()
                .map(|p| PeriodOut::new(p, zone))
                .collect()
        };
        Self {
            doctor_id: doctor.to_string(),
            clinic_id: found.clinic_id.to_string(),
            appointment_type_id: found.appointment_type_id.to_string(),
            time_zone: zone.name().to_owned(),
            from: utc(found.range.starts_at),
            to: utc(found.range.ends_at),
            free: out(found.free),
            busy: out(found.busy),
        }
    }
}

/// Which free/busy.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FreeBusyQuery {
    /// First day, `YYYY-MM-DD` in the clinic's time zone; today or later (required).
    #[param(example = "2030-05-21")]
    pub from: Option<String>,
    /// Last day, inclusive, `YYYY-MM-DD` in the clinic's time zone (required). At most
    /// `public_api.max_slot_days` (62 by default) days from `from`.
    #[param(example = "2030-06-02")]
    pub to: Option<String>,
    /// The clinic; may be left out when the doctor works at one clinic only.
    #[param(example = "836447129235031676")]
    pub clinic_id: Option<String>,
    /// The appointment type whose slots count as free time; by default the doctor's shortest
    /// at the clinic.
    #[param(example = "836447129235015838")]
    pub appointment_type_id: Option<String>,
}

route_problems!(
    /// What the free/busy routes answer themselves.
    FreeBusyProblems {
        404 => "No public doctor has this id (`not_found`)",
        422 => "A missing or malformed parameter, a clinic left out for a doctor at several, ids that do not go together (`unknown`, `not_offered`), a day in the past (`in_past`), `to` before `from` or too long a range (`validation_failed`)",
    }
);

/// Reads the query and finds the doctor's free/busy.
async fn find(
    caller: &ApiCaller<SlotsRead>,
    state: &AppState,
    id: &str,
    query: &FreeBusyQuery,
) -> Result<(ClinikoId, FreeBusy), Error> {
    let doctor_id = parse_id("id", id).map_err(|_| Error::NotFound { resource: "doctor" })?;
    let mut errors = Vec::new();
    let mut day = |field: &str, raw: Option<&str>| {
        required(field, raw, &mut errors)
            .and_then(|raw| parse_date(field, raw).map_err(|e| errors.push(e)).ok())
    };
    let from = day("from", query.from.as_deref());
    let to = day("to", query.to.as_deref());
    let clinic_id = optional_id("clinic_id", query.clinic_id.as_deref(), &mut errors);
    let appointment_type_id = optional_id(
        "appointment_type_id",
        query.appointment_type_id.as_deref(),
        &mut errors,
    );
    check(errors)?;
    let (Some(from), Some(to)) = (from, to) else {
        // Every missing value was reported above.
        return Err(Error::internal(
            "a free/busy parameter passed validation without a value",
        ));
    };
    let search = FreeBusySearch {
        doctor_id: doctor_id.clone(),
        clinic_id,
        appointment_type_id,
        from,
        to,
    };
    let found = state.booking.free_busy(caller.ctx(), &search).await?;
    Ok((doctor_id, found))
}

/// A doctor's free and busy time over a range of days, for planning around the doctor rather
/// than booking one slot (use `GET /api/public/available-slots` for that). Free time is the
/// doctor's free slots of one appointment type, live from Cliniko (the same stitched 7-day
/// windows as the slot search), merged where they touch; busy is the rest of the range.
#[utoipa::path(
    tag = "public",
    params(
        ("id" = String, Path, description = "The doctor's id", example = "836447129235007919"),
        FreeBusyQuery,
    ),
    responses(
        (status = 200, description = "The doctor's free and busy time", body = FreeBusyOut),
        BearerErrors, QueryErrors, ClinikoErrors,
        FreeBusyProblems,
    ),
    security(("bearer" = ["slots:read"]))
)]
#[get("/api/public/doctors/{id}/freebusy")]
pub async fn doctor_freebusy(
    caller: ApiCaller<SlotsRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<FreeBusyQuery>,
) -> Result<HttpResponse, ApiError> {
    let (doctor, found) = find(&caller, &state, &id, &query).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(FreeBusyOut::new(&doctor, found)))
}

/// The same free/busy as an iCalendar (RFC 5545) `VFREEBUSY`: `FREEBUSY;FBTYPE=FREE` periods
/// and `FREEBUSY;FBTYPE=BUSY` for the rest, in UTC, between `DTSTART` and `DTEND`.
#[utoipa::path(
    tag = "public",
    params(
        ("id" = String, Path, description = "The doctor's id", example = "836447129235007919"),
        FreeBusyQuery,
    ),
    responses(
        (status = 200, description = "A VCALENDAR holding one VFREEBUSY", content_type = "text/calendar", body = String),
        BearerErrors, QueryErrors, ClinikoErrors,
        FreeBusyProblems,
    ),
    security(("bearer" = ["slots:read"]))
)]
#[get("/api/public/doctors/{id}/freebusy.ics")]
pub async fn doctor_freebusy_ics(
    caller: ApiCaller<SlotsRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<FreeBusyQuery>,
) -> Result<HttpResponse, ApiError> {
    let (doctor, found) = find(&caller, &state, &id, &query).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(ics(&doctor, &found, caller.ctx().tenant_id(), Utc::now())))
}

/// `20301201T083000Z`.
fn ics_time(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A content line folded at 75 octets (RFC 5545 §3.1); the lines here are ASCII, so octets
/// are characters.
fn folded(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut rest = line;
    let mut width = 75;
    while rest.len() > width {
        let Some((head, tail)) = rest.split_at_checked(width) else {
            break;
        };
        out.push_str(head);
        out.push_str("\r\n ");
        rest = tail;
        // A continuation line starts with the space.
        width = 74;
    }
    out.push_str(rest);
    out.push_str("\r\n");
    out
}

/// The calendar text: the envelope from the `icalendar` crate, the `VFREEBUSY` written here
/// because the crate has no free/busy component (and its generic one cannot be named). Every
/// value is ASCII with nothing to escape; one period per `FREEBUSY` line.
fn ics(
    doctor: &ClinikoId,
    found: &FreeBusy,
    tenant: clinicgate_core::ids::TenantId,
    now: DateTime<Utc>,
) -> String {
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new(
            "PRODID",
            "-//ClinicGate//Doctor free-busy//EN",
        ))
        .append_property(Property::new("METHOD", "PUBLISH"));
    let mut lines = vec![
        "BEGIN:VFREEBUSY".to_owned(),
        // One free/busy per doctor, clinic and range: asking again gives the same UID, newer
        // DTSTAMP.
        format!(
            "UID:freebusy-{doctor}-{}-{}-{}.{tenant}@clinicgate",
            found.clinic_id,
            ics_time(found.range.starts_at),
            ics_time(found.range.ends_at),
        ),
        format!("DTSTAMP:{}", ics_time(now)),
        format!("DTSTART:{}", ics_time(found.range.starts_at)),
        format!("DTEND:{}", ics_time(found.range.ends_at)),
    ];
    let mut periods: Vec<(Period, &str)> = found
        .free
        .iter()
        .map(|p| (*p, "FREE"))
        .chain(found.busy.iter().map(|p| (*p, "BUSY")))
        .collect();
    periods.sort_by_key(|(p, _)| p.starts_at);
    lines.extend(periods.into_iter().map(|(p, kind)| {
        format!(
            "FREEBUSY;FBTYPE={kind}:{}/{}",
            ics_time(p.starts_at),
            ics_time(p.ends_at)
        )
    }));
    lines.push("END:VFREEBUSY".to_owned());
    let block: String = lines.iter().map(|line| folded(line)).collect();
    let text = calendar.to_string();
    // The component goes last, before the calendar's end.
    let at = text.rfind("END:VCALENDAR").unwrap_or(text.len());
    format!("{}{block}{}", &text[..at], &text[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_folded_at_75_octets_and_short_ones_left_alone() {
        assert_eq!(
            folded("DTSTART:20301201T000000Z"),
            "DTSTART:20301201T000000Z\r\n"
        );
        let long = format!("UID:{}", "x".repeat(200));
        let text = folded(&long);
        assert!(text.split("\r\n").all(|line| line.len() <= 75));
        assert_eq!(text.replace("\r\n ", ""), format!("{long}\r\n"));
    }
}
