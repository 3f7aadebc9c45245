//! Paging through searchsets with sealed cursors: every record once, one Cliniko call a page,
//! and cursors that were changed, have expired or belong to another clinic refused.

use std::collections::HashSet;

use figment::providers::Serialized;
use serde_json::Value;

use super::{FHIR_SCOPES, assert_valid, entries, fhir_client, fhir_json, link, local};
use crate::public_api::{admin_key, app_on, cliniko_calls, sandbox};

#[tokio::test]
async fn paging_through_every_patient_shows_each_once_and_costs_one_cliniko_call_a_page() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    let key = admin_key(&sandbox, "au1");
    let (status, mut page) = fhir_json(&app, "/fhir/r4/Patient?_count=40", &token).await;
    assert_eq!(status, 200, "{page}");
    let total = page["total"].as_u64().unwrap() as usize;
    assert!(
        total > 200,
        "the sandbox has a few hundred patients: {total}"
    );
    let mut seen = HashSet::new();
    let mut pages = 1;
    loop {
        assert_valid(&page);
        for patient in entries(&page, "match") {
            assert!(
                seen.insert(patient["id"].as_str().unwrap().to_owned()),
                "{} twice",
                patient["id"]
            );
        }
        let Some(next) = link(&page, "next") else {
            break;
        };
        // The link is opaque: no search terms or page numbers readable in it.
        assert!(next.contains("/fhir/r4/Patient?_cursor="), "{next}");
        assert!(
            !next.contains("_count") && !next.contains("page="),
            "{next}"
        );
        let before = cliniko_calls(&sandbox, &key);
        let (status, body) = fhir_json(&app, &local(&app, next), &token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            cliniko_calls(&sandbox, &key) - before,
            1,
            "one Cliniko call for a page"
        );
        page = body;
        pages += 1;
        assert!(link(&page, "previous").is_some());
    }
    assert_eq!(seen.len(), total);
    assert_eq!(pages, total.div_ceil(40));

    // Back one page from the last is the page before it.
    let previous = link(&page, "previous").unwrap().to_owned();
    let (_, back) = fhir_json(&app, &local(&app, &previous), &token).await;
    assert_eq!(entries(&back, "match").count(), 40);
}

/// The `next` link of a first page of patients.
async fn next_link(app: &crate::common::TestApp, token: &str) -> String {
    let (status, page) = fhir_json(app, "/fhir/r4/Patient?_count=10&family=a", token).await;
    assert_eq!(status, 200, "{page}");
    local(app, link(&page, "next").unwrap())
}

fn refused_as_invalid(status: u16, outcome: &Value) {
    assert_eq!(status, 400, "{outcome}");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["code"], "invalid");
    assert_valid(outcome);
}

#[tokio::test]
async fn a_changed_cursor_or_another_clinics_is_refused() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    let (_, other) = fhir_client(&app, &sandbox, "thames", "uk1", FHIR_SCOPES).await;
    let next = next_link(&app, &token).await;
    let (status, _) = fhir_json(&app, &next, &token).await;
    assert_eq!(status, 200);

    // One character changed anywhere breaks the seal.
    let at = next.len() - 5;
    let flipped = if &next[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &next[..at], &next[at + 1..]);
    let (status, outcome) = fhir_json(&app, &tampered, &token).await;
    refused_as_invalid(status, &outcome);

    // Another clinic's client cannot use it, nor read it as its own search.
    let (status, outcome) = fhir_json(&app, &next, &other).await;
    refused_as_invalid(status, &outcome);

    // A cursor of one resource type is not one of another.
    let as_appointments = next.replace("/Patient?", "/Appointment?");
    let (status, outcome) = fhir_json(&app, &as_appointments, &token).await;
    refused_as_invalid(status, &outcome);
}

#[tokio::test]
async fn an_expired_cursor_is_refused() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| {
        f.merge(Serialized::default("public_api.fhir_cursor_secs", 1))
    })
    .await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    let next = next_link(&app, &token).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, outcome) = fhir_json(&app, &next, &token).await;
    refused_as_invalid(status, &outcome);
}
