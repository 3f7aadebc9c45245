//! A clinic's connection to Cliniko: its API key, verified against Cliniko before it is stored,
//! sealed by the vault, and described (shard, last four characters, whose key it is) without ever
//! being shown again.
//!
//! Whose key it is matters: Cliniko keys act with their user's permissions and share that user's
//! rate budget, so a key made for a dedicated integration user (not a person's login, not an
//! administrator) is what clinics should connect; [`ClinikoConnection::warnings`] says when it is
//! not.
//!
//! One Cliniko key backs at most one clinic: [`fingerprint`] recognises a key another clinic
//! already connected.

mod fingerprint;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};

use crate::cliniko::{
    ClinikoAccount, ClinikoApiKey, ClinikoClient, ClinikoId, ClinikoUser, Lane, Shard,
};
use crate::error::UpstreamFailure;
use crate::ids::TenantId;
use crate::secrets::{SealedSecret, SecretPurpose, Vault};
use crate::tenancy::TenantContext;
use crate::{Error, Result};

pub use fingerprint::{KeyFingerprint, KeyFingerprinter, load_key_fingerprinter};

/// Stored keys fingerprinted per batch at start-up.
const FINGERPRINT_BATCH: u64 = 100;

/// Connected clinics read per query by [`ClinikoKeyService::connected_clinics`].
const CONNECTED_BATCH: u64 = 500;

/// What became of work done with a clinic's key in the background
/// ([`ClinikoKeyService::in_background`]).
#[derive(Debug)]
pub enum Background<T> {
    /// The work ran.
    Done(T),
    /// The clinic has no Cliniko key (never connected, or disconnected).
    NotConnected,
    /// Cliniko refused the key the last time it was used: nothing is spent on it until a
    /// person connects a key again, or an interactive use sees Cliniko accept it.
    Rejected,
}

/// The Cliniko user a key belongs to, as Cliniko reported it when the key was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    /// Cliniko's id of the user.
    pub id: ClinikoId,
    /// First and last name as one string (may be empty).
    pub name: String,
    /// Cliniko security role (`administrator`, `receptionist`, …) if Cliniko sent one.
    pub role: Option<String>,
}

/// Everything stored about a connected key except the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinikoConnection {
    /// The shard the key routes to.
    pub shard: Shard,
    /// The key's last four characters (before the shard suffix).
    pub last4: String,
    /// Whose key it is.
    pub owner: KeyOwner,
    /// When Cliniko last accepted it (UTC).
    pub verified_at: DateTime<Utc>,
    /// When Cliniko last refused it (a 401: revoked, its user deactivated, or the account moved
    /// to another shard), if it has not accepted it since. `None` while it works: the next call
    /// Cliniko accepts clears it, so one transient refusal does not condemn a working key.
    pub rejected_at: Option<DateTime<Utc>>,
}

/// Why the UI warns about a connected key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyWarning {
    /// Cliniko refused the key on its last use: nothing that needs Cliniko works until it
    /// accepts the key again or a new key is connected.
    Rejected,
    /// The key's user is a Cliniko administrator: it can do far more than ClinicGate needs.
    Administrator,
    /// The key's user looks like a person's own login (their name, no sign of an integration):
    /// it stops working when that person leaves, and their own use of Cliniko shares its budget.
    PersonalUser,
}

impl KeyWarning {
    /// Stable code for the API.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Rejected => "key_rejected",
            Self::Administrator => "administrator_key",
            Self::PersonalUser => "personal_key",
        }
    }

    /// What to tell the clinic.
    pub const fn message(self) -> &'static str {
        match self {
            Self::Rejected => {
                "Cliniko refused this key the last time ClinicGate used it: it may have been \
                 revoked, its user deactivated, or the account moved to another Cliniko region. \
                 Patient pages and the API cannot reach Cliniko while it is refused; connect a new \
                 key. (If Cliniko accepts the key again, this warning goes away by itself.)"
            }
            Self::Administrator => {
                "This key belongs to a Cliniko administrator. Create a dedicated Cliniko user for \
                 ClinicGate with only the access it needs, and connect a key made for that user."
            }
            Self::PersonalUser => {
                "This key seems to belong to a person's own Cliniko login. Keys stop working when \
                 their user leaves, and that person's use of Cliniko shares the key's rate limit: \
                 create a dedicated user (e.g. \"ClinicGate Integration\") and connect its key."
            }
        }
    }
}

/// Words in a Cliniko user's name that show it was made for an integration.
const INTEGRATION_WORDS: &[&str] = &[
    "integration",
    "clinicgate",
    "api",
    "gateway",
    "sync",
    "bot",
    "service",
    "system",
    "automation",
];

impl ClinikoConnection {
    /// The warnings to show for this key (empty when it belongs to a dedicated integration user).
    ///
    /// Judgement, documented: the role `administrator` always warns; otherwise the name must
    /// contain a word such as "integration", "api" or "clinicgate" to count as dedicated.
    pub fn warnings(&self) -> Vec<KeyWarning> {
        let mut warnings = Vec::new();
        if self.rejected_at.is_some() {
            warnings.push(KeyWarning::Rejected);
        }
        if self
            .owner
            .role
            .as_deref()
            .is_some_and(|role| role.trim().eq_ignore_ascii_case("administrator"))
        {
            warnings.push(KeyWarning::Administrator);
        }
        let name = self.owner.name.to_lowercase();
        let dedicated = name
            .split(|c: char| !c.is_alphanumeric())
            .any(|word| INTEGRATION_WORDS.contains(&word));
        if !dedicated {
            warnings.push(KeyWarning::PersonalUser);
        }
        warnings
    }
}

/// A connection with its sealed key, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClinikoKey {
    /// The description.
    pub connection: ClinikoConnection,
    /// The key, sealed for the clinic and [`SecretPurpose::ClinikoApiKey`].
    pub sealed: SealedSecret,
}

/// Storage of each clinic's Cliniko key (at most one per clinic).
#[async_trait]
pub trait ClinikoKeyRepository: Send + Sync + std::fmt::Debug {
    /// The clinic's stored key, if connected.
    async fn find_in_tenant(&self, tenant: TenantId) -> Result<Option<StoredClinikoKey>>;
    /// Stores (or replaces) the clinic's key with its fingerprint. A fingerprint another
    /// clinic's key already has is [`key_in_use`] (a unique index decides races).
    async fn save_in_tenant(
        &self,
        tenant: TenantId,
        key: &StoredClinikoKey,
        fingerprint: &KeyFingerprint,
    ) -> Result<()>;
    /// The clinic whose stored key has `fingerprint`, if any.
    async fn tenant_with_fingerprint(
        &self,
        fingerprint: &KeyFingerprint,
    ) -> Result<Option<TenantId>>;
    /// Up to `limit` stored keys that have no fingerprint yet (stored before fingerprints
    /// existed), in clinic id order after `after`.
    async fn without_fingerprint(
        &self,
        after: Option<TenantId>,
        limit: u64,
    ) -> Result<Vec<(TenantId, SealedSecret)>>;
    /// Gives the clinic's stored key its fingerprint if it has none; [`key_in_use`] when another
    /// clinic's key has it.
    async fn set_fingerprint_in_tenant(
        &self,
        tenant: TenantId,
        fingerprint: &KeyFingerprint,
    ) -> Result<()>;
    /// Forgets the clinic's key; whether there was one.
    async fn delete_in_tenant(&self, tenant: TenantId) -> Result<bool>;
    /// Up to `limit` clinics with a stored key that Cliniko has not refused, in clinic id order
    /// after `after` (what the Cliniko poller follows).
    async fn connected_after(&self, after: Option<TenantId>, limit: u64) -> Result<Vec<TenantId>>;
    /// Records that Cliniko refused the clinic's stored key at `at` (no-op when none is stored).
    async fn mark_rejected_in_tenant(&self, tenant: TenantId, at: DateTime<Utc>) -> Result<()>;
    /// Records that Cliniko accepted the clinic's key at `at` after refusing it: clears
    /// `rejected_at` and moves `verified_at`, but only while `rejected_at` is still `seen` (a
    /// refusal recorded meanwhile, or a replaced key, is left alone).
    async fn clear_rejection_in_tenant(
        &self,
        tenant: TenantId,
        seen: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<()>;
}

/// The conflict a key already connected to another clinic reports, whichever check caught it.
pub fn key_in_use() -> Error {
    Error::Conflict {
        code: "cliniko_key_in_use",
        detail: "this Cliniko API key is already connected to another ClinicGate clinic, and a \
                 Cliniko account can back only one clinic: connect a key of this clinic's own \
                 Cliniko account, or disconnect the key from the other clinic first"
            .to_owned(),
    }
}

/// What [`ClinikoKeyService::fill_missing_fingerprints`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FingerprintReport {
    /// Keys that got their fingerprint.
    pub filled: u64,
    /// Keys left without one because another clinic's key has the same fingerprint: both
    /// clinics keep working, and the operator is told (one of them should reconnect its own key).
    pub shared: u64,
    /// Keys that could not be opened (logged; they fail on use as well).
    pub unreadable: u64,
}

/// Connecting, describing and disconnecting clinics' Cliniko keys.
#[derive(Debug, Clone)]
pub struct ClinikoKeyService {
    cliniko: Arc<dyn ClinikoClient>,
    vault: Vault,
    keys: Arc<dyn ClinikoKeyRepository>,
    fingerprints: Arc<KeyFingerprinter>,
}

/// The owner of a key as stored, from what Cliniko said.
fn key_owner(user: ClinikoUser) -> KeyOwner {
    let name = [user.first_name, user.last_name]
        .into_iter()
        .flatten()
        .map(|part| part.trim().to_owned())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    KeyOwner {
        id: user.id,
        name,
        role: user.role.filter(|role| !role.trim().is_empty()),
    }
}

/// A key Cliniko refused, as the field error the clinic can act on.
fn rejected_key() -> Error {
    Error::invalid(
        "api_key",
        "rejected",
        "Cliniko did not accept this API key: check that it was copied whole, has not been \
         revoked, and belongs to an active user",
    )
}

impl ClinikoKeyService {
    /// A service verifying keys with `cliniko`, sealing them with `vault` into `keys`, and
    /// recognising keys already in use with `fingerprints`.
    pub fn new(
        cliniko: Arc<dyn ClinikoClient>,
        vault: Vault,
        keys: Arc<dyn ClinikoKeyRepository>,
        fingerprints: Arc<KeyFingerprinter>,
    ) -> Self {
        Self {
            cliniko,
            vault,
            keys,
            fingerprints,
        }
    }

    /// Verifies `raw_key` with Cliniko (`GET /user`) and, if accepted, stores it sealed,
    /// replacing any previous key. Nothing is stored when verification fails. Reconnecting the
    /// clinic's own key is fine; a key another clinic holds is refused before Cliniko is asked.
    ///
    /// # Errors
    /// `Forbidden` for clinicians; `Validation` for a malformed key or one Cliniko rejects;
    /// `Conflict` ([`key_in_use`]) for a key connected to another clinic; `Upstream` (502/504)
    /// when Cliniko cannot be reached; `RateLimited` when Cliniko says so.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn connect(
        &self,
        ctx: &TenantContext,
        raw_key: &SecretString,
    ) -> Result<ClinikoConnection> {
        ctx.require_manager()?;
        let key = ClinikoApiKey::parse_new(raw_key.expose_secret())?;
        let fingerprint = self.fingerprints.fingerprint(&key);
        // Cheap pre-check so another clinic's key costs no Cliniko call; the unique index still
        // decides races.
        if self
            .keys
            .tenant_with_fingerprint(&fingerprint)
            .await?
            .is_some_and(|holder| holder != ctx.tenant_id())
        {
            return Err(key_in_use());
        }
        let account = ClinikoAccount {
            tenant_id: ctx.tenant_id(),
            key,
            caller: None,
        };
        let user = match self.cliniko.current_user(&account, Lane::Interactive).await {
            Ok(user) => user,
            Err(Error::Upstream {
                failure: UpstreamFailure::Unauthorized | UpstreamFailure::Forbidden,
                ..
            })
            | Err(Error::NotFound { .. }) => return Err(rejected_key()),
            Err(other) => return Err(other),
        };
        let connection = ClinikoConnection {
            shard: account.key.shard().clone(),
            last4: account.key.last4(),
            owner: key_owner(user),
            verified_at: Utc::now(),
            rejected_at: None,
        };
        let sealed = self
            .vault
            .seal(
                ctx.tenant_id(),
                SecretPurpose::ClinikoApiKey,
                &SecretString::from(account.key.expose().to_owned()),
            )
            .await?;
        self.keys
            .save_in_tenant(
                ctx.tenant_id(),
                &StoredClinikoKey {
                    connection: connection.clone(),
                    sealed,
                },
                &fingerprint,
            )
            .await?;
        tracing::info!(shard = %connection.shard, "Cliniko key connected");
        Ok(connection)
    }

    /// The connected key's description, for owners and admins.
    pub async fn status(&self, ctx: &TenantContext) -> Result<Option<ClinikoConnection>> {
        ctx.require_manager()?;
        self.connection(ctx).await
    }

    /// The connected key's description, for any staff member (e.g. "is Cliniko connected?").
    pub async fn connection(&self, ctx: &TenantContext) -> Result<Option<ClinikoConnection>> {
        Ok(self
            .keys
            .find_in_tenant(ctx.tenant_id())
            .await?
            .map(|stored| stored.connection))
    }

    /// Forgets the clinic's key; idempotent.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn disconnect(&self, ctx: &TenantContext) -> Result<()> {
        ctx.require_manager()?;
        if self.keys.delete_in_tenant(ctx.tenant_id()).await? {
            tracing::info!("Cliniko key disconnected");
        }
        Ok(())
    }

    /// Runs `call` with the clinic's decrypted Cliniko credentials: the one way to use a stored
    /// key. `Ok(None)` when the clinic has not connected Cliniko.
    ///
    /// A 401 from Cliniko marks the key as rejected (the settings page then asks for a new one)
    /// and is returned as it came. The next call Cliniko accepts clears the mark: Cliniko has
    /// been seen to answer 401 transiently, and a key that works again must not be shown as dead.
    /// (Requiring several 401s in a row instead would keep a revoked key looking healthy and
    /// need a counter written on every refusal.) Only those changes of state write to the
    /// database; a success on a key that was not marked costs nothing beyond the read that
    /// loads the key.
    pub async fn with_account<T, F, Fut>(&self, ctx: &TenantContext, call: F) -> Result<Option<T>>
    where
        F: FnOnce(ClinikoAccount) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let Some((mut account, rejected_at)) = self.account(ctx.tenant_id()).await? else {
            return Ok(None);
        };
        // An API client's calls are counted as its own, and a capped client's spend its own slice
        // of the budget first.
        account.caller = ctx.cliniko_caller();
        self.run(ctx.tenant_id(), account, rejected_at, call)
            .await
            .map(Some)
    }

    /// Runs `call` with the clinic's credentials for work no one waits on (the Cliniko poller),
    /// which finds its clinics through [`Self::connected_clinics`] rather than a request. A key
    /// Cliniko refused last time is not used; a 401 marks the key rejected as
    /// [`Self::with_account`] does.
    ///
    /// # Errors
    /// What `call` returns; storage and decryption failures.
    pub async fn in_background<T, F, Fut>(&self, tenant: TenantId, call: F) -> Result<Background<T>>
    where
        F: FnOnce(ClinikoAccount) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        match self.account(tenant).await? {
            None => Ok(Background::NotConnected),
            Some((_, Some(_))) => Ok(Background::Rejected),
            Some((account, None)) => self
                .run(tenant, account, None, call)
                .await
                .map(Background::Done),
        }
    }

    /// Every clinic whose Cliniko key is connected and not refused, in clinic id order.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn connected_clinics(&self) -> Result<Vec<TenantId>> {
        let mut all = Vec::new();
        loop {
            let batch = self
                .keys
                .connected_after(all.last().copied(), CONNECTED_BATCH)
                .await?;
            let full = u64::try_from(batch.len()).unwrap_or(u64::MAX) >= CONNECTED_BATCH;
            all.extend(batch);
            if !full {
                return Ok(all);
            }
        }
    }

    /// Runs `call` with `account`, keeping the key's rejection mark in step with Cliniko's
    /// answer (`rejected_at`: the mark as loaded).
    async fn run<T, F, Fut>(
        &self,
        tenant: TenantId,
        account: ClinikoAccount,
        rejected_at: Option<DateTime<Utc>>,
        call: F,
    ) -> Result<T>
    where
        F: FnOnce(ClinikoAccount) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        match call(account).await {
            Err(
                err @ Error::Upstream {
                    failure: UpstreamFailure::Unauthorized,
                    ..
                },
            ) => {
                tracing::warn!(tenant_id = %tenant, "Cliniko refused the clinic's stored key; it must be reconnected");
                if let Err(mark) = self.keys.mark_rejected_in_tenant(tenant, Utc::now()).await {
                    // The caller still gets Cliniko's refusal; only the settings hint is lost.
                    tracing::warn!(error = %mark, "could not record the rejected Cliniko key");
                }
                Err(err)
            }
            Ok(value) => {
                if let Some(seen) = rejected_at {
                    self.clear_rejection(tenant, seen).await;
                }
                Ok(value)
            }
            Err(other) => Err(other),
        }
    }

    /// Clears a rejection mark after Cliniko accepted the key again. A failure only leaves the
    /// stale hint in place (the next success tries again), so the caller's answer stands.
    async fn clear_rejection(&self, tenant: TenantId, seen: DateTime<Utc>) {
        match self
            .keys
            .clear_rejection_in_tenant(tenant, seen, Utc::now())
            .await
        {
            Ok(()) => {
                tracing::info!(tenant_id = %tenant, "Cliniko accepts the clinic's key again");
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not clear the Cliniko key's rejection");
            }
        }
    }

    /// Gives every stored key that has none its fingerprint, decrypting it with the vault; run at
    /// start-up. Keys stored before fingerprints existed cannot be fingerprinted by a migration
    /// (it cannot decrypt), and filling them only when next used would leave an idle clinic's
    /// key open to being connected elsewhere, so each instance fills them when it starts (a
    /// handful of AES operations and writes per clinic, once; concurrent instances agree
    /// because only empty fingerprints are written).
    ///
    /// # Errors
    /// Storage failures. A key that cannot be opened or whose fingerprint another clinic's key
    /// already has is logged, counted and left as it is.
    pub async fn fill_missing_fingerprints(&self) -> Result<FingerprintReport> {
        let mut report = FingerprintReport::default();
        let mut after = None;
        loop {
            let batch = self
                .keys
                .without_fingerprint(after, FINGERPRINT_BATCH)
                .await?;
            let Some((last, _)) = batch.last() else {
                return Ok(report);
            };
            after = Some(*last);
            for (tenant, sealed) in batch {
                let key = match self.open_key(tenant, &sealed).await {
                    Ok(key) => key,
                    Err(err) => {
                        tracing::warn!(tenant_id = %tenant, error = %err, "could not open a stored Cliniko key to fingerprint it");
                        report.unreadable += 1;
                        continue;
                    }
                };
                let fingerprint = self.fingerprints.fingerprint(&key);
                match self
                    .keys
                    .set_fingerprint_in_tenant(tenant, &fingerprint)
                    .await
                {
                    Ok(()) => report.filled += 1,
                    Err(Error::Conflict { .. }) => {
                        tracing::warn!(tenant_id = %tenant, "this clinic's Cliniko key is also connected to another clinic; one of them should connect a key of its own Cliniko account");
                        report.shared += 1;
                    }
                    Err(other) => return Err(other),
                }
            }
        }
    }

    /// The clinic's decrypted credentials and when Cliniko last refused them, if connected.
    async fn account(
        &self,
        tenant: TenantId,
    ) -> Result<Option<(ClinikoAccount, Option<DateTime<Utc>>)>> {
        let Some(stored) = self.keys.find_in_tenant(tenant).await? else {
            return Ok(None);
        };
        let account = ClinikoAccount {
            tenant_id: tenant,
            key: self.open_key(tenant, &stored.sealed).await?,
            caller: None,
        };
        Ok(Some((account, stored.connection.rejected_at)))
    }

    /// Decrypts a clinic's stored key.
    async fn open_key(&self, tenant: TenantId, sealed: &SealedSecret) -> Result<ClinikoApiKey> {
        let secret = self
            .vault
            .open(tenant, SecretPurpose::ClinikoApiKey, sealed)
            .await?;
        ClinikoApiKey::parse(secret.expose_secret())
            .map_err(|_| Error::internal("a stored Cliniko key no longer parses"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(name: &str, role: Option<&str>) -> ClinikoConnection {
        ClinikoConnection {
            rejected_at: None,
            shard: Shard::default_shard(),
            last4: "abcd".to_owned(),
            owner: KeyOwner {
                id: ClinikoId::parse("1").unwrap(),
                name: name.to_owned(),
                role: role.map(str::to_owned),
            },
            verified_at: Utc::now(),
        }
    }

    #[test]
    fn a_dedicated_integration_user_raises_no_warning() {
        assert!(
            connection("ClinicGate Integration", Some("receptionist"))
                .warnings()
                .is_empty()
        );
        assert!(connection("API User", None).warnings().is_empty());
    }

    #[test]
    fn an_administrator_or_a_personal_login_is_warned_about() {
        assert_eq!(
            connection("Jane Citizen", Some("Administrator")).warnings(),
            [KeyWarning::Administrator, KeyWarning::PersonalUser]
        );
        assert_eq!(
            connection("Integration", Some("administrator")).warnings(),
            [KeyWarning::Administrator]
        );
        assert_eq!(
            connection("Dr Paul Apigian", Some("practitioner")).warnings(),
            [KeyWarning::PersonalUser],
            "a word that merely contains \"api\" is not enough"
        );
    }

    #[test]
    fn the_owner_name_joins_first_and_last_names() {
        let owner = key_owner(ClinikoUser {
            id: ClinikoId::parse("7").unwrap(),
            first_name: Some(" Jane ".to_owned()),
            last_name: None,
            email: None,
            role: Some(String::new()),
            active: Some(true),
        });
        assert_eq!(owner.name, "Jane");
        assert_eq!(owner.role, None);
    }
}
