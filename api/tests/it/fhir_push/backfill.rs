//! "Send existing records" to a FHIR destination: every sandbox patient reaches the wiremock
//! FHIR server once by its identifier however often the button is pressed; a run left by a
//! stopped instance resumes from its stored page (not from scratch) once its lease lapses, and
//! not while another instance holds it; a finished run can be started again; switched-off
//! destinations, clinicians and other clinics are refused.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clinicgate_adapters::fhir_backfills::SeaFhirBackfillRepository;
use clinicgate_core::fhir_push::{
    BackfillState, FhirBackfill, FhirBackfillRepository as _, FhirDestinationId, FhirResource,
    WINDOW_AHEAD_DAYS, WINDOW_PAST_DAYS,
};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use super::Scene;
use crate::common::PASSWORD;
use crate::tokens::clinic;

/// How long a backfill of the whole sandbox account (and its pushes) may take.
const PATIENCE: Duration = Duration::from_secs(90);

async fn within(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The FHIR server accepts every conditional update.
async fn accept_everything(scene: &Scene) {
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&scene.fhir)
        .await;
}

/// Adds a destination without authentication pushing `resources`.
async fn add_pushing(scene: &Scene, resources: &[&str], enabled: bool) -> Value {
    let response = scene
        .call(
            scene.owner(),
            Method::POST,
            "",
            Some(json!({
                "name": "Hospital EHR",
                "base_url": scene.base_url(),
                "auth": {"type": "none"},
                "resources": resources,
                "enabled": enabled,
            })),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

fn id_of(destination: &Value) -> &str {
    destination["id"].as_str().unwrap()
}

/// Presses "Send existing records".
async fn press(scene: &Scene, destination: &Value) -> reqwest::Response {
    let suffix = format!("/{}/backfill", id_of(destination));
    scene.call(scene.owner(), Method::POST, &suffix, None).await
}

/// The destination's latest run as the page shows it (`null`: none).
async fn status(scene: &Scene, destination: &Value) -> Value {
    let suffix = format!("/{}/backfill", id_of(destination));
    let response = scene.call(scene.owner(), Method::GET, &suffix, None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["backfill"].clone()
}

async fn finished(scene: &Scene, destination: &Value) -> Value {
    within("the backfill finishes", async || {
        status(scene, destination).await["state"] == "done"
    })
    .await;
    status(scene, destination).await
}

/// The Cliniko ids of the `resource`s the FHIR server received, one per PUT.
async fn identifiers(scene: &Scene, resource: &str) -> Vec<String> {
    scene
        .received("PUT", &format!("/fhir/r4/{resource}"))
        .await
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "identifier")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect()
}

fn count(value: &Value) -> u64 {
    value.as_u64().unwrap()
}

#[tokio::test]
async fn every_existing_patient_is_put_once_by_identifier_however_often_it_is_pressed() {
    let scene = Scene::start("harbour", false).await;
    accept_everything(&scene).await;
    let destination = add_pushing(&scene, &["Patient"], true).await;
    assert_eq!(status(&scene, &destination).await, Value::Null);
    let total = count(&scene.desk.get("/patients?per_page=1").await["total_entries"]);
    assert!(total > 200, "several Cliniko pages of patients: {total}");

    // Two presses at once: one run.
    let (first, second) = tokio::join!(press(&scene, &destination), press(&scene, &destination));
    let mut started = Vec::new();
    for response in [first, second] {
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["backfill"]["phase"], "Patient");
        started.push(body["started"].as_bool().unwrap());
    }
    started.sort_unstable();
    assert_eq!(started, [false, true], "exactly one press started a run");

    let done = finished(&scene, &destination).await;
    assert_eq!(count(&done["patients"]["queued"]), total);
    assert_eq!(count(&done["patients"]["total"]), total);
    assert!(done.get("appointments").is_none(), "{done}");
    assert_eq!(done["last_error"], Value::Null);
    assert!(done["finished_at"].is_string());

    within("every patient reaches the FHIR server", async || {
        identifiers(&scene, "Patient").await.len() as u64 >= total
    })
    .await;
    // Time for a duplicate to show, were any queued.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = identifiers(&scene, "Patient").await;
    let distinct: HashSet<&String> = received.iter().collect();
    assert_eq!(received.len() as u64, total, "none twice");
    assert_eq!(distinct.len() as u64, total);
    assert!(
        received
            .iter()
            .all(|i| i.starts_with("https://clinicgate.dev/fhir/sid/cliniko-patient-id|"))
    );
    assert!(identifiers(&scene, "Appointment").await.is_empty());
}

/// How many appointments the sandbox holds starting in `[start, end]`.
async fn appointments_between(scene: &Scene, start: DateTime<Utc>, end: DateTime<Utc>) -> u64 {
    let format = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("per_page", "1")
        .append_pair("q[]", &format!("starts_at:>={}", format(start)))
        .append_pair("q[]", &format!("starts_at:<={}", format(end)))
        .finish();
    count(
        &scene
            .desk
            .get(&format!("/individual_appointments?{query}"))
            .await["total_entries"],
    )
}

#[tokio::test]
async fn a_run_left_by_a_stopped_instance_resumes_from_its_stored_page_once_its_lease_lapses() {
    let scene = Scene::start("harbour", false).await;
    accept_everything(&scene).await;
    let destination = add_pushing(&scene, &["Patient", "Appointment"], true).await;
    let id = FhirDestinationId::from_uuid(id_of(&destination).parse().unwrap());
    let tenant = scene.clinic.tenant;
    let store = SeaFhirBackfillRepository::new(scene.app.state.db.clone());

    // An instance had read every patient and the first page of appointments when it stopped:
    // the row it left, as its last save wrote it, its lease still held.
    let now = Utc::now();
    let left = FhirBackfill {
        destination: id,
        state: BackfillState::Running,
        phase: FhirResource::Appointment,
        next_page: 2,
        with_appointments: true,
        window_start: now - chrono::Duration::days(WINDOW_PAST_DAYS),
        window_end: now + chrono::Duration::days(WINDOW_AHEAD_DAYS),
        patients_queued: 290,
        patients_total: Some(290),
        appointments_queued: 100,
        appointments_total: None,
        last_error: None,
        started_at: now,
        updated_at: now,
        finished_at: None,
    };
    assert_eq!(store.start(tenant, &left).await.unwrap(), None);
    let lease = uuid::Uuid::new_v4();
    let hour = chrono::Duration::hours(1);
    assert!(
        store
            .claim(tenant, id, lease, now, now + hour)
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.save(tenant, &left, lease, now + hour).await.unwrap());

    // Held: nobody else takes it, and pressing the button starts nothing.
    let backfill = scene.app.state.fhir_backfill.clone();
    assert_eq!(backfill.resume_lapsed(8).await.unwrap(), 0);
    let pressed = press(&scene, &destination).await;
    assert_eq!(pressed.status(), 202);
    let pressed: Value = pressed.json().await.unwrap();
    assert_eq!(pressed["started"], false);
    assert_eq!(pressed["backfill"]["state"], "running");
    assert_eq!(count(&pressed["backfill"]["appointments"]["queued"]), 100);

    // The instance is gone: its lease lapses, and the upkeep carries on from page 2.
    assert!(
        store
            .save(tenant, &left, lease, now - chrono::Duration::seconds(1))
            .await
            .unwrap()
    );
    backfill.resume_lapsed(8).await.unwrap();
    let done = finished(&scene, &destination).await;
    let total = appointments_between(&scene, left.window_start, left.window_end).await;
    assert!(total > 100, "more than one page of appointments: {total}");
    assert_eq!(count(&done["appointments"]["total"]), total);
    assert_eq!(count(&done["appointments"]["queued"]), total);
    assert_eq!(
        count(&done["patients"]["queued"]),
        290,
        "patients not read again"
    );

    within(
        "the rest of the appointments reach the FHIR server",
        async || identifiers(&scene, "Appointment").await.len() as u64 >= total - 100,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = identifiers(&scene, "Appointment").await;
    assert_eq!(received.len() as u64, total - 100, "only pages 2 onwards");
    assert_eq!(
        received.iter().collect::<HashSet<_>>().len(),
        received.len()
    );
    assert!(
        identifiers(&scene, "Patient").await.is_empty(),
        "resumed, not restarted"
    );

    // A finished run can be started again.
    let again = press(&scene, &destination).await;
    assert_eq!(again.status(), 202);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["started"], true);
    assert_eq!(again["backfill"]["phase"], "Patient");
    assert_eq!(count(&again["backfill"]["patients"]["queued"]), 0);
}

#[tokio::test]
async fn a_switched_off_destination_clinicians_and_other_clinics_are_refused() {
    let scene = Scene::start("harbour", false).await;
    let off = add_pushing(&scene, &["Patient"], false).await;
    let refused = press(&scene, &off).await;
    assert_eq!(refused.status(), 409);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "fhir_destination_disabled");
    assert_eq!(status(&scene, &off).await, Value::Null, "nothing started");

    let suffix = format!("/{}/backfill", id_of(&off));
    let owner = scene.owner();
    scene
        .app
        .add_user(
            owner.sub(),
            &owner.cookie,
            "sam@harbour.example.com",
            "clinician",
        )
        .await;
    let clinician = scene
        .app
        .log_in(owner.sub(), "sam@harbour.example.com", PASSWORD)
        .await;
    let other = clinic(&scene.app, "lighthouse").await;
    for method_ in [Method::POST, Method::GET] {
        let response = scene
            .app
            .on(
                method_.clone(),
                owner.sub(),
                &format!("/api/tenant/fhir-destinations{suffix}"),
                Some(&clinician),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "clinician {method_}");
        let response = scene.call(&other, method_.clone(), &suffix, None).await;
        assert_eq!(response.status(), 404, "other clinic {method_}");
    }
}
