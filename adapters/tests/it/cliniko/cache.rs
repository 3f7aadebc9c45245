//! Reference data cached per clinic in the shared cache: one Cliniko call for a burst across
//! instances, dropped on invalidation and after its TTL, errors never cached, patient data never.

use std::time::Duration;

use clinicgate_adapters::cliniko::{ClinikoClientConfig, HttpClinikoClient};
use clinicgate_core::cliniko::{ClinikoAccount, ClinikoClient, ClinikoId, Lane, PractitionerScope};
use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{account, config, instances};

fn practitioners_page() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"practitioners": [{"id": "11", "first_name": "Ada"}], "total_entries": 1, "links": {}}))
        // Slow enough that every caller of the burst arrives while the first fetch is running.
        .set_delay(Duration::from_millis(300))
}

async fn clients(server: &MockServer, ttl: Duration) -> (Vec<HttpClinikoClient>, super::Instances) {
    let instances = instances(3).await;
    let clients = instances
        .states
        .iter()
        .map(|state| {
            super::client(
                ClinikoClientConfig {
                    cache_ttl: ttl,
                    ..config(&format!("{}/{{shard}}/v1", server.uri()))
                },
                state,
            )
        })
        .collect();
    (clients, instances)
}

async fn hits(server: &MockServer, p: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == p)
        .count()
}

fn clinic() -> ClinikoAccount {
    account("MS0cachekey0000000000000000-uk1")
}

#[tokio::test]
async fn a_burst_of_reference_reads_on_three_instances_makes_one_cliniko_call() {
    let server = MockServer::start().await;
    Mock::given(path("/uk1/v1/practitioners"))
        .respond_with(practitioners_page())
        .mount(&server)
        .await;
    let (clients, _instances) = clients(&server, Duration::from_secs(60)).await;
    let clinic = clinic();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let client = clients[i % 3].clone();
        let clinic = clinic.clone();
        tasks.push(tokio::spawn(async move {
            client
                .practitioners(&clinic, Lane::Interactive, &PractitionerScope::All)
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap()[0].name(), "Ada");
    }
    assert_eq!(hits(&server, "/uk1/v1/practitioners").await, 1);

    // One practitioner by id comes from the cached list too.
    let one = clients[2]
        .practitioner(&clinic, Lane::Api, &ClinikoId::parse("11").unwrap())
        .await
        .unwrap();
    assert_eq!(one.first_name.as_deref(), Some("Ada"));
    assert_eq!(hits(&server, "/uk1/v1/practitioners").await, 1);
}

#[tokio::test]
async fn invalidating_a_clinic_makes_every_instance_fetch_again_and_other_clinics_keep_theirs() {
    let server = MockServer::start().await;
    Mock::given(path("/uk1/v1/practitioners"))
        .respond_with(practitioners_page())
        .mount(&server)
        .await;
    let (clients, _instances) = clients(&server, Duration::from_secs(60)).await;
    let (clinic, other) = (clinic(), account("MS0otherclinic0000000000000-uk1"));
    clients[0]
        .practitioners(&clinic, Lane::Api, &PractitionerScope::All)
        .await
        .unwrap();
    clients[0]
        .practitioners(&other, Lane::Api, &PractitionerScope::All)
        .await
        .unwrap();
    clients[1]
        .practitioners(&clinic, Lane::Api, &PractitionerScope::All)
        .await
        .unwrap();
    assert_eq!(
        hits(&server, "/uk1/v1/practitioners").await,
        2,
        "one per clinic"
    );

    clients[1].invalidate_reference_data(&clinic).await.unwrap();
    clients[2]
        .practitioners(&clinic, Lane::Api, &PractitionerScope::All)
        .await
        .unwrap();
    clients[2]
        .practitioners(&other, Lane::Api, &PractitionerScope::All)
        .await
        .unwrap();
    assert_eq!(hits(&server, "/uk1/v1/practitioners").await, 3);
}

#[tokio::test]
async fn cached_reference_data_expires_after_its_ttl() {
    let server = MockServer::start().await;
    Mock::given(path("/uk1/v1/practitioners"))
        .respond_with(practitioners_page())
        .mount(&server)
        .await;
    let (clients, _instances) = clients(&server, Duration::from_secs(1)).await;
    let clinic = clinic();
    clients[0]
        .practitioners(&clinic, Lane::Api, &PractitionerScope::All)
        .await
        .unwrap();
    clients[1]
        .practitioners(&clinic, Lane::Api, &PractitionerScope::All)
        .await
        .unwrap();
    assert_eq!(hits(&server, "/uk1/v1/practitioners").await, 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    clients[2]
        .practitioners(&clinic, Lane::Api, &PractitionerScope::All)
        .await
        .unwrap();
    assert_eq!(hits(&server, "/uk1/v1/practitioners").await, 2);
}

#[tokio::test]
async fn a_failed_fetch_is_not_cached() {
    let server = MockServer::start().await;
    Mock::given(path("/uk1/v1/businesses"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/uk1/v1/businesses"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"businesses": [{"id": "3", "business_name": "North"}], "links": {}}),
        ))
        .mount(&server)
        .await;
    let (clients, _instances) = clients(&server, Duration::from_secs(60)).await;
    assert!(clients[0].businesses(&clinic(), Lane::Api).await.is_err());
    let businesses = clients[1].businesses(&clinic(), Lane::Api).await.unwrap();
    assert_eq!(businesses[0].name(), "North");
}

#[tokio::test]
async fn patient_data_is_fetched_every_time() {
    let server = MockServer::start().await;
    Mock::given(path("/uk1/v1/patients/5"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "5", "first_name": "Jane"})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/uk1/v1/medical_alerts"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"medical_alerts": [], "links": {}})),
        )
        .mount(&server)
        .await;
    let (clients, _instances) = clients(&server, Duration::from_secs(60)).await;
    let id = ClinikoId::parse("5").unwrap();
    for client in &clients {
        client
            .patient(&clinic(), Lane::Interactive, &id)
            .await
            .unwrap();
        client
            .medical_alerts(&clinic(), Lane::Interactive, &id)
            .await
            .unwrap();
    }
    assert_eq!(hits(&server, "/uk1/v1/patients/5").await, 3);
    assert_eq!(hits(&server, "/uk1/v1/medical_alerts").await, 3);
}
