//! Doctors, specialties, clinics and appointment types: what the sandbox's Cliniko account holds,
//! filtered by what is public, paged, from the cache.

use figment::providers::Serialized;
use reqwest::Method;
use serde_json::{Value, json};

use super::{
    ALL_SCOPES, admin_key, app_on, cliniko_calls, cliniko_get, get_json, new_key, partner_of,
    sandbox, send_json,
};
use crate::tokens::{clinic, create_client, token};

fn names(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["display_name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn doctors_are_cliniko_practitioners_shown_online_paged_filtered_and_with_exact_ids() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", &["doctors:read"]).await;

    let (status, all) = get_json(&app, "/api/public/doctors?per_page=100", &token).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        names(&all),
        [
            "Eleanor Vance",
            "Hannah Lindqvist",
            "Marcus Oyelaran",
            "Rafael Moreno"
        ],
        "active practitioners shown online, by name; the inactive one is not public"
    );
    // Ids are Cliniko's, above 2^53, exactly as Cliniko sends them.
    let raw = cliniko_get(&sandbox, &admin_key(&sandbox, "au1"), "/practitioners").await;
    let eleanor_raw = raw["practitioners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["first_name"] == "Eleanor")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let eleanor = &all["data"][0];
    assert_eq!(eleanor["id"], eleanor_raw.as_str());
    assert!(eleanor_raw.parse::<u64>().unwrap() > 1 << 53);
    assert_eq!(eleanor["specialty"], "Physiotherapist");
    assert_eq!(eleanor["title"], "Dr");
    assert_eq!(eleanor["clinic_ids"].as_array().unwrap().len(), 1);
    assert_eq!(eleanor["appointment_type_ids"].as_array().unwrap().len(), 3);

    let (_, first) = get_json(&app, "/api/public/doctors?per_page=3", &token).await;
    assert_eq!(
        (
            first["total"].clone(),
            first["page"].clone(),
            first["per_page"].clone()
        ),
        (json!(4), json!(1), json!(3))
    );
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    assert!(first["links"]["prev"].is_null());
    let next = first["links"]["next"].as_str().unwrap();
    assert!(
        next.ends_with("/api/public/doctors?page=2&per_page=3"),
        "{next}"
    );
    let (_, second) = get_json(&app, "/api/public/doctors?page=2&per_page=3", &token).await;
    assert_eq!(names(&second), ["Rafael Moreno"]);
    assert!(
        second["links"]["next"].is_null(),
        "no next on the last page"
    );
    assert!(second["links"]["prev"].as_str().unwrap().contains("page=1"));

    let (_, physio) = get_json(
        &app,
        "/api/public/doctors?specialty=physiotherapist",
        &token,
    )
    .await;
    assert_eq!(names(&physio), ["Eleanor Vance"]);
    let (_, by_name) = get_json(&app, "/api/public/doctors?q=OYEL", &token).await;
    assert_eq!(names(&by_name), ["Marcus Oyelaran"]);
    let (_, clinics) = get_json(&app, "/api/public/clinics", &token).await;
    let perth = clinics["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Harbour Physio Perth")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, in_perth) = get_json(
        &app,
        &format!("/api/public/doctors?clinic_id={perth}&per_page=10"),
        &token,
    )
    .await;
    assert_eq!(names(&in_perth), ["Hannah Lindqvist", "Rafael Moreno"]);
    assert!(
        in_perth["links"]["self"]
            .as_str()
            .unwrap()
            .contains(&format!("clinic_id={perth}"))
    );
    let (_, types) = get_json(&app, "/api/public/appointment-types", &token).await;
    let extended = types["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Extended Consultation")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, offering) = get_json(
        &app,
        &format!("/api/public/doctors?appointment_type_id={extended}&clinic_id={perth}"),
        &token,
    )
    .await;
    assert_eq!(names(&offering), ["Rafael Moreno"], "filters combine");

    let (status, bad) = get_json(&app, "/api/public/doctors?clinic_id=abc", &token).await;
    assert_eq!(
        (status, bad["errors"][0]["field"].as_str()),
        (422, Some("clinic_id"))
    );
    let (status, _) = get_json(&app, "/api/public/doctors?per_page=101", &token).await;
    assert_eq!(status, 422);
    let (status, _) = get_json(&app, "/api/public/doctors?page=zero", &token).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn one_doctor_specialties_clinics_and_appointment_types_are_served() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", &["doctors:read"]).await;
    let (_, all) = get_json(&app, "/api/public/doctors", &token).await;
    let marcus = all["data"][2].clone();
    let (status, one) = get_json(
        &app,
        &format!("/api/public/doctors/{}", marcus["id"].as_str().unwrap()),
        &token,
    )
    .await;
    assert_eq!((status, &one), (200, &marcus));
    for unknown in ["1", "not-an-id", "99999999999999999999"] {
        let (status, problem) =
            get_json(&app, &format!("/api/public/doctors/{unknown}"), &token).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (404, Some("not_found")),
            "{unknown}"
        );
    }

    let (_, specialties) = get_json(&app, "/api/public/specialties", &token).await;
    assert_eq!(specialties["total"], 4);
    assert_eq!(
        specialties["data"][0],
        json!({"name": "Chiropractor", "doctors": 1})
    );

    let (_, clinics) = get_json(&app, "/api/public/clinics", &token).await;
    let zones: Vec<_> = clinics["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["time_zone"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        zones,
        [
            ("Harbour Physio Perth", "Australia/Perth"),
            ("Harbour Physio Sydney CBD", "Australia/Sydney")
        ]
    );
    assert_eq!(clinics["data"][0]["address"]["city"], "Perth");
    assert_eq!(clinics["data"][0]["country_code"], "AU");

    let (_, types) = get_json(&app, "/api/public/appointment-types", &token).await;
    let type_names: Vec<_> = types["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        type_names,
        [
            "Extended Consultation",
            "Initial Consultation",
            "Standard Consultation",
            "Telehealth Review"
        ],
        "the archived type is not bookable"
    );
    let (_, marcus_types) = get_json(
        &app,
        &format!(
            "/api/public/appointment-types?doctor_id={}",
            marcus["id"].as_str().unwrap()
        ),
        &token,
    )
    .await;
    let telehealth = marcus_types["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Telehealth Review")
        .unwrap();
    assert_eq!(telehealth["telehealth"], true);
    assert_eq!(telehealth["duration_minutes"], 20);
    assert_eq!(marcus_types["total"], 3);
}

#[tokio::test]
async fn the_directory_comes_from_the_cache_with_one_cliniko_read_per_ttl() {
    let sandbox = sandbox();
    // No per-instance memo: the shared reference cache alone keeps Cliniko out of the loop.
    let app = app_on(&sandbox, |f| {
        f.merge(Serialized::default("public_api.directory_memo_ms", 0))
    })
    .await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", &["doctors:read"]).await;
    let key = admin_key(&sandbox, "au1");
    let (status, _) = get_json(&app, "/api/public/doctors", &token).await;
    assert_eq!(status, 200);
    let after_first = cliniko_calls(&sandbox, &key);
    for path in [
        "/api/public/doctors?q=a",
        "/api/public/specialties",
        "/api/public/clinics",
        "/api/public/appointment-types",
        "/api/public/doctors?page=2&per_page=1",
    ] {
        assert_eq!(get_json(&app, path, &token).await.0, 200, "{path}");
    }
    assert_eq!(
        cliniko_calls(&sandbox, &key),
        after_first,
        "directory reads after the first do not call Cliniko"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cliniko_requests_total{") && l.contains("lane=\"api\"")),
        "directory calls use the api lane"
    );
}

#[tokio::test]
async fn a_disconnected_clinic_s_directory_is_served_no_longer_than_its_memo() {
    // The memo's staleness bound (docs/architecture.md, "Performance layers"): a memo hit skips
    // the key lookup, so a clinic that disconnects Cliniko may be served from the memo, but never
    // for longer than `directory_memo_ms` after the memo was filled.
    const MEMO_MS: u64 = 1_500;
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| {
        f.merge(Serialized::default("public_api.directory_memo_ms", MEMO_MS))
    })
    .await;
    let owner = clinic(&app, "harbour").await;
    super::connect_cliniko(&app, &owner, &admin_key(&sandbox, "au1").key).await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let token = token(&app, &client).await;

    assert_eq!(get_json(&app, "/api/public/doctors", &token).await.0, 200);
    // The memo was filled before this instant, so it expires before `filled` + MEMO_MS.
    let filled = std::time::Instant::now();
    let response = app
        .on(
            Method::DELETE,
            owner.sub(),
            "/api/tenant/cliniko-key",
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let deadline = std::time::Duration::from_millis(MEMO_MS + 1_000);
    let (status, body) = loop {
        let sent = filled.elapsed();
        let (status, body) = get_json(&app, "/api/public/doctors", &token).await;
        if status != 200 {
            break (status, body);
        }
        assert!(
            sent < std::time::Duration::from_millis(MEMO_MS),
            "a disconnected clinic was served from a memo older than {MEMO_MS} ms"
        );
        assert!(
            filled.elapsed() < deadline,
            "still served after the deadline"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "cliniko_not_connected");
}

#[tokio::test]
async fn a_busy_clinic_s_directory_is_reloaded_before_its_memo_expires() {
    let sandbox = sandbox();
    // The reference cache expires within a second, so every reload of the 4 s memo is visible
    // as Cliniko calls.
    let app = app_on(&sandbox, |f| {
        f.merge(Serialized::default("public_api.directory_memo_ms", 4_000))
            .merge(Serialized::default("cliniko.cache_ttl_secs", 1))
    })
    .await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", &["doctors:read"]).await;
    let key = admin_key(&sandbox, "au1");
    let (status, first) = get_json(&app, "/api/public/doctors", &token).await;
    assert_eq!(status, 200);
    let loaded = cliniko_calls(&sandbox, &key);

    // In the memo's last quarter: served at once from the memo, which reloads in the background.
    tokio::time::sleep(std::time::Duration::from_millis(3_300)).await;
    let (status, body) = get_json(&app, "/api/public/doctors", &token).await;
    assert_eq!((status, &body), (200, &first));
    let mut reloaded = false;
    for _ in 0..100 {
        if cliniko_calls(&sandbox, &key) > loaded {
            reloaded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(reloaded, "the memo was reloaded in the background");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let reloaded_calls = cliniko_calls(&sandbox, &key);

    // After the first entry's expiry the reloaded one answers: no request reloads it itself.
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    let (status, body) = get_json(&app, "/api/public/doctors", &token).await;
    assert_eq!((status, &body), (200, &first));
    assert_eq!(cliniko_calls(&sandbox, &key), reloaded_calls);
}

#[tokio::test]
async fn list_bodies_kept_for_reuse_belong_to_one_clinic_and_one_query() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let harbour = partner_of(&app, &sandbox, "harbour", "au1", &["doctors:read"]).await;
    let thames = partner_of(&app, &sandbox, "thames", "uk1", &["doctors:read"]).await;
    // (The two sandbox accounts happen to have the same specialties.)
    for (path, differ) in [
        ("/api/public/doctors", true),
        ("/api/public/specialties", false),
        ("/api/public/clinics", true),
        ("/api/public/appointment-types", true),
    ] {
        let (status, of_harbour) = get_json(&app, path, &harbour).await;
        assert_eq!(status, 200, "{path}");
        // The same path and query for another clinic: that clinic's own list.
        let (status, of_thames) = get_json(&app, path, &thames).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(of_harbour["data"] != of_thames["data"], differ, "{path}");
        // Asked again, each clinic gets exactly its first answer.
        assert_eq!(get_json(&app, path, &harbour).await.1, of_harbour, "{path}");
        assert_eq!(get_json(&app, path, &thames).await.1, of_thames, "{path}");
    }
    // Another query is another body, with its own links.
    let (_, first) = get_json(&app, "/api/public/doctors?per_page=1", &harbour).await;
    let (_, second) = get_json(&app, "/api/public/doctors?per_page=1&page=2", &harbour).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 1);
    assert_ne!(first["data"], second["data"]);
    assert!(
        first["links"]["self"]
            .as_str()
            .unwrap()
            .ends_with("page=1&per_page=1")
    );
    assert!(
        second["links"]["self"]
            .as_str()
            .unwrap()
            .ends_with("page=2&per_page=1")
    );
    // A bad query is still refused, and is not turned into a kept body.
    let (status, _) = get_json(&app, "/api/public/doctors?clinic_id=x", &harbour).await;
    assert_eq!(status, 422);
    let (status, _) = get_json(&app, "/api/public/doctors?clinic_id=x", &harbour).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_clinic_without_cliniko_is_told_so_and_scopes_are_enforced_per_route() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let owner = clinic(&app, "unconnected").await;
    let client = create_client(&app, &owner, ALL_SCOPES, None).await;
    let unconnected = token(&app, &client).await;
    let (status, problem) = get_json(&app, "/api/public/doctors", &unconnected).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("cliniko_not_connected"))
    );

    let slots_only = partner_of(&app, &sandbox, "harbour", "au1", &["slots:read"]).await;
    for path in [
        "/api/public/doctors",
        "/api/public/doctors/1",
        "/api/public/specialties",
        "/api/public/clinics",
        "/api/public/appointment-types",
        "/api/public/appointments/1/status",
    ] {
        let (status, problem) = get_json(&app, path, &slots_only).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (403, Some("insufficient_scope")),
            "{path}"
        );
    }
    let (status, problem) = send_json(
        &app,
        Method::POST,
        "/api/public/appointments",
        &slots_only,
        Some(&new_key()),
        &json!({}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("insufficient_scope"))
    );
    let doctors_only = partner_of(&app, &sandbox, "thames", "uk1", &["doctors:read"]).await;
    let (status, _) = get_json(
        &app,
        "/api/public/available-slots?doctor_id=1&clinic_id=1&appointment_type_id=1&from=2030-01-01&to=2030-01-02",
        &doctors_only,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = send_json(
        &app,
        Method::PATCH,
        "/api/public/appointments/1",
        &doctors_only,
        Some(&new_key()),
        &json!({"notes": "x"}),
    )
    .await;
    assert_eq!(status, 403);
}
