//! Patients reaching the partner: created in Cliniko → `POST` with the Cliniko id and the link
//! stored; changed → `PATCH` to the partner's id; a partner that already has the patient (409),
//! is down, or refuses (400); the partner's own patients not echoed; and the backfill.

use std::time::Duration;

use clinicgate_core::delivery::{AttemptResult, DeliveryStatus, TransportFailure};
use reqwest::Method;
use serde_json::json;

use super::{Scene, eventually, partner_stub, settled};
use crate::polling::a_few_polls;
use crate::public_api::{new_key, send_json};

#[tokio::test]
async fn a_patient_created_in_cliniko_reaches_the_partner_and_its_changes_are_patched() {
    let scene = Scene::start("harbour", true).await;
    let stub = partner_stub(0);
    scene.connect(&stub.base_url()).await;

    let patient = scene.desk.new_patient("Aroha", "Ngata").await;
    eventually("the partner holds the patient", async || {
        stub.patients()
            .iter()
            .any(|p| p.fields["cliniko_id"] == patient.as_str())
    })
    .await;
    let held = stub.patients();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].fields["first_name"], "Aroha");
    assert_eq!(held[0].fields["last_name"], "Ngata");
    let partner_id = held[0].id.clone();
    eventually("the link is stored", async || {
        scene.link_of(&patient).await.as_deref() == Some(partner_id.as_str())
    })
    .await;

    scene
        .desk
        .patch(
            &format!("/patients/{patient}"),
            json!({"first_name": "Ari"}),
        )
        .await;
    eventually("the change reaches the partner", async || {
        stub.patients()[0].fields["first_name"] == "Ari"
    })
    .await;
    let calls = stub.calls();
    let (posts, patches): (Vec<_>, Vec<_>) = calls.iter().partition(|c| c.method == "POST");
    assert_eq!(posts.len(), 1, "{calls:?}");
    assert_eq!(posts[0].status, 201);
    assert!(
        patches
            .iter()
            .all(|c| c.path == format!("/patients/{partner_id}") && c.status == 200),
        "{calls:?}"
    );
    assert!(calls.iter().all(|c| c.idempotency_key.is_some()));
    assert_eq!(stub.patients().len(), 1, "no second patient at the partner");
}

#[tokio::test]
async fn a_partner_that_already_has_the_patient_answers_409_and_is_linked_without_a_retry() {
    let scene = Scene::start("harbour", true).await;
    let stub = partner_stub(0);
    // The patient exists in Cliniko and at the partner before the sync is connected.
    let patient = scene.desk.new_patient("Mere", "Tane").await;
    let existing = stub.hold(json!({"cliniko_id": patient, "first_name": "Mere"}));
    a_few_polls().await;
    scene.connect(&stub.base_url()).await;

    scene
        .desk
        .patch(
            &format!("/patients/{patient}"),
            json!({"last_name": "Tāne"}),
        )
        .await;
    eventually("the partner's id is linked", async || {
        scene.link_of(&patient).await.as_deref() == Some(existing.as_str())
    })
    .await;
    eventually("the delivery is settled", async || {
        let deliveries = scene.deliveries().await;
        !deliveries.is_empty() && settled(&deliveries)
    })
    .await;
    let deliveries = scene.deliveries().await;
    assert_eq!(deliveries.len(), 1);
    let (delivery, attempts) = &deliveries[0];
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    assert_eq!(attempts.len(), 1, "not retried");
    assert!(matches!(
        attempts[0].result,
        AttemptResult::Answered { status: 409, .. }
    ));
    assert_eq!(stub.patients().len(), 1, "not duplicated");
}

#[tokio::test]
async fn a_partner_that_is_down_gets_the_patient_once_it_is_back_exactly_once() {
    let scene = Scene::start("harbour", true).await;
    // Held without listening while the partner is "down", so no other test's server takes it.
    let down = clinicgate_adapters::testing::RefusedPort::new();
    let port = down.port();
    scene.connect(&format!("http://127.0.0.1:{port}")).await;

    let patient = scene.desk.new_patient("Wiremu", "Parata").await;
    eventually("a refused attempt is recorded", async || {
        scene.deliveries().await.iter().any(|(_, attempts)| {
            attempts
                .iter()
                .any(|a| a.result == AttemptResult::Failed(TransportFailure::Connection))
        })
    })
    .await;
    drop(down);
    let stub = partner_stub(port);
    eventually("the patient arrives after the retry", async || {
        !stub.patients().is_empty()
    })
    .await;
    eventually("the link is stored", async || {
        scene.link_of(&patient).await.is_some()
    })
    .await;
    let deliveries = scene.deliveries().await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].0.status, DeliveryStatus::Delivered);
    assert_eq!(stub.patients().len(), 1);
    assert_eq!(stub.patients()[0].fields["cliniko_id"], patient.as_str());
    assert_eq!(
        stub.calls().len(),
        1,
        "one successful call: {:?}",
        stub.calls()
    );
}

#[tokio::test]
async fn a_partner_refusing_the_patient_fails_the_delivery_without_retrying_it() {
    let scene = Scene::start("harbour", true).await;
    let stub = partner_stub(0);
    stub.fail_next(400, 1);
    scene.connect(&stub.base_url()).await;

    scene.desk.new_patient("Hemi", "Walker").await;
    eventually("the delivery failed", async || {
        scene
            .deliveries()
            .await
            .iter()
            .any(|(d, _)| d.status == DeliveryStatus::Failed)
    })
    .await;
    let deliveries = scene.deliveries().await;
    assert_eq!(deliveries[0].1.len(), 1, "one attempt, recorded");
    assert!(matches!(
        deliveries[0].1[0].result,
        AttemptResult::Answered { status: 400, .. }
    ));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(stub.calls().len(), 1, "never tried again");

    // The clinic sees the failure with the partner's answer, and retries it once it is fixed.
    let listed = scene
        .sync_call(
            scene.owner(),
            Method::GET,
            "/deliveries?status=failed",
            None,
        )
        .await;
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.headers()["cache-control"], "no-store");
    let listed: serde_json::Value = listed.json().await.unwrap();
    let failed = &listed["data"][0];
    assert_eq!(failed["event_type"], "patient.created");
    assert_eq!(failed["attempts"][0]["status_code"], 400);
    assert!(
        failed["attempts"][0]["response_excerpt"].is_string(),
        "{failed}"
    );
    let retry = format!("/deliveries/{}/retry", failed["id"].as_str().unwrap());
    let retried = scene
        .sync_call(scene.owner(), Method::POST, &retry, None)
        .await;
    assert_eq!(retried.status(), 202);
    eventually("the retried patient reaches the partner", async || {
        stub.patients().len() == 1
    })
    .await;
    let links: serde_json::Value = scene
        .sync_call(scene.owner(), Method::GET, "/links", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        links["data"][0]["partner_id"],
        stub.patients()[0].id.as_str()
    );
    assert_eq!(
        links["data"][0]["cliniko_id"],
        stub.patients()[0].fields["cliniko_id"]
    );
    let unknown = scene
        .sync_call(
            scene.owner(),
            Method::POST,
            "/deliveries/00000000-0000-4000-8000-000000000000/retry",
            None,
        )
        .await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn the_partners_own_patients_are_not_sent_back_to_it() {
    let scene = Scene::start("harbour", true).await;
    let stub = partner_stub(0);
    scene.connect(&stub.base_url()).await;

    let (status, created) = send_json(
        &scene.app,
        Method::POST,
        "/api/public/patients",
        &scene.token,
        Some(&new_key()),
        &json!({"partner_id": "mine-77", "first_name": "Kiri", "last_name": "Rangi"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    eventually("the poller's patient.created is settled", async || {
        let deliveries = scene.deliveries().await;
        !deliveries.is_empty() && settled(&deliveries)
    })
    .await;
    let deliveries = scene.deliveries().await;
    let (delivery, attempts) = &deliveries[0];
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    assert_eq!(
        attempts.iter().map(|a| a.result).collect::<Vec<_>>(),
        [AttemptResult::NothingToSend]
    );
    assert!(stub.calls().is_empty(), "{:?}", stub.calls());
    assert_eq!(
        scene
            .link_of(created["id"].as_str().unwrap())
            .await
            .as_deref(),
        Some("mine-77")
    );
}

#[tokio::test]
async fn existing_patients_are_sent_once_however_often_the_backfill_is_pressed() {
    let scene = Scene::start("harbour", false).await;
    let stub = partner_stub(0);
    scene.connect(&stub.base_url()).await;
    let listed = scene.desk.get("/patients?per_page=1").await;
    let total = usize::try_from(listed["total_entries"].as_u64().unwrap()).unwrap();
    assert!(total > 0, "the sandbox account has patients");

    for _ in 0..2 {
        let pressed = scene
            .sync_call(scene.owner(), Method::POST, "/backfill", None)
            .await;
        assert_eq!(pressed.status(), 202);
    }
    eventually("every patient reached the partner", async || {
        stub.patients().len() >= total
    })
    .await;
    eventually("every delivery is settled", async || {
        settled(&scene.deliveries().await)
    })
    .await;
    assert_eq!(stub.patients().len(), total, "none twice");
    let created = stub.calls().iter().filter(|c| c.status == 201).count();
    assert_eq!(created, total);
    // Pressed once more after everything is linked: nothing new is queued or sent.
    let before = scene.deliveries().await.len();
    scene
        .sync_call(scene.owner(), Method::POST, "/backfill", None)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(scene.deliveries().await.len(), before);
    assert_eq!(stub.patients().len(), total);
}

#[tokio::test]
async fn a_suspended_clients_patients_wait_and_reach_the_partner_on_resume() {
    let scene = Scene::start("harbour", true).await;
    let stub = partner_stub(0);
    scene.connect(&stub.base_url()).await;
    let switch = |action: &'static str| {
        let scene = &scene;
        async move {
            let path = format!("/api/tenant/clients/{}/{action}", scene.client.id);
            let owner = scene.owner();
            let response = scene
                .app
                .on(Method::POST, owner.sub(), &path, Some(&owner.cookie))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{action}");
        }
    };
    switch("suspend").await;

    let patient = scene.desk.new_patient("Mere", "Tane").await;
    eventually("the change is detected and queued", async || {
        !scene.deliveries().await.is_empty()
    })
    .await;
    a_few_polls().await;
    let held = scene.deliveries().await;
    assert!(
        held.iter()
            .all(|(d, attempts)| d.status == DeliveryStatus::Pending && attempts.is_empty()),
        "held, not attempted: {held:?}"
    );
    assert!(stub.calls().is_empty(), "{:?}", stub.calls());

    switch("resume").await;
    eventually("the patient arrives after the resume", async || {
        stub.patients()
            .iter()
            .any(|p| p.fields["cliniko_id"] == patient.as_str())
    })
    .await;
    assert_eq!(stub.patients().len(), 1);
}
