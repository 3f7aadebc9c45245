//! Reading and listing appointments (`appointments:read`) against the sandbox: filters, paging,
//! the access ledger, another clinic's appointments, bad filters, and the public API asked on a
//! clinic's host.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use super::{
    ALL_SCOPES, admin_key, app_on, at, connect_cliniko, get_json, new_key, partner_of, sandbox,
    send_json,
};
use crate::tokens::{clinic, create_client, token};

const LIST: &str = "/api/public/appointments";

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_partner_reads_and_lists_appointments_by_patient_doctor_day_and_status() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", ALL_SCOPES).await;

    let (status, first) = get_json(&app, &format!("{LIST}?per_page=20"), &token).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"].as_array().unwrap().len(), 20);
    assert!(first["total"].as_u64().unwrap() > 20, "{first}");
    let starts: Vec<_> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| at(a["starts_at"].as_str().unwrap()))
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "in start order");
    let next = first["links"]["next"].as_str().unwrap();
    assert!(next.contains("page=2"), "{next}");
    let (_, second) = get_json(&app, &format!("{LIST}?per_page=20&page=2"), &token).await;
    let (one, two): (BTreeSet<_>, BTreeSet<_>) = (
        ids(&first).into_iter().collect(),
        ids(&second).into_iter().collect(),
    );
    assert!(one.is_disjoint(&two), "pages do not overlap");

    // One appointment (still to be cancelled below), the same as listed.
    let listed = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["status"] != "cancelled" && a["patient_id"].is_string())
        .expect("a page holds an appointment that is not cancelled");
    let id = listed["id"].as_str().unwrap();
    let response = crate::tokens::get_with(&app, &format!("{LIST}/{id}"), &token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    let read: Value = response.json().await.unwrap();
    assert_eq!(&read, listed);

    // By patient, by doctor, by day.
    let patient = listed["patient_id"].as_str().unwrap();
    let (_, theirs) = get_json(&app, &format!("{LIST}?patient_id={patient}"), &token).await;
    assert!(ids(&theirs).contains(&id.to_owned()));
    assert!(
        theirs["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["patient_id"] == patient)
    );
    let doctor = listed["doctor_id"].as_str().unwrap();
    let (_, doctors) = get_json(&app, &format!("{LIST}?doctor_id={doctor}"), &token).await;
    assert!(
        doctors["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["doctor_id"] == doctor)
    );
    let day = &listed["starts_at"].as_str().unwrap()[..10];
    let (status, that_day) = get_json(
        &app,
        &format!("{LIST}?from={day}&to={day}&per_page=100"),
        &token,
    )
    .await;
    assert_eq!(status, 200, "{that_day}");
    assert!(ids(&that_day).contains(&id.to_owned()));
    assert!(
        that_day["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["starts_at"].as_str().unwrap().starts_with(day))
    );

    // A cancelled appointment is listed with its status, and selected by status=cancelled.
    let (status, cancelled) = send_json(
        &app,
        Method::PATCH,
        &format!("{LIST}/{id}"),
        &token,
        Some(&new_key()),
        &json!({"cancelled": true, "cancellation_reason": "sick"}),
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    let (_, again) = get_json(&app, &format!("{LIST}?patient_id={patient}"), &token).await;
    let shown = again["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .expect("a cancelled appointment is still listed");
    assert_eq!(shown["status"], "cancelled");
    let (_, only_cancelled) = get_json(&app, &format!("{LIST}?status=cancelled"), &token).await;
    assert!(ids(&only_cancelled).contains(&id.to_owned()));
    assert!(
        only_cancelled["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "cancelled")
    );
    let since = cancelled["updated_at"].as_str().unwrap();
    let (status, changed) = get_json(
        &app,
        &format!("{LIST}?updated_since={}", since.replace('+', "%2B")),
        &token,
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert!(ids(&changed).contains(&id.to_owned()));
    assert!(
        changed["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| at(a["updated_at"].as_str().unwrap()) >= at(since))
    );
}

#[tokio::test]
async fn every_patient_whose_appointments_are_listed_is_in_the_ledger_as_the_client() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let owner = clinic(&app, "harbour").await;
    connect_cliniko(&app, &owner, &admin_key(&sandbox, "au1").key).await;
    let client = create_client(&app, &owner, &["appointments:read"], None).await;
    let token = token(&app, &client).await;

    let (status, page) = get_json(&app, &format!("{LIST}?per_page=10"), &token).await;
    assert_eq!(status, 200);
    let shown: BTreeSet<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["patient_id"].as_str().map(str::to_owned))
        .collect();
    assert!(!shown.is_empty());
    let response = app
        .on(
            Method::GET,
            owner.sub(),
            "/api/tenant/audit?limit=500",
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    let audit: Value = response.json().await.unwrap();
    let entries: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["channel"] == "api")
        .collect();
    assert_eq!(
        entries
            .iter()
            .map(|e| e["patient_id"].as_str().unwrap().to_owned())
            .collect::<BTreeSet<_>>(),
        shown
    );
    assert!(
        entries
            .iter()
            .all(|e| e["categories"] == json!(["appointments"]))
    );
    assert!(
        entries
            .iter()
            .all(|e| e["actor"].to_string().contains(&client.id)),
        "{entries:?}"
    );
}

#[tokio::test]
async fn another_clinics_appointment_is_not_found_and_not_listed() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let harbour = partner_of(&app, &sandbox, "harbour", "au1", ALL_SCOPES).await;
    let thames = partner_of(&app, &sandbox, "thames", "uk1", ALL_SCOPES).await;
    let (_, theirs) = get_json(&app, &format!("{LIST}?per_page=3"), &harbour).await;
    let id = theirs["data"][0]["id"].as_str().unwrap();
    let patient = theirs["data"][0]["patient_id"].as_str().unwrap();

    let (status, problem) = get_json(&app, &format!("{LIST}/{id}"), &thames).await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
    let (status, mine) = get_json(&app, &format!("{LIST}?patient_id={patient}"), &thames).await;
    assert_eq!(status, 200);
    assert!(!ids(&mine).contains(&id.to_owned()));
    let (status, _) = get_json(&app, &format!("{LIST}/not-an-id"), &harbour).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_filters_a_missing_scope_and_a_clinic_host_are_refused_with_a_reason() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", ALL_SCOPES).await;
    for (query, field) in [
        ("patient_id=abc", "patient_id"),
        ("status=booked", "status"),
        ("from=2030-05-02&to=2030-05-01T00:00:00Z", "to"),
        ("updated_since=yesterday", "updated_since"),
        ("per_page=500", "per_page"),
    ] {
        let (status, problem) = get_json(&app, &format!("{LIST}?{query}"), &token).await;
        assert_eq!(
            (status, problem["errors"][0]["field"].as_str()),
            (422, Some(field)),
            "{query}: {problem}"
        );
    }

    let doctors_only = partner_of(&app, &sandbox, "thames", "uk1", &["doctors:read"]).await;
    let (status, problem) = get_json(&app, LIST, &doctors_only).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("insufficient_scope"))
    );

    // The public API on a clinic's host: a 404 that names the root host.
    let response = app
        .on(Method::GET, "harbour", LIST, None)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "use_root_host");
    // The configured public URL (tests keep the default), not the address the test dialled.
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("http://localhost:8080{LIST}")),
        "{problem}"
    );
}

#[tokio::test]
async fn the_api_document_offers_the_client_credentials_flow_for_every_bearer_route() {
    let app = crate::common::spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let flow = &doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"];
    assert_eq!(flow["tokenUrl"], "/api/auth/token");
    assert!(flow["scopes"]["appointments:read"].is_string(), "{flow}");
    let security = &doc["paths"][LIST]["get"]["security"];
    assert!(
        security
            .as_array()
            .unwrap()
            .contains(&json!({"oauth2": ["appointments:read"]})),
        "{security}"
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let requirements = op["security"].as_array().cloned().unwrap_or_default();
            let bearer = requirements.iter().find_map(|r| r.get("bearer"));
            let oauth2 = requirements.iter().find_map(|r| r.get("oauth2"));
            assert_eq!(bearer, oauth2, "{method} {path}");
        }
    }
}
