//! The poller across restarts and instances: the cursor and what is kept survive a restart, two
//! instances on one database announce each change once, and a clinic that disconnects Cliniko
//! stops being polled until it connects again — then nothing made meanwhile is lost.

use chrono::{Duration, Utc};
use serde_json::json;

use super::{
    Reception, Scene, a_few_polls, baseline, connected, events, polling_on, roomy_sandbox,
    start_polling, types_after, wait_for, watching_app,
};
use crate::public_api::{admin_key, cliniko_settings, connect_cliniko};

#[tokio::test]
async fn the_cursor_survives_a_restart_and_nothing_is_announced_twice() {
    let Scene {
        app,
        tenant,
        desk,
        polling: first,
        ..
    } = Scene::start("harbour", "au1").await;
    let patient = desk.new_patient("Mei", "Chen").await;
    wait_for(&app, tenant, 0, &["patient.created"]).await;
    first.stop().await;

    // Changed while no instance polls; then a fresh poller (a restarted instance) starts.
    desk.patch(
        &format!("/patients/{patient}"),
        json!({"preferred_first_name": "May"}),
    )
    .await;
    a_few_polls().await;
    assert_eq!(types_after(&app, tenant, 0).await, ["patient.created"]);
    let second = start_polling(&app);
    let updated = wait_for(&app, tenant, 1, &["patient.updated"]).await;
    assert_eq!(updated[0].data["preferred_first_name"], "May");
    a_few_polls().await;
    assert_eq!(
        types_after(&app, tenant, 0).await,
        ["patient.created", "patient.updated"],
        "no second baseline, nothing announced again"
    );
    second.stop().await;
}

#[tokio::test]
async fn two_instances_on_one_database_announce_each_change_once() {
    let sandbox = roomy_sandbox();
    let app = watching_app(&sandbox).await;
    let base = sandbox.base_url();
    let sibling = app
        .spawn_sibling(move |f| polling_on(cliniko_settings(f, &base)))
        .await;
    let clinic = connected(&app, &sandbox, "thames", "uk1").await;
    let tenant = clinic.tenant;
    let pollers = [start_polling(&app), start_polling(&sibling)];
    baseline(&app, tenant).await;
    let desk = Reception::at(&sandbox, &clinic.key);
    let mut patients = Vec::new();
    for name in ["Ava", "Leo", "Isla"] {
        patients.push(desk.new_patient(name, "Walker").await);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let starts = Utc::now() + Duration::hours(5);
    let appointment = desk
        .book(&patients[0], starts, starts + Duration::minutes(30))
        .await;
    // Two writes between two polls would be seen as one: a booking with notes.
    wait_for(&app, tenant, 0, &["appointment.created"]).await;
    desk.patch(
        &format!("/individual_appointments/{appointment}"),
        json!({"notes": "Referral letter"}),
    )
    .await;
    wait_for(
        &app,
        tenant,
        0,
        &["appointment.created", "appointment.updated"],
    )
    .await;
    a_few_polls().await;
    let seen = events(&app, tenant).await;
    let created: Vec<_> = seen
        .iter()
        .filter(|e| e.event_type == "patient.created")
        .map(|e| e.data["id"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = patients.clone();
    let mut got = created.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "each patient announced once");
    let types: Vec<&str> = seen.iter().map(|e| e.event_type.as_str()).collect();
    for once in [
        "appointment.created",
        "appointment.updated",
        "doctor.availability_changed",
    ] {
        assert_eq!(
            types.iter().filter(|t| **t == once).count(),
            1,
            "{once} in {types:?}"
        );
    }
    for poller in pollers {
        poller.stop().await;
    }
}

#[tokio::test]
async fn a_disconnected_clinic_is_not_polled_and_reconnecting_resumes_without_loss() {
    let Scene {
        app,
        sandbox,
        clinic,
        tenant,
        desk,
        polling,
    } = Scene::start("maple", "ca1").await;
    let patient = desk.new_patient("Dmitri", "Rossi").await;
    wait_for(&app, tenant, 0, &["patient.created"]).await;

    let response = app
        .on(
            reqwest::Method::DELETE,
            clinic.owner.sub(),
            "/api/tenant/cliniko-key",
            Some(&clinic.owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    a_few_polls().await;
    let calls = || {
        sandbox
            .stats()
            .get(&clinic.key.account)
            .map_or(0, |s| s.accepted)
    };
    let before = calls();
    desk.patch(
        &format!("/patients/{patient}"),
        json!({"email": "dmitri@rossi.example"}),
    )
    .await;
    a_few_polls().await;
    assert_eq!(
        calls(),
        before + 1,
        "only reception's own call: nothing polls a disconnected clinic"
    );
    assert_eq!(types_after(&app, tenant, 0).await, ["patient.created"]);

    connect_cliniko(&app, &clinic.owner, &admin_key(&sandbox, "ca1").key).await;
    let resumed = wait_for(&app, tenant, 1, &["patient.updated"]).await;
    assert_eq!(resumed[0].data["email"], "dmitri@rossi.example");
    polling.stop().await;
}
