//! Bookings through the guard, idempotency, reschedule, cancel and status, against the sandbox.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use super::{
    ALL_SCOPES, admin_key, app_on, at, bookable, cliniko_calls, cliniko_get, connect_cliniko,
    get_json, new_key, partner_of, sandbox, send, send_json,
};

const BOOK: &str = "/api/public/appointments";

#[tokio::test]
async fn a_new_patient_is_created_once_then_recognised_by_email_and_birthday() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", ALL_SCOPES).await;
    let target = bookable(&app, &token, "Eleanor").await;
    let starts = target.free_starts(&app, &token).await;

    let (status, first) = send_json(
        &app,
        Method::POST,
        BOOK,
        &token,
        Some(&new_key()),
        &target.booking(&starts[0], "jane.citizen@example.org"),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "booked");
    assert_eq!(first["starts_at"], starts[0].as_str());
    assert_eq!(first["doctor_id"], target.doctor_id.as_str());
    assert_eq!(first["clinic_id"], target.clinic_id.as_str());
    assert_eq!(first["time_zone"], "Australia/Sydney");
    assert_eq!(
        at(first["starts_at_local"].as_str().unwrap()),
        at(&starts[0])
    );
    assert_eq!(first["notes"], "Booked by a partner app");
    let patient_id = first["patient_id"].as_str().unwrap().to_owned();
    let key = admin_key(&sandbox, "au1");
    let patient = cliniko_get(&sandbox, &key, &format!("/patients/{patient_id}")).await;
    assert_eq!(
        (
            patient["first_name"].as_str(),
            patient["date_of_birth"].as_str()
        ),
        (Some("Jane"), Some("1984-03-02"))
    );

    let later = starts
        .iter()
        .find(|s| at(s) >= at(&starts[0]) + chrono::Duration::hours(2))
        .unwrap();
    let (status, second) = send_json(
        &app,
        Method::POST,
        BOOK,
        &token,
        Some(&new_key()),
        &target.booking(later, "Jane.Citizen@Example.org"),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(
        second["patient_id"],
        patient_id.as_str(),
        "the same person, not a new patient"
    );

    let (status, report) = get_json(
        &app,
        &format!(
            "/api/public/appointments/{}/status",
            first["id"].as_str().unwrap()
        ),
        &token,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        report,
        json!({"id": first["id"], "status": "booked", "starts_at": starts[0], "updated_at": first["updated_at"]})
    );
    let (_, slots_now) = get_json(
        &app,
        &target.slots_path(
            target.tomorrow(),
            target.tomorrow() + chrono::Days::new(12),
            1,
        ),
        &token,
    )
    .await;
    assert!(
        !slots_now["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["starts_at"] == starts[0].as_str()),
        "a booked start is no longer offered"
    );
}

#[tokio::test]
async fn an_existing_patient_is_booked_by_id_and_an_unknown_one_is_refused() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", ALL_SCOPES).await;
    let target = bookable(&app, &token, "Marcus").await;
    let starts = target.free_starts(&app, &token).await;
    let patients = cliniko_get(&sandbox, &admin_key(&sandbox, "au1"), "/patients").await;
    let existing = patients["patients"][0]["id"].as_str().unwrap().to_owned();
    let mut body = target.booking(&starts[0], "x@example.org");
    body.as_object_mut().unwrap().remove("patient");
    body["patient_id"] = json!("1");
    let (status, problem) =
        send_json(&app, Method::POST, BOOK, &token, Some(&new_key()), &body).await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("patient_id"))
    );

    body["patient_id"] = json!(existing);
    let (status, booked) =
        send_json(&app, Method::POST, BOOK, &token, Some(&new_key()), &body).await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(booked["patient_id"], existing.as_str());
}

#[tokio::test]
async fn a_retry_with_the_same_key_replays_the_answer_without_calling_cliniko_again() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", ALL_SCOPES).await;
    let target = bookable(&app, &token, "Eleanor").await;
    let starts = target.free_starts(&app, &token).await;
    let body = target.booking(&starts[0], "replay@example.org");

    let missing = send(&app, Method::POST, BOOK, &token, None, &body).await;
    assert_eq!(missing.status(), 400);
    let problem: Value = missing.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_key_missing");

    let key = new_key();
    let first = send(&app, Method::POST, BOOK, &token, Some(&key), &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = first.text().await.unwrap();
    let calls = cliniko_calls(&sandbox, &admin_key(&sandbox, "au1"));

    let retry = send(&app, Method::POST, BOOK, &token, Some(&key), &body).await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.headers()["cache-control"], "no-store");
    assert_eq!(retry.text().await.unwrap(), first_body, "the same body");
    assert_eq!(
        cliniko_calls(&sandbox, &admin_key(&sandbox, "au1")),
        calls,
        "a replay does not touch Cliniko"
    );

    let mut other = body.clone();
    other["notes"] = json!("something else");
    let (status, problem) = send_json(&app, Method::POST, BOOK, &token, Some(&key), &other).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );

    // Keys belong to the client: another client's identical key is its own.
    let other_client = partner_of(&app, &sandbox, "thames", "uk1", ALL_SCOPES).await;
    let (status, _) = send_json(&app, Method::POST, BOOK, &other_client, Some(&key), &body).await;
    assert_eq!(
        status, 422,
        "ids of another clinic's Cliniko, not a replay of the first client's answer"
    );

    // A failed request does not hold its key: fixed, it may go again under the same key.
    let failing_key = new_key();
    let mut past = body.clone();
    past["starts_at"] = json!("2020-01-01T00:00:00Z");
    let (status, _) = send_json(&app, Method::POST, BOOK, &token, Some(&failing_key), &past).await;
    assert_eq!(status, 422);
    let (status, problem) =
        send_json(&app, Method::POST, BOOK, &token, Some(&failing_key), &past).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("validation_failed"))
    );
}

#[tokio::test]
async fn four_concurrent_bookings_of_one_slot_on_two_instances_make_exactly_one_appointment() {
    let sandbox = sandbox();
    let first = app_on(&sandbox, |f| f).await;
    let base = sandbox.base_url();
    let second = first
        .spawn_sibling(move |f| super::cliniko_settings(f, &base))
        .await;
    let token = partner_of(&first, &sandbox, "harbour", "au1", ALL_SCOPES).await;
    let target = bookable(&first, &token, "Eleanor").await;
    let starts = target.free_starts(&first, &token).await;
    let slot = starts[3].clone();

    let attempts = (0..4).map(|n| {
        let app = if n % 2 == 0 { &first } else { &second };
        let body = target.booking(&slot, &format!("racer{n}@example.org"));
        let token = token.clone();
        async move { send_json(app, Method::POST, BOOK, &token, Some(&new_key()), &body).await }
    });
    let results = join_all(attempts).await;
    let created: Vec<_> = results
        .iter()
        .filter(|(status, _)| *status == 201)
        .collect();
    assert_eq!(created.len(), 1, "{results:?}");
    for (status, body) in results.iter().filter(|(status, _)| *status != 201) {
        assert_eq!(*status, 409, "{body}");
        assert!(
            ["slot_taken", "slot_unavailable"].contains(&body["code"].as_str().unwrap()),
            "{body}"
        );
    }
    let key = admin_key(&sandbox, "au1");
    let booked = cliniko_get(
        &sandbox,
        &key,
        &format!(
            "/individual_appointments?q[]=practitioner_id:={}&q[]=starts_at:>={}&q[]=starts_at:<={}",
            target.doctor_id, slot, slot
        ),
    )
    .await;
    assert_eq!(
        booked["total_entries"], 1,
        "exactly one appointment at that time in Cliniko"
    );
}

#[tokio::test]
async fn a_reschedule_goes_through_the_guard_and_frees_the_old_time() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", ALL_SCOPES).await;
    let target = bookable(&app, &token, "Eleanor").await;
    let starts = target.free_starts(&app, &token).await;
    let (status, booked) = send_json(
        &app,
        Method::POST,
        BOOK,
        &token,
        Some(&new_key()),
        &target.booking(&starts[0], "mover@example.org"),
    )
    .await;
    assert_eq!(status, 201);
    let path = format!("{BOOK}/{}", booked["id"].as_str().unwrap());
    let new_start = starts.last().unwrap();

    let (status, moved) = send_json(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some(&new_key()),
        &json!({"starts_at": new_start, "notes": "moved by the patient"}),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["starts_at"], new_start.as_str());
    assert_eq!(moved["notes"], "moved by the patient");
    assert_eq!(
        at(moved["ends_at"].as_str().unwrap()) - at(new_start),
        at(booked["ends_at"].as_str().unwrap()) - at(&starts[0]),
        "the length is kept"
    );
    let again = target.free_starts(&app, &token).await;
    assert!(again.contains(&starts[0]), "the old time is free again");
    assert!(!again.contains(new_start));

    let off_grid = (at(&starts[0]) + chrono::Duration::minutes(7)).to_rfc3339();
    let (status, problem) = send_json(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some(&new_key()),
        &json!({"starts_at": off_grid}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("slot_unavailable"))
    );

    let (status, problem) = send_json(
        &app,
        Method::PATCH,
        &path,
        &token,
        None,
        &json!({"notes": "x"}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("idempotency_key_missing"))
    );
}

#[tokio::test]
async fn a_cancellation_sends_clinikos_reason_and_the_status_says_cancelled() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", ALL_SCOPES).await;
    let target = bookable(&app, &token, "Eleanor").await;
    let starts = target.free_starts(&app, &token).await;
    let (_, booked) = send_json(
        &app,
        Method::POST,
        BOOK,
        &token,
        Some(&new_key()),
        &target.booking(&starts[1], "canceller@example.org"),
    )
    .await;
    let id = booked["id"].as_str().unwrap();
    let path = format!("{BOOK}/{id}");

    let (status, problem) = send_json(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some(&new_key()),
        &json!({"cancelled": true}),
    )
    .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("cancellation_reason"))
    );

    let (status, cancelled) = send_json(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some(&new_key()),
        &json!({"cancelled": true, "cancellation_reason": "covid_19", "cancellation_note": "isolating"}),
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancellation_reason"], "covid_19");
    assert!(cancelled["cancelled_at"].as_str().unwrap().ends_with('Z'));
    let raw = cliniko_get(
        &sandbox,
        &admin_key(&sandbox, "au1"),
        &format!("/individual_appointments/{id}"),
    )
    .await;
    assert_eq!(
        raw["cancellation_reason"], 31,
        "Cliniko's code for COVID-19"
    );

    let (status, report) = get_json(&app, &format!("{path}/status"), &token).await;
    assert_eq!(
        (status, report["status"].as_str()),
        (200, Some("cancelled"))
    );

    let (status, problem) = send_json(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some(&new_key()),
        &json!({"starts_at": starts[2]}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("appointment_cancelled"))
    );
}

#[tokio::test]
async fn another_clinics_appointment_is_not_found() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let harbour = partner_of(&app, &sandbox, "harbour", "au1", ALL_SCOPES).await;
    let thames = partner_of(&app, &sandbox, "thames", "uk1", ALL_SCOPES).await;
    let target = bookable(&app, &harbour, "Eleanor").await;
    let starts = target.free_starts(&app, &harbour).await;
    let (_, booked) = send_json(
        &app,
        Method::POST,
        BOOK,
        &harbour,
        Some(&new_key()),
        &target.booking(&starts[0], "mine@example.org"),
    )
    .await;
    let id = booked["id"].as_str().unwrap();
    let (status, problem) = get_json(&app, &format!("{BOOK}/{id}/status"), &thames).await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
    let (status, _) = send_json(
        &app,
        Method::PATCH,
        &format!("{BOOK}/{id}"),
        &thames,
        Some(&new_key()),
        &json!({"cancelled": true, "cancellation_reason": "other"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, report) = get_json(&app, &format!("{BOOK}/{id}/status"), &harbour).await;
    assert_eq!(
        (status, report["status"].as_str()),
        (200, Some("booked")),
        "untouched"
    );
    let (status, _) = get_json(&app, &format!("{BOOK}/not-an-id/status"), &harbour).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn invalid_bookings_are_refused_with_the_fields_to_fix_and_book_nothing() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", ALL_SCOPES).await;
    let target = bookable(&app, &token, "Eleanor").await;
    let starts = target.free_starts(&app, &token).await;
    let good = target.booking(&starts[0], "valid@example.org");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = good.clone();
        change(&mut body);
        body
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "both patient forms",
            with(&|b| b["patient_id"] = json!("5")),
            "patient",
        ),
        (
            "no patient",
            with(&|b| {
                b.as_object_mut().unwrap().remove("patient");
            }),
            "patient",
        ),
        (
            "a start without offset",
            with(&|b| b["starts_at"] = json!("2030-01-01 09:00")),
            "starts_at",
        ),
        (
            "a start in the past",
            with(&|b| b["starts_at"] = json!("2020-01-01T00:00:00Z")),
            "starts_at",
        ),
        (
            "an unknown doctor",
            with(&|b| b["doctor_id"] = json!("12345")),
            "doctor_id",
        ),
        (
            "a malformed clinic id",
            with(&|b| b["clinic_id"] = json!("-4")),
            "clinic_id",
        ),
        (
            "a birthday in the future",
            with(&|b| b["patient"]["date_of_birth"] = json!("2999-01-01")),
            "patient.date_of_birth",
        ),
        (
            "a malformed e-mail",
            with(&|b| b["patient"]["email"] = json!("jane at example")),
            "patient.email",
        ),
    ];
    for (case, body, field) in cases {
        let (status, problem) =
            send_json(&app, Method::POST, BOOK, &token, Some(&new_key()), &body).await;
        assert_eq!(status, 422, "{case}: {problem}");
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{case}: {problem}"
        );
    }
    for (case, body, code) in [
        (
            "a numeric id",
            with(&|b| b["doctor_id"] = json!(836447129235007919_u64)),
            "invalid_body",
        ),
        (
            "an unknown field",
            with(&|b| b["priority"] = json!("high")),
            "invalid_body",
        ),
    ] {
        let (status, problem) =
            send_json(&app, Method::POST, BOOK, &token, Some(&new_key()), &body).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (422, Some(code)),
            "{case}"
        );
    }
    let malformed = app
        .client
        .post(format!("{}{BOOK}", app.address))
        .bearer_auth(&token)
        .header("idempotency-key", new_key())
        .header("content-type", "application/json")
        .body("{\"doctor_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let (status, problem) = send_json(
        &app,
        Method::PATCH,
        &format!("{BOOK}/1"),
        &token,
        Some(&new_key()),
        &json!({"cancelled": true, "cancellation_reason": "bored"}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_body"))
    );
    let (status, _) = send_json(
        &app,
        Method::PATCH,
        &format!("{BOOK}/1"),
        &token,
        Some(&new_key()),
        &json!({}),
    )
    .await;
    assert_eq!(status, 422);

    let again = target.free_starts(&app, &token).await;
    assert_eq!(again, starts, "nothing was booked");
}

#[tokio::test]
async fn a_concurrent_duplicate_waits_for_the_first_and_gets_its_answer() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(&app, &sandbox, "harbour", "au1", ALL_SCOPES).await;
    let target = bookable(&app, &token, "Eleanor").await;
    let starts = target.free_starts(&app, &token).await;
    let body = target.booking(&starts[2], "twice@example.org");
    let key = new_key();
    let (a, b) = tokio::join!(
        send_json(&app, Method::POST, BOOK, &token, Some(&key), &body),
        send_json(&app, Method::POST, BOOK, &token, Some(&key), &body)
    );
    assert_eq!((a.0, b.0), (201, 201), "{a:?} {b:?}");
    assert_eq!(a.1, b.1, "one booking, answered twice");
}

#[tokio::test]
async fn a_booking_is_recorded_in_the_clinics_access_ledger_as_the_api_client() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let owner = crate::tokens::clinic(&app, "harbour").await;
    connect_cliniko(&app, &owner, &admin_key(&sandbox, "au1").key).await;
    let client = crate::tokens::create_client(&app, &owner, ALL_SCOPES, None).await;
    let token = crate::tokens::token(&app, &client).await;
    let target = bookable(&app, &token, "Marcus").await;
    let starts = target.free_starts(&app, &token).await;

    let body = target.booking(&starts[0], "ledger@example.org");
    let (status, booked) =
        send_json(&app, Method::POST, BOOK, &token, Some(&new_key()), &body).await;
    assert_eq!(status, 201, "{booked}");

    let ledger: Value = app
        .on(
            Method::GET,
            "harbour",
            "/api/tenant/audit",
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = ledger["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{ledger}");
    assert_eq!(entries[0]["channel"], "api");
    assert_eq!(entries[0]["patient_id"], booked["patient_id"]);
    assert_eq!(entries[0]["actor"]["kind"], "api_client");
    assert_eq!(entries[0]["categories"], json!(["appointments"]));
}
