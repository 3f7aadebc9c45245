//! A partner's patients by its own ids (`/api/public/patients`), against the sandbox (behaviour)
//! and wiremock (Cliniko's 429): one Cliniko patient per partner id however often and however
//! concurrently it is sent, reads by partner id and Cliniko id, changes, another clinic's ids.

use std::time::Duration;

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::faults::app_with_scopes;
use super::{
    admin_key, app_on, cliniko_get, connect_cliniko, get_json, partner_of, sandbox, send, send_json,
};
use crate::common::{cliniko_stub, integration_user};
use crate::tokens::{Clinic, clinic, create_client, token};

const PATIENTS: &str = "/api/public/patients";
const SCOPES: &[&str] = &["patients:read", "patients:write"];

fn alice(partner_id: &str) -> Value {
    json!({
        "partner_id": partner_id, "first_name": "Alice", "last_name": "Partnered",
        "date_of_birth": "1980-02-22", "sex": "Female", "email": "alice@example.org",
        "phone": "+61 444 444 444",
        "address": {"lines": ["1 High Street"], "city": "Sydney", "country_code": "AU"}
    })
}

/// How many patients with this last name the sandbox account on `shard` holds.
async fn named(sandbox: &clinicgate_cliniko_sandbox::Sandbox, shard: &str, last: &str) -> u64 {
    let key = admin_key(sandbox, shard);
    let found = cliniko_get(sandbox, &key, &format!("/patients?q[]=last_name:={last}")).await;
    found["total_entries"].as_u64().unwrap()
}

#[tokio::test]
async fn a_partner_creates_a_patient_once_by_its_own_id_and_reads_it_back() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", SCOPES).await;

    let response = send(&app, Method::POST, PATIENTS, &token, None, &alice("pat_1")).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["partner_id"], "pat_1");
    assert_eq!(created["first_name"], "Alice");
    assert_eq!(created["date_of_birth"], "1980-02-22");
    let id = created["id"].as_str().unwrap().to_owned();
    let in_cliniko = cliniko_get(
        &sandbox,
        &admin_key(&sandbox, "au1"),
        &format!("/patients/{id}"),
    )
    .await;
    assert_eq!(in_cliniko["last_name"], "Partnered");
    assert_eq!(in_cliniko["address_1"], "1 High Street");

    let (status, again) =
        send_json(&app, Method::POST, PATIENTS, &token, None, &alice("pat_1")).await;
    assert_eq!(
        (status, again["id"].as_str()),
        (200, Some(id.as_str())),
        "{again}"
    );
    assert_eq!(
        named(&sandbox, "au1", "Partnered").await,
        1,
        "never a second patient"
    );

    let (status, list) = get_json(&app, &format!("{PATIENTS}?partner_id=pat_1"), &token).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"][0]["id"], id.as_str());
    let (status, none) = get_json(&app, &format!("{PATIENTS}?partner_id=pat_2"), &token).await;
    assert_eq!((status, none["data"].as_array().unwrap().len()), (200, 0));

    let (status, one) = get_json(&app, &format!("{PATIENTS}/{id}"), &token).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["partner_id"], "pat_1");
    assert_eq!(one["email"], "alice@example.org");
}

#[tokio::test]
async fn a_patch_changes_the_patient_in_cliniko() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", SCOPES).await;
    let (_, created) = send_json(&app, Method::POST, PATIENTS, &token, None, &alice("pat_9")).await;
    let id = created["id"].as_str().unwrap();

    let (status, changed) = send_json(
        &app,
        Method::PATCH,
        &format!("{PATIENTS}/{id}"),
        &token,
        None,
        &json!({"email": "alice.new@example.org"}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["email"], "alice.new@example.org");
    assert_eq!(changed["first_name"], "Alice", "untouched fields stay");
    assert_eq!(changed["partner_id"], "pat_9");
    let in_cliniko = cliniko_get(
        &sandbox,
        &admin_key(&sandbox, "au1"),
        &format!("/patients/{id}"),
    )
    .await;
    assert_eq!(in_cliniko["email"], "alice.new@example.org");

    let (status, problem) = send_json(
        &app,
        Method::PATCH,
        &format!("{PATIENTS}/{id}"),
        &token,
        None,
        &json!({}),
    )
    .await;
    assert_eq!(
        (status, problem["errors"][0]["code"].as_str()),
        (422, Some("nothing_to_change"))
    );
    let (status, problem) = send_json(
        &app,
        Method::PATCH,
        &format!("{PATIENTS}/{id}"),
        &token,
        None,
        &json!({"date_of_birth": "22/02/1980"}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"].as_array().unwrap().len(), 1, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "date_of_birth");
}

#[tokio::test]
async fn bad_input_is_a_422_problem_and_nothing_reaches_cliniko() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", SCOPES).await;
    let mut body = alice("has space");
    body["date_of_birth"] = json!("22/02/1980");
    body["email"] = json!("nope");
    let (status, problem) = send_json(&app, Method::POST, PATIENTS, &token, None, &body).await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["partner_id", "date_of_birth", "email"]);
    let (status, _) = send_json(
        &app,
        Method::POST,
        PATIENTS,
        &token,
        None,
        &json!({"partner_id": "x"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(named(&sandbox, "au1", "Partnered").await, 0);
    let (status, _) = get_json(&app, PATIENTS, &token).await;
    assert_eq!(status, 400, "partner_id is required");
}

#[tokio::test]
async fn concurrent_creates_with_one_partner_id_on_two_instances_make_one_cliniko_patient() {
    let sandbox = sandbox();
    let first = app_on(&sandbox, |f| f).await;
    let base = sandbox.base_url();
    let second = first
        .spawn_sibling(move |f| super::cliniko_settings(f, &base))
        .await;
    let token = partner_of(&first, &sandbox, "harbour", "au1", SCOPES).await;

    let attempts = (0..6).map(|n| {
        let app = if n % 2 == 0 { &first } else { &second };
        let token = token.clone();
        async move {
            send_json(
                app,
                Method::POST,
                PATIENTS,
                &token,
                None,
                &alice("pat_race"),
            )
            .await
        }
    });
    let results = join_all(attempts).await;
    let created = results.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(created, 1, "{results:?}");
    let ids: Vec<_> = results.iter().map(|(_, body)| body["id"].clone()).collect();
    for (status, body) in &results {
        assert!([200, 201].contains(status), "{body}");
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(named(&sandbox, "au1", "Partnered").await, 1);
}

#[tokio::test]
async fn another_clinics_patients_are_not_found() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let ours = partner_of(&app, &sandbox, "harbour", "au1", SCOPES).await;
    let theirs = partner_of(&app, &sandbox, "thames", "uk1", SCOPES).await;
    let (_, created) = send_json(&app, Method::POST, PATIENTS, &ours, None, &alice("pat_1")).await;
    let id = created["id"].as_str().unwrap();

    let (status, _) = get_json(&app, &format!("{PATIENTS}/{id}"), &theirs).await;
    assert_eq!(status, 404);
    let (status, _) = send_json(
        &app,
        Method::PATCH,
        &format!("{PATIENTS}/{id}"),
        &theirs,
        None,
        &json!({"email": "x@example.org"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, list) = get_json(&app, &format!("{PATIENTS}?partner_id=pat_1"), &theirs).await;
    assert_eq!((status, list["data"].as_array().unwrap().len()), (200, 0));
    let (status, _) = get_json(&app, &format!("{PATIENTS}/not-an-id"), &ours).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_cliniko_429_during_create_is_a_503_with_retry_after_and_a_retry_then_works() {
    let server: MockServer = cliniko_stub(integration_user()).await;
    let (app, token) = app_with_scopes(&server, SCOPES).await;
    // A pause longer than the few seconds one operation may wait out for budget.
    let reset = chrono::Utc::now().timestamp() + 5;
    Mock::given(method("POST"))
        .and(path("/v1/patients"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-reset", reset.to_string().as_str()),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/patients"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "9007199254740001", "first_name": "Alice", "last_name": "Partnered"})))
        .mount(&server)
        .await;

    let response = send(
        &app,
        Method::POST,
        PATIENTS,
        &token,
        None,
        &alice("pat_busy"),
    )
    .await;
    assert_eq!(response.status(), 503);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((4..=6).contains(&retry_after), "{retry_after}");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "cliniko_busy");
    let (status, list) = get_json(&app, &format!("{PATIENTS}?partner_id=pat_busy"), &token).await;
    assert_eq!(
        (status, list["data"].as_array().unwrap().len()),
        (200, 0),
        "no half-made link"
    );

    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let (status, created) = send_json(
        &app,
        Method::POST,
        PATIENTS,
        &token,
        None,
        &alice("pat_busy"),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], "9007199254740001");
    assert_eq!(created["partner_id"], "pat_busy");
}

#[tokio::test]
async fn each_patient_a_partner_reads_is_in_the_clinics_ledger_as_that_client() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let owner = crate::tokens::clinic(&app, "harbour").await;
    super::connect_cliniko(&app, &owner, &admin_key(&sandbox, "au1").key).await;
    let client = crate::tokens::create_client(&app, &owner, SCOPES, None).await;
    let token = crate::tokens::token(&app, &client).await;
    let (_, created) = send_json(&app, Method::POST, PATIENTS, &token, None, &alice("pat_7")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, _) = get_json(&app, &format!("{PATIENTS}/{id}"), &token).await;
    assert_eq!(status, 200);
    let (status, _) = get_json(&app, &format!("{PATIENTS}?partner_id=pat_7"), &token).await;
    assert_eq!(status, 200);

    let response = app
        .on(
            Method::GET,
            owner.sub(),
            &format!("/api/tenant/audit?patient_id={id}"),
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let audit: Value = response.json().await.unwrap();
    let entries = audit["entries"].as_array().unwrap();
    // The create, the read and the list each disclosed the patient to the client.
    assert!(entries.len() >= 3, "{audit}");
    for entry in entries {
        assert_eq!(entry["patient_id"], id.as_str());
        assert_eq!(entry["channel"], "api");
        assert_eq!(entry["actor"]["kind"], "api_client", "{entry}");
        assert_eq!(entry["actor"]["id"], client.id.as_str(), "{entry}");
    }
}

/// `PATCH /api/tenant/settings` as the clinic's owner; the status.
async fn set_partner_id_field(app: &crate::common::TestApp, owner: &Clinic, field: Value) -> u16 {
    app.on(
        Method::PATCH,
        owner.sub(),
        "/api/tenant/settings",
        Some(&owner.cookie),
    )
    .json(&json!({ "partner_id_field": field }))
    .send()
    .await
    .unwrap()
    .status()
    .as_u16()
}

#[tokio::test]
async fn the_partner_id_is_written_into_the_cliniko_field_the_clinic_chose() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let owner = clinic(&app, "harbour").await;
    connect_cliniko(&app, &owner, &admin_key(&sandbox, "au1").key).await;
    let client = create_client(&app, &owner, SCOPES, None).await;
    let token = token(&app, &client).await;
    let key = admin_key(&sandbox, "au1");
    let reference_of = |id: String| {
        let (sandbox, key) = (&sandbox, &key);
        async move {
            cliniko_get(sandbox, key, &format!("/patients/{id}")).await["old_reference_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let create = |partner_id: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            let (status, created) =
                send_json(app, Method::POST, PATIENTS, token, None, &alice(partner_id)).await;
            assert_eq!(status, 201, "{created}");
            created["id"].as_str().unwrap().to_owned()
        }
    };

    assert_eq!(
        reference_of(create("pat_before").await).await,
        "",
        "by default nothing is written (Cliniko holds an empty text)"
    );
    assert_eq!(
        set_partner_id_field(&app, &owner, json!("old_reference_id")).await,
        200
    );
    assert_eq!(reference_of(create("pat_ref").await).await, "pat_ref");

    assert_eq!(
        set_partner_id_field(&app, &owner, json!("first_name")).await,
        422,
        "only fields ClinicGate may overwrite"
    );
    assert_eq!(
        reference_of(create("pat_still").await).await,
        "pat_still",
        "a refused change leaves the setting as it was"
    );

    assert_eq!(set_partner_id_field(&app, &owner, Value::Null).await, 200);
    assert_eq!(reference_of(create("pat_plain").await).await, "");
}
