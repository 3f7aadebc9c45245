//! [`PatientBackfill`]: "send existing patients". Every current Cliniko patient a client has no
//! link for is queued to its partner as a `patient.created`, through the same deliveries as new
//! patients (so the same retries, attempt log and links), addressed to that client's sync alone.
//!
//! Cliniko is read a page at a time on the background lane of the clinic's budget, so a
//! backfill never takes budget a clinician or a partner's request needs. Pressing it twice is
//! harmless: a run already going for the client is not started again, and a patient queued twice
//! is linked by the first delivery, which makes the second "nothing to send".

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;

use super::PatientSyncService;
use crate::cliniko::{ClinikoClient, Lane, ListQuery, PageRequest};
use crate::cliniko_key::ClinikoKeyService;
use crate::delivery::{OutboundKind, Target};
use crate::events::{EventData, EventPublisher, EventType, NewEvent, PatientRecord};
use crate::ids::TenantId;
use crate::partner_links::PartnerLinks;
use crate::tenancy::TenantContext;
use crate::tokens::ClientId;
use crate::{Error, Result};

/// A backfill a manager asked for, checked and ready to run.
#[derive(Debug, Clone)]
pub struct BackfillRun {
    ctx: TenantContext,
    client: ClientId,
    target: Target,
}

/// What a backfill did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackfillReport {
    /// Current patients read from Cliniko.
    pub seen: usize,
    /// Patients queued to the partner (the others were linked already).
    pub queued: usize,
}

/// Queues existing patients to a client's partner; cheap to clone.
#[derive(Debug, Clone)]
pub struct PatientBackfill {
    syncs: PatientSyncService,
    cliniko: Arc<dyn ClinikoClient>,
    keys: ClinikoKeyService,
    links: Arc<dyn PartnerLinks>,
    events: EventPublisher,
    running: Arc<Mutex<HashSet<(TenantId, ClientId)>>>,
}

/// Takes a run off the list of running ones however it ends.
struct Running<'a> {
    running: &'a Mutex<HashSet<(TenantId, ClientId)>>,
    key: (TenantId, ClientId),
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

impl PatientBackfill {
    /// A backfill reading the clinic's Cliniko through `keys` and `cliniko`, skipping patients
    /// `links` already links, publishing with `events`.
    pub fn new(
        syncs: PatientSyncService,
        cliniko: Arc<dyn ClinikoClient>,
        keys: ClinikoKeyService,
        links: Arc<dyn PartnerLinks>,
        events: EventPublisher,
    ) -> Self {
        Self {
            syncs,
            cliniko,
            keys,
            links,
            events,
            running: Arc::default(),
        }
    }

    /// Checks that `client` has an enabled patient sync the caller may backfill.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound` without a sync; `Conflict`
    /// (`patient_sync_disabled`) while it is switched off.
    pub async fn check(&self, ctx: &TenantContext, client: &ClientId) -> Result<BackfillRun> {
        let sync = self.syncs.get(ctx, client).await?;
        if !sync.enabled {
            return Err(Error::Conflict {
                code: "patient_sync_disabled",
                detail: "the client's patient sync is switched off; enable it to send patients"
                    .to_owned(),
            });
        }
        Ok(BackfillRun {
            ctx: ctx.clone(),
            client: client.clone(),
            target: Target {
                kind: OutboundKind::PatientSync,
                id: sync.id.as_uuid(),
            },
        })
    }

    /// Runs `run`: pages through the clinic's current patients and queues each one the client
    /// has no link for. `None` when a run for the client is already going.
    ///
    /// # Errors
    /// `cliniko_not_connected` without a Cliniko key; Cliniko's and the queue's errors (the
    /// patients queued so far stay queued; running it again completes it).
    pub async fn run(&self, run: BackfillRun) -> Result<Option<BackfillReport>> {
        let tenant = run.ctx.tenant_id();
        let key = (tenant, run.client.clone());
        if !self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone())
        {
            return Ok(None);
        }
        let _running = Running {
            running: &self.running,
            key,
        };
        let cliniko = self.cliniko.clone();
        let (client, target) = (&run.client, run.target);
        let report = self
            .keys
            .with_account(&run.ctx, |account| async move {
                let mut report = BackfillReport::default();
                let query = ListQuery::oldest_first();
                for number in 1.. {
                    let page = PageRequest::new(number, PageRequest::MAX_SIZE);
                    let patients = cliniko
                        .patients_page(&account, Lane::Background, &query, page)
                        .await?;
                    for patient in &patients.items {
                        report.seen += 1;
                        if self
                            .links
                            .partner_id_of(tenant, client, &patient.id)
                            .await?
                            .is_some()
                        {
                            continue;
                        }
                        let event = NewEvent {
                            event_type: EventType::PatientCreated,
                            occurred_at: Utc::now(),
                            data: EventData::Patient(PatientRecord::from(patient)),
                        };
                        self.events.publish_to(tenant, event, &[target]).await?;
                        report.queued += 1;
                    }
                    if patients.is_last(page) {
                        break;
                    }
                }
                Ok(report)
            })
            .await?
            .ok_or_else(crate::directory::not_connected)?;
        tracing::info!(
            tenant_id = %tenant,
            client_id = %run.client,
            seen = report.seen,
            queued = report.queued,
            "backfilled a client's partner with existing patients"
        );
        Ok(Some(report))
    }
}
