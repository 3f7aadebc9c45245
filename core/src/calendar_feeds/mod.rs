//! Doctors' calendar feeds: a clinic's owners and admins create a revocable feed per doctor
//! whose URL carries a secret token ([`FeedToken`]); a calendar application that fetches the URL
//! gets the doctor's appointments from a little before today to a while after
//! ([`FeedPolicy`]).
//!
//! The feed URL is the one way to PHI-adjacent data without a login, so:
//! - the token is stored only as a digest and shown once, when the feed is created;
//! - a fetch authenticates like any other caller: [`CalendarFeedService::authenticate`] builds a
//!   [`TenantContext`] whose actor is the feed, bound to its doctor, and takes one unit of the
//!   feed's own rate limit;
//! - patients appear by their initials unless the clinic chose full names ([`PatientNames`]);
//! - every fetch is written to the access ledger (channel `calendar`, one entry per patient
//!   shown) before the feed is handed out.
//!
//! Rendering the feed as iCalendar is the HTTP layer's business; this module decides what it
//! contains. It knows no HTTP and no storage (see [`CalendarFeedRepository`]).

mod token;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use token::{FEED_TOKEN_PREFIX, FeedToken};

use crate::cliniko::{
    Appointment, AppointmentTypeScope, ClinikoClient, ClinikoId, Direction, Filter, FilterOp, Lane,
    ListQuery, Practitioner, PractitionerScope,
};
use crate::cliniko_key::ClinikoKeyService;
use crate::directory::not_connected;
use crate::error::FieldError;
use crate::ids::{TenantId, UserId};
use crate::ledger::{Categories, Category, Channel, LedgerService, RequestMeta};
use crate::ports::{Quota, RateLimiter};
use crate::tenancy::{Actor, TenantContext};
use crate::{Error, Result};

crate::ids::uuid_id!(
    /// A calendar feed's id.
    CalendarFeedId
);

/// A doctor's calendar feed (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarFeed {
    /// Its id.
    pub id: CalendarFeedId,
    /// The doctor (Cliniko practitioner) whose appointments it shows.
    pub doctor_id: ClinikoId,
    /// The staff member who created it.
    pub created_by: Option<UserId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A feed just created, with its token: shown this once.
#[derive(Debug)]
pub struct CreatedFeed {
    /// The feed.
    pub feed: CalendarFeed,
    /// The token for its URL.
    pub token: FeedToken,
}

/// How a clinic's feeds name patients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatientNames {
    /// Initials only (`J.C.`): the default.
    #[default]
    Initials,
    /// The full name as Cliniko shows it; the clinic must choose it.
    Full,
}

impl PatientNames {
    /// The stored and API name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Initials => "initials",
            Self::Full => "full",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Initials, Self::Full]
            .into_iter()
            .find(|names| names.as_str() == raw)
    }

    /// What a feed shows of `name`.
    pub fn shown(self, name: &str) -> String {
        match self {
            Self::Full => name.trim().to_owned(),
            Self::Initials => name
                .split_whitespace()
                .filter_map(|word| word.chars().find(|c| c.is_alphanumeric()))
                .flat_map(char::to_uppercase)
                .map(|initial| format!("{initial}."))
                .collect(),
        }
    }

    /// What the ledger records as shown: appointments, and names when they are shown in full.
    fn categories(self) -> Categories {
        match self {
            Self::Initials => Categories::of(&[Category::Appointments]),
            Self::Full => Categories::of(&[Category::Appointments, Category::Demographics]),
        }
    }
}

/// Storage of feeds and of each clinic's [`PatientNames`].
#[async_trait]
pub trait CalendarFeedRepository: Send + Sync + fmt::Debug {
    /// Stores a new feed with the digest of its token.
    async fn insert(&self, tenant: TenantId, feed: &CalendarFeed, token_digest: &str)
    -> Result<()>;

    /// The clinic's feeds, oldest first.
    async fn list(&self, tenant: TenantId) -> Result<Vec<CalendarFeed>>;

    /// The clinic's feed whose token has this digest.
    async fn find_by_token_digest(
        &self,
        tenant: TenantId,
        token_digest: &str,
    ) -> Result<Option<CalendarFeed>>;

    /// Deletes the clinic's feed; `false` when it has none with this id.
    async fn delete(&self, tenant: TenantId, id: CalendarFeedId) -> Result<bool>;

    /// How the clinic's feeds name patients ([`PatientNames::Initials`] until it chooses).
    async fn patient_names(&self, tenant: TenantId) -> Result<PatientNames>;

    /// Sets how the clinic's feeds name patients.
    async fn set_patient_names(&self, tenant: TenantId, names: PatientNames) -> Result<()>;
}

/// What a feed covers and how often it may be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedPolicy {
    /// Days before now whose appointments are shown.
    pub days_before: u32,
    /// Days after now whose appointments are shown.
    pub days_after: u32,
    /// Fetches one feed may make (calendar applications poll every few minutes to hours).
    pub fetches: Quota,
    /// The most appointments one feed holds (the Cliniko pages read for it).
    pub max_appointments: usize,
}

impl Default for FeedPolicy {
    fn default() -> Self {
        Self {
            days_before: 30,
            days_after: 90,
            fetches: Quota {
                limit: 30,
                period: Duration::from_secs(3600),
            },
            max_appointments: 5000,
        }
    }
}

/// One appointment as a feed shows it. Holds a patient's name or initials: `Debug` shows ids.
#[derive(Clone, PartialEq, Eq)]
pub struct FeedAppointment {
    /// Cliniko's id of the appointment.
    pub id: ClinikoId,
    /// Start (UTC).
    pub starts_at: DateTime<Utc>,
    /// End (UTC); the start when Cliniko gave none.
    pub ends_at: DateTime<Utc>,
    /// The patient as the clinic's [`PatientNames`] allows.
    pub patient: Option<String>,
    /// The appointment type's name.
    pub appointment_type: Option<String>,
    /// Cancelled in Cliniko.
    pub cancelled: bool,
    /// Created in Cliniko.
    pub created_at: Option<DateTime<Utc>>,
    /// The last change Cliniko reports (update or cancellation).
    pub changed_at: Option<DateTime<Utc>>,
}

impl FeedAppointment {
    fn new(
        appointment: Appointment,
        names: PatientNames,
        types: &HashMap<ClinikoId, String>,
    ) -> Self {
        let changed_at = [
            appointment.updated_at,
            appointment.cancelled_at,
            appointment.created_at,
        ]
        .into_iter()
        .flatten()
        .max();
        Self {
            starts_at: appointment.starts_at,
            ends_at: appointment
                .ends_at
                .filter(|end| *end >= appointment.starts_at)
                .unwrap_or(appointment.starts_at),
            patient: appointment
                .patient_name
                .as_deref()
                .map(|name| names.shown(name))
                .filter(|shown| !shown.is_empty()),
            appointment_type: appointment
                .appointment_type_id
                .as_ref()
                .and_then(|id| types.get(id).cloned()),
            cancelled: appointment.cancelled_at.is_some(),
            created_at: appointment.created_at,
            changed_at,
            id: appointment.id,
        }
    }

    /// The iCalendar `SEQUENCE`: seconds from creation to the last change, so every change
    /// Cliniko records (a move, a cancellation) gives a larger number, without storing a
    /// counter. An appointment whose creation Cliniko does not report counts from its last
    /// change (0), which still never goes down while that change is the latest.
    pub fn sequence(&self) -> u32 {
        let (Some(created), Some(changed)) = (self.created_at.or(self.changed_at), self.changed_at)
        else {
            return 0;
        };
        u32::try_from((changed - created).num_seconds().max(0)).unwrap_or(u32::MAX)
    }
}

impl fmt::Debug for FeedAppointment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedAppointment")
            .field("id", &self.id)
            .field("starts_at", &self.starts_at)
            .field("cancelled", &self.cancelled)
            .finish_non_exhaustive()
    }
}

/// What one fetch of a feed shows.
#[derive(Debug, Clone)]
pub struct FeedContents {
    /// The feed.
    pub feed_id: CalendarFeedId,
    /// The doctor.
    pub doctor_id: ClinikoId,
    /// The doctor's name as Cliniko gives it.
    pub doctor_name: String,
    /// The clinic's time zone (its Cliniko account's; UTC when Cliniko names none).
    pub time_zone: Tz,
    /// The start of the window shown.
    pub from: DateTime<Utc>,
    /// The end of the window shown (excluded).
    pub to: DateTime<Utc>,
    /// The doctor's appointments in the window, cancelled ones included, by start.
    pub appointments: Vec<FeedAppointment>,
}

/// `calendar feed` not found: an unknown, revoked or other clinic's feed looks the same.
fn feed_not_found() -> Error {
    Error::NotFound {
        resource: "calendar feed",
    }
}

/// Calendar feeds; cheap to clone.
#[derive(Debug, Clone)]
pub struct CalendarFeedService {
    feeds: Arc<dyn CalendarFeedRepository>,
    cliniko: Arc<dyn ClinikoClient>,
    keys: ClinikoKeyService,
    ledger: LedgerService,
    limiter: Arc<dyn RateLimiter>,
    policy: FeedPolicy,
}

impl CalendarFeedService {
    /// Feeds stored in `feeds`, read from Cliniko through `cliniko` with the clinics' `keys`,
    /// recorded in `ledger`, each fetch counted by `limiter` under `policy`.
    pub fn new(
        feeds: Arc<dyn CalendarFeedRepository>,
        cliniko: Arc<dyn ClinikoClient>,
        keys: ClinikoKeyService,
        ledger: LedgerService,
        limiter: Arc<dyn RateLimiter>,
        policy: FeedPolicy,
    ) -> Self {
        Self {
            feeds,
            cliniko,
            keys,
            ledger,
            limiter,
            policy,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> FeedPolicy {
        self.policy
    }

    /// Creates a feed of `doctor_id`'s appointments (owners and admins). The doctor must be a
    /// practitioner in the clinic's Cliniko.
    ///
    /// # Errors
    /// `Forbidden` for anyone but owners and admins; `Validation(doctor_id)` for an unknown
    /// practitioner; `Conflict(cliniko_not_connected)`; Cliniko's failures.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn create(&self, ctx: &TenantContext, doctor_id: ClinikoId) -> Result<CreatedFeed> {
        ctx.require_manager()?;
        let cliniko = &self.cliniko;
        let doctor = &doctor_id;
        let known = self
            .keys
            .with_account(ctx, |account| async move {
                match cliniko
                    .practitioner(&account, Lane::Interactive, doctor)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(Error::NotFound { .. }) => Ok(false),
                    Err(err) => Err(err),
                }
            })
            .await?
            .ok_or_else(not_connected)?;
        if !known {
            return Err(Error::Validation(vec![FieldError::new(
                "doctor_id",
                "unknown",
                "no practitioner with this id in the clinic's Cliniko",
            )]));
        }
        let feed = CalendarFeed {
            id: CalendarFeedId::new(),
            doctor_id,
            created_by: ctx.user_id(),
            created_at: Utc::now(),
        };
        let token = FeedToken::generate();
        self.feeds
            .insert(ctx.tenant_id(), &feed, &token.digest())
            .await?;
        Ok(CreatedFeed { feed, token })
    }

    /// The clinic's feeds, oldest first (owners and admins).
    ///
    /// # Errors
    /// `Forbidden` for anyone but owners and admins; storage failures.
    pub async fn list(&self, ctx: &TenantContext) -> Result<Vec<CalendarFeed>> {
        ctx.require_manager()?;
        self.feeds.list(ctx.tenant_id()).await
    }

    /// Revokes a feed: its URL answers 404 from now on (owners and admins).
    ///
    /// # Errors
    /// `Forbidden` for anyone but owners and admins; `NotFound` for a feed the clinic does not
    /// have.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id(), feed_id = %id))]
    pub async fn revoke(&self, ctx: &TenantContext, id: CalendarFeedId) -> Result<()> {
        ctx.require_manager()?;
        if self.feeds.delete(ctx.tenant_id(), id).await? {
            Ok(())
        } else {
            Err(feed_not_found())
        }
    }

    /// How the clinic's feeds name patients (owners and admins).
    ///
    /// # Errors
    /// `Forbidden` for anyone but owners and admins; storage failures.
    pub async fn patient_names(&self, ctx: &TenantContext) -> Result<PatientNames> {
        ctx.require_manager()?;
        self.feeds.patient_names(ctx.tenant_id()).await
    }

    /// Chooses how the clinic's feeds name patients (owners and admins).
    ///
    /// # Errors
    /// `Forbidden` for anyone but owners and admins; storage failures.
    pub async fn set_patient_names(&self, ctx: &TenantContext, names: PatientNames) -> Result<()> {
        ctx.require_manager()?;
        self.feeds.set_patient_names(ctx.tenant_id(), names).await
    }

    /// The practitioners of the clinic's Cliniko, to create feeds for (owners and admins).
    ///
    /// # Errors
    /// `Forbidden` for anyone but owners and admins; `Conflict(cliniko_not_connected)`;
    /// Cliniko's failures.
    pub async fn doctors(&self, ctx: &TenantContext) -> Result<Vec<Practitioner>> {
        ctx.require_manager()?;
        let cliniko = &self.cliniko;
        self.keys
            .with_account(ctx, |account| async move {
                cliniko
                    .practitioners(&account, Lane::Interactive, &PractitionerScope::All)
                    .await
            })
            .await?
            .ok_or_else(not_connected)
    }

    /// Authenticates a fetch of `tenant`'s feed of `doctor_id` by the token it presents, and
    /// takes one unit of that feed's rate limit.
    ///
    /// # Errors
    /// `NotFound` for a malformed, unknown or revoked token, a token of another doctor's feed,
    /// or one of another clinic (the clinic comes from the host the request arrived on), all
    /// alike; `RateLimited` once the feed has been fetched too often; `Unavailable` when the
    /// limiter's store is down (fail closed).
    pub async fn authenticate(
        &self,
        tenant: TenantId,
        doctor_id: &str,
        presented: &str,
    ) -> Result<TenantContext> {
        let token = FeedToken::parse(presented).ok_or_else(feed_not_found)?;
        let feed = self
            .feeds
            .find_by_token_digest(tenant, &token.digest())
            .await?
            .filter(|feed| feed.doctor_id.as_str() == doctor_id)
            .ok_or_else(feed_not_found)?;
        let decision = self
            .limiter
            .acquire(
                &format!("calendar_feed:{}", feed.id),
                self.policy.fetches,
                1,
                0,
            )
            .await?;
        if !decision.allowed {
            return Err(Error::RateLimited {
                retry_after: decision.retry_after,
            });
        }
        Ok(TenantContext::for_calendar_feed(
            tenant,
            feed.id,
            feed.doctor_id,
        ))
    }

    /// What the authenticated feed shows now, recorded in the ledger before it is returned.
    ///
    /// # Errors
    /// `Forbidden` for any actor but a feed; `Conflict(cliniko_not_connected)`; Cliniko's
    /// failures; a ledger failure (then nothing is shown).
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn contents(&self, ctx: &TenantContext, meta: &RequestMeta) -> Result<FeedContents> {
        let Actor::CalendarFeed { feed_id, doctor_id } = ctx.actor() else {
            return Err(Error::Forbidden(
                "only a calendar feed's own URL reads it".to_owned(),
            ));
        };
        let now = Utc::now();
        let from = now - chrono::Duration::days(i64::from(self.policy.days_before));
        let to = now + chrono::Duration::days(i64::from(self.policy.days_after));
        let names = self.feeds.patient_names(ctx.tenant_id()).await?;
        let cliniko = &self.cliniko;
        // Cancelled appointments are hidden by Cliniko by default; a feed shows them as
        // cancelled so that subscribed calendars drop them.
        let query = ListQuery::new()
            .filter(Filter::eq("practitioner_id", doctor_id))
            .filter(Filter::new("starts_at", FilterOp::Ge, &from))
            .filter(Filter::new("starts_at", FilterOp::Lt, &to))
            .filter(Filter::any("cancelled_at"))
            .sort_by("starts_at", Direction::Asc)
            .limit(self.policy.max_appointments);
        let query = &query;
        let (settings, doctor, types, appointments) = self
            .keys
            .with_account(ctx, |account| async move {
                let account = &account;
                futures::try_join!(
                    cliniko.settings(account, Lane::Api),
                    cliniko.practitioner(account, Lane::Api, doctor_id),
                    cliniko.appointment_types(account, Lane::Api, &AppointmentTypeScope::All),
                    cliniko.appointments(account, Lane::Api, query),
                )
            })
            .await?
            .ok_or_else(not_connected)?;
        let time_zone = settings
            .account
            .iana_time_zone()
            .and_then(|zone| zone.parse::<Tz>().ok())
            .unwrap_or(Tz::UTC);
        let types: HashMap<ClinikoId, String> = types
            .into_iter()
            .filter_map(|kind| Some((kind.id, kind.name?)))
            .collect();
        let patients: Vec<ClinikoId> = appointments
            .iter()
            .filter_map(|appointment| appointment.patient_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.ledger
            .record(ctx, Channel::Calendar, names.categories(), &patients, meta)
            .await?;
        Ok(FeedContents {
            feed_id: *feed_id,
            doctor_id: doctor_id.clone(),
            doctor_name: doctor.name(),
            time_zone,
            from,
            to,
            appointments: appointments
                .into_iter()
                .map(|appointment| FeedAppointment::new(appointment, names, &types))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_are_the_default_and_full_names_a_choice() {
        assert_eq!(PatientNames::default(), PatientNames::Initials);
        assert_eq!(PatientNames::Initials.shown("Jane  van Citizen"), "J.V.C.");
        assert_eq!(PatientNames::Initials.shown("élodie o'brien"), "É.O.");
        assert_eq!(PatientNames::Full.shown(" Jane Citizen "), "Jane Citizen");
        for names in [PatientNames::Initials, PatientNames::Full] {
            assert_eq!(PatientNames::parse(names.as_str()), Some(names));
        }
        assert_eq!(PatientNames::parse("everything"), None);
    }

    #[test]
    fn the_sequence_grows_with_every_change_cliniko_records() {
        let created = Utc::now() - chrono::Duration::days(3);
        let mut appointment = Appointment::new(ClinikoId::parse("42").unwrap(), Utc::now());
        appointment.patient_name = Some("Jane Citizen".to_owned());
        appointment.created_at = Some(created);
        appointment.updated_at = Some(created);
        let shown = |a: &Appointment| {
            FeedAppointment::new(a.clone(), PatientNames::Initials, &HashMap::new())
        };
        let first = shown(&appointment);
        assert_eq!(first.sequence(), 0);
        assert_eq!(first.patient.as_deref(), Some("J.C."));
        appointment.updated_at = Some(created + chrono::Duration::hours(1));
        let moved = shown(&appointment);
        appointment.cancelled_at = Some(created + chrono::Duration::hours(2));
        let cancelled = shown(&appointment);
        assert!(first.sequence() < moved.sequence());
        assert!(moved.sequence() < cancelled.sequence());
        assert!(cancelled.cancelled);
        assert!(
            !format!("{cancelled:?}").contains("J.C."),
            "Debug shows no patient"
        );
    }
}
