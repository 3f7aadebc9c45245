//! Errors as `OperationOutcome`: unknown and other clinics' ids, scopes, formats, bad and
//! unknown parameters, and Cliniko's rate limit.

use serde_json::Value;

use super::{FHIR_SCOPES, assert_valid, entries, fhir_client, fhir_get, fhir_json};
use crate::public_api::{app_on, sandbox};

/// Checks an `OperationOutcome` answer and returns its first issue's code.
async fn outcome(response: reqwest::Response, status: u16) -> (String, Value) {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/fhir+json; fhirVersion=4.0"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    assert_valid(&body);
    (body["issue"][0]["code"].as_str().unwrap().to_owned(), body)
}

#[tokio::test]
async fn another_clinics_records_and_unknown_ids_are_not_found() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, harbour) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    let (_, thames) = fhir_client(&app, &sandbox, "thames", "uk1", FHIR_SCOPES).await;
    let (_, page) = fhir_json(&app, "/fhir/r4/Patient?_count=1", &harbour).await;
    let patient = entries(&page, "match").next().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, page) = fhir_json(&app, "/fhir/r4/Appointment?_count=1", &harbour).await;
    let appointment = entries(&page, "match").next().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, page) = fhir_json(&app, "/fhir/r4/Practitioner?_count=1", &harbour).await;
    let practitioner = entries(&page, "match").next().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, page) = fhir_json(&app, "/fhir/r4/Location?_count=1", &harbour).await;
    let location = entries(&page, "match").next().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("/fhir/r4/Patient/{patient}"),
        format!("/fhir/r4/Appointment/{appointment}"),
        format!("/fhir/r4/Practitioner/{practitioner}"),
        format!("/fhir/r4/PractitionerRole/{practitioner}"),
        format!("/fhir/r4/Location/{location}"),
    ] {
        let (code, _) = outcome(fhir_get(&app, &path, &thames).await, 404).await;
        assert_eq!(code, "not-found", "{path}");
    }
    for path in [
        "/fhir/r4/Patient/not-an-id",
        "/fhir/r4/Patient/1",
        "/fhir/r4/Observation",
        "/fhir/r4/Organization/nope",
    ] {
        let (code, _) = outcome(fhir_get(&app, path, &harbour).await, 404).await;
        assert_eq!(code, "not-found", "{path}");
    }
}

#[tokio::test]
async fn a_missing_token_is_401_and_a_missing_scope_403_naming_it() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, doctors_only) = fhir_client(&app, &sandbox, "harbour", "au1", &["doctors:read"]).await;
    let anonymous = app
        .client
        .get(format!("{}/fhir/r4/Patient", app.address))
        .send()
        .await
        .unwrap();
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let (code, _) = outcome(anonymous, 401).await;
    assert_eq!(code, "login");
    for (path, scope) in [
        ("/fhir/r4/Patient", "patients:read"),
        ("/fhir/r4/Flag?patient=1", "patients:read"),
        ("/fhir/r4/Flag/1", "patients:read"),
        ("/fhir/r4/Appointment", "appointments:read"),
        ("/fhir/r4/Slot?schedule=1-2&service-type=3", "slots:read"),
    ] {
        let (code, body) = outcome(fhir_get(&app, path, &doctors_only).await, 403).await;
        assert_eq!(code, "forbidden");
        assert!(
            body["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(scope),
            "{body}"
        );
    }
    // Including patients needs their scope too.
    let (_, appointments_only) =
        fhir_client(&app, &sandbox, "thames", "uk1", &["appointments:read"]).await;
    let response = fhir_get(
        &app,
        "/fhir/r4/Appointment?_include=Appointment:patient",
        &appointments_only,
    )
    .await;
    let (_, body) = outcome(response, 403).await;
    assert!(
        body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("patients:read"),
        "{body}"
    );
}

#[tokio::test]
async fn formats_other_than_json_are_406_and_non_json_bodies_415() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    let (code, _) = outcome(
        fhir_get(&app, "/fhir/r4/Patient?_format=xml", &token).await,
        406,
    )
    .await;
    assert_eq!(code, "not-supported");
    let xml = app
        .client
        .get(format!("{}/fhir/r4/metadata", app.address))
        .header("accept", "application/fhir+xml")
        .send()
        .await
        .unwrap();
    outcome(xml, 406).await;
    for accept in [
        "application/json",
        "*/*",
        "application/fhir+json;q=0.9, application/fhir+xml",
    ] {
        let ok = app
            .client
            .get(format!("{}/fhir/r4/metadata", app.address))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{accept}");
    }
    let posted = app
        .client
        .post(format!("{}/fhir/r4/Appointment", app.address))
        .bearer_auth(&token)
        .header("content-type", "application/fhir+xml")
        .body("<Appointment/>")
        .send()
        .await
        .unwrap();
    let (code, _) = outcome(posted, 415).await;
    assert_eq!(code, "not-supported");
}

#[tokio::test]
async fn unknown_parameters_are_reported_or_refused_under_strict_handling_and_bad_ones_are_400() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    let (status, bundle) = fhir_json(&app, "/fhir/r4/Patient?_count=2&colour=red", &token).await;
    assert_eq!(status, 200);
    assert_valid(&bundle);
    let reported = entries(&bundle, "outcome").next().unwrap();
    assert!(
        reported["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    assert_eq!(entries(&bundle, "match").count(), 2);

    let strict = app
        .client
        .get(format!("{}/fhir/r4/Patient?colour=red", app.address))
        .bearer_auth(&token)
        .header("prefer", "handling=strict")
        .send()
        .await
        .unwrap();
    let (code, body) = outcome(strict, 400).await;
    assert_eq!(code, "invalid");
    assert!(body.to_string().contains("colour"));

    for path in [
        "/fhir/r4/Patient?_count=lots",
        "/fhir/r4/Patient?birthdate=yesterday",
        "/fhir/r4/Patient?_lastUpdated=sa2020-01-01",
        "/fhir/r4/Appointment?patient=Practitioner/1",
        "/fhir/r4/Appointment?status=maybe",
        "/fhir/r4/Appointment?_include=Appointment:everything",
        "/fhir/r4/Flag",
        "/fhir/r4/Slot?schedule=nope",
        "/fhir/r4/Patient?_summary=data",
    ] {
        let (code, _) = outcome(fhir_get(&app, path, &token).await, 400).await;
        assert_eq!(code, "invalid", "{path}");
    }
}

#[tokio::test]
async fn clinikos_rate_limit_is_a_429_or_503_with_retry_after() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    sandbox.fail_next(429, 20);
    let response = fhir_get(&app, "/fhir/r4/Patient", &token).await;
    let status = response.status().as_u16();
    assert!(status == 429 || status == 503, "{status}");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let (code, _) = outcome(response, status).await;
    assert!(code == "throttled" || code == "transient", "{code}");
}
