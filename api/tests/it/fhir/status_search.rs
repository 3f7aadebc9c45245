//! Appointment `status`: `booked` and `arrived` (which Cliniko cannot filter) are told apart on
//! each page, one Cliniko call a page, without a `total`; `_summary=count` counts them exactly;
//! what Cliniko filters itself keeps its exact total.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{FHIR_SCOPES, assert_valid, entries, fhir_client, fhir_json, link, local};
use crate::common::TestApp;
use crate::public_api::{admin_key, app_on, cliniko_calls, cliniko_patch, sandbox};

/// The ids of the matches of a search, after checking the Bundle is valid.
async fn ids(app: &TestApp, path: &str, token: &str) -> (Value, BTreeSet<String>) {
    let (status, bundle) = fhir_json(app, path, token).await;
    assert_eq!(status, 200, "{path}: {bundle}");
    assert_valid(&bundle);
    let ids = entries(&bundle, "match")
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    (bundle, ids)
}

#[tokio::test]
async fn booked_and_arrived_are_searched_apart_page_by_page_and_counted_exactly() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    let key = admin_key(&sandbox, "au1");

    // One practitioner's day with a few appointments: one marked arrived, one not.
    let (_, some) = fhir_json(&app, "/fhir/r4/Appointment?_count=100", &token).await;
    let mut days = std::collections::BTreeMap::<(String, String), usize>::new();
    for appointment in entries(&some, "match") {
        let practitioner = appointment["participant"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["actor"]["reference"].as_str())
            .find(|r| r.starts_with("Practitioner/"))
            .unwrap();
        let day = &appointment["start"].as_str().unwrap()[..10];
        *days
            .entry((practitioner.to_owned(), day.to_owned()))
            .or_default() += 1;
    }
    let ((practitioner, day), _) = days.into_iter().max_by_key(|(_, n)| *n).unwrap();
    let scope = format!("practitioner={practitioner}&date={day}");
    let (everything, all) = ids(&app, &format!("/fhir/r4/Appointment?{scope}"), &token).await;
    assert!(all.len() >= 2, "{everything}");
    let mut chosen = all.iter();
    let arrived = chosen.next().unwrap().clone();
    let waiting = chosen.next().unwrap().clone();
    for (id, flag) in [(&arrived, true), (&waiting, false)] {
        cliniko_patch(
            &sandbox,
            &key,
            &format!("/individual_appointments/{id}"),
            &json!({"patient_arrived": flag, "did_not_arrive": false}),
        )
        .await;
    }

    let before = cliniko_calls(&sandbox, &key);
    let (bundle, arrivals) = ids(
        &app,
        &format!("/fhir/r4/Appointment?{scope}&status=arrived"),
        &token,
    )
    .await;
    assert_eq!(cliniko_calls(&sandbox, &key) - before, 1, "one call a page");
    assert!(
        bundle["total"].is_null(),
        "kept here, not counted: {bundle}"
    );
    assert!(arrivals.contains(&arrived) && !arrivals.contains(&waiting));
    assert!(entries(&bundle, "match").all(|a| a["status"] == "arrived"));
    let (bundle, booked) = ids(
        &app,
        &format!("/fhir/r4/Appointment?{scope}&status=booked"),
        &token,
    )
    .await;
    assert!(booked.contains(&waiting) && !booked.contains(&arrived));
    assert!(entries(&bundle, "match").all(|a| a["status"] == "booked"));
    let (_, noshows) = ids(
        &app,
        &format!("/fhir/r4/Appointment?{scope}&status=noshow"),
        &token,
    )
    .await;
    // Cliniko's list without a status (cancelled ones hidden) is exactly these three.
    let union: BTreeSet<String> = arrivals.union(&booked).chain(&noshows).cloned().collect();
    assert_eq!(union, all);
    assert_eq!(arrivals.len() + booked.len() + noshows.len(), all.len());
    let (_, both) = ids(
        &app,
        &format!("/fhir/r4/Appointment?{scope}&status=booked,arrived"),
        &token,
    )
    .await;
    assert_eq!(both, arrivals.union(&booked).cloned().collect());

    // Counted exactly, every page read.
    let (_, count) = fhir_json(
        &app,
        &format!("/fhir/r4/Appointment?{scope}&status=arrived&_summary=count"),
        &token,
    )
    .await;
    assert_valid(&count);
    assert_eq!(count["total"], arrivals.len(), "{count}");
    assert!(count["entry"].is_null());
    // What Cliniko filters exactly keeps its total.
    let (exact, _) = ids(
        &app,
        &format!("/fhir/r4/Appointment?{scope}&status=noshow"),
        &token,
    )
    .await;
    assert_eq!(exact["total"], noshows.len());

    // Paged by Cliniko's pages: each appointment once, pages may be short, the last has no next.
    let mut next = Some(format!(
        "{}/fhir/r4/Appointment?{scope}&status=booked&_count=2",
        app.address
    ));
    let mut paged = Vec::new();
    let mut pages = 0;
    while let Some(url) = next {
        let before = cliniko_calls(&sandbox, &key);
        let (status, page) = fhir_json(&app, &url, &token).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(cliniko_calls(&sandbox, &key) - before, 1, "one call a page");
        assert!(page["total"].is_null());
        assert!(entries(&page, "match").count() <= 2);
        paged.extend(entries(&page, "match").map(|a| a["id"].as_str().unwrap().to_owned()));
        next = link(&page, "next").map(|l| local(&app, l));
        pages += 1;
        assert!(pages <= all.len(), "the pages end");
    }
    assert_eq!(paged.len(), booked.len(), "each once: {paged:?}");
    assert_eq!(paged.into_iter().collect::<BTreeSet<_>>(), booked);

    // Statuses Cliniko's appointments cannot have, or several parameters, are refused.
    for bad in [
        "status=fulfilled",
        "status=booked&status=arrived",
        "status=booked,",
    ] {
        let (status, outcome) =
            fhir_json(&app, &format!("/fhir/r4/Appointment?{bad}"), &token).await;
        assert_eq!(status, 400, "{bad}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_valid(&outcome);
    }
}
