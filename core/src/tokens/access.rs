//! Whether a genuine token may still be used: not revoked, its client not deleted, its clinic not
//! suspended, its client not suspended by the clinic (the kill-switch, `crate::suspensions`). This is the per-request state that must agree across instances at once.
//!
//! Two ways, chosen at start-up by whether the shared stores are shared ([`Freshness`]):
//! - **Shared store (Redis)**: revocations are read from the shared [`RevocationSet`] and each
//!   client's state from the shared [`Cache`] (short TTL), so validation needs no database query.
//!   Every write to a client or its clinic *overwrites* the cached entry with the state read
//!   after the write (a deleted client becomes a `Gone` tombstone), while a request that missed
//!   the cache only fills it if still empty (`set_if_absent`). So a request that read the old
//!   state just before a deletion cannot put it back after the deletion: deletion, suspension and
//!   scope changes take effect on the very next request on every instance.
//! - **Database**: with in-process stores nothing is shared, so each request asks the database
//!   (two indexed lookups) and instances sharing one database still agree at once.
//!
//! Redis is a cache of the database here, never the record, and may lose its data at any moment.
//! Cached client states are keyed by the revocation set's generation
//! ([`revocation_sync`](super::revocation_sync)): when the set is lost or distrusted, checks read
//! the database (never an empty set or a missing tombstone), and the next generation starts
//! with no cached states at all.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::clients::{ApiClientRepository, ClientAccess, ClientId};
use super::jwt::AccessClaims;
use super::revocation_sync::{RevocationSync, View};
use super::revocations::{RevocationRepository, RevokedToken};
use crate::Result;
use crate::ids::TenantId;
use crate::ports::{Cache, Generation, RevocationSet};

/// Where validation reads revocations and client state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// From the shared stores (Redis), client state cached for `cache_ttl`.
    SharedStore {
        /// How long a client's state is cached when nothing changes it.
        cache_ttl: Duration,
    },
    /// From the database on every request (no shared store to agree through).
    Database,
}

/// Why a genuine token is refused, for the log line (callers answer all of them the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its `jti` was revoked.
    Revoked,
    /// Its client was deleted.
    ClientGone,
    /// Its `tid` is not its client's clinic.
    OtherClinic,
    /// Its clinic is suspended.
    ClinicSuspended,
    /// The clinic suspended its client (or all of its integrations): a kill-switch the partner
    /// is told about, unlike the other refusals.
    ClientSuspended,
}

impl Refusal {
    /// A short stable name for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Revoked => "revoked",
            Self::ClientGone => "client_gone",
            Self::OtherClinic => "other_clinic",
            Self::ClinicSuspended => "clinic_suspended",
            Self::ClientSuspended => "client_suspended",
        }
    }
}

/// A client's cached state.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Cached {
    Present(ClientAccess),
    Gone,
}

impl Cached {
    fn from_access(access: Option<ClientAccess>) -> Self {
        access.map_or(Self::Gone, Self::Present)
    }

    fn into_access(self) -> Option<ClientAccess> {
        match self {
            Self::Present(access) => Some(access),
            Self::Gone => None,
        }
    }
}

/// A cached entry's client state (`None` inside: the client is gone), or `None` if the bytes are
/// not a cached state (written by another version). Decoded on every request: the memo of
/// decoded states that sat in front of the tracked read was removed, its win too small to see
/// (`docs/architecture.md`, "Performance layers").
fn decode(bytes: &[u8]) -> Option<Option<ClientAccess>> {
    serde_json::from_slice::<Cached>(bytes)
        .ok()
        .map(Cached::into_access)
}

/// Checks and records whether tokens may still be used.
#[derive(Debug, Clone)]
pub struct AccessChecker {
    clients: Arc<dyn ApiClientRepository>,
    revocations: Arc<RevocationSync>,
    cache: Arc<dyn Cache>,
    freshness: Freshness,
}

/// How a client's state is written to the cache.
#[derive(Debug, Clone, Copy)]
enum Write {
    /// Only if nothing is cached: a request that read the database must not overwrite what a
    /// write stored meanwhile.
    IfAbsent,
    /// Always: after a write to the client or its clinic.
    Replace,
}

/// A client's cached state in the revocation set's `generation`: a new generation starts with
/// nothing cached, so a tombstone lost with Redis cannot be missed.
fn cache_key(generation: &Generation, client_id: &ClientId) -> String {
    format!("tokens:client:{}:{client_id}", generation.as_str())
}

impl AccessChecker {
    /// A checker reading as `freshness` says.
    pub fn new(
        clients: Arc<dyn ApiClientRepository>,
        revocations: Arc<dyn RevocationRepository>,
        revoked: Arc<dyn RevocationSet>,
        cache: Arc<dyn Cache>,
        freshness: Freshness,
    ) -> Self {
        Self {
            clients,
            revocations: Arc::new(RevocationSync::new(revoked, revocations)),
            cache,
            freshness,
        }
    }

    /// The client's current state if the genuine token `claims` (of `client_id`) may be used.
    ///
    /// # Errors
    /// `Unavailable` when the store to ask is down: callers refuse the request (fail closed).
    pub async fn check(
        &self,
        claims: &AccessClaims,
        client_id: &ClientId,
    ) -> Result<Result<ClientAccess, Refusal>> {
        let view = match self.freshness {
            Freshness::Database => View::Database,
            Freshness::SharedStore { .. } => self.revocations.view().await?,
        };
        let (revoked, access) = match (&view, self.freshness) {
            (View::Shared(generation), Freshness::SharedStore { cache_ttl }) => {
                let read = self
                    .read_shared(&view, generation, claims, client_id, cache_ttl)
                    .await?;
                if self.revocations.still(&view).await? {
                    read
                } else {
                    // The generation was lost while the shared store was read.
                    self.read_database(claims, client_id).await?
                }
            }
            _ => self.read_database(claims, client_id).await?,
        };
        Ok(match access {
            _ if revoked => Err(Refusal::Revoked),
            None => Err(Refusal::ClientGone),
            Some(access) if access.tenant_id != claims.tid => Err(Refusal::OtherClinic),
            Some(access) if !access.clinic_active => Err(Refusal::ClinicSuspended),
            Some(access) if access.suspended => Err(Refusal::ClientSuspended),
            Some(access) => Ok(access),
        })
    }

    /// Whether `claims` is revoked and its client's state, from the database.
    async fn read_database(
        &self,
        claims: &AccessClaims,
        client_id: &ClientId,
    ) -> Result<(bool, Option<ClientAccess>)> {
        tokio::try_join!(
            self.revocations.is_revoked(&View::Database, &claims.jti),
            self.clients.access(client_id)
        )
    }

    /// Whether `claims` is revoked and its client's state, from the shared stores in `view`
    /// (whose generation is `generation`).
    async fn read_shared(
        &self,
        view: &View,
        generation: &Generation,
        claims: &AccessClaims,
        client_id: &ClientId,
        cache_ttl: Duration,
    ) -> Result<(bool, Option<ClientAccess>)> {
        let key = cache_key(generation, client_id);
        // Both lookups at once: over Redis they share one round trip.
        let (revoked, cached) =
            tokio::try_join!(self.revocations.is_revoked(view, &claims.jti), async {
                self.cache
                    .get(&key)
                    .await
                    .inspect_err(|_| self.revocations.distrust())
            })?;
        let access = match cached.map(|bytes| decode(&bytes)) {
            Some(Some(access)) => access,
            None => {
                self.store(generation, client_id, cache_ttl, Write::IfAbsent)
                    .await?
            }
            // Written by another version: replace it rather than wait for its expiry.
            Some(None) => {
                self.store(generation, client_id, cache_ttl, Write::Replace)
                    .await?
            }
        };
        Ok((revoked, access))
    }

    /// Reads a client's state from the database and caches it as `write` says.
    /// A failure to write the cache distrusts the shared stores (see
    /// [`revocation_sync`](super::revocation_sync)) rather than failing: the state read is the
    /// database's.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    async fn store(
        &self,
        generation: &Generation,
        client_id: &ClientId,
        ttl: Duration,
        write: Write,
    ) -> Result<Option<ClientAccess>> {
        let access = self.clients.access(client_id).await?;
        let entry = serde_json::to_vec(&Cached::from_access(access.clone()))
            .map_err(crate::Error::internal)?;
        let key = cache_key(generation, client_id);
        let written = match write {
            Write::IfAbsent => self.cache.set_if_absent(&key, &entry, ttl).await.map(drop),
            Write::Replace => self.cache.set(&key, &entry, ttl).await,
        };
        if written.is_err() {
            self.revocations.distrust();
        }
        Ok(access)
    }

    /// After a write to `client_id` (or its clinic): replaces the cached state by the state now
    /// in the database, so every instance sees the change on its next request. When the shared
    /// store cannot be written, it is distrusted and invalidated instead (every instance then
    /// reads the database): the change applies everywhere either way.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    pub async fn refresh(&self, client_id: &ClientId) -> Result<()> {
        let Freshness::SharedStore { cache_ttl } = self.freshness else {
            return Ok(());
        };
        match self.revocations.view().await {
            Ok(View::Shared(generation)) => self
                .store(&generation, client_id, cache_ttl, Write::Replace)
                .await
                .map(drop),
            // Nothing is cached outside a generation: checks read the database meanwhile. A set
            // that cannot be asked is distrusted, hence invalidated before anything is read again.
            Ok(View::Database) | Err(_) => Ok(()),
        }
    }

    /// After a clinic's status changed: refreshes each of its clients.
    ///
    /// # Errors
    /// As [`Self::refresh`].
    pub async fn refresh_clinic(&self, tenant: TenantId) -> Result<()> {
        if self.freshness == Freshness::Database {
            return Ok(());
        }
        for client_id in self.clients.ids_in_tenant(tenant).await? {
            self.refresh(&client_id).await?;
        }
        Ok(())
    }

    /// Records a revocation: in the database, then in the shared set for as long as the token
    /// could still be accepted. Once the database has it, the token is refused everywhere (a
    /// shared set that could not be written is invalidated, see
    /// [`revocation_sync`](super::revocation_sync)).
    ///
    /// # Errors
    /// `Unavailable` when the database is down (nothing was revoked).
    pub async fn revoke(&self, revoked: &RevokedToken) -> Result<()> {
        let remaining = match self.freshness {
            Freshness::SharedStore { .. } => (revoked.expires_at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO),
            // Nothing reads the shared set.
            Freshness::Database => Duration::ZERO,
        };
        self.revocations.revoke(revoked, remaining).await
    }

    /// Forgets revocations of tokens that have expired; how many.
    ///
    /// # Errors
    /// `Unavailable` when the database is down.
    pub async fn prune_revocations(&self) -> Result<u64> {
        self.revocations.records().prune(Utc::now()).await
    }

    /// At start-up: forgets expired revocations and, if the shared set has no generation (a
    /// Redis that lost its data, or a first start), fills it from the database. Returns how many
    /// revocations were copied.
    ///
    /// # Errors
    /// `Unavailable` when either store is down.
    pub async fn restore_revocations(&self) -> Result<usize> {
        self.prune_revocations().await?;
        if self.freshness == Freshness::Database {
            return Ok(0);
        }
        self.revocations.ensure_filled().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::ScopeSet;

    #[test]
    fn a_cached_state_and_a_tombstone_round_trip() {
        let access = ClientAccess {
            tenant_id: TenantId::new(),
            scopes: ScopeSet::parse_list("doctors:read", "scope").unwrap(),
            rate_limit_per_minute: Some(5),
            clinic_active: true,
            suspended: true,
            cliniko_budget_share: Some(20),
        };
        let bytes = serde_json::to_vec(&Cached::from_access(Some(access.clone()))).unwrap();
        let back: Cached = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.into_access(), Some(access));
        let gone = serde_json::to_vec(&Cached::from_access(None)).unwrap();
        assert_eq!(gone, br#"{"state":"gone"}"#);
        assert!(serde_json::from_slice::<Cached>(b"garbage").is_err());
    }

    #[test]
    fn a_cached_state_written_before_suspensions_existed_reads_as_not_suspended() {
        let access = ClientAccess {
            tenant_id: TenantId::new(),
            scopes: ScopeSet::parse_list("doctors:read", "scope").unwrap(),
            rate_limit_per_minute: None,
            clinic_active: true,
            suspended: true,
            cliniko_budget_share: Some(20),
        };
        let mut entry = serde_json::to_value(Cached::from_access(Some(access))).unwrap();
        entry.as_object_mut().unwrap().remove("suspended").unwrap();
        let old = serde_json::to_vec(&entry).unwrap();
        assert!(!decode(&old).flatten().unwrap().suspended);
    }
}
