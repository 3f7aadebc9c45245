//! Cliniko failing during polls: the poller backs off and tries again, and no change is lost or
//! announced twice (nothing of a failed poll is stored, so the cursor never passes a change
//! that was not announced).

use serde_json::json;

use super::{Scene, a_few_polls, types_after, wait_for};

#[tokio::test]
async fn cliniko_5xx_and_429_during_polls_delay_changes_but_lose_none() {
    let Scene {
        app,
        sandbox,
        tenant,
        desk,
        polling,
        ..
    } = Scene::start("maple", "ca1").await;
    let patient = desk.new_patient("Kwame", "Okafor").await;
    wait_for(&app, tenant, 0, &["patient.created"]).await;

    // A change, then Cliniko fails every call for a while: more than the client's own retries
    // of each call, so whole polls fail.
    desk.patch(
        &format!("/patients/{patient}"),
        json!({"email": "kwame@clinic.example"}),
    )
    .await;
    sandbox.fail_next(503, 12);
    let after_5xx = wait_for(&app, tenant, 1, &["patient.updated"]).await;
    assert_eq!(after_5xx[0].data["email"], "kwame@clinic.example");

    desk.patch(
        &format!("/patients/{patient}"),
        json!({"last_name": "Okafor-Mensah"}),
    )
    .await;
    sandbox.fail_next(429, 6);
    let after_429 = wait_for(&app, tenant, 2, &["patient.updated"]).await;
    assert_eq!(after_429[0].data["last_name"], "Okafor-Mensah");

    a_few_polls().await;
    assert_eq!(
        types_after(&app, tenant, 0).await,
        ["patient.created", "patient.updated", "patient.updated"]
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cliniko_polls_total{outcome=\"upstream_error\"}")),
        "failed polls are counted"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cliniko_poll_lag_seconds{tenant=")),
        "the lag of polled clinics is reported"
    );
    polling.stop().await;
}
