//! FHIR `Patient?phone=`: Cliniko has no phone filter, so the poller keeps an index of keyed
//! hashes of patients' numbers. A number entered at the desk is found after a poll however it
//! is written, only by its own clinic, and a number changed in Cliniko stops matching at once
//! (the match is checked on Cliniko's answer). Clinics polled before the index existed are
//! indexed by one more read of their patients, silently, and answer 503 until it is done.

use clinicgate_core::ids::TenantId;
use sea_orm::ConnectionTrait as _;
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Query};
use serde_json::{Value, json};

use super::{PATIENCE, Reception, Scene, a_few_polls, connected, events, types_after};
use crate::common::TestApp;
use crate::fhir::{FHIR_SCOPES, assert_valid, entries, fhir_json};
use crate::tokens::{Clinic, create_client, token};

/// A FHIR token of `owner`'s clinic.
async fn fhir_token(app: &TestApp, owner: &Clinic) -> String {
    let client = create_client(app, owner, FHIR_SCOPES, None).await;
    token(app, &client).await
}

/// The ids a `phone` search finds (status 200 and a valid Bundle asserted), with its total.
async fn by_phone(app: &TestApp, token: &str, number: &str) -> (Vec<String>, Value) {
    let path = format!(
        "/fhir/r4/Patient?phone={}",
        url::form_urlencoded::byte_serialize(number.as_bytes()).collect::<String>()
    );
    let (status, bundle) = fhir_json(app, &path, token).await;
    assert_eq!(status, 200, "{path}: {bundle}");
    assert_valid(&bundle);
    let ids = entries(&bundle, "match")
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, bundle["total"].clone())
}

/// Waits until a `phone` search for `number` finds exactly `wanted`. Until the clinic's
/// patients have been read the search answers 503 (with `Retry-After` while they are being
/// read): waited through, as a client would.
async fn until_found(app: &TestApp, token: &str, number: &str, wanted: &[&str]) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let path = format!(
        "/fhir/r4/Patient?phone={}",
        url::form_urlencoded::byte_serialize(number.as_bytes()).collect::<String>()
    );
    loop {
        let (status, bundle) = fhir_json(app, &path, token).await;
        let ids: Vec<String> = entries(&bundle, "match")
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect();
        if status == 200 && ids == wanted {
            return;
        }
        assert!(
            status == 200 || status == 503,
            "{number}: {status} {bundle}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "{number}: {status} {ids:?}, not {wanted:?}: {bundle}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A new patient with one mobile number, entered at `desk`; its id.
async fn patient_with(desk: &Reception, last: &str, number: &str) -> String {
    let created = desk
        .post(
            "/patients",
            json!({"first_name": "Pia", "last_name": last,
                   "patient_phone_numbers": [{"phone_type": "Mobile", "number": number}]}),
        )
        .await;
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_number_entered_in_cliniko_is_found_however_it_is_written_and_only_by_its_clinic() {
    let scene = Scene::start("harbour", "au1").await;
    let app = &scene.app;
    let harbour = fhir_token(app, &scene.clinic.owner).await;
    let thames = connected(app, &scene.sandbox, "thames", "uk1").await;
    let thames_token = fhir_token(app, &thames.owner).await;
    let thames_desk = Reception::at(&scene.sandbox, &thames.key);

    // The same (fictional) mobile number at both clinics.
    let ours = patient_with(&scene.desk, "Harbourside", "0491 570 156").await;
    let theirs = patient_with(&thames_desk, "Thamesside", "+61 491 570 156").await;
    until_found(app, &harbour, "+61 491 570 156", &[ours.as_str()]).await;
    until_found(app, &thames_token, "0491570156", &[theirs.as_str()]).await;
    for written in ["0491-570-156", "61491570156", "(04) 9157 0156"] {
        let (ids, total) = by_phone(app, &harbour, written).await;
        assert_eq!(ids, [ours.as_str()], "{written}");
        assert_eq!(total, 1);
    }
    // Same last digits, another number: not a match.
    let (none, total) = by_phone(app, &harbour, "+44 20 9157 0156").await;
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(total, 0);
    // Several numbers are FHIR's OR.
    let (either, _) = by_phone(app, &harbour, "0400 000 999,0491 570 156").await;
    assert_eq!(either, [ours.as_str()]);

    // Changed at the desk: the old number stops matching at once (checked on Cliniko's answer),
    // the new one is found after a poll.
    scene
        .desk
        .patch(
            &format!("/patients/{ours}"),
            json!({"patient_phone_numbers": [{"phone_type": "Home", "number": "02 9876 5432"}]}),
        )
        .await;
    let (gone, _) = by_phone(app, &harbour, "0491 570 156").await;
    assert!(gone.is_empty(), "{gone:?}");
    until_found(app, &harbour, "+61 2 9876 5432", &[ours.as_str()]).await;

    // Bad values are a 400 OperationOutcome.
    for bad in [
        "phone=12345",
        "phone=0491570156&phone=0491570157",
        "phone=0491570156&name=pia",
    ] {
        let (status, outcome) = fhir_json(app, &format!("/fhir/r4/Patient?{bad}"), &harbour).await;
        assert_eq!(status, 400, "{bad}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }
    scene.polling.stop().await;
}

/// Leaves the clinic's poller rows as the migration that began the index left every clinic's:
/// snapshots not indexed, no keys, the patients' cursor back at the start.
async fn as_before_the_index(app: &TestApp, tenant: TenantId) {
    let tenant = tenant.as_uuid();
    let statements = [
        Query::update()
            .table(Alias::new("poll_snapshots"))
            .value(Alias::new("phones_indexed"), false)
            .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant))
            .to_owned(),
        Query::update()
            .table(Alias::new("poll_cursors"))
            .value(Alias::new("phones_indexed"), false)
            .value(Alias::new("cursor_at"), Expr::cust("NULL"))
            .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant))
            .and_where(Expr::col(Alias::new("resource")).eq("patients"))
            .to_owned(),
    ];
    for statement in statements {
        app.state.db.execute(&statement).await.unwrap();
    }
    let keys = Query::delete()
        .from_table(Alias::new("poll_phone_keys"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant))
        .to_owned();
    app.state.db.execute(&keys).await.unwrap();
}

#[tokio::test]
async fn patients_kept_from_before_the_index_are_indexed_by_one_silent_read() {
    let scene = Scene::start("harbour", "au1").await;
    let app = &scene.app;
    let token = fhir_token(app, &scene.clinic.owner).await;
    let id = patient_with(&scene.desk, "Olderside", "0491 570 110").await;
    until_found(app, &token, "0491 570 110", &[id.as_str()]).await;
    scene.polling.stop().await;
    let seen = events(app, scene.tenant).await.len();

    as_before_the_index(app, scene.tenant).await;
    let (status, outcome) = fhir_json(app, "/fhir/r4/Patient?phone=0491570110", &token).await;
    assert_eq!(status, 503, "the index is being built: {outcome}");
    assert_eq!(outcome["resourceType"], "OperationOutcome");

    // Polling again reads every patient once more: found again, and nothing announced.
    let polling = super::start_polling(app);
    until_found(app, &token, "0491 570 110", &[id.as_str()]).await;
    a_few_polls().await;
    assert_eq!(
        types_after(app, scene.tenant, seen).await,
        Vec::<String>::new()
    );
    polling.stop().await;
}
