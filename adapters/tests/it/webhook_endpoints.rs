//! Webhook endpoints on the backend the environment selects: a client reaches only its own, the
//! clinic every client's; a rotation keeps the replaced secret; deleting a client deletes its
//! endpoints; and the delivery side (through `WebhookEndpointService` over the real table) sends,
//! holds or gives up as the endpoint, its client's scopes and its clinic say, and disables an
//! endpoint once its failing streak is old enough.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use clinicgate_adapters::api_clients::SeaApiClientRepository;
use clinicgate_adapters::clinics::SeaClinicRepository;
use clinicgate_adapters::db::Db;
use clinicgate_adapters::deliveries::SeaDeliveryQueue;
use clinicgate_adapters::outbound::{OutboundClient, OutboundConfig};
use clinicgate_adapters::secrets::SeaDataKeyRepository;
use clinicgate_adapters::webhook_endpoints::SeaWebhookEndpointRepository;
use clinicgate_core::Error;
use clinicgate_core::clinics::{ClinicRepository as _, ClinicStatus};
use clinicgate_core::crypto::{MasterKey, MasterKeyring};
use clinicgate_core::delivery::{OutboundKind, Target};
use clinicgate_core::events::{EventType, Subscribers as _};
use clinicgate_core::ids::TenantId;
use clinicgate_core::secrets::{SealedSecret, SecretPurpose, Vault};
use clinicgate_core::tokens::{
    ApiClientRepository as _, ClientChange, ClientId, ClientName, NewApiClient, ScopeSet,
};
use clinicgate_core::webhooks::{
    DISABLE_AFTER_FAILING_FOR, Deliverable, DeliveryEndpoints as _, DisabledReason, EndpointChange,
    NewWebhookEndpoint, Owner, WebhookEndpoint, WebhookEndpointId, WebhookEndpointRepository as _,
    WebhookEndpointService, WebhookSecret,
};
use secrecy::SecretString;

use crate::backends::{clinic, migrated_database};

fn sealed(byte: u8) -> SealedSecret {
    SealedSecret {
        ciphertext: vec![byte; 40],
        key_version: 1,
    }
}

async fn api_client(db: &Db, tenant: TenantId, scopes: &str) -> ClientId {
    let id = ClientId::generate();
    SeaApiClientRepository::new(db.clone())
        .create_in_tenant(
            tenant,
            NewApiClient {
                client_id: id.clone(),
                name: ClientName::parse("Booking partner").unwrap(),
                scopes: ScopeSet::parse_list(scopes, "scopes").unwrap(),
                rate_limit_per_minute: None,
                secret_hash: "ab".repeat(32),
            },
        )
        .await
        .unwrap();
    id
}

fn types(list: &[EventType]) -> BTreeSet<EventType> {
    list.iter().copied().collect()
}

fn new_endpoint(client: &ClientId, secret: SealedSecret) -> NewWebhookEndpoint {
    NewWebhookEndpoint {
        id: WebhookEndpointId::new(),
        client_id: client.clone(),
        url: "https://hooks.example.com/clinicgate".into(),
        event_types: types(&[EventType::AppointmentCreated, EventType::PatientCreated]),
        description: Some("Bookings".into()),
        secret,
    }
}

#[tokio::test]
async fn a_client_reaches_only_its_own_endpoints_and_the_clinic_reaches_all() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let (mine, other) = (
        api_client(&db, tenant, "appointments:read webhooks:manage").await,
        api_client(&db, tenant, "appointments:read webhooks:manage").await,
    );
    let repo = SeaWebhookEndpointRepository::new(db.clone());
    let created = repo
        .create_in_tenant(tenant, new_endpoint(&mine, sealed(1)))
        .await
        .unwrap();
    assert_eq!(created.client_id, mine);
    assert_eq!(created.client_name.as_str(), "Booking partner");
    assert_eq!(created.description.as_deref(), Some("Bookings"));
    assert!(created.enabled());

    let id = created.id;
    let (me, them) = (Owner::Client(&mine), Owner::Client(&other));
    assert_eq!(
        repo.list_in_tenant(tenant, me).await.unwrap(),
        std::slice::from_ref(&created)
    );
    assert!(repo.list_in_tenant(tenant, them).await.unwrap().is_empty());
    assert_eq!(
        repo.list_in_tenant(tenant, Owner::Clinic)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        repo.find_in_tenant(tenant, them, id)
            .await
            .unwrap()
            .is_none()
    );
    let change = EndpointChange {
        url: Some("https://hooks.example.com/v2".into()),
        event_types: Some(types(&[EventType::AppointmentCancelled])),
        description: Some(None),
        enabled: Some(false),
    };
    assert!(matches!(
        repo.change_in_tenant(tenant, them, id, change.clone())
            .await,
        Err(Error::NotFound { .. })
    ));
    assert!(!repo.delete_in_tenant(tenant, them, id).await.unwrap());

    let changed = repo.change_in_tenant(tenant, me, id, change).await.unwrap();
    assert_eq!(changed.url, "https://hooks.example.com/v2");
    assert_eq!(
        changed.event_types,
        types(&[EventType::AppointmentCancelled])
    );
    assert_eq!(changed.description, None);
    assert_eq!(changed.disabled, Some(DisabledReason::Manual));
    assert!(changed.updated_at >= created.updated_at);

    let until = Utc::now() + TimeDelta::hours(24);
    assert!(
        repo.rotate_secret_in_tenant(tenant, them, id, sealed(2), until)
            .await
            .is_err()
    );
    let rotated = repo
        .rotate_secret_in_tenant(tenant, me, id, sealed(2), until)
        .await
        .unwrap();
    assert!(rotated.previous_secret_until.is_some());
    let view = repo.delivery_view(tenant, id).await.unwrap().unwrap();
    assert_eq!(view.secrets.current, sealed(2));
    assert_eq!(view.secrets.previous.unwrap().0, sealed(1));

    assert!(repo.delete_in_tenant(tenant, me, id).await.unwrap());
    assert!(repo.find_in_tenant(tenant, me, id).await.unwrap().is_none());
    assert!(repo.delivery_view(tenant, id).await.unwrap().is_none());
}

#[tokio::test]
async fn deleting_a_client_deletes_its_endpoints() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let client = api_client(&db, tenant, "appointments:read").await;
    let repo = SeaWebhookEndpointRepository::new(db.clone());
    let endpoint = repo
        .create_in_tenant(tenant, new_endpoint(&client, sealed(1)))
        .await
        .unwrap();
    assert!(
        SeaApiClientRepository::new(db.clone())
            .delete_in_tenant(tenant, &client)
            .await
            .unwrap()
    );
    assert!(
        repo.delivery_view(tenant, endpoint.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        repo.list_in_tenant(tenant, Owner::Clinic)
            .await
            .unwrap()
            .is_empty()
    );
    // An endpoint for a client that no longer exists is refused, not a server error.
    assert!(matches!(
        repo.create_in_tenant(tenant, new_endpoint(&client, sealed(1)))
            .await,
        Err(Error::NotFound {
            resource: "API client"
        })
    ));
}

/// The service over the real table, as the delivery machinery uses it.
struct Delivery {
    _guard: clinicgate_adapters::testing::TestDatabase,
    db: Db,
    tenant: TenantId,
    client: ClientId,
    vault: Vault,
    repo: Arc<SeaWebhookEndpointRepository>,
    service: WebhookEndpointService,
}

impl Delivery {
    async fn new() -> Self {
        let (guard, db) = migrated_database().await;
        let tenant = clinic(&db, "harbour").await;
        let client = api_client(&db, tenant, "appointments:read webhooks:manage").await;
        let vault = Vault::new(
            Arc::new(MasterKeyring::new(MasterKey::generate())),
            Arc::new(SeaDataKeyRepository::new(db.clone())),
        );
        let repo = Arc::new(SeaWebhookEndpointRepository::new(db.clone()));
        let urls = OutboundClient::new(&OutboundConfig::new(Vec::new(), false)).unwrap();
        Self {
            service: WebhookEndpointService::new(
                repo.clone(),
                vault.clone(),
                Arc::new(urls),
                Arc::new(SeaDeliveryQueue::new(db.clone())),
            ),
            _guard: guard,
            db,
            tenant,
            client,
            vault,
            repo,
        }
    }

    /// `secret` sealed as the service seals it.
    async fn seal(&self, secret: &WebhookSecret) -> SealedSecret {
        self.vault
            .seal(
                self.tenant,
                SecretPurpose::WebhookSecret,
                &SecretString::from(secret.expose()),
            )
            .await
            .unwrap()
    }

    async fn endpoint(&self, secret: &WebhookSecret) -> WebhookEndpointId {
        let sealed = self.seal(secret).await;
        self.repo
            .create_in_tenant(self.tenant, new_endpoint(&self.client, sealed))
            .await
            .unwrap()
            .id
    }
}

impl Delivery {
    /// Enables or disables the endpoint, as the clinic does.
    async fn set_enabled(&self, id: WebhookEndpointId, enabled: bool) -> WebhookEndpoint {
        self.repo
            .change_in_tenant(
                self.tenant,
                Owner::Clinic,
                id,
                EndpointChange {
                    enabled: Some(enabled),
                    ..EndpointChange::default()
                },
            )
            .await
            .unwrap()
    }

    /// Seconds from `start` to the endpoint's failing streak's start (`None`: no streak).
    async fn streak_from(&self, id: WebhookEndpointId, start: DateTime<Utc>) -> Option<i64> {
        self.repo
            .find_in_tenant(self.tenant, Owner::Clinic, id)
            .await
            .unwrap()
            .unwrap()
            .failing_since
            .map(|since| (since - start).num_seconds())
    }
}

fn webhook(id: WebhookEndpointId) -> Target {
    Target {
        kind: OutboundKind::Webhook,
        id: id.as_uuid(),
    }
}

#[tokio::test]
async fn a_delivery_is_sent_held_or_given_up_as_the_endpoint_its_client_and_its_clinic_say() {
    let env = Delivery::new().await;
    let secret = WebhookSecret::generate();
    let id = env.endpoint(&secret).await;
    let created = EventType::AppointmentCreated;

    let Deliverable::Send(endpoint) = env
        .service
        .deliverable(env.tenant, id, created)
        .await
        .unwrap()
    else {
        panic!("an enabled endpoint of an active clinic is sent to")
    };
    assert_eq!(endpoint.url, "https://hooks.example.com/clinicgate");
    assert_eq!(endpoint.secrets.len(), 1);
    assert_eq!(endpoint.secrets[0].expose(), secret.expose());
    assert_eq!(
        env.service.targets(env.tenant, created).await.unwrap(),
        [webhook(id)]
    );

    // Subscribed to patient.created, but the client may not read patients: never a target,
    // and a delivery already queued is given up.
    assert!(
        env.service
            .targets(env.tenant, EventType::PatientCreated)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        env.service
            .deliverable(env.tenant, id, EventType::PatientCreated)
            .await
            .unwrap(),
        Deliverable::Gone
    ));

    // A rotation: both secrets sign, the new one first.
    let rotated = WebhookSecret::generate();
    let sealed = env.seal(&rotated).await;
    env.repo
        .rotate_secret_in_tenant(
            env.tenant,
            Owner::Clinic,
            id,
            sealed,
            Utc::now() + TimeDelta::hours(24),
        )
        .await
        .unwrap();
    let Deliverable::Send(endpoint) = env
        .service
        .deliverable(env.tenant, id, created)
        .await
        .unwrap()
    else {
        panic!("still sent to")
    };
    let secrets: Vec<String> = endpoint.secrets.iter().map(WebhookSecret::expose).collect();
    assert_eq!(secrets, [rotated.expose(), secret.expose()]);

    // Disabled: held, and no longer a target.
    env.set_enabled(id, false).await;
    assert!(matches!(
        env.service
            .deliverable(env.tenant, id, created)
            .await
            .unwrap(),
        Deliverable::Held
    ));
    assert!(
        env.service
            .targets(env.tenant, created)
            .await
            .unwrap()
            .is_empty()
    );
    env.set_enabled(id, true).await;

    // A suspended clinic: held, nothing lost.
    let clinics = SeaClinicRepository::new(env.db.clone());
    clinics
        .set_status(env.tenant, ClinicStatus::Suspended)
        .await
        .unwrap();
    assert!(matches!(
        env.service
            .deliverable(env.tenant, id, created)
            .await
            .unwrap(),
        Deliverable::Held
    ));
    clinics
        .set_status(env.tenant, ClinicStatus::Active)
        .await
        .unwrap();

    // The client loses the scope: given up.
    SeaApiClientRepository::new(env.db.clone())
        .change_in_tenant(
            env.tenant,
            &env.client,
            ClientChange {
                scopes: Some(ScopeSet::parse_list("webhooks:manage", "scopes").unwrap()),
                ..ClientChange::default()
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        env.service
            .deliverable(env.tenant, id, created)
            .await
            .unwrap(),
        Deliverable::Gone
    ));

    // Deleted: given up.
    env.repo
        .delete_in_tenant(env.tenant, Owner::Clinic, id)
        .await
        .unwrap();
    assert!(matches!(
        env.service
            .deliverable(env.tenant, id, created)
            .await
            .unwrap(),
        Deliverable::Gone
    ));
}

#[tokio::test]
async fn an_endpoint_failing_for_five_days_is_disabled_once_and_starts_afresh_when_enabled() {
    let env = Delivery::new().await;
    let id = env.endpoint(&WebhookSecret::generate()).await;
    let start = Utc::now() - TimeDelta::days(6);

    assert!(
        !env.service
            .note_outcome(env.tenant, id, false, start)
            .await
            .unwrap()
    );
    assert_eq!(env.streak_from(id, start).await, Some(0));
    // A later failure keeps the streak's start.
    let later = start + TimeDelta::days(1);
    assert!(
        !env.service
            .note_outcome(env.tenant, id, false, later)
            .await
            .unwrap()
    );
    assert_eq!(env.streak_from(id, start).await, Some(0));
    // A success ends it; the next failure starts a new one.
    env.service
        .note_outcome(env.tenant, id, true, later)
        .await
        .unwrap();
    assert_eq!(env.streak_from(id, start).await, None);
    assert!(
        !env.service
            .note_outcome(env.tenant, id, false, start)
            .await
            .unwrap()
    );

    let due = start + DISABLE_AFTER_FAILING_FOR;
    assert!(
        !env.service
            .note_outcome(env.tenant, id, false, due - TimeDelta::seconds(1))
            .await
            .unwrap()
    );
    assert!(
        env.service
            .note_outcome(env.tenant, id, false, due)
            .await
            .unwrap()
    );
    assert!(
        !env.service
            .note_outcome(env.tenant, id, false, due)
            .await
            .unwrap(),
        "only the call that disabled it says so"
    );
    let disabled = env
        .repo
        .find_in_tenant(env.tenant, Owner::Clinic, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(disabled.disabled, Some(DisabledReason::Failing));

    let enabled = env.set_enabled(id, true).await;
    assert!(enabled.enabled());
    assert_eq!(
        enabled.failing_since, None,
        "a re-enabled endpoint gets five whole days"
    );
    // Enabling an endpoint that is enabled keeps its streak.
    env.service
        .note_outcome(env.tenant, id, false, start)
        .await
        .unwrap();
    let again = env.set_enabled(id, true).await;
    assert!(again.failing_since.is_some());
}
