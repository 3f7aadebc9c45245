//! `Schedule` (one per practitioner × business where the practitioner takes online bookings)
//! and `Slot` (free times from Cliniko's available times, through the same booking service as
//! `GET /api/public/available-slots`: any range up to its limit, fetched in Cliniko's 7-day
//! windows and stitched). Schedules need `doctors:read`, slots `slots:read`.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Days, NaiveDate, Utc};
use clinicgate_core::Error;
use clinicgate_core::booking::{Slot, SlotSearch};
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::directory::{Directory, Doctor};
use serde_json::{Value, json};

use super::search::{Search, invalid};
use super::{instant, prune, read_response, system};
use crate::http::problem::ApiError;
use crate::public::{ApiCaller, DoctorsRead, SlotsRead};
use crate::state::AppState;

/// Search parameters of `Schedule`.
pub const SCHEDULE_PARAMS: &[&str] = &["_id", "actor"];
/// Search parameters of `Slot`.
pub const SLOT_PARAMS: &[&str] = &["schedule", "start", "service-type"];

/// Days searched when `start` gives no end (a week, Cliniko's window).
const DEFAULT_DAYS: u64 = 6;

/// A schedule's id: the practitioner's and the business's Cliniko ids.
fn schedule_id(doctor: &ClinikoId, clinic: &ClinikoId) -> String {
    format!("{doctor}-{clinic}")
}

/// The practitioner and business of a schedule id.
fn parse_schedule(raw: &str) -> Option<(ClinikoId, ClinikoId)> {
    let raw = raw.trim();
    let raw = raw.rsplit_once("Schedule/").map_or(raw, |(_, id)| id);
    let (doctor, clinic) = raw.split_once('-')?;
    Some((ClinikoId::parse(doctor)?, ClinikoId::parse(clinic)?))
}

/// Digits of a [`slot_id`].
const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// `n` in base 36.
fn base36(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(BASE36[usize::try_from(n % 36).unwrap_or(0)]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// A slot's id: practitioner, business, appointment type and start, each in base 36, because
/// three Cliniko ids in decimal and a time exceed FHIR's 64-character ids.
pub(super) fn slot_id(
    doctor: &ClinikoId,
    clinic: &ClinikoId,
    kind: &ClinikoId,
    start: DateTime<Utc>,
) -> String {
    let part = |id: &ClinikoId| id.as_str().parse::<u64>().map(base36).unwrap_or_default();
    let start = u64::try_from(start.timestamp())
        .map(base36)
        .unwrap_or_default();
    format!("{}-{}-{}-{start}", part(doctor), part(clinic), part(kind))
}

/// What a slot id names: the bookable time it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRef {
    /// The practitioner.
    pub doctor_id: ClinikoId,
    /// The business.
    pub clinic_id: ClinikoId,
    /// The appointment type.
    pub type_id: ClinikoId,
    /// The start.
    pub starts_at: DateTime<Utc>,
}

impl SlotRef {
    /// Reads a [`slot_id`] (bare, `Slot/…` or an absolute URL ending so).
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let raw = raw.rsplit_once("Slot/").map_or(raw, |(_, id)| id);
        let number = |part: &str| {
            u64::from_str_radix(part, 36)
                .ok()
                .filter(|_| part.bytes().all(|b| BASE36.contains(&b)))
        };
        let mut parts = raw.split('-');
        let mut id = || {
            parts
                .next()
                .and_then(number)
                .and_then(|n| ClinikoId::parse(&n.to_string()))
        };
        let (doctor_id, clinic_id, type_id) = (id()?, id()?, id()?);
        let start = parts.next().and_then(number)?;
        if parts.next().is_some() {
            return None;
        }
        let starts_at = DateTime::from_timestamp(i64::try_from(start).ok()?, 0)?;
        Some(Self {
            doctor_id,
            clinic_id,
            type_id,
            starts_at,
        })
    }
}

/// A free slot as a FHIR `Slot`.
fn slot(doctor: &ClinikoId, clinic: &ClinikoId, kind: &ClinikoId, free: &Slot) -> Value {
    prune(json!({
        "resourceType": "Slot",
        "id": slot_id(doctor, clinic, kind, free.starts_at),
        "serviceType": [service_type(kind)],
        "schedule": {"reference": format!("Schedule/{}", schedule_id(doctor, clinic))},
        "status": "free",
        "start": instant(free.starts_at),
        "end": instant(free.ends_at),
    }))
}

fn service_type(id: &ClinikoId) -> Value {
    json!({"coding": [{"system": system("appointment-type"), "code": id.as_str()}]})
}

/// A doctor's schedule at a clinic.
fn schedule(doctor: &Doctor, clinic: &ClinikoId) -> Value {
    prune(json!({
        "resourceType": "Schedule",
        "id": schedule_id(&doctor.id, clinic),
        "active": true,
        "serviceType": doctor.appointment_type_ids.iter().map(service_type).collect::<Vec<_>>(),
        "specialty": doctor.specialty.as_deref().map(|s| json!([{"text": s}])),
        "actor": [
            {"reference": format!("Practitioner/{}", doctor.id), "display": doctor.display_name},
            {"reference": format!("Location/{clinic}")},
        ],
    }))
}

/// Every schedule of the clinic: each public doctor at each clinic they work at.
fn schedules(directory: &Directory) -> Vec<(&Doctor, &ClinikoId)> {
    directory
        .doctors()
        .iter()
        .flat_map(|d| d.clinic_ids.iter().map(move |c| (d, c)))
        .collect()
}

/// `GET /fhir/r4/Schedule/{id}`.
#[get("/Schedule/{id}")]
pub async fn read_schedule(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let directory = state.directory.directory(caller.ctx()).await?;
    let not_found = || Error::NotFound {
        resource: "Schedule",
    };
    let (doctor, clinic) = parse_schedule(&id).ok_or_else(not_found)?;
    let (doctor, clinic) = schedules(&directory)
        .into_iter()
        .find(|(d, c)| d.id == doctor && **c == clinic)
        .ok_or_else(not_found)?;
    Ok(read_response(&schedule(doctor, clinic), false))
}

/// `GET /fhir/r4/Schedule?…`.
#[get("/Schedule")]
pub async fn search_schedules(
    caller: ApiCaller<DoctorsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = caller.ctx();
    let search = Search::read(&req, &state, ctx, "Schedule", SCHEDULE_PARAMS).await?;
    let directory = state.directory.directory(ctx).await?;
    let found: Vec<_> = schedules(&directory)
        .into_iter()
        .filter(|(d, c)| {
            let id = schedule_id(&d.id, c);
            let practitioner = format!("Practitioner/{}", d.id);
            let location = format!("Location/{c}");
            search
                .all("_id")
                .all(|w| w.split(',').any(|w| w.trim() == id))
                && search.all("actor").all(|w| {
                    w.split(',')
                        .any(|w| w.trim().ends_with(&practitioner) || w.trim().ends_with(&location))
                })
        })
        .collect();
    let matches = search
        .slice(&found)
        .iter()
        .map(|(d, c)| schedule(d, c))
        .collect();
    Ok(search
        .bundle(&state, ctx, matches, Vec::new(), found.len())
        .await?)
}

/// The lower and upper bounds of a `start` search, either open.
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The instant bounds of `start` (`ge`/`gt` and `le`/`lt`, dates or instants).
fn bounds(search: &Search) -> Result<Bounds, Error> {
    let mut lower = None;
    let mut upper = None;
    for raw in search.all("start") {
        let raw = raw.trim();
        let (prefix, value) = raw.split_at(raw.len().min(2));
        let at = DateTime::parse_from_rfc3339(value)
            .map(|at| at.with_timezone(&Utc))
            .or_else(|_| {
                NaiveDate::parse_from_str(value, "%Y-%m-%d").map(|d| {
                    // A date as an upper bound means the whole of that day.
                    let day = if matches!(prefix, "le" | "lt") {
                        d + Days::new(1)
                    } else {
                        d
                    };
                    day.and_time(chrono::NaiveTime::MIN).and_utc()
                })
            })
            .map_err(|_| invalid("start", "start takes ge or le with a date or an instant"))?;
        match prefix {
            "ge" | "gt" => lower = Some(at),
            "le" | "lt" => upper = Some(at),
            _ => {
                return Err(invalid(
                    "start",
                    "start supports the prefixes ge, gt, le and lt",
                ));
            }
        }
    }
    Ok((lower, upper))
}

/// `GET /fhir/r4/Slot?schedule=…&service-type=…&start=ge…&start=le…`: free slots.
#[get("/Slot")]
pub async fn search_slots(
    caller: ApiCaller<SlotsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = caller.ctx();
    let search = Search::read(&req, &state, ctx, "Slot", SLOT_PARAMS).await?;
    let (doctor_id, clinic_id) =
        search
            .get("schedule")
            .and_then(parse_schedule)
            .ok_or_else(|| {
                invalid(
                    "schedule",
                    "Slot searches need a schedule (Schedule/{practitioner}-{location})",
                )
            })?;
    let type_id = search
        .get("service-type")
        .map(|raw| raw.rsplit('|').next().unwrap_or("").trim())
        .and_then(ClinikoId::parse)
        .ok_or_else(|| {
            invalid(
                "service-type",
                "Slot searches need a service-type (an appointment type id)",
            )
        })?;
    let (lower, upper) = bounds(&search)?;
    let directory = state.directory.directory(ctx).await?;
    let zone = directory
        .clinic(&clinic_id)
        .map(|c| c.time_zone)
        .ok_or_else(|| invalid("schedule", "no such schedule"))?;
    let today = Utc::now().with_timezone(&zone).date_naive();
    let from = lower
        .map_or(today, |at| at.with_timezone(&zone).date_naive())
        .max(today);
    let to = upper.map_or(from + Days::new(DEFAULT_DAYS), |at| {
        at.with_timezone(&zone).date_naive()
    });
    let found = state
        .booking
        .slots(
            ctx,
            &SlotSearch {
                doctor_id: doctor_id.clone(),
                clinic_id: clinic_id.clone(),
                appointment_type_id: type_id.clone(),
                from,
                to: to.max(from),
            },
        )
        .await?;
    let slots: Vec<_> = found
        .slots
        .into_iter()
        .filter(|s| lower.is_none_or(|l| s.starts_at >= l) && upper.is_none_or(|u| s.starts_at < u))
        .collect();
    let matches = search
        .slice(&slots)
        .iter()
        .map(|s| slot(&doctor_id, &clinic_id, &type_id, s))
        .collect();
    Ok(search
        .bundle(&state, ctx, matches, Vec::new(), slots.len())
        .await?)
}

/// `GET /fhir/r4/Slot/{id}`: the slot while it is free (asked of Cliniko now, for its day);
/// a slot that has been taken, or never existed, is not found.
#[get("/Slot/{id}")]
pub async fn read_slot(
    caller: ApiCaller<SlotsRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = caller.ctx();
    let not_found = || Error::NotFound { resource: "Slot" };
    let wanted = SlotRef::parse(&id).ok_or_else(not_found)?;
    let directory = state.directory.directory(ctx).await?;
    let zone = directory
        .clinic(&wanted.clinic_id)
        .map(|c| c.time_zone)
        .ok_or_else(not_found)?;
    let day = wanted.starts_at.with_timezone(&zone).date_naive();
    if day < Utc::now().with_timezone(&zone).date_naive() {
        return Err(not_found().into());
    }
    let found = state
        .booking
        .slots(
            ctx,
            &SlotSearch {
                doctor_id: wanted.doctor_id.clone(),
                clinic_id: wanted.clinic_id.clone(),
                appointment_type_id: wanted.type_id.clone(),
                from: day,
                to: day,
            },
        )
        .await
        .map_err(|err| match err {
            // An id naming a doctor, clinic or type that do not go together names no slot.
            Error::Validation(_) => not_found(),
            other => other,
        })?;
    let free = found
        .slots
        .iter()
        .find(|s| s.starts_at == wanted.starts_at)
        .ok_or_else(not_found)?;
    Ok(read_response(
        &slot(&wanted.doctor_id, &wanted.clinic_id, &wanted.type_id, free),
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ids_fit_fhirs_64_characters_even_for_the_largest_cliniko_ids() {
        let id = ClinikoId::parse("9223372036854775807").unwrap();
        let start: DateTime<Utc> = "2099-12-31T23:45:00Z".parse().unwrap();
        let slot = slot_id(&id, &id, &id, start);
        assert!(slot.len() <= 64, "{slot}");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(base36(0), "0");
        let read = SlotRef::parse(&format!("Slot/{slot}")).unwrap();
        assert_eq!(read.doctor_id, id);
        assert_eq!(read.type_id, id);
        assert_eq!(read.starts_at, start);
    }

    #[test]
    fn malformed_slot_ids_name_nothing() {
        for raw in [
            "",
            "1-2-3",
            "1-2-3-4-5",
            "1-2-3-!",
            "1-2-0-4",
            "zzzzzzzzzzzzzzzz-1-1-1",
        ] {
            assert_eq!(SlotRef::parse(raw), None, "{raw}");
        }
    }
}
