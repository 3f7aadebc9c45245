//! Reading appointments (`appointments:read`): `GET /api/public/appointments/{id}` and
//! `GET /api/public/appointments` (filtered, paged like every public list). Live from the
//! clinic's Cliniko; every patient whose appointment is shown is recorded in the access ledger
//! as the client before the answer is sent, and every answer is `Cache-Control: no-store`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Days, Utc};
use clinicgate_core::booking::{AppointmentSearch, ListedStatus};
use clinicgate_core::{Error, FieldError};
use serde::Deserialize;
use utoipa::IntoParams;

use super::appointments::{AppointmentOut, appointment_id, record_disclosure};
use super::listing::{PageParams, check, list_of, optional_id, parse_date, parse_time};
use super::{ApiCaller, AppointmentsRead};
use crate::http::problem::ApiError;
use crate::http::responses::{BearerErrors, ClinikoErrors, QueryErrors, route_problems};
use crate::state::AppState;

list_of!(
    /// A page of appointments.
    AppointmentList,
    AppointmentOut
);

/// Filters of `GET /api/public/appointments`; every filter given must hold.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppointmentsQuery {
    /// Only this patient's appointments.
    #[param(example = "836447129235555555")]
    pub patient_id: Option<String>,
    /// Only this doctor's appointments.
    #[param(example = "836447129235007919")]
    pub doctor_id: Option<String>,
    /// Only appointments starting at or after this: an RFC 3339 date-time, or a date
    /// (`YYYY-MM-DD`, from its start in UTC).
    #[param(example = "2030-05-01")]
    pub from: Option<String>,
    /// Only appointments starting before this: an RFC 3339 date-time, or a date (`YYYY-MM-DD`,
    /// up to its end in UTC, so `from=2030-05-01&to=2030-05-01` is that whole day).
    #[param(example = "2030-05-31")]
    pub to: Option<String>,
    /// Only appointments in this status: `cancelled` or `did_not_arrive` (Cliniko cannot tell
    /// `booked`, `arrived` and `completed` apart in a search; read `status` on each item).
    #[param(example = "cancelled")]
    pub status: Option<String>,
    /// Only appointments changed at or after this RFC 3339 date-time (for syncing: cancelled
    /// appointments are listed too).
    #[param(example = "2030-05-01T08:00:00Z")]
    pub updated_since: Option<String>,
}

/// Which end of a date range a bare date stands for.
#[derive(Clone, Copy)]
enum RangeEnd {
    Start,
    End,
}

/// `from`/`to`: an RFC 3339 date-time as given, or a whole UTC day.
fn range_bound(
    field: &str,
    raw: Option<&str>,
    end: RangeEnd,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    let raw = raw?;
    if let Ok(day) = parse_date(field, raw) {
        let day = match end {
            RangeEnd::Start => Some(day),
            RangeEnd::End => day.checked_add_days(Days::new(1)),
        };
        return day.map(|day| day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    parse_time(field, raw)
        .map_err(|_| {
            errors.push(FieldError::new(
                field,
                "invalid_datetime",
                "give a date (YYYY-MM-DD) or an RFC 3339 date-time with an offset",
            ));
        })
        .ok()
}

fn listed_status(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<ListedStatus> {
    match raw?.trim() {
        "cancelled" => Some(ListedStatus::Cancelled),
        "did_not_arrive" => Some(ListedStatus::DidNotArrive),
        _ => {
            errors.push(FieldError::new(
                "status",
                "unsupported_status",
                "status filters cancelled or did_not_arrive (Cliniko cannot tell booked, arrived and completed apart in a search)",
            ));
            None
        }
    }
}

impl AppointmentsQuery {
    fn search(&self) -> Result<AppointmentSearch, Error> {
        let mut errors = Vec::new();
        let search = AppointmentSearch {
            patient_id: optional_id("patient_id", self.patient_id.as_deref(), &mut errors),
            doctor_id: optional_id("doctor_id", self.doctor_id.as_deref(), &mut errors),
            starts_from: range_bound("from", self.from.as_deref(), RangeEnd::Start, &mut errors),
            starts_before: range_bound("to", self.to.as_deref(), RangeEnd::End, &mut errors),
            status: listed_status(self.status.as_deref(), &mut errors),
            updated_since: self.updated_since.as_deref().and_then(|raw| {
                parse_time("updated_since", raw)
                    .map_err(|e| errors.push(e))
                    .ok()
            }),
        };
        check(errors)?;
        Ok(search)
    }
}

route_problems!(
    /// What `GET /api/public/appointments/{id}` answers itself.
    GetAppointmentProblems {
        404 => "No such appointment in this clinic (`not_found`)",
    }
);

/// One appointment of the clinic, live from Cliniko. Another clinic's appointment is 404.
#[utoipa::path(
    tag = "public",
    params(("id" = String, Path, description = "The appointment's id", example = "836447129235991234")),
    responses(
        (status = 200, description = "The appointment", body = AppointmentOut),
        BearerErrors, ClinikoErrors,
        GetAppointmentProblems,
    ),
    security(("bearer" = ["appointments:read"]))
)]
#[get("/api/public/appointments/{id}")]
pub async fn get_appointment(
    caller: ApiCaller<AppointmentsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = appointment_id(&id)?;
    let ctx = caller.ctx();
    let found = state.booking.appointment(ctx, &id).await?;
    record_disclosure(&state, ctx, &req, std::slice::from_ref(&found)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(AppointmentOut::from(found)))
}

route_problems!(
    /// What `GET /api/public/appointments` answers itself.
    ListAppointmentsProblems {
        422 => "A malformed id, date or status, a range that ends before it starts, or `page`/`per_page` out of range (`validation_failed`)",
    }
);

/// Lists the clinic's appointments (cancelled ones included, unless `status` says otherwise),
/// filtered and paged, in start order. Each page is read live from Cliniko.
#[utoipa::path(
    tag = "public",
    params(AppointmentsQuery, PageParams),
    responses(
        (status = 200, description = "A page of appointments", body = AppointmentList),
        BearerErrors, QueryErrors, ClinikoErrors,
        ListAppointmentsProblems,
    ),
    security(("bearer" = ["appointments:read"]))
)]
#[get("/api/public/appointments")]
pub async fn list_appointments(
    caller: ApiCaller<AppointmentsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    filter: web::Query<AppointmentsQuery>,
    paging: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let search = filter.search()?;
    let page = paging.page()?;
    let ctx = caller.ctx();
    let found = state.booking.appointments(ctx, &search, page).await?;
    record_disclosure(&state, ctx, &req, &found.items).await?;
    let list = AppointmentList::new(&state, &req, found, AppointmentOut::from);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: &str, to: &str) -> AppointmentsQuery {
        AppointmentsQuery {
            patient_id: None,
            doctor_id: None,
            from: Some(from.to_owned()),
            to: Some(to.to_owned()),
            status: None,
            updated_since: None,
        }
    }

    #[test]
    fn a_date_range_covers_whole_days_and_date_times_are_taken_as_given() {
        let search = query("2030-05-01", "2030-05-01").search().unwrap();
        assert_eq!(
            (search.starts_from, search.starts_before),
            (
                Some("2030-05-01T00:00:00Z".parse().unwrap()),
                Some("2030-05-02T00:00:00Z".parse().unwrap())
            )
        );
        let search = query("2030-05-01T10:00:00+10:00", "2030-05-01T12:00:00Z")
            .search()
            .unwrap();
        assert_eq!(
            search.starts_from,
            Some("2030-05-01T00:00:00Z".parse().unwrap())
        );
        assert!(matches!(
            query("yesterday", "2030-05-01").search(),
            Err(Error::Validation(fields)) if fields[0].field == "from"
        ));
    }
}
