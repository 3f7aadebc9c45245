//! Patient `name` (any name part): patients whose last name matches, then those whose first
//! name does, each exactly once across pages, one Cliniko call a page, through sealed cursors.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{FHIR_SCOPES, assert_valid, entries, fhir_client, fhir_json, link, local};
use crate::public_api::{admin_key, app_on, cliniko_calls, cliniko_post, sandbox};

/// Patients whose names hold `zqx` (in no generated sandbox name) in their last name, their
/// first name or both, and one that does not.
const SEEDED: &[(&str, &str)] = &[
    ("Amy", "Zqxton"),
    ("Ben", "Ozqxa"),
    ("Cara", "Mc-ZQXley"),
    ("Zqxina", "Smith"),
    ("Bozqx", "Jones"),
    ("Zqxie", "Zqxford"),
];

/// The link carries only a sealed `_cursor`, and the search term is not in it. Checked on the
/// cursor's bytes, not its text: the base64 of random ciphertext spells any three letters about
/// once in 30 000 places, which made a check on the text fail now and then.
fn assert_opaque(link: &str, term: &[u8]) {
    let url = url::Url::parse(link).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs.len(), 1, "{link}");
    assert_eq!(pairs[0].0, "_cursor", "{link}");
    let sealed = URL_SAFE_NO_PAD.decode(&pairs[0].1).unwrap();
    assert!(
        !sealed.windows(term.len()).any(|bytes| bytes == term),
        "opaque: {link}"
    );
}

#[tokio::test]
async fn a_name_search_pages_through_last_then_first_name_matches_each_once() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    let key = admin_key(&sandbox, "au1");
    let mut seeded = HashMap::new();
    for (first, last) in SEEDED.iter().chain(&[("Dan", "Plain")]) {
        let created = cliniko_post(
            &sandbox,
            &key,
            "/patients",
            &json!({"first_name": first, "last_name": last}),
        )
        .await;
        seeded.insert(created["id"].as_str().unwrap().to_owned(), *last);
    }

    let before = cliniko_calls(&sandbox, &key);
    let (status, mut page) = fhir_json(&app, "/fhir/r4/Patient?name=zqx&_count=2", &token).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(cliniko_calls(&sandbox, &key) - before, 1, "one call a page");
    let mut pages: Vec<Vec<String>> = Vec::new();
    loop {
        assert_valid(&page);
        // The total is not known while last-name matches lead the walk.
        assert!(page.get("total").is_none(), "{page}");
        pages.push(
            entries(&page, "match")
                .map(|p| p["id"].as_str().unwrap().to_owned())
                .collect(),
        );
        let Some(next) = link(&page, "next") else {
            break;
        };
        assert_opaque(next, b"zqx");
        let before = cliniko_calls(&sandbox, &key);
        let (status, body) = fhir_json(&app, &local(&app, next), &token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(cliniko_calls(&sandbox, &key) - before, 1, "one call a page");
        page = body;
        assert!(pages.len() < 6, "the walk ends");
    }
    // Four last names (pages 1–2), then three first names of which one was shown (pages 3–4).
    assert_eq!(pages.len(), 4, "{pages:?}");
    let shown: Vec<&String> = pages.iter().flatten().collect();
    let names: Vec<&str> = shown
        .iter()
        .map(|id| seeded.get(id.as_str()).copied().unwrap_or("(not seeded)"))
        .collect();
    assert_eq!(shown.len(), 6, "each match exactly once: {names:?}");
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 6, "{names:?}");
    assert!(!names.contains(&"Plain"));
    // Last-name matches first.
    for last in &names[..4] {
        assert!(last.to_lowercase().contains("zqx"), "{names:?}");
    }

    // Back from the last page is the page before it, the same split of the two lists.
    let previous = link(&page, "previous").unwrap().to_owned();
    let (_, back) = fhir_json(&app, &local(&app, &previous), &token).await;
    let back_ids: Vec<String> = entries(&back, "match")
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(back_ids, pages[2]);

    // The count is exact: 4 by last name + 3 by first name − 1 by both.
    let (_, count) = fhir_json(&app, "/fhir/r4/Patient?name=ZQX&_summary=count", &token).await;
    assert_eq!(count["total"], 6, "{count}");
    assert!(count["entry"].is_null());

    // With no last-name match the walk is the first-name list alone: its total is exact.
    let (_, only_first) = fhir_json(&app, "/fhir/r4/Patient?name=bozq", &token).await;
    assert_valid(&only_first);
    assert_eq!(only_first["total"], 1, "{only_first}");
    assert_eq!(
        entries(&only_first, "match").next().unwrap()["name"][0]["given"][0],
        "Bozqx"
    );

    // Other parameters narrow both lists.
    let (_, narrowed) = fhir_json(&app, "/fhir/r4/Patient?name=zqx&family=Smi", &token).await;
    let narrowed: Vec<&Value> = entries(&narrowed, "match").collect();
    assert_eq!(narrowed.len(), 1);
    assert_eq!(narrowed[0]["name"][0]["family"], "Smith");
}

#[tokio::test]
async fn a_changed_name_cursor_and_unusable_name_values_are_refused() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    let (status, page) = fhir_json(&app, "/fhir/r4/Patient?name=a&_count=5", &token).await;
    assert_eq!(status, 200, "{page}");
    let next = local(&app, link(&page, "next").unwrap());
    let at = next.len() - 3;
    let flipped = if &next[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &next[..at], &next[at + 1..]);
    for (path, field) in [
        (tampered.as_str(), "_cursor"),
        ("/fhir/r4/Patient?name=", "name"),
        ("/fhir/r4/Patient?name=a,b", "name"),
        ("/fhir/r4/Patient?name=a&name=b", "name"),
    ] {
        let (status, outcome) = fhir_json(&app, path, &token).await;
        assert_eq!(status, 400, "{path}: {outcome}");
        assert_eq!(outcome["issue"][0]["code"], "invalid");
        assert!(
            outcome["issue"]
                .as_array()
                .unwrap()
                .iter()
                .any(|issue| issue["expression"][0] == field),
            "{outcome}"
        );
    }
}

#[tokio::test]
async fn the_capability_statement_offers_name_and_phone_and_says_how_phone_works() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    let statement: Value = app
        .client
        .get(format!("{}/fhir/r4/metadata", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let patient = statement["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Patient")
        .unwrap();
    let params: Vec<&str> = patient["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(params.contains(&"name"), "{params:?}");
    assert!(params.contains(&"phone"), "{params:?}");
    assert!(
        patient["documentation"]
            .as_str()
            .unwrap()
            .contains("no phone filter")
    );

    // This app never polls the clinic: no index to answer from, said so (503, not an empty
    // result that would pass for "no such patient").
    let (status, outcome) = fhir_json(&app, "/fhir/r4/Patient?phone=0412345678", &token).await;
    assert_eq!(status, 503, "{outcome}");
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_valid(&outcome);

    // An unknown parameter: ignored and reported, or refused when strict.
    let (status, page) = fhir_json(&app, "/fhir/r4/Patient?telecom=x&_count=1", &token).await;
    assert_eq!(status, 200);
    let outcome = entries(&page, "outcome").next().unwrap();
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("telecom")
    );
    let strict = app
        .client
        .get(format!("{}/fhir/r4/Patient?telecom=x", app.address))
        .bearer_auth(&token)
        .header("prefer", "handling=strict")
        .send()
        .await
        .unwrap();
    assert_eq!(strict.status(), 400);
}
