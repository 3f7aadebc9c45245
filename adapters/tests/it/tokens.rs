//! Third-party access storage: API clients (tenant-scoped), revocations, and the deployment's
//! service keys — including several instances creating or rotating keys at once, and a
//! master-key rotation.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use clinicgate_adapters::api_clients::SeaApiClientRepository;
use clinicgate_adapters::clinics::SeaClinicRepository;
use clinicgate_adapters::db::Db;
use clinicgate_adapters::revocations::SeaRevocationRepository;
use clinicgate_adapters::service_keys::SeaServiceKeyRepository;
use clinicgate_core::clinics::{ClinicRepository as _, ClinicStatus, NewClinic, Subdomain};
use clinicgate_core::crypto::{MasterKey, MasterKeyring};
use clinicgate_core::ids::TenantId;
use clinicgate_core::secrets::{ServiceKeyPurpose, ServiceKeyRepository as _, rotate_service_keys};
use clinicgate_core::tokens::{
    ApiClientRepository as _, ClientChange, ClientId, ClientName, ClientSecret, KeyPolicy,
    NewApiClient, RevocationRepository as _, RevokedToken, ScopeSet, SigningKeys,
    load_secret_hasher,
};

use crate::backends::migrated_database;

fn policy(rotation_period: Option<Duration>) -> KeyPolicy {
    KeyPolicy {
        rotation_period,
        activation_delay: Duration::ZERO,
        verification_tail: Duration::from_secs(930),
        unknown_key_reload_interval: Duration::from_secs(5),
    }
}

fn copy(key: &MasterKey) -> MasterKey {
    MasterKey::from_base64(&key.to_base64()).unwrap()
}

async fn keys(db: &Db, master: &MasterKey, period: Option<Duration>) -> SigningKeys {
    SigningKeys::start(
        Arc::new(MasterKeyring::new(copy(master))),
        Arc::new(SeaServiceKeyRepository::new(db.clone())),
        policy(period),
    )
    .await
    .unwrap()
}

async fn clinic(db: &Db, subdomain: &str) -> TenantId {
    SeaClinicRepository::new(db.clone())
        .create(NewClinic {
            name: subdomain.into(),
            subdomain: Subdomain::parse(subdomain).unwrap(),
        })
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn instances_starting_together_agree_on_one_signing_key_and_one_hashing_key() {
    let (_guard, db) = migrated_database().await;
    let master = MasterKey::generate();
    let (a, b) = tokio::join!(keys(&db, &master, None), keys(&db, &master, None));
    assert_eq!(
        a.current().signing_key().kid(),
        b.current().signing_key().kid()
    );
    let repo = SeaServiceKeyRepository::new(db.clone());
    let ring = MasterKeyring::new(copy(&master));
    let (h1, h2) = tokio::join!(
        load_secret_hasher(&ring, &repo),
        load_secret_hasher(&ring, &repo)
    );
    let secret = ClientSecret::generate();
    assert_eq!(h1.unwrap().hash(&secret), h2.unwrap().hash(&secret));
    assert_eq!(
        repo.list(ServiceKeyPurpose::TokenSigning)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        repo.list(ServiceKeyPurpose::ClientSecretHashing)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn instances_maintaining_at_the_same_time_rotate_a_due_key_only_once() {
    let (_guard, db) = migrated_database().await;
    let master = MasterKey::generate();
    let period = Some(Duration::from_secs(1));
    let a = keys(&db, &master, period).await;
    let b = keys(&db, &master, period).await;
    let first = a.current().signing_key().kid().clone();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (ra, rb) = tokio::join!(a.maintain(), b.maintain());
    ra.unwrap();
    rb.unwrap();
    let stored = SeaServiceKeyRepository::new(db.clone())
        .list(ServiceKeyPurpose::TokenSigning)
        .await
        .unwrap();
    let generations: Vec<i64> = stored.iter().map(|k| k.generation).collect();
    assert_eq!(
        generations,
        [1, 2],
        "one new generation, however many instances"
    );
    assert_eq!(
        a.current().signing_key().kid(),
        b.current().signing_key().kid()
    );
    assert_ne!(a.current().signing_key().kid(), &first);
    assert!(
        a.current().ring().contains(&first),
        "the old key still verifies"
    );
}

#[tokio::test]
async fn service_keys_survive_a_master_key_rotation_unchanged() {
    let (_guard, db) = migrated_database().await;
    let old = MasterKey::generate();
    let repo = SeaServiceKeyRepository::new(db.clone());
    let before = keys(&db, &old, None).await;
    let secret = ClientSecret::generate();
    let hash = load_secret_hasher(&MasterKeyring::new(copy(&old)), &repo)
        .await
        .unwrap()
        .hash(&secret);

    let new = MasterKey::generate();
    let report = rotate_service_keys(&MasterKeyring::new(copy(&old)), &new, &repo)
        .await
        .unwrap();
    assert_eq!((report.rewrapped, report.skipped), (2, 0));
    for key in repo.list(ServiceKeyPurpose::TokenSigning).await.unwrap() {
        assert_eq!(key.wrapped.master_key_id, new.id());
    }

    let after = keys(&db, &new, None).await;
    assert_eq!(
        after.current().signing_key().kid(),
        before.current().signing_key().kid()
    );
    assert_eq!(
        after.current().signing_key().public_key(),
        before.current().signing_key().public_key()
    );
    let rehashed = load_secret_hasher(&MasterKeyring::new(copy(&new)), &repo)
        .await
        .unwrap()
        .hash(&secret);
    assert_eq!(rehashed, hash, "stored client-secret hashes stay valid");
    assert!(
        load_secret_hasher(&MasterKeyring::new(copy(&old)), &repo)
            .await
            .is_err(),
        "the old master key no longer opens them"
    );
}

#[tokio::test]
async fn api_clients_are_reached_only_through_their_own_clinic() {
    let (_guard, db) = migrated_database().await;
    let (a, b) = (clinic(&db, "clinic-a").await, clinic(&db, "clinic-b").await);
    let repo = SeaApiClientRepository::new(db.clone());
    let id = ClientId::generate();
    let scopes = ScopeSet::parse_list("doctors:read slots:read", "scopes").unwrap();
    repo.create_in_tenant(
        a,
        NewApiClient {
            client_id: id.clone(),
            name: ClientName::parse("Partner").unwrap(),
            scopes: scopes.clone(),
            rate_limit_per_minute: Some(30),
            secret_hash: "ab".repeat(32),
        },
    )
    .await
    .unwrap();
    assert_eq!(repo.list_in_tenant(a).await.unwrap().len(), 1);
    assert!(repo.list_in_tenant(b).await.unwrap().is_empty());
    let change = ClientChange {
        name: Some(ClientName::parse("Mine").unwrap()),
        ..ClientChange::default()
    };
    assert!(matches!(
        repo.change_in_tenant(b, &id, change.clone()).await,
        Err(clinicgate_core::Error::NotFound { .. })
    ));
    assert!(!repo.delete_in_tenant(b, &id).await.unwrap());
    assert_eq!(
        repo.change_in_tenant(a, &id, change)
            .await
            .unwrap()
            .name
            .as_str(),
        "Mine"
    );

    let access = repo.access(&id).await.unwrap().unwrap();
    assert_eq!(
        (
            access.tenant_id,
            access.rate_limit_per_minute,
            access.clinic_active
        ),
        (a, Some(30), true)
    );
    assert_eq!(access.scopes, scopes);
    SeaClinicRepository::new(db.clone())
        .set_status(a, ClinicStatus::Suspended)
        .await
        .unwrap();
    assert!(!repo.credentials(&id).await.unwrap().unwrap().clinic_active);

    let rotated = repo
        .rotate_secret_in_tenant(a, &id, "cd".repeat(32), Utc::now())
        .await
        .unwrap();
    assert!(rotated.previous_secret_expires_at.is_some());
    let credentials = repo.credentials(&id).await.unwrap().unwrap();
    assert_eq!(credentials.secret_hash, "cd".repeat(32));
    assert_eq!(credentials.previous_secret.unwrap().0, "ab".repeat(32));

    assert_eq!(
        repo.ids_in_tenant(a).await.unwrap(),
        std::slice::from_ref(&id)
    );
    assert!(repo.delete_in_tenant(a, &id).await.unwrap());
    assert!(repo.access(&id).await.unwrap().is_none());
}

#[tokio::test]
async fn revocations_are_recorded_once_and_forgotten_after_their_token_expired() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let repo = SeaRevocationRepository::new(db.clone());
    let now = Utc::now();
    let revoked = |jti: &str, expires_in: chrono::Duration| RevokedToken {
        jti: jti.to_owned(),
        tenant_id: tenant,
        client_id: ClientId::generate(),
        expires_at: now + expires_in,
        revoked_at: now,
    };
    let live = revoked("live", chrono::Duration::minutes(10));
    repo.insert(&live).await.unwrap();
    repo.insert(&live).await.unwrap();
    repo.insert(&revoked("old", chrono::Duration::minutes(-1)))
        .await
        .unwrap();
    assert!(repo.is_revoked("live").await.unwrap());
    assert!(!repo.is_revoked("other").await.unwrap());
    let unexpired: Vec<String> = repo
        .unexpired(now)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.jti)
        .collect();
    assert_eq!(unexpired, ["live"]);
    assert_eq!(repo.prune(now).await.unwrap(), 1);
    assert!(!repo.is_revoked("old").await.unwrap());
    assert!(repo.is_revoked("live").await.unwrap());
}
