use std::sync::Arc;

use chrono::Utc;
use clinicgate_adapters::cliniko_key::SeaClinikoKeyRepository;
use clinicgate_adapters::db::Db;
use clinicgate_adapters::secrets::SeaDataKeyRepository;
use clinicgate_core::Error;
use clinicgate_core::cliniko::{ClinikoId, Shard};
use clinicgate_core::cliniko_key::{
    ClinikoConnection, ClinikoKeyRepository as _, KeyFingerprint, KeyOwner, StoredClinikoKey,
};
use clinicgate_core::crypto::{MasterKey, MasterKeyring};
use clinicgate_core::ids::TenantId;
use clinicgate_core::secrets::{
    DataKey, DataKeyRepository as _, SealedSecret, SecretPurpose, Vault, rotate_master_key,
};
use secrecy::{ExposeSecret as _, SecretString};

use crate::backends::{clinic, migrated_database};

/// A second handle on the same key (keys are deliberately not `Clone`).
fn copy(key: &MasterKey) -> MasterKey {
    MasterKey::from_base64(&key.to_base64()).unwrap()
}

fn vault(db: &Db, keyring: MasterKeyring) -> Vault {
    Vault::new(
        Arc::new(keyring),
        Arc::new(SeaDataKeyRepository::new(db.clone())),
    )
}

async fn seal(vault: &Vault, tenant: TenantId, secret: &str) -> SealedSecret {
    vault
        .seal(
            tenant,
            SecretPurpose::ClinikoApiKey,
            &SecretString::from(secret.to_owned()),
        )
        .await
        .unwrap()
}

async fn open(vault: &Vault, tenant: TenantId, sealed: &SealedSecret) -> Option<String> {
    vault
        .open(tenant, SecretPurpose::ClinikoApiKey, sealed)
        .await
        .ok()
        .map(|s| s.expose_secret().to_owned())
}

#[tokio::test]
async fn the_first_data_key_stored_for_a_clinic_is_the_one_everyone_uses() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let keys = SeaDataKeyRepository::new(db.clone());
    let master = MasterKey::generate();
    let first = DataKey::generate().wrap(&master, tenant).unwrap();
    let second = DataKey::generate().wrap(&master, tenant).unwrap();
    assert_eq!(
        keys.insert_if_absent(tenant, first.clone()).await.unwrap(),
        first
    );
    assert_eq!(keys.insert_if_absent(tenant, second).await.unwrap(), first);
    assert_eq!(keys.find(tenant).await.unwrap(), Some(first));
    assert_eq!(keys.find(TenantId::new()).await.unwrap(), None);
}

#[tokio::test]
async fn a_data_key_is_replaced_only_if_nobody_changed_it_meanwhile() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let keys = SeaDataKeyRepository::new(db.clone());
    let (old, new) = (MasterKey::generate(), MasterKey::generate());
    let data_key = DataKey::generate();
    let stored = keys
        .insert_if_absent(tenant, data_key.wrap(&old, tenant).unwrap())
        .await
        .unwrap();
    let rewrapped = data_key.wrap(&new, tenant).unwrap();
    let stale = data_key.wrap(&old, tenant).unwrap();
    assert!(
        !keys.replace(tenant, &stale, &rewrapped).await.unwrap(),
        "a stale read must not win"
    );
    assert!(keys.replace(tenant, &stored, &rewrapped).await.unwrap());
    assert_eq!(keys.find(tenant).await.unwrap(), Some(rewrapped));
}

#[tokio::test]
async fn secrets_stay_readable_through_a_master_key_rotation_and_only_the_new_key_reads_them_after()
{
    let (_guard, db) = migrated_database().await;
    let (a, b) = (clinic(&db, "clinic-a").await, clinic(&db, "clinic-b").await);
    let old = MasterKey::generate();
    let new = MasterKey::generate();
    let before = vault(&db, MasterKeyring::new(copy(&old)));
    let sealed_a = seal(&before, a, "key-of-a-au1").await;
    let sealed_b = seal(&before, b, "key-of-b-uk2").await;

    // Step 1 of the procedure: instances run with the new key, the old one as previous.
    let rolled_out = vault(
        &db,
        MasterKeyring::new(copy(&new)).with_previous(copy(&old)),
    );
    assert_eq!(
        open(&rolled_out, a, &sealed_a).await.as_deref(),
        Some("key-of-a-au1")
    );
    // A clinic's first secret during the roll-out gets a data key under the new key.
    let c = clinic(&db, "clinic-c").await;
    let sealed_c = seal(&rolled_out, c, "key-of-c-au1").await;

    // Step 2: the rotation.
    let keys = SeaDataKeyRepository::new(db.clone());
    let report = rotate_master_key(
        &MasterKeyring::new(copy(&new)).with_previous(copy(&old)),
        copy(&new),
        &keys,
    )
    .await
    .unwrap();
    assert_eq!((report.rewrapped, report.skipped), (2, 0));

    // Step 3: the previous key is removed from the configuration.
    let after = vault(&db, MasterKeyring::new(copy(&new)));
    assert_eq!(
        open(&after, a, &sealed_a).await.as_deref(),
        Some("key-of-a-au1")
    );
    assert_eq!(
        open(&after, b, &sealed_b).await.as_deref(),
        Some("key-of-b-uk2")
    );
    assert_eq!(
        open(&after, c, &sealed_c).await.as_deref(),
        Some("key-of-c-au1")
    );
    let retired = vault(&db, MasterKeyring::new(copy(&old)));
    assert_eq!(open(&retired, a, &sealed_a).await, None);

    let again = rotate_master_key(&MasterKeyring::new(copy(&new)), copy(&new), &keys)
        .await
        .unwrap();
    assert_eq!(again.rewrapped, 0);
}

#[tokio::test]
async fn a_rotation_run_with_only_the_old_key_configured_also_works() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let old = MasterKey::generate();
    let new = MasterKey::generate();
    let sealed = seal(&vault(&db, MasterKeyring::new(copy(&old))), tenant, "k-au1").await;
    let keys = SeaDataKeyRepository::new(db.clone());
    let report = rotate_master_key(&MasterKeyring::new(copy(&old)), copy(&new), &keys)
        .await
        .unwrap();
    assert_eq!(report.rewrapped, 1);
    let after = vault(&db, MasterKeyring::new(copy(&new)));
    assert_eq!(
        open(&after, tenant, &sealed).await.as_deref(),
        Some("k-au1")
    );
}

#[tokio::test]
async fn a_data_key_no_configured_master_key_can_read_stops_the_rotation_naming_the_key() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let stranger = MasterKey::generate();
    seal(
        &vault(&db, MasterKeyring::new(copy(&stranger))),
        tenant,
        "k-au1",
    )
    .await;
    let keys = SeaDataKeyRepository::new(db.clone());
    let err = rotate_master_key(
        &MasterKeyring::new(MasterKey::generate()),
        MasterKey::generate(),
        &keys,
    )
    .await
    .unwrap_err();
    let chain = format!("{err:?}");
    assert!(chain.contains(stranger.id().as_str()), "{chain}");
    assert!(!chain.contains(stranger.to_base64().expose_secret()));
}

#[tokio::test]
async fn a_clinics_cliniko_key_row_holds_the_description_and_ciphertext_only() {
    let (_guard, db) = migrated_database().await;
    let (a, b) = (clinic(&db, "clinic-a").await, clinic(&db, "clinic-b").await);
    let repo = SeaClinikoKeyRepository::new(db.clone());
    let stored = StoredClinikoKey {
        connection: ClinikoConnection {
            shard: Shard::parse("uk2").unwrap(),
            last4: "wxyz".to_owned(),
            owner: KeyOwner {
                id: ClinikoId::parse("836447129235883061").unwrap(),
                name: "ClinicGate Integration".to_owned(),
                role: None,
            },
            verified_at: Utc::now(),
            rejected_at: None,
        },
        sealed: SealedSecret {
            ciphertext: vec![1, 2, 3],
            key_version: 1,
        },
    };
    let fingerprint = KeyFingerprint::from_stored("ab".repeat(32));
    repo.save_in_tenant(a, &stored, &fingerprint).await.unwrap();
    let found = repo.find_in_tenant(a).await.unwrap().unwrap();
    assert_eq!(found.sealed, stored.sealed);
    assert_eq!(found.connection.owner, stored.connection.owner);
    assert_eq!(found.connection.shard.as_str(), "uk2");
    assert!(repo.find_in_tenant(b).await.unwrap().is_none());

    let mut replaced = stored.clone();
    replaced.connection.last4 = "abcd".to_owned();
    repo.save_in_tenant(a, &replaced, &fingerprint)
        .await
        .unwrap();
    assert_eq!(
        repo.find_in_tenant(a)
            .await
            .unwrap()
            .unwrap()
            .connection
            .last4,
        "abcd"
    );

    // Cliniko refusing the stored key is recorded for that clinic only, and a reconnect clears it.
    repo.mark_rejected_in_tenant(a, Utc::now()).await.unwrap();
    repo.mark_rejected_in_tenant(b, Utc::now()).await.unwrap();
    let rejected = repo.find_in_tenant(a).await.unwrap().unwrap().connection;
    assert!(rejected.rejected_at.is_some());
    assert_eq!(
        rejected.warnings().first().map(|w| w.code()),
        Some("key_rejected")
    );
    assert!(
        repo.find_in_tenant(b).await.unwrap().is_none(),
        "marking never creates a key"
    );
    // Cliniko accepting the key again clears only the refusal that was seen: one recorded since
    // (here, a later timestamp than the caller saw) stays.
    let seen = rejected.rejected_at.unwrap();
    let stale = seen - chrono::Duration::seconds(1);
    repo.clear_rejection_in_tenant(a, stale, Utc::now())
        .await
        .unwrap();
    let still = repo.find_in_tenant(a).await.unwrap().unwrap().connection;
    assert_eq!(still.rejected_at, Some(seen));
    repo.clear_rejection_in_tenant(a, seen, Utc::now())
        .await
        .unwrap();
    let cleared = repo.find_in_tenant(a).await.unwrap().unwrap().connection;
    assert_eq!(cleared.rejected_at, None);
    assert!(cleared.verified_at > rejected.verified_at);

    repo.mark_rejected_in_tenant(a, Utc::now()).await.unwrap();
    repo.save_in_tenant(a, &replaced, &fingerprint)
        .await
        .unwrap();
    assert!(
        repo.find_in_tenant(a)
            .await
            .unwrap()
            .unwrap()
            .connection
            .rejected_at
            .is_none()
    );

    // One key, one clinic: the fingerprint is unique, whether saved or filled in later.
    assert_eq!(
        repo.tenant_with_fingerprint(&fingerprint).await.unwrap(),
        Some(a)
    );
    let taken = repo
        .save_in_tenant(b, &stored, &fingerprint)
        .await
        .unwrap_err();
    assert!(
        matches!(
            taken,
            Error::Conflict {
                code: "cliniko_key_in_use",
                ..
            }
        ),
        "{taken:?}"
    );
    assert!(repo.find_in_tenant(b).await.unwrap().is_none());
    let other = KeyFingerprint::from_stored("cd".repeat(32));
    repo.save_in_tenant(b, &stored, &other).await.unwrap();
    assert!(repo.without_fingerprint(None, 10).await.unwrap().is_empty());
    let filled = repo.set_fingerprint_in_tenant(b, &fingerprint).await;
    assert!(
        filled.is_ok(),
        "only an empty fingerprint is filled: {filled:?}"
    );
    assert_eq!(repo.tenant_with_fingerprint(&other).await.unwrap(), Some(b));

    assert!(repo.delete_in_tenant(b).await.unwrap());
    assert!(!repo.delete_in_tenant(b).await.unwrap());
    assert!(repo.delete_in_tenant(a).await.unwrap());
    assert!(repo.find_in_tenant(a).await.unwrap().is_none());
}
