//! [`DirectoryService`]: a clinic's directory, from the Cliniko adapter's reference cache (one
//! Cliniko call per resource per cache TTL per clinic, shared by every instance), with a short
//! per-instance memo of the decoded result in front of it.
//!
//! Why the memo: without it every directory request reads and decodes several cached lists from
//! the shared store (with Redis, several round trips and JSON decodes of whole lists), which
//! dominates the cost of `GET /api/public/doctors`. The memo lives a few seconds (configurable,
//! 0 disables it), so a change in Cliniko shows up within the reference cache's TTL plus that
//! memo TTL; it never makes extra Cliniko calls. A clinic that disconnects Cliniko stops being
//! served once its memo entry expires.
//!
//! A busy clinic's memo is renewed ahead of time: the first request in the last quarter of an
//! entry's life starts one background reload and is served from the entry meanwhile. Without
//! that, every request arriving as an entry expired reloaded the directory itself, and on the
//! doctors benchmark those pile-ups every few seconds raised the p99 from 4.6 to 6.5 ms.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono_tz::Tz;

use super::{Directory, DirectorySource, Visibility};
use crate::cliniko::{
    AppointmentTypeScope, ClinikoAccount, ClinikoClient, ClinikoId, Lane, Patience,
    PractitionerScope,
};
use crate::cliniko_key::ClinikoKeyService;
use crate::ids::TenantId;
use crate::tenancy::TenantContext;
use crate::{Error, Result};

/// Memo entries kept before expired ones are swept.
const MEMO_SWEEP_AT: usize = 1024;

/// The error for a clinic that has not connected Cliniko: nothing the API serves exists yet.
pub fn not_connected() -> Error {
    Error::Conflict {
        code: "cliniko_not_connected",
        detail: "this clinic has not connected its Cliniko account to ClinicGate (or has \
                 disconnected it); the clinic must connect it before the API can serve its data"
            .to_owned(),
    }
}

/// A clinic's decoded directory and when it was loaded.
#[derive(Debug)]
struct Remembered {
    at: Instant,
    directory: Arc<Directory>,
    /// A background reload is under way.
    reloading: bool,
}

type Memo = HashMap<TenantId, Remembered>;

/// Serves clinics' public directories; cheap to clone.
#[derive(Debug, Clone)]
pub struct DirectoryService {
    cliniko: Arc<dyn ClinikoClient>,
    keys: ClinikoKeyService,
    visibility: Visibility,
    memo_ttl: Duration,
    memo: Arc<Mutex<Memo>>,
}

impl DirectoryService {
    /// A service reading through `cliniko` with each clinic's key from `keys`, remembering a
    /// decoded directory for `memo_ttl` (zero: never).
    pub fn new(
        cliniko: Arc<dyn ClinikoClient>,
        keys: ClinikoKeyService,
        memo_ttl: Duration,
    ) -> Self {
        Self {
            cliniko,
            keys,
            visibility: Visibility::online_bookings(),
            memo_ttl,
            memo: Arc::default(),
        }
    }

    /// The Cliniko client the directory reads through (the booking service shares it).
    pub fn cliniko(&self) -> &Arc<dyn ClinikoClient> {
        &self.cliniko
    }

    /// The clinics' keys (the booking service shares them).
    pub fn keys(&self) -> &ClinikoKeyService {
        &self.keys
    }

    /// The clinic's public directory.
    ///
    /// # Errors
    /// `Conflict(cliniko_not_connected)` without a Cliniko key; Cliniko's failures as they come
    /// (rate limited, unavailable, timed out, key rejected).
    pub async fn directory(&self, ctx: &TenantContext) -> Result<Arc<Directory>> {
        if let Some((hit, reload)) = self.remembered(ctx.tenant_id()) {
            if reload {
                self.reload_in_background(ctx);
            }
            return Ok(hit);
        }
        self.load(ctx).await
    }

    /// Reads the directory through the reference cache and remembers it.
    async fn load(&self, ctx: &TenantContext) -> Result<Arc<Directory>> {
        let cliniko = &self.cliniko;
        let visibility = self.visibility;
        let directory = self
            .keys
            .with_account(ctx, |account| async move {
                fetch(cliniko.as_ref(), &account, visibility).await
            })
            .await?
            .ok_or_else(not_connected)?;
        let directory = Arc::new(directory);
        self.remember(ctx.tenant_id(), &directory);
        Ok(directory)
    }

    /// Reloads a memo entry near the end of its life without holding up the request that
    /// noticed; a failed reload leaves the entry to expire, and the request after that reports
    /// the failure. Outside a Tokio runtime nothing is started (the entry simply expires).
    fn reload_in_background(&self, ctx: &TenantContext) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = self.clone();
        let ctx = ctx.clone();
        drop(runtime.spawn(async move {
            if let Err(err) = this.load(&ctx).await {
                tracing::debug!(error = %err, "reloading a clinic's directory failed");
                if let Some(entry) = this.lock().get_mut(&ctx.tenant_id()) {
                    entry.reloading = false;
                }
            }
        }));
    }

    /// The remembered directory, if still fresh, and whether the caller should start reloading
    /// it (the first to ask in the last quarter of its life).
    fn remembered(&self, tenant: TenantId) -> Option<(Arc<Directory>, bool)> {
        if self.memo_ttl.is_zero() {
            return None;
        }
        let mut memo = self.lock();
        let entry = memo.get_mut(&tenant)?;
        let age = entry.at.elapsed();
        if age >= self.memo_ttl {
            return None;
        }
        let reload = !entry.reloading && age >= self.memo_ttl.mul_f64(0.75);
        entry.reloading |= reload;
        Some((Arc::clone(&entry.directory), reload))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember(&self, tenant: TenantId, directory: &Arc<Directory>) {
        if self.memo_ttl.is_zero() {
            return;
        }
        let mut memo = self.lock();
        if memo.len() >= MEMO_SWEEP_AT {
            let ttl = self.memo_ttl;
            memo.retain(|_, entry| entry.at.elapsed() < ttl);
        }
        memo.insert(
            tenant,
            Remembered {
                at: Instant::now(),
                directory: Arc::clone(directory),
                reloading: false,
            },
        );
    }
}

/// Reads everything the directory needs, on the API lane, one call at a time, waiting out short
/// budget refusals (a cold directory needs more calls than the lane's burst; see [`Patience`]). Each list is one cached resource in the adapter, so a warm cache answers
/// without calling Cliniko.
async fn fetch(
    cliniko: &dyn ClinikoClient,
    account: &ClinikoAccount,
    visibility: Visibility,
) -> Result<Directory> {
    let lane = Lane::Api;
    let patience = Patience::default();
    let practitioners = patience
        .call(|| cliniko.practitioners(account, lane, &PractitionerScope::All))
        .await?;
    let businesses = patience.call(|| cliniko.businesses(account, lane)).await?;
    let appointment_types = patience
        .call(|| cliniko.appointment_types(account, lane, &AppointmentTypeScope::All))
        .await?;
    let mut works_at = Vec::new();
    for business in businesses.iter().filter(|b| visibility.business(b)) {
        let scope = PractitionerScope::AtBusiness(business.id.clone());
        let staff = patience
            .call(|| cliniko.practitioners(account, lane, &scope))
            .await?;
        works_at.push((business.id.clone(), ids(staff.iter().map(|p| &p.id))));
    }
    let mut offers = Vec::new();
    for practitioner in practitioners.iter().filter(|p| visibility.practitioner(p)) {
        let scope = AppointmentTypeScope::OfferedBy(practitioner.id.clone());
        let offered = patience
            .call(|| cliniko.appointment_types(account, lane, &scope))
            .await?;
        offers.push((practitioner.id.clone(), ids(offered.iter().map(|t| &t.id))));
    }
    // The account's zone stands in for a business without one. (Not asked for when businesses
    // merely differ: a settings call on every reload would spend the budget partners' searches
    // need; such a practice has no one zone, and the dashboard says so.)
    let zones: Vec<Option<Tz>> = businesses
        .iter()
        .map(|b| b.iana_time_zone().and_then(|z| z.parse::<Tz>().ok()))
        .collect();
    let needs_account_zone = zones.iter().any(Option::is_none);
    let account_zone = if needs_account_zone {
        account_zone(cliniko, account, lane).await
    } else {
        None
    };
    Ok(Directory::build(
        DirectorySource {
            practitioners,
            businesses,
            appointment_types,
            works_at,
            offers,
            account_zone,
        },
        visibility,
    ))
}

/// The account's time zone, for businesses without their own. Keys whose role may not read the
/// settings (Cliniko answers 403) still get a directory: such businesses fall back to UTC.
async fn account_zone(
    cliniko: &dyn ClinikoClient,
    account: &ClinikoAccount,
    lane: Lane,
) -> Option<Tz> {
    match cliniko.settings(account, lane).await {
        Ok(settings) => settings
            .account
            .iana_time_zone()
            .and_then(|zone| zone.parse().ok()),
        Err(err) => {
            tracing::info!(error = %err, "no account time zone for businesses without one; using UTC");
            None
        }
    }
}

fn ids<'a>(ids: impl Iterator<Item = &'a ClinikoId>) -> Vec<ClinikoId> {
    ids.cloned().collect()
}
