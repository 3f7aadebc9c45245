//! The cross-tenant matrix: for every repository with tenant-owned rows, a row of clinic A is
//! invisible to clinic B, and nothing B does through the repository changes or removes it. Runs
//! on the backend the environment selects, like every test here.
//!
//! Revocations are not in it: every query on them crosses clinics by design (a token's `jti`,
//! expiry), through `AcrossTenants`.

use chrono::{SubsecRound as _, Utc};
use clinicgate_adapters::api_clients::SeaApiClientRepository;
use clinicgate_adapters::booking_claims::SeaSlotClaims;
use clinicgate_adapters::clinics::SeaClinicRepository;
use clinicgate_adapters::cliniko_key::SeaClinikoKeyRepository;
use clinicgate_adapters::db::Db;
use clinicgate_adapters::idempotency::SeaIdempotencyRepository;
use clinicgate_adapters::ledger::SeaLedgerRepository;
use clinicgate_adapters::polling::SeaPollStore;
use clinicgate_adapters::secrets::SeaDataKeyRepository;
use clinicgate_adapters::users::SeaUserRepository;
use clinicgate_adapters::webhook_endpoints::SeaWebhookEndpointRepository;
use clinicgate_core::Error;
use clinicgate_core::booking::{SlotClaims as _, SlotKey};
use clinicgate_core::clinics::{ClinicRepository as _, ClinicStatus, NewClinic, Subdomain};
use clinicgate_core::cliniko::{ClinikoId, Shard};
use clinicgate_core::cliniko_key::{
    ClinikoConnection, ClinikoKeyRepository as _, KeyFingerprint, KeyOwner, StoredClinikoKey,
};
use clinicgate_core::crypto::MasterKeyId;
use clinicgate_core::events::EventType;
use clinicgate_core::idempotency::{
    Claimed, ExistingRecord, Fingerprint, IdempotencyKey, IdempotencyRepository as _,
    IdempotencyScope,
};
use clinicgate_core::ids::{TenantId, UserId};
use clinicgate_core::ledger::{
    Categories, Category, Channel, EntryId, LedgerActor, LedgerEntry, LedgerFilter,
    LedgerRepository as _,
};
use clinicgate_core::polling::{
    Committed, Cursor, Expect, Fingerprint as PollFingerprint, Mark, MarkKind, PollCommit,
    PollStore as _, Resource, Snapshot,
};
use clinicgate_core::secrets::{DataKeyRepository as _, SealedSecret, WrappedDataKey};
use clinicgate_core::tokens::{
    ApiClientRepository as _, ClientChange, ClientId, ClientName, NewApiClient, ScopeSet,
};
use clinicgate_core::users::{Email, NewUser, PasswordHash, Role, UserChange, UserRepository as _};
use clinicgate_core::webhooks::{
    EndpointChange, NewWebhookEndpoint, Owner, WebhookEndpointId, WebhookEndpointRepository as _,
};

use crate::backends::migrated_database;

/// A database with two clinics: A owns the rows, B tries to reach them.
async fn two_clinics() -> (
    clinicgate_adapters::testing::TestDatabase,
    Db,
    TenantId,
    TenantId,
) {
    let (guard, db) = migrated_database().await;
    let clinics = SeaClinicRepository::new(db.clone());
    let mut ids = Vec::new();
    for subdomain in ["clinic-a", "clinic-b"] {
        let clinic = clinics
            .create(NewClinic {
                name: subdomain.into(),
                subdomain: Subdomain::parse(subdomain).unwrap(),
            })
            .await
            .unwrap();
        ids.push(clinic.id);
    }
    (guard, db, ids[0], ids[1])
}

fn is_not_found<T: std::fmt::Debug>(result: Result<T, Error>) -> bool {
    matches!(result, Err(Error::NotFound { .. }))
}

#[tokio::test]
async fn another_clinic_neither_finds_nor_changes_a_clinics_staff() {
    let (_guard, db, a, b) = two_clinics().await;
    let users = SeaUserRepository::new(db);
    let email = Email::parse("sam@example.com").unwrap();
    let sam = users
        .create_in_tenant(
            a,
            NewUser {
                id: UserId::new(),
                email: email.clone(),
                display_name: None,
                role: Role::Owner,
                password_hash: PasswordHash::from_stored("$argon2id$v=19$stored".to_owned()),
            },
        )
        .await
        .unwrap();

    assert!(users.list_in_tenant(b).await.unwrap().is_empty());
    assert!(users.find_in_tenant(b, sam.id).await.unwrap().is_none());
    assert!(
        users
            .credentials_in_tenant(b, &email)
            .await
            .unwrap()
            .is_none()
    );
    let deactivate = UserChange {
        role: None,
        active: Some(false),
    };
    assert!(is_not_found(
        users.change_in_tenant(b, sam.id, deactivate).await
    ));

    assert_eq!(users.find_in_tenant(a, sam.id).await.unwrap(), Some(sam));
}

#[tokio::test]
async fn another_clinic_neither_finds_nor_changes_nor_deletes_a_clinics_api_client() {
    let (_guard, db, a, b) = two_clinics().await;
    let clients = SeaApiClientRepository::new(db);
    let id = ClientId::generate();
    let created = clients
        .create_in_tenant(
            a,
            NewApiClient {
                client_id: id.clone(),
                name: ClientName::parse("Partner").unwrap(),
                scopes: ScopeSet::all(),
                rate_limit_per_minute: Some(30),
                secret_hash: "ab".repeat(32),
            },
        )
        .await
        .unwrap();

    assert!(clients.list_in_tenant(b).await.unwrap().is_empty());
    assert!(clients.ids_in_tenant(b).await.unwrap().is_empty());
    let rename = ClientChange {
        name: Some(ClientName::parse("Hijacked").unwrap()),
        ..ClientChange::default()
    };
    assert!(is_not_found(clients.change_in_tenant(b, &id, rename).await));
    assert!(is_not_found(
        clients
            .rotate_secret_in_tenant(b, &id, "cd".repeat(32), Utc::now())
            .await
    ));
    assert!(!clients.delete_in_tenant(b, &id).await.unwrap());

    assert_eq!(clients.list_in_tenant(a).await.unwrap(), [created]);
    let credentials = clients.credentials(&id).await.unwrap().unwrap();
    assert_eq!(
        credentials.secret_hash,
        "ab".repeat(32),
        "the secret was not rotated"
    );
    assert_eq!(credentials.previous_secret, None);
}

#[tokio::test]
async fn another_clinic_neither_finds_nor_changes_nor_deletes_a_clinics_webhook_endpoint() {
    let (_guard, db, a, b) = two_clinics().await;
    let client = ClientId::generate();
    SeaApiClientRepository::new(db.clone())
        .create_in_tenant(
            a,
            NewApiClient {
                client_id: client.clone(),
                name: ClientName::parse("Partner").unwrap(),
                scopes: ScopeSet::all(),
                rate_limit_per_minute: None,
                secret_hash: "ab".repeat(32),
            },
        )
        .await
        .unwrap();
    let endpoints = SeaWebhookEndpointRepository::new(db);
    let sealed = |byte| SealedSecret {
        ciphertext: vec![byte; 40],
        key_version: 1,
    };
    let created = endpoints
        .create_in_tenant(
            a,
            NewWebhookEndpoint {
                id: WebhookEndpointId::new(),
                client_id: client.clone(),
                url: "https://hooks.example.com/".into(),
                event_types: [EventType::AppointmentCreated].into_iter().collect(),
                description: None,
                secret: sealed(1),
            },
        )
        .await
        .unwrap();
    let id = created.id;

    // As the clinic, and as the same client id presented to the other clinic.
    for owner in [Owner::Clinic, Owner::Client(&client)] {
        assert!(endpoints.list_in_tenant(b, owner).await.unwrap().is_empty());
        assert!(
            endpoints
                .find_in_tenant(b, owner, id)
                .await
                .unwrap()
                .is_none()
        );
        let disable = EndpointChange {
            enabled: Some(false),
            ..EndpointChange::default()
        };
        assert!(is_not_found(
            endpoints.change_in_tenant(b, owner, id, disable).await
        ));
        assert!(is_not_found(
            endpoints
                .rotate_secret_in_tenant(b, owner, id, sealed(2), Utc::now())
                .await
        ));
        assert!(!endpoints.delete_in_tenant(b, owner, id).await.unwrap());
    }
    assert!(endpoints.delivery_view(b, id).await.unwrap().is_none());
    assert!(
        endpoints
            .subscriptions_in_tenant(b)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        endpoints
            .client_scopes_in_tenant(b, &client)
            .await
            .unwrap()
            .is_none()
    );
    endpoints
        .note_failed(b, id, Utc::now(), Utc::now())
        .await
        .unwrap();

    assert_eq!(
        endpoints.list_in_tenant(a, Owner::Clinic).await.unwrap(),
        [created]
    );
    let view = endpoints.delivery_view(a, id).await.unwrap().unwrap();
    assert_eq!(
        view.secrets.current,
        sealed(1),
        "the secret was not rotated"
    );
    assert_eq!(view.endpoint.failing_since, None);
}

#[tokio::test]
async fn another_clinic_neither_finds_nor_changes_nor_deletes_a_clinics_cliniko_key() {
    let (_guard, db, a, b) = two_clinics().await;
    let keys = SeaClinikoKeyRepository::new(db);
    let stored = StoredClinikoKey {
        connection: ClinikoConnection {
            shard: Shard::parse("au1").unwrap(),
            last4: "wxyz".to_owned(),
            owner: KeyOwner {
                id: ClinikoId::parse("836447129235883061").unwrap(),
                name: "Front desk".to_owned(),
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
    keys.save_in_tenant(a, &stored, &KeyFingerprint::from_stored("ab".repeat(32)))
        .await
        .unwrap();
    let before = keys.find_in_tenant(a).await.unwrap().unwrap();

    assert!(keys.find_in_tenant(b).await.unwrap().is_none());
    keys.mark_rejected_in_tenant(b, Utc::now()).await.unwrap();
    keys.set_fingerprint_in_tenant(b, &KeyFingerprint::from_stored("cd".repeat(32)))
        .await
        .unwrap();
    assert!(!keys.delete_in_tenant(b).await.unwrap());
    assert_eq!(
        keys.find_in_tenant(a).await.unwrap().as_ref(),
        Some(&before)
    );
    assert_eq!(keys.connected_after(None, 10).await.unwrap(), [a]);

    // A rejection A recorded is not cleared by B either.
    let refused = Utc::now();
    keys.mark_rejected_in_tenant(a, refused).await.unwrap();
    let rejected = keys.find_in_tenant(a).await.unwrap().unwrap();
    let seen = rejected.connection.rejected_at.unwrap();
    keys.clear_rejection_in_tenant(b, seen, Utc::now())
        .await
        .unwrap();
    assert_eq!(keys.find_in_tenant(a).await.unwrap(), Some(rejected));
    assert!(
        keys.connected_after(None, 10).await.unwrap().is_empty(),
        "a refused key is not polled"
    );
}

#[tokio::test]
async fn another_clinic_neither_reads_nor_overwrites_a_clinics_poll_state() {
    let (_guard, db, a, b) = two_clinics().await;
    let store = SeaPollStore::new(db);
    let record = ClinikoId::parse("5").unwrap();
    // PostgreSQL keeps microseconds.
    let due = Utc::now().trunc_subsecs(6);
    let snapshot = |fingerprint: u8| Snapshot {
        resource: Resource::Patients,
        record_id: record.clone(),
        source_updated_at: None,
        fingerprint: PollFingerprint::from_bytes(&[fingerprint; 32]).unwrap(),
        state: None,
        body: None,
        doctor_id: ClinikoId::parse("11"),
        queue_day: None,
        due_at: Some(due),
        revision: 0,
        expires_at: None,
        phone_keys: None,
        phones_indexed: false,
    };
    let mark = Mark {
        due_at: Some(due),
        ..Mark::new(MarkKind::Availability, "11".into())
    };
    let cursor = Cursor {
        resource: Resource::Patients,
        cursor_at: None,
        watching_since: due,
        baseline_done: false,
        read_at: due,
        phones_indexed: false,
    };
    let write = |fingerprint, expect| PollCommit {
        snapshots: vec![(snapshot(fingerprint), expect)],
        cursors: vec![cursor.clone()],
        marks: vec![(mark.clone(), expect)],
        ..PollCommit::default()
    };
    assert_eq!(
        store.commit(a, write(1, Expect::Absent)).await.unwrap(),
        Committed::Done
    );
    let later = Utc::now() + chrono::Duration::days(1);
    assert!(store.cursors(b).await.unwrap().is_empty());
    assert!(
        store
            .snapshots(b, Resource::Patients, std::slice::from_ref(&record))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.due_snapshots(b, later, 10).await.unwrap().is_empty());
    assert!(store.due_marks(b, later, 10).await.unwrap().is_empty());
    assert!(
        store
            .marks(b, MarkKind::Availability, &["11".into()])
            .await
            .unwrap()
            .is_empty()
    );
    // B writing "the same" record changes only B's own rows.
    assert_eq!(
        store
            .commit(b, write(2, Expect::Revision(0)))
            .await
            .unwrap(),
        Committed::Conflict
    );
    assert_eq!(
        store.commit(b, write(2, Expect::Absent)).await.unwrap(),
        Committed::Done
    );
    let kept = store
        .snapshots(a, Resource::Patients, std::slice::from_ref(&record))
        .await
        .unwrap();
    assert_eq!(kept, [snapshot(1)]);
    assert_eq!(store.due_marks(a, later, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn another_clinic_neither_finds_nor_replaces_a_clinics_data_key() {
    let (_guard, db, a, b) = two_clinics().await;
    let data_keys = SeaDataKeyRepository::new(db);
    let wrapped = |id: &str, byte: u8| WrappedDataKey {
        master_key_id: MasterKeyId::from_stored(id.to_owned()),
        ciphertext: vec![byte; 40],
    };
    let stored = data_keys
        .insert_if_absent(a, wrapped("master-1", 1))
        .await
        .unwrap();

    assert_eq!(data_keys.find(b).await.unwrap(), None);
    assert!(
        !data_keys
            .replace(b, &stored, &wrapped("master-2", 2))
            .await
            .unwrap()
    );
    assert_eq!(data_keys.find(a).await.unwrap(), Some(stored));
}

#[tokio::test]
async fn another_clinic_reads_nothing_of_a_clinics_access_ledger() {
    let (_guard, db, a, b) = two_clinics().await;
    let ledger = SeaLedgerRepository::new(db);
    let actor = LedgerActor::User(UserId::new());
    let entry = LedgerEntry {
        id: EntryId::new(),
        actor: actor.clone(),
        patient_id: ClinikoId::parse("836447129235883099").unwrap(),
        categories: Categories::of(&[Category::Demographics]),
        channel: Channel::Page,
        at: Utc::now(),
        ip: None,
        user_agent: None,
        request_id: None,
    };
    ledger.append_in_tenant(a, &[entry]).await.unwrap();

    let everything = LedgerFilter::default();
    assert!(
        ledger
            .list_in_tenant(b, &everything, 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        ledger
            .recent_patients_in_tenant(b, &actor, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ledger
            .list_in_tenant(a, &everything, 50)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn another_clinic_cannot_release_a_clinics_slot_claim() {
    let (_guard, db, a, b) = two_clinics().await;
    let claims = SeaSlotClaims::new(db);
    let slot = SlotKey {
        clinic_id: ClinikoId::parse("836447129235883061").unwrap(),
        doctor_id: ClinikoId::parse("836447129235883062").unwrap(),
        starts_at: "2030-05-21T08:45:00Z".parse().unwrap(),
    };
    let ttl = std::time::Duration::from_secs(60);
    assert!(claims.claim(a, &slot, ttl).await.unwrap());

    claims.release(b, &slot).await.unwrap();
    assert!(
        !claims.claim(a, &slot, ttl).await.unwrap(),
        "A's claim still holds after B released the same slot"
    );
}

#[tokio::test]
async fn another_clinic_neither_finds_nor_completes_nor_releases_a_clinics_idempotency_record() {
    let (_guard, db, a, b) = two_clinics().await;
    let records = SeaIdempotencyRepository::new(db);
    // The same client id and key in both clinics: only the clinic tells the records apart.
    let scope = |tenant| IdempotencyScope {
        tenant,
        client: "cgcl_partner".into(),
        key: IdempotencyKey::parse("key-1").unwrap(),
    };
    let print = Fingerprint::of("POST", "/api/public/appointments", &serde_json::json!({}));
    let hour = chrono::Duration::hours(1);
    let claim = |tenant| {
        let (records, print) = (records.clone(), print.clone());
        async move {
            let now = Utc::now();
            records
                .claim(&scope(tenant), &print, now, now + hour, now + hour)
                .await
                .unwrap()
        }
    };
    assert_eq!(claim(a).await, Claimed::Acquired);

    let body = SealedSecret {
        ciphertext: vec![1, 2, 3],
        key_version: 1,
    };
    records.complete(&scope(b), 201, &body).await.unwrap();
    records.release(&scope(b)).await.unwrap();
    assert_eq!(
        claim(a).await,
        Claimed::Existing(ExistingRecord::InProgress {
            fingerprint: print.clone()
        }),
        "A's record is still there, still in progress"
    );
    assert_eq!(claim(b).await, Claimed::Acquired, "B never saw A's record");
}

#[tokio::test]
async fn suspending_one_clinic_leaves_the_other_as_it_was() {
    let (_guard, db, a, b) = two_clinics().await;
    let clinics = SeaClinicRepository::new(db);
    let before = clinics.find_by_id(a).await.unwrap().unwrap();

    clinics
        .set_status(b, ClinicStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(
        clinics.find_by_id(b).await.unwrap().unwrap().status,
        ClinicStatus::Suspended
    );
    assert_eq!(clinics.find_by_id(a).await.unwrap(), Some(before));
}

#[tokio::test]
async fn another_clinic_neither_reads_nor_replaces_nor_clears_a_clinics_templates_and_opt_outs() {
    use clinicgate_adapters::notifications::SeaNotificationRepository;
    use clinicgate_core::notifications::{
        Channel as NotifyChannel, ClinicTemplate, NotificationRepository as _, TemplateSources,
        Trigger,
    };

    let (_guard, db, a, b) = two_clinics().await;
    let repo = SeaNotificationRepository::new(db);
    let trigger = Trigger::Event(EventType::AppointmentCreated);
    let template = |text: &str| ClinicTemplate {
        trigger,
        channel: NotifyChannel::Email,
        sources: TemplateSources {
            subject: Some("Booked".to_owned()),
            text: text.to_owned(),
            html: Some("<p>Booked</p>".to_owned()),
        },
        updated_by: None,
        updated_at: Utc::now().trunc_subsecs(3),
    };
    let mine = template("A's words");
    repo.save_template(a, &mine).await.unwrap();
    let patient = ClinikoId::parse("1000000000000000001").unwrap();
    repo.opt_out(a, &patient, NotifyChannel::Email)
        .await
        .unwrap();

    assert!(repo.templates(b).await.unwrap().is_empty());
    assert!(
        repo.template(b, trigger, NotifyChannel::Email)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !repo
            .delete_template(b, trigger, NotifyChannel::Email)
            .await
            .unwrap()
    );
    // B saving its own template for the same trigger and channel is B's row, not A's.
    repo.save_template(b, &template("B's words")).await.unwrap();
    assert!(repo.opt_outs(b).await.unwrap().is_empty());
    assert!(
        !repo
            .opted_out(b, &patient, NotifyChannel::Email)
            .await
            .unwrap()
    );
    assert!(
        !repo
            .clear_opt_out(b, &patient, NotifyChannel::Email, UserId::new())
            .await
            .unwrap()
    );

    assert_eq!(
        repo.template(a, trigger, NotifyChannel::Email)
            .await
            .unwrap()
            .map(|t| t.sources.text),
        Some("A's words".to_owned())
    );
    assert!(
        repo.opted_out(a, &patient, NotifyChannel::Email)
            .await
            .unwrap()
    );
    // An unsubscribe repeated keeps its first time; clearing then unsubscribing again is in force.
    let first = repo.opt_outs(a).await.unwrap()[0].opted_out_at;
    repo.opt_out(a, &patient, NotifyChannel::Email)
        .await
        .unwrap();
    assert_eq!(repo.opt_outs(a).await.unwrap()[0].opted_out_at, first);
    let by = UserId::new();
    assert!(
        repo.clear_opt_out(a, &patient, NotifyChannel::Email, by)
            .await
            .unwrap()
    );
    let cleared = &repo.opt_outs(a).await.unwrap()[0];
    assert!(!cleared.in_force());
    assert_eq!(cleared.cleared_by, Some(by));
    repo.opt_out(a, &patient, NotifyChannel::Email)
        .await
        .unwrap();
    assert!(repo.opt_outs(a).await.unwrap()[0].in_force());
}
