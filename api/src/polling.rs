//! Change detection over Cliniko as this service runs it: a loop that keeps the schedule of
//! connected clinics, claims due clinics (a lease in the database, so exactly one instance polls
//! each at a time) and polls up to `[polling] concurrency` of them at once, with the metrics an
//! operator watches: `cliniko_polls_total{outcome}` and `cliniko_poll_lag_seconds{tenant}`
//! (seconds since a clinic's last successful poll, read from the database: the same on every
//! instance, and growing for a clinic nobody manages to poll).
//!
//! The rules (what a change means, what is kept) are `clinicgate_core::polling`; the state is
//! `clinicgate_adapters::polling`.

use std::sync::Arc;
use std::time::Duration;

use clinicgate_adapters::db::Db;
use clinicgate_adapters::polling::SeaPollStore;
use clinicgate_core::clinics::ClinicRepository;
use clinicgate_core::cliniko::ClinikoClient;
use clinicgate_core::cliniko_key::ClinikoKeyService;
use clinicgate_core::events::EventPublisher;
use clinicgate_core::polling::{ChangeDetector, PollClaim};
use clinicgate_core::secrets::Vault;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::{PollingSettings, Settings};
use crate::state::AppState;

/// Prometheus: polls by outcome.
const POLLS: &str = "cliniko_polls_total";
/// Prometheus: seconds since each clinic's last successful poll.
const LAG: &str = "cliniko_poll_lag_seconds";
/// How often the lag gauges are refreshed.
const LAG_EVERY: Duration = Duration::from_secs(15);
/// How often this instance forgets expired poll state.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// How long in-flight polls may finish at shutdown before they are abandoned (nothing of an
/// abandoned poll is stored; its lease runs out and the clinic is polled again).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The poller running on this instance.
#[derive(Debug)]
pub struct Poller {
    task: JoinHandle<()>,
}

impl Poller {
    /// Waits for the poller to stop (after the stop token was cancelled).
    pub async fn finish(self) {
        if let Err(err) = self.task.await {
            tracing::warn!(error = %err, "the Cliniko poller ended abnormally");
        }
    }
}

/// The change detector over this service's Cliniko client, keys, clinics and database,
/// publishing through `publisher` (also what ClinicGate's own writes report to).
pub fn change_detector(state: &AppState, publisher: EventPublisher) -> ChangeDetector {
    detector_over(
        &state.settings,
        &state.db,
        state.cliniko.clone(),
        state.cliniko_keys.clone(),
        state.clinics.clone(),
        state.vault.clone(),
        publisher,
    )
}

/// [`change_detector`] from its parts, for start-up, which needs one before the state exists
/// (the booking service announces its writes to it).
pub fn detector_over(
    settings: &Settings,
    db: &Db,
    cliniko: Arc<dyn ClinikoClient>,
    keys: ClinikoKeyService,
    clinics: Arc<dyn ClinicRepository>,
    vault: Vault,
    publisher: EventPublisher,
) -> ChangeDetector {
    ChangeDetector::new(
        cliniko,
        keys,
        clinics,
        Arc::new(SeaPollStore::new(db.clone())),
        vault,
        publisher,
        settings.polling.detector(),
    )
}

/// Starts polling connected clinics' Cliniko until `stop` is cancelled. `serve` starts it when
/// `[polling] enabled` is true; tests start it with a publisher of their own.
pub fn spawn_poller(
    state: &AppState,
    publisher: EventPublisher,
    stop: CancellationToken,
) -> Poller {
    let settings = state.settings.polling.clone();
    let detector = change_detector(state, publisher);
    let owner = format!("poller-{}", uuid::Uuid::new_v4().simple());
    Poller {
        task: tokio::spawn(run(detector, settings, owner, stop)),
    }
}

async fn run(
    detector: ChangeDetector,
    settings: PollingSettings,
    owner: String,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(
        usize::try_from(settings.concurrency).unwrap_or(1),
    ));
    let mut polls = JoinSet::new();
    let mut schedule = tokio::time::interval(settings.schedule_interval());
    let mut look = tokio::time::interval(settings.tick());
    let mut lags = tokio::time::interval(LAG_EVERY);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    for tick in [&mut schedule, &mut look, &mut lags, &mut prune] {
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = schedule.tick() => {
                if let Err(err) = detector.schedule_connected().await {
                    tracing::warn!(error = %err, "could not refresh the clinics to poll; retrying");
                }
            }
            _ = look.tick() => {
                for claim in claim(&detector, &owner, &slots).await {
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        break;
                    };
                    let detector = detector.clone();
                    polls.spawn(async move {
                        poll(&detector, &claim).await;
                        drop(slot);
                    });
                }
            }
            _ = lags.tick() => report_lags(&detector).await,
            _ = prune.tick() => {
                if let Err(err) = detector.prune().await {
                    tracing::warn!(error = %err, "could not forget expired poll state");
                }
            }
            Some(_) = polls.join_next(), if !polls.is_empty() => {}
        }
    }
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while polls.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        polls.shutdown().await;
    }
}

/// Claims as many due clinics as there are free slots.
async fn claim(detector: &ChangeDetector, owner: &str, slots: &Semaphore) -> Vec<PollClaim> {
    let free = u32::try_from(slots.available_permits()).unwrap_or(u32::MAX);
    if free == 0 {
        return Vec::new();
    }
    detector.claim(owner, free).await.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "could not claim clinics to poll");
        Vec::new()
    })
}

async fn poll(detector: &ChangeDetector, claim: &PollClaim) {
    let outcome = detector.poll(claim).await;
    metrics::counter!(POLLS, "outcome" => outcome.as_str()).increment(1);
}

async fn report_lags(detector: &ChangeDetector) {
    match detector.lags().await {
        Ok(lags) => {
            for (tenant, lag) in lags {
                if let Some(lag) = lag {
                    metrics::gauge!(LAG, "tenant" => tenant.to_string()).set(lag.as_secs_f64());
                }
            }
        }
        Err(err) => tracing::warn!(error = %err, "could not read the clinics' poll lag"),
    }
}
