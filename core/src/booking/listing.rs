//! Reading a clinic's appointments for an API client: one appointment, or a page of those
//! matching a search. Each page is one Cliniko call (Cliniko pages, so a client paging through a
//! long list spends one call per page it reads). Cancelled appointments are listed too, with
//! their status, so a client syncing by `updated_since` learns of cancellations.

use chrono::{DateTime, Utc};

use super::{BookedAppointment, BookingService, zone_of};
use crate::cliniko::{
    ClinikoId, Direction, Filter, FilterOp, Lane, ListQuery, PageRequest, Patience,
};
use crate::directory::{Page, Paged};
use crate::tenancy::TenantContext;
use crate::{Error, Result};

/// The statuses a search can select: only those Cliniko can filter exactly. `booked`, `arrived`
/// and `completed` differ by a flag (`patient_arrived`) Cliniko cannot filter on, and filtering
/// them here would make Cliniko's page totals wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListedStatus {
    /// Cancelled (Cliniko's `cancelled_at` is set).
    Cancelled,
    /// Marked as did not arrive.
    DidNotArrive,
}

/// Which appointments to list; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppointmentSearch {
    /// The patient's.
    pub patient_id: Option<ClinikoId>,
    /// The doctor's (Cliniko practitioner).
    pub doctor_id: Option<ClinikoId>,
    /// Starting at or after.
    pub starts_from: Option<DateTime<Utc>>,
    /// Starting before.
    pub starts_before: Option<DateTime<Utc>>,
    /// In this status.
    pub status: Option<ListedStatus>,
    /// Changed at or after.
    pub updated_since: Option<DateTime<Utc>>,
}

impl AppointmentSearch {
    /// The Cliniko query: the conditions, in start order (then id, so pages never overlap).
    ///
    /// # Errors
    /// `Validation` when the range ends before it starts.
    pub fn query(&self) -> Result<ListQuery> {
        if let (Some(from), Some(to)) = (self.starts_from, self.starts_before)
            && to <= from
        {
            return Err(Error::invalid(
                "to",
                "before_from",
                "to must come after from",
            ));
        }
        let mut query = ListQuery::new();
        if let Some(id) = &self.patient_id {
            query = query.filter(Filter::eq("patient_id", id));
        }
        if let Some(id) = &self.doctor_id {
            query = query.filter(Filter::eq("practitioner_id", id));
        }
        if let Some(from) = &self.starts_from {
            query = query.filter(Filter::new("starts_at", FilterOp::Ge, from));
        }
        if let Some(to) = &self.starts_before {
            query = query.filter(Filter::new("starts_at", FilterOp::Lt, to));
        }
        if let Some(since) = &self.updated_since {
            query = query.filter(Filter::new("updated_at", FilterOp::Ge, since));
        }
        query = match self.status {
            Some(ListedStatus::Cancelled) => query.filter(Filter::present("cancelled_at")),
            Some(ListedStatus::DidNotArrive) => query
                .filter(Filter::eq("did_not_arrive", &true))
                .filter(Filter::any("cancelled_at")),
            // Cliniko hides cancelled appointments unless asked for them.
            None => query.filter(Filter::any("cancelled_at")),
        };
        Ok(query
            .sort_by("starts_at", Direction::Asc)
            .sort_by("id", Direction::Asc))
    }
}

impl BookingService {
    /// One appointment of the clinic, with its clinic's time zone.
    ///
    /// # Errors
    /// `NotFound` for an id the clinic's Cliniko does not have; Cliniko's failures.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn appointment(
        &self,
        ctx: &TenantContext,
        id: &ClinikoId,
    ) -> Result<BookedAppointment> {
        let directory = self.directory.directory(ctx).await?;
        let appointment = self
            .with_cliniko(ctx, |account| async move {
                self.appointment_in(&Patience::default(), &account, id)
                    .await
            })
            .await?;
        Ok(BookedAppointment {
            time_zone: zone_of(&directory, &appointment),
            appointment,
        })
    }

    /// A page of the clinic's appointments matching `search`, each with its clinic's time zone.
    ///
    /// # Errors
    /// `Validation` for a search that cannot match; Cliniko's failures.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn appointments(
        &self,
        ctx: &TenantContext,
        search: &AppointmentSearch,
        page: Page,
    ) -> Result<Paged<BookedAppointment>> {
        let query = &search.query()?;
        let directory = self.directory.directory(ctx).await?;
        let request = PageRequest::new(page.number(), page.size());
        let found = self
            .with_cliniko(ctx, |account| async move {
                Patience::default()
                    .call(|| {
                        self.cliniko()
                            .appointments_page(&account, Lane::Api, query, request)
                    })
                    .await
            })
            .await?;
        Ok(Paged {
            items: found
                .items
                .into_iter()
                .map(|appointment| BookedAppointment {
                    time_zone: zone_of(&directory, &appointment),
                    appointment,
                })
                .collect(),
            total: found.total,
            page,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> ClinikoId {
        ClinikoId::parse(text).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn conditions(search: &AppointmentSearch) -> Vec<String> {
        search
            .query()
            .unwrap()
            .filters()
            .iter()
            .map(Filter::to_param)
            .collect()
    }

    #[test]
    fn a_search_becomes_clinikos_filters_and_shows_cancelled_appointments_unless_told_otherwise() {
        let search = AppointmentSearch {
            patient_id: Some(id("11")),
            doctor_id: Some(id("22")),
            starts_from: Some(at("2030-05-01T00:00:00Z")),
            starts_before: Some(at("2030-06-01T00:00:00Z")),
            status: None,
            updated_since: Some(at("2030-04-01T08:00:00Z")),
        };
        assert_eq!(
            conditions(&search),
            [
                "patient_id:=11",
                "practitioner_id:=22",
                "starts_at:>=2030-05-01T00:00:00Z",
                "starts_at:<2030-06-01T00:00:00Z",
                "updated_at:>=2030-04-01T08:00:00Z",
                "cancelled_at:*",
            ]
        );
        let cancelled = AppointmentSearch {
            status: Some(ListedStatus::Cancelled),
            ..AppointmentSearch::default()
        };
        assert_eq!(conditions(&cancelled), ["cancelled_at:?"]);
        let no_show = AppointmentSearch {
            status: Some(ListedStatus::DidNotArrive),
            ..AppointmentSearch::default()
        };
        assert_eq!(
            conditions(&no_show),
            ["did_not_arrive:=true", "cancelled_at:*"]
        );
    }

    #[test]
    fn a_range_that_ends_before_it_starts_is_refused() {
        let search = AppointmentSearch {
            starts_from: Some(at("2030-05-02T00:00:00Z")),
            starts_before: Some(at("2030-05-01T00:00:00Z")),
            ..AppointmentSearch::default()
        };
        assert!(matches!(search.query(), Err(Error::Validation(_))));
    }
}
