//! Showing a clinic's patients from Cliniko: one patient's chart (demographics, contact, medical
//! alerts, upcoming and recent appointments), a name search, and the patients an actor opened
//! recently. Every disclosure is written to the [`LedgerService`] *before* the data is returned,
//! and not returned when that fails.
//!
//! The same service serves clinicians' pages (interactive lane) and, through an API client's
//! `TenantContext`, the third-party API and FHIR (api lane): the channel decides the lane.
//! Patient data is never cached and never logged: the types here print ids only.

mod search;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

pub use search::SearchTerms;

use crate::cliniko::{
    Appointment, AppointmentType, AppointmentTypeScope, Business, ClinikoAccount, ClinikoClient,
    ClinikoId, ClinikoSettings, Direction, Filter, FilterOp, Lane, ListQuery, MedicalAlert,
    Patient, Practitioner, PractitionerScope,
};
use crate::cliniko_key::ClinikoKeyService;
use crate::error::UpstreamFailure;
use crate::ledger::{Categories, Channel, LedgerService, RequestMeta};
use crate::tenancy::{Actor, TenantContext};
use crate::tokens::Scope;
use crate::{Error, Result};

/// Appointments shown on each side of now.
const VISITS_EACH_WAY: usize = 10;
/// The most patients a search shows.
const SEARCH_RESULTS: usize = 25;
/// The most patients "recently viewed" shows.
const RECENT_PATIENTS: u32 = 8;

/// One appointment with the names and time zone a person needs to read it.
#[derive(Clone)]
pub struct Visit {
    /// The appointment as Cliniko returned it (UTC times, status flags).
    pub appointment: Appointment,
    /// The business's time zone: the appointment's times are shown in it.
    pub time_zone: Tz,
    /// The practitioner's name, if Cliniko still knows them.
    pub practitioner: Option<String>,
    /// The business (location) name.
    pub business: Option<String>,
    /// The appointment type's name.
    pub appointment_type: Option<String>,
}

impl Visit {
    /// The start in the business's time zone.
    pub fn local_start(&self) -> DateTime<Tz> {
        self.appointment.starts_at.with_timezone(&self.time_zone)
    }

    /// The end in the business's time zone, if Cliniko gave one.
    pub fn local_end(&self) -> Option<DateTime<Tz>> {
        self.appointment
            .ends_at
            .map(|end| end.with_timezone(&self.time_zone))
    }

    /// `cancelled`, `did_not_arrive`, `arrived` or `booked`.
    pub fn status(&self) -> &'static str {
        let a = &self.appointment;
        if a.cancelled_at.is_some() {
            "cancelled"
        } else if a.did_not_arrive == Some(true) {
            "did_not_arrive"
        } else if a.patient_arrived == Some(true) {
            "arrived"
        } else {
            "booked"
        }
    }
}

impl fmt::Debug for Visit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Visit")
            .field("appointment", &self.appointment)
            .finish_non_exhaustive()
    }
}

/// Everything the patient page and the patient JSON show.
#[derive(Clone)]
pub struct PatientChart {
    /// The patient.
    pub patient: Patient,
    /// Medical alerts (shown prominently).
    pub alerts: Vec<MedicalAlert>,
    /// The next appointments, soonest first.
    pub upcoming: Vec<Visit>,
    /// The latest past appointments, most recent first.
    pub recent: Vec<Visit>,
    /// The patient in Cliniko's web app, when the account's subdomain is known.
    pub cliniko_url: Option<String>,
    /// How long the Cliniko calls took, end to end (they run concurrently): lets the HTTP layer
    /// report the gateway's own share of a response's time.
    pub cliniko_time: std::time::Duration,
}

impl fmt::Debug for PatientChart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientChart")
            .field("patient", &self.patient)
            .finish_non_exhaustive()
    }
}

/// A patient in a list: enough to tell namesakes apart.
#[derive(Clone, PartialEq, Eq)]
pub struct PatientSummary {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// The name the patient goes by, and their last name.
    pub name: String,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Whether Cliniko has archived the patient.
    pub archived: bool,
}

impl From<&Patient> for PatientSummary {
    fn from(patient: &Patient) -> Self {
        Self {
            id: patient.id.clone(),
            name: patient.name(),
            date_of_birth: patient.date_of_birth,
            archived: patient.archived_at.is_some() || patient.deleted_at.is_some(),
        }
    }
}

impl fmt::Debug for PatientSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientSummary")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Age in whole years on `today`.
pub fn age_on(date_of_birth: NaiveDate, today: NaiveDate) -> Option<u32> {
    today.years_since(date_of_birth)
}

/// Reading patients from the clinic's Cliniko, with every disclosure in the ledger.
#[derive(Debug, Clone)]
pub struct PatientService {
    cliniko: Arc<dyn ClinikoClient>,
    keys: ClinikoKeyService,
    ledger: LedgerService,
}

/// Staff may read patients; API clients need `patients:read`.
fn require_patient_access(ctx: &TenantContext) -> Result<()> {
    match ctx.actor() {
        Actor::Staff { .. } => Ok(()),
        Actor::ApiClient { .. } if ctx.has_scope(Scope::PatientsRead) => Ok(()),
        Actor::ApiClient { .. } => Err(Error::Forbidden(
            "this API client lacks the patients:read scope".to_owned(),
        )),
        Actor::CalendarFeed { .. } => Err(Error::Forbidden(
            "a calendar feed does not read patients".to_owned(),
        )),
    }
}

/// Pages and the session API keep a person waiting; partners' calls fail fast instead.
const fn lane_for(channel: Channel) -> Lane {
    match channel {
        Channel::Api | Channel::Fhir | Channel::Calendar => Lane::Api,
        Channel::Page | Channel::Json | Channel::Search | Channel::Recent => Lane::Interactive,
    }
}

/// The reference data an appointment's names and time zone come from (cached by the client).
struct Reference {
    businesses: Vec<Business>,
    practitioners: Vec<Practitioner>,
    types: Vec<AppointmentType>,
    settings: Option<ClinikoSettings>,
}

impl PatientService {
    /// A service reading Cliniko through `cliniko` with the keys in `keys`, recording to `ledger`.
    pub fn new(
        cliniko: Arc<dyn ClinikoClient>,
        keys: ClinikoKeyService,
        ledger: LedgerService,
    ) -> Self {
        Self {
            cliniko,
            keys,
            ledger,
        }
    }

    /// One patient's chart, fetched live and concurrently, recorded in the ledger as a
    /// disclosure of every category through `channel`. `Ok(None)`: the clinic has not connected
    /// Cliniko.
    ///
    /// # Errors
    /// `NotFound` when this clinic's Cliniko has no such patient; `Forbidden` for an API client
    /// without `patients:read`; Cliniko's failures (`Upstream`, `RateLimited`); and any failure
    /// to record the disclosure, in which case nothing is returned.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id(), patient_id = %id, channel = channel.as_str()))]
    pub async fn chart(
        &self,
        ctx: &TenantContext,
        id: &ClinikoId,
        channel: Channel,
        meta: &RequestMeta,
    ) -> Result<Option<PatientChart>> {
        require_patient_access(ctx)?;
        let lane = lane_for(channel);
        let cliniko = &self.cliniko;
        let Some(chart) = self
            .keys
            .with_account(ctx, |account| async move {
                // Booked before the first call: under overload a view is refused whole, never
                // after spending part of the clinic's budget on it.
                let cliniko = cliniko.reserve(&account, lane, CHART_CALLS).await?;
                fetch_chart(cliniko.as_ref(), &account, lane, id).await
            })
            .await?
        else {
            return Ok(None);
        };
        self.ledger
            .record(
                ctx,
                channel,
                Categories::ALL,
                std::slice::from_ref(&chart.patient.id),
                meta,
            )
            .await?;
        Ok(Some(chart))
    }

    /// Patients whose names match `terms` (Cliniko `q[]` filters), recorded in the ledger as
    /// demographics shown through `Channel::Search`. `Ok(None)`: Cliniko is not connected.
    ///
    /// # Errors
    /// As [`PatientService::chart`].
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn search(
        &self,
        ctx: &TenantContext,
        terms: &SearchTerms,
        meta: &RequestMeta,
    ) -> Result<Option<Vec<PatientSummary>>> {
        require_patient_access(ctx)?;
        let lane = lane_for(Channel::Search);
        let cliniko = &self.cliniko;
        let found = self
            .keys
            .with_account(ctx, |account| async move {
                let account = &account;
                let queries = terms.queries(SEARCH_RESULTS);
                let lists = futures::future::try_join_all(
                    queries
                        .iter()
                        .map(|query| cliniko.patients(account, lane, query)),
                )
                .await?;
                Ok(search::merge(lists, SEARCH_RESULTS))
            })
            .await?;
        self.disclose_names(ctx, Channel::Search, found, meta).await
    }

    /// The patients this actor opened most recently, newest first, recorded in the ledger as
    /// demographics shown through `Channel::Recent`. `Ok(None)`: Cliniko is not connected.
    ///
    /// # Errors
    /// As [`PatientService::chart`].
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn recently_viewed(
        &self,
        ctx: &TenantContext,
        meta: &RequestMeta,
    ) -> Result<Option<Vec<PatientSummary>>> {
        require_patient_access(ctx)?;
        let ids = self.ledger.recent_patients(ctx, RECENT_PATIENTS).await?;
        let found = self.names_of(ctx, ids, lane_for(Channel::Recent)).await?;
        self.disclose_names(ctx, Channel::Recent, found, meta).await
    }

    /// The names of the patients on a page of the access ledger, for its readers: the clinic's
    /// owners and admins. `Ok(None)`: Cliniko is not connected.
    ///
    /// Not itself recorded in the ledger: the ledger is the clinic's own record of what
    /// ClinicGate disclosed to its staff and partners, read by those who answer for it; recording
    /// its names would add up to a page of entries about the ledger at each look, burying the
    /// disclosures it exists to show.
    ///
    /// # Errors
    /// `Forbidden` for a clinician; otherwise as [`PatientService::chart`].
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn ledger_names(
        &self,
        ctx: &TenantContext,
        ids: &[ClinikoId],
    ) -> Result<Option<Vec<PatientSummary>>> {
        ctx.require_manager()?;
        let mut distinct: Vec<ClinikoId> = Vec::with_capacity(ids.len());
        for id in ids {
            if !distinct.contains(id) {
                distinct.push(id.clone());
            }
        }
        self.names_of(ctx, distinct, Lane::Interactive).await
    }

    /// The names of `ids` (one Cliniko call, archived patients included), in the order of
    /// `ids`. Records nothing: callers that disclose the names record them.
    async fn names_of(
        &self,
        ctx: &TenantContext,
        ids: Vec<ClinikoId>,
        lane: Lane,
    ) -> Result<Option<Vec<PatientSummary>>> {
        let cliniko = &self.cliniko;
        self.keys
            .with_account(ctx, |account| async move {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                // One call for every name: `id:=a,b,c`, archived patients included.
                let query = ListQuery::new()
                    .filter(Filter::one_of("id", &ids))
                    .filter(Filter::any("archived_at"))
                    .limit(ids.len());
                let patients = cliniko.patients(&account, lane, &query).await?;
                let mut by_id: HashMap<ClinikoId, Patient> = patients
                    .into_iter()
                    .map(|patient| (patient.id.clone(), patient))
                    .collect();
                Ok(ids
                    .iter()
                    .filter_map(|id| by_id.remove(id))
                    .map(|patient| PatientSummary::from(&patient))
                    .collect())
            })
            .await
    }

    /// Records the names `found` as demographics shown through `channel`, then hands them
    /// back; `None` (Cliniko not connected) passes through with nothing recorded. Search and
    /// the recent list share it so that neither can return names before the ledger has them.
    async fn disclose_names(
        &self,
        ctx: &TenantContext,
        channel: Channel,
        found: Option<Vec<PatientSummary>>,
        meta: &RequestMeta,
    ) -> Result<Option<Vec<PatientSummary>>> {
        let Some(shown) = found else {
            return Ok(None);
        };
        let ids: Vec<ClinikoId> = shown.iter().map(|p| p.id.clone()).collect();
        self.ledger
            .record(ctx, channel, Categories::DEMOGRAPHICS, &ids, meta)
            .await?;
        Ok(Some(shown))
    }
}

/// Fetches the patient, their alerts, both appointment lists and the reference data at once.
/// The Cliniko calls of a chart when the reference lists are cached (the usual case): the
/// patient, the alerts, and the upcoming and recent appointments.
const CHART_CALLS: u32 = 4;

async fn fetch_chart(
    cliniko: &dyn ClinikoClient,
    account: &ClinikoAccount,
    lane: Lane,
    id: &ClinikoId,
) -> Result<PatientChart> {
    let started = std::time::Instant::now();
    let now = Utc::now();
    // Cancelled appointments are hidden by default; clinicians need to see them.
    let visits = |op, direction| {
        ListQuery::new()
            .filter(Filter::eq("patient_id", id))
            .filter(Filter::new("starts_at", op, &now))
            .filter(Filter::any("cancelled_at"))
            .sort_by("starts_at", direction)
            .limit(VISITS_EACH_WAY)
    };
    let upcoming = visits(FilterOp::Ge, Direction::Asc);
    let recent = visits(FilterOp::Lt, Direction::Desc);
    let (patient, alerts, upcoming, recent, reference) = futures::try_join!(
        cliniko.patient(account, lane, id),
        cliniko.medical_alerts(account, lane, id),
        cliniko.appointments(account, lane, &upcoming),
        cliniko.appointments(account, lane, &recent),
        reference(cliniko, account, lane),
    )?;
    let (upcoming, recent) = futures::try_join!(
        visits_with_names(cliniko, account, lane, &reference, upcoming),
        visits_with_names(cliniko, account, lane, &reference, recent),
    )?;
    let cliniko_url = reference
        .settings
        .as_ref()
        .and_then(|s| s.account.subdomain.as_deref())
        .and_then(|subdomain| web_url(subdomain, account.key.shard().as_str(), id));
    Ok(PatientChart {
        patient,
        alerts: alerts
            .into_iter()
            .filter(|alert| alert.deleted_at.is_none())
            .collect(),
        upcoming,
        recent,
        cliniko_url,
        cliniko_time: started.elapsed(),
    })
}

async fn reference(
    cliniko: &dyn ClinikoClient,
    account: &ClinikoAccount,
    lane: Lane,
) -> Result<Reference> {
    let settings = async {
        // Only the link back to Cliniko needs the settings, and Cliniko refuses them to keys
        // without an administrator role: the chart is shown without the link then.
        match cliniko.settings(account, lane).await {
            Ok(settings) => Ok(Some(settings)),
            Err(Error::Upstream {
                failure: UpstreamFailure::Forbidden,
                ..
            }) => Ok(None),
            Err(other) => Err(other),
        }
    };
    let (businesses, practitioners, types, settings) = futures::try_join!(
        cliniko.businesses(account, lane),
        cliniko.practitioners(account, lane, &PractitionerScope::All),
        cliniko.appointment_types(account, lane, &AppointmentTypeScope::All),
        settings,
    )?;
    Ok(Reference {
        businesses,
        practitioners,
        types,
        settings,
    })
}

/// Names and time zones for `appointments`. Practitioners and types missing from the cached
/// lists (inactive, archived) are looked up one by one; a failed lookup leaves the name out
/// rather than hiding the appointment.
async fn visits_with_names(
    cliniko: &dyn ClinikoClient,
    account: &ClinikoAccount,
    lane: Lane,
    reference: &Reference,
    appointments: Vec<Appointment>,
) -> Result<Vec<Visit>> {
    let account_zone = reference
        .settings
        .as_ref()
        .and_then(|s| s.account.iana_time_zone())
        .and_then(|name| name.parse::<Tz>().ok());
    let visits = appointments.into_iter().map(|appointment| async move {
        let business = match &appointment.business_id {
            Some(id) => match reference.businesses.iter().find(|b| b.id == *id) {
                Some(found) => Some(found.clone()),
                None => named(cliniko.business(account, lane, id).await)?,
            },
            None => None,
        };
        let practitioner = match &appointment.practitioner_id {
            Some(id) => match reference.practitioners.iter().find(|p| p.id == *id) {
                Some(found) => Some(found.name()),
                None => named(cliniko.practitioner(account, lane, id).await)?.map(|p| p.name()),
            },
            None => None,
        };
        let appointment_type = match &appointment.appointment_type_id {
            Some(id) => match reference.types.iter().find(|t| t.id == *id) {
                Some(found) => found.name.clone(),
                None => {
                    named(cliniko.appointment_type(account, lane, id).await)?.and_then(|t| t.name)
                }
            },
            None => None,
        };
        let time_zone = business
            .as_ref()
            .and_then(Business::iana_time_zone)
            .and_then(|name| name.parse::<Tz>().ok())
            .or(account_zone)
            .unwrap_or(Tz::UTC);
        Ok::<_, Error>(Visit {
            appointment,
            time_zone,
            practitioner,
            business: business
                .map(|b| b.name().to_owned())
                .filter(|n| !n.is_empty()),
            appointment_type,
        })
    });
    futures::future::try_join_all(visits).await
}

/// A related record's lookup: gone (404) reads as "no name"; a refused key, an outage or a
/// rate limit still fails the whole chart, like any other call.
fn named<T>(lookup: Result<T>) -> Result<Option<T>> {
    match lookup {
        Ok(found) => Ok(Some(found)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

/// `https://{subdomain}.{shard}.cliniko.com/patients/{id}`, when the subdomain is a plain DNS
/// label (it comes from Cliniko, but it still goes into a link).
fn web_url(subdomain: &str, shard: &str, id: &ClinikoId) -> Option<String> {
    let plain = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    (plain(subdomain) && plain(shard)).then(|| {
        format!(
            "https://{}.{}.cliniko.com/patients/{id}",
            subdomain.to_ascii_lowercase(),
            shard.to_ascii_lowercase()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cliniko_link_is_built_only_from_plain_labels() {
        let id = ClinikoId::parse("836447129235883061").unwrap();
        assert_eq!(
            web_url("HarbourPhysio", "au2", &id).as_deref(),
            Some("https://harbourphysio.au2.cliniko.com/patients/836447129235883061")
        );
        assert_eq!(web_url("evil.com/x?", "au2", &id), None);
        assert_eq!(web_url("", "au2", &id), None);
    }

    #[test]
    fn ages_count_whole_years() {
        let dob = NaiveDate::from_ymd_opt(1984, 3, 2).unwrap();
        assert_eq!(
            age_on(dob, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()),
            Some(41)
        );
        assert_eq!(
            age_on(dob, NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()),
            Some(42)
        );
        assert_eq!(
            age_on(dob, NaiveDate::from_ymd_opt(1980, 1, 1).unwrap()),
            None
        );
    }
}
