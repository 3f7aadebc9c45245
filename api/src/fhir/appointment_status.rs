//! Appointment `status`: which of FHIR's four statuses (`booked`, `arrived`, `noshow`,
//! `cancelled`; a comma list is FHIR's OR) a search asks for, and how much of that Cliniko can
//! filter. Cliniko's list hides cancelled appointments unless `cancelled_at` is filtered on and
//! can filter `did_not_arrive`, but it has no filter on `patient_arrived` — the one flag that
//! tells `arrived` from `booked`. So the search asks Cliniko for the narrowest list that holds
//! every wanted appointment and, when that list holds others too, keeps the wanted ones of each
//! page here: still one Cliniko call a page and nothing kept server-side, at the price of pages
//! that can hold fewer than `_count` (even none) and a Bundle without `total` (counting would
//! mean reading every page). `_summary=count` does read every page, up to [`COUNT_PAGES`].

use std::collections::BTreeSet;

use clinicgate_core::Error;
use clinicgate_core::cliniko::{Appointment, Filter, Lane, ListQuery, PageRequest};
use clinicgate_core::fhir::{APPOINTMENT_STATUSES, appointment_status};
use clinicgate_core::tenancy::TenantContext;

use super::search::{MAX_COUNT, Search, invalid};
use super::with_cliniko;
use crate::state::AppState;

/// How many pages of [`MAX_COUNT`] a `_summary=count` reads at most to count by a status
/// Cliniko cannot filter (beyond them the search is refused as too broad).
pub const COUNT_PAGES: u32 = 10;

/// The appointments of each page that a status search keeps, when Cliniko's list is broader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Residual(BTreeSet<&'static str>);

impl Residual {
    /// Whether the search wants `appointment`.
    pub fn admits(&self, appointment: &Appointment) -> bool {
        self.0.contains(appointment_status(appointment))
    }
}

/// The statuses the search's `status` parameter names, if it has one.
fn wanted(search: &Search) -> Result<Option<BTreeSet<&'static str>>, Error> {
    let Some(raw) = search.once(
        "status",
        "; several statuses are a comma list (status=booked,arrived)",
    )?
    else {
        return Ok(None);
    };
    let mut wanted = BTreeSet::new();
    for value in raw.split(',').map(str::trim) {
        let known = APPOINTMENT_STATUSES
            .into_iter()
            .find(|status| *status == value)
            .ok_or_else(|| {
                invalid(
                    "status",
                    format!(
                        "status is one or more of {} (Cliniko's appointments have no other)",
                        APPOINTMENT_STATUSES.join(", ")
                    ),
                )
            })?;
        wanted.insert(known);
    }
    Ok(Some(wanted))
}

/// Adds the Cliniko filter of the search's `status` to `query`, and says what is left to do on
/// each page (`None`: Cliniko's list is exactly what was asked for).
///
/// # Errors
/// `Validation` on `status` for an unknown status or a repeated parameter.
pub fn filter(search: &Search, query: ListQuery) -> Result<(ListQuery, Option<Residual>), Error> {
    let Some(wanted) = wanted(search)? else {
        return Ok((query, None));
    };
    let set = |statuses: &[&'static str]| statuses.iter().copied().collect::<BTreeSet<_>>();
    // The narrowest list Cliniko can give, and the statuses it holds.
    let (query, listed) = if wanted == set(&["cancelled"]) {
        (
            query.filter(Filter::present("cancelled_at")),
            wanted.clone(),
        )
    } else if wanted == set(&["noshow"]) {
        // Cancelled appointments stay hidden, so `did_not_arrive` alone is exact.
        (
            query.filter(Filter::eq("did_not_arrive", &true)),
            wanted.clone(),
        )
    } else if wanted.contains("cancelled") {
        (
            query.filter(Filter::any("cancelled_at")),
            set(&APPOINTMENT_STATUSES),
        )
    } else {
        (query, set(&["booked", "arrived", "noshow"]))
    };
    let residual = (listed != wanted).then_some(Residual(wanted));
    Ok((query, residual))
}

/// How many appointments `query` lists that `residual` keeps: every page read, one Cliniko call
/// per [`MAX_COUNT`] appointments.
///
/// # Errors
/// `Validation` on `status` when more than [`COUNT_PAGES`] pages would be read; what the Cliniko
/// calls return.
pub async fn count(
    state: &AppState,
    ctx: &TenantContext,
    query: &ListQuery,
    residual: &Residual,
) -> Result<usize, Error> {
    let cliniko = &state.cliniko;
    let mut total = 0;
    for number in 1..=COUNT_PAGES {
        let page = PageRequest::new(number, MAX_COUNT);
        let found = with_cliniko(state, ctx, |account| async move {
            cliniko
                .appointments_page(&account, Lane::Api, query, page)
                .await
        })
        .await?;
        total += found.items.iter().filter(|a| residual.admits(a)).count();
        if found.is_last(page) {
            return Ok(total);
        }
    }
    Err(invalid(
        "status",
        format!(
            "too many appointments to count by this status (over {}): Cliniko cannot filter on \
             arrival, so they are counted here; narrow the search by date, practitioner, \
             location or patient",
            COUNT_PAGES * MAX_COUNT
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(status: &[&str]) -> Search {
        let pairs = status
            .iter()
            .map(|v| ("status".to_owned(), (*v).to_owned()))
            .collect();
        Search::parse("Appointment", pairs, &["status"], true).unwrap()
    }

    fn params(status: &[&str]) -> (Vec<String>, Option<Residual>) {
        let (query, residual) = filter(&search(status), ListQuery::new()).unwrap();
        (
            query.filters().iter().map(Filter::to_param).collect(),
            residual,
        )
    }

    #[test]
    fn what_cliniko_filters_exactly_is_left_to_it() {
        assert_eq!(params(&[]), (vec![], None));
        assert_eq!(
            params(&["cancelled"]),
            (vec!["cancelled_at:?".to_owned()], None)
        );
        assert_eq!(
            params(&["noshow"]),
            (vec!["did_not_arrive:=true".to_owned()], None)
        );
        assert_eq!(params(&["booked,arrived,noshow"]), (vec![], None));
        assert_eq!(
            params(&["booked,arrived,noshow,cancelled"]),
            (vec!["cancelled_at:*".to_owned()], None)
        );
    }

    #[test]
    fn booked_and_arrived_are_told_apart_on_each_page() {
        let (filters, residual) = params(&["arrived"]);
        assert!(filters.is_empty());
        let residual = residual.expect("arrived is kept here");
        let id = clinicgate_core::cliniko::ClinikoId::parse("1").unwrap();
        let mut appointment = Appointment::new(id, chrono::Utc::now());
        appointment.patient_arrived = Some(true);
        assert!(residual.admits(&appointment));
        appointment.patient_arrived = Some(false);
        assert!(!residual.admits(&appointment));
        let (filters, residual) = params(&["cancelled,booked"]);
        assert_eq!(filters, ["cancelled_at:*"]);
        let residual = residual.expect("booked is kept here");
        assert!(residual.admits(&appointment));
        appointment.did_not_arrive = Some(true);
        assert!(!residual.admits(&appointment));
    }

    #[test]
    fn unknown_or_repeated_statuses_are_refused() {
        for bad in [&["fulfilled"][..], &["booked,"], &["booked", "arrived"]] {
            assert!(filter(&search(bad), ListQuery::new()).is_err(), "{bad:?}");
        }
    }
}
