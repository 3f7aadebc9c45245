//! Appointment create and cancel through FHIR, on the same booking guard as the REST API: by
//! slot or by parts, conditional (`If-None-Exist`) and idempotent (`Idempotency-Key`) retries,
//! one booking per slot across two instances, version-checked updates, and refusals that
//! change nothing.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use super::resources::{read, searchset};
use super::{FHIR_SCOPES, assert_valid, entries, fhir_client, fhir_get};
use crate::common::TestApp;
use crate::public_api::{admin_key, app_on, cliniko_calls, cliniko_get, new_key, sandbox};
use crate::tokens::{Clinic, create_client, token};

/// A token of a new client of `owner`'s clinic with `scopes`.
async fn token_for(app: &TestApp, owner: &Clinic, scopes: &[&str]) -> String {
    token(app, &create_client(app, owner, scopes, None).await).await
}

/// Every scope the facade reads with, and booking.
fn scopes() -> Vec<&'static str> {
    let mut scopes = FHIR_SCOPES.to_vec();
    scopes.push("appointments:write");
    scopes
}

/// Sends `body` as FHIR JSON with `method` to `path`, with extra headers.
async fn write(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// Status and body of a write, after checking the FHIR media type and validity.
async fn answer(response: reqwest::Response) -> (u16, Value, reqwest::header::HeaderMap) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert_eq!(
        headers["content-type"], "application/fhir+json; fhirVersion=4.0",
        "{status}"
    );
    let body: Value = response.json().await.unwrap();
    assert_valid(&body);
    (status, body, headers)
}

/// A bookable schedule's free slots after today (schema-checked) and a patient to book for.
async fn free_slots(app: &TestApp, token: &str) -> (Vec<Value>, String) {
    let schedules = searchset(app, "/fhir/r4/Schedule", token).await;
    let schedule = entries(&schedules, "match").next().unwrap().clone();
    let kind = schedule["serviceType"][0]["coding"][0]["code"]
        .as_str()
        .unwrap();
    let from = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    let to = from + chrono::Days::new(6);
    let path = format!(
        "/fhir/r4/Slot?schedule=Schedule/{}&service-type={kind}&start=ge{from}&start=le{to}&_count=100",
        schedule["id"].as_str().unwrap()
    );
    let slots: Vec<Value> = entries(&searchset(app, &path, token).await, "match")
        .cloned()
        .collect();
    assert!(slots.len() >= 4, "{slots:?}");
    let patients = searchset(app, "/fhir/r4/Patient?_count=1", token).await;
    let patient = entries(&patients, "match").next().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (slots, patient)
}

/// A booking of `slot` for `patient`.
fn by_slot(slot: &Value, patient: &str) -> Value {
    json!({
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": format!("Slot/{}", slot["id"].as_str().unwrap())}],
        "participant": [{"actor": {"reference": format!("Patient/{patient}")}, "status": "accepted"}],
        "comment": "Booked by an EHR",
    })
}

/// A booking of `slot`'s time for `patient`, naming practitioner, location and type.
fn by_parts(slot: &Value, patient: &str, practitioner: &str, location: &str) -> Value {
    json!({
        "resourceType": "Appointment",
        "status": "booked",
        "start": slot["start"],
        "serviceType": slot["serviceType"],
        "participant": [
            {"actor": {"reference": format!("Patient/{patient}")}, "status": "accepted"},
            {"actor": {"reference": format!("Practitioner/{practitioner}")}, "status": "accepted"},
            {"actor": {"reference": format!("Location/{location}")}, "status": "accepted"},
        ],
    })
}

/// The practitioner and location of a slot, from its schedule's actors.
async fn actors(app: &TestApp, token: &str, slot: &Value) -> (String, String) {
    let schedule = slot["schedule"]["reference"].as_str().unwrap();
    let schedule = read(
        app,
        "Schedule",
        schedule.trim_start_matches("Schedule/"),
        token,
        false,
    )
    .await;
    let id = |n: usize| {
        schedule["actor"][n]["reference"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    };
    (id(0), id(1))
}

/// How many of `practitioner`'s Cliniko appointments start at `start` (the sandbox asked
/// directly).
async fn booked_at(
    sandbox: &clinicgate_cliniko_sandbox::Sandbox,
    practitioner: &str,
    start: &str,
) -> u64 {
    let key = admin_key(sandbox, "au1");
    let found = cliniko_get(
        sandbox,
        &key,
        // Cancelled appointments are left out unless asked for, as in Cliniko.
        &format!(
            "/individual_appointments?q[]=practitioner_id:={practitioner}&q[]=starts_at:>={start}&q[]=starts_at:<={start}"
        ),
    )
    .await;
    found["total_entries"].as_u64().unwrap()
}

#[tokio::test]
async fn a_slot_is_booked_read_and_cancelled_through_fhir() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", &scopes()).await;
    let (slots, patient) = free_slots(&app, &token).await;
    let slot = &slots[0];
    let slot_id = slot["id"].as_str().unwrap();
    assert_eq!(read(&app, "Slot", slot_id, &token, false).await, *slot);

    let response = write(
        &app,
        Method::POST,
        "/fhir/r4/Appointment",
        &token,
        &[],
        &by_slot(slot, &patient),
    )
    .await;
    let (status, booked, headers) = answer(response).await;
    assert_eq!(status, 201, "{booked}");
    let id = booked["id"].as_str().unwrap();
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/fhir/r4/Appointment/{id}")),
        "{headers:?}"
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(booked["status"], "booked");
    assert_eq!(booked["start"], slot["start"]);
    assert_eq!(read(&app, "Appointment", id, &token, true).await, booked);
    // Cliniko has it, and the slot is no longer free.
    let key = admin_key(&sandbox, "au1");
    let in_cliniko = cliniko_get(&sandbox, &key, &format!("/individual_appointments/{id}")).await;
    assert_eq!(in_cliniko["notes"], "Booked by an EHR");
    let gone = fhir_get(&app, &format!("/fhir/r4/Slot/{slot_id}"), &token).await;
    assert_eq!(gone.status(), 404);

    // An update made against an old version is refused and changes nothing.
    let mut cancel = booked.clone();
    cancel["status"] = json!("cancelled");
    cancel["cancelationReason"] = json!({
        "coding": [{"system": "https://clinicgate.dev/fhir/sid/cliniko-cancellation-reason-id", "code": "30"}],
        "text": "Has the flu",
    });
    let path = format!("/fhir/r4/Appointment/{id}");
    let stale = write(
        &app,
        Method::PUT,
        &path,
        &token,
        &[("if-match", "W/\"1\"")],
        &cancel,
    )
    .await;
    let (status, outcome, _) = answer(stale).await;
    assert_eq!(status, 412, "{outcome}");
    assert_eq!(
        read(&app, "Appointment", id, &token, true).await["status"],
        "booked"
    );

    let etag = headers["etag"].to_str().unwrap().to_owned();
    let response = write(
        &app,
        Method::PUT,
        &path,
        &token,
        &[("if-match", &etag)],
        &cancel,
    )
    .await;
    let (status, cancelled, _) = answer(response).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancelationReason"]["coding"][0]["code"], "30");
    let in_cliniko = cliniko_get(&sandbox, &key, &format!("/individual_appointments/{id}")).await;
    assert!(in_cliniko["cancelled_at"].is_string(), "{in_cliniko}");
    assert_eq!(in_cliniko["cancellation_reason"], 30);

    // PUT is idempotent: the same cancellation again changes nothing; undoing it is refused.
    let calls = cliniko_calls(&sandbox, &key);
    let again = write(&app, Method::PUT, &path, &token, &[], &cancel).await;
    let (status, same, _) = answer(again).await;
    assert_eq!(status, 200);
    assert_eq!(same["status"], "cancelled");
    assert_eq!(
        cliniko_calls(&sandbox, &key),
        calls + 1,
        "one read, no write"
    );
    let mut undo = cancelled.clone();
    undo["status"] = json!("booked");
    let (status, outcome, _) =
        answer(write(&app, Method::PUT, &path, &token, &[], &undo).await).await;
    assert_eq!(status, 422, "{outcome}");
    assert_eq!(outcome["issue"][1]["expression"][0], "status");
}

#[tokio::test]
async fn a_move_goes_through_the_guard_and_participants_cannot_change() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", &scopes()).await;
    let (slots, patient) = free_slots(&app, &token).await;
    let (status, booked, _) = answer(
        write(
            &app,
            Method::POST,
            "/fhir/r4/Appointment",
            &token,
            &[],
            &by_slot(&slots[1], &patient),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{booked}");
    let path = format!("/fhir/r4/Appointment/{}", booked["id"].as_str().unwrap());
    let (practitioner, _) = actors(&app, &token, &slots[1]).await;

    let mut other_patient = booked.clone();
    other_patient["participant"][0]["actor"]["reference"] = json!("Patient/1");
    let (status, outcome, _) =
        answer(write(&app, Method::PUT, &path, &token, &[], &other_patient).await).await;
    assert_eq!(status, 422, "{outcome}");
    assert_eq!(outcome["issue"][1]["expression"][0], "participant.patient");

    let mut moved = booked.clone();
    // The last free slot: far enough from the first that the booking does not overlap it.
    let target = slots.last().unwrap();
    moved["start"] = target["start"].clone();
    moved.as_object_mut().unwrap().remove("end");
    let (status, after, _) =
        answer(write(&app, Method::PUT, &path, &token, &[], &moved).await).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["start"], target["start"]);
    assert_eq!(
        booked_at(&sandbox, &practitioner, slots[1]["start"].as_str().unwrap()).await,
        0
    );
    assert_eq!(
        booked_at(&sandbox, &practitioner, target["start"].as_str().unwrap()).await,
        1
    );
}

#[tokio::test]
async fn conditional_and_idempotent_retries_book_once() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", &scopes()).await;
    let (slots, patient) = free_slots(&app, &token).await;
    let (practitioner, location) = actors(&app, &token, &slots[0]).await;
    let start = slots[0]["start"].as_str().unwrap();
    let criteria =
        format!("patient={patient}&practitioner={practitioner}&date=ge{start}&date=le{start}");
    let body = by_parts(&slots[0], &patient, &practitioner, &location);
    let first = write(
        &app,
        Method::POST,
        "/fhir/r4/Appointment",
        &token,
        &[("if-none-exist", &criteria)],
        &body,
    )
    .await;
    let (status, created, _) = answer(first).await;
    assert_eq!(status, 201, "{created}");
    let again = write(
        &app,
        Method::POST,
        "/fhir/r4/Appointment",
        &token,
        &[("if-none-exist", &criteria)],
        &body,
    )
    .await;
    let (status, found, _) = answer(again).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["id"], created["id"]);
    assert_eq!(booked_at(&sandbox, &practitioner, start).await, 1);

    // Criteria naming an unknown parameter would match too much: refused.
    let unknown = write(
        &app,
        Method::POST,
        "/fhir/r4/Appointment",
        &token,
        &[("if-none-exist", "patient-name=Jane")],
        &body,
    )
    .await;
    assert_eq!(unknown.status(), 400);

    let key = new_key();
    let body = by_slot(&slots[3], &patient);
    let (status, created, _) = answer(
        write(
            &app,
            Method::POST,
            "/fhir/r4/Appointment",
            &token,
            &[("idempotency-key", &key)],
            &body,
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    let replay = write(
        &app,
        Method::POST,
        "/fhir/r4/Appointment",
        &token,
        &[("idempotency-key", &key)],
        &body,
    )
    .await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let (status, replayed, _) = answer(replay).await;
    assert_eq!(status, 201);
    assert_eq!(replayed["id"], created["id"]);
    assert_eq!(
        booked_at(&sandbox, &practitioner, slots[3]["start"].as_str().unwrap()).await,
        1
    );
}

#[tokio::test]
async fn four_concurrent_fhir_bookings_of_one_slot_on_two_instances_make_one_appointment() {
    let sandbox = sandbox();
    let first = app_on(&sandbox, |f| f).await;
    let base = sandbox.base_url();
    let second = first
        .spawn_sibling(move |f| crate::public_api::cliniko_settings(f, &base))
        .await;
    let (_, token) = fhir_client(&first, &sandbox, "harbour", "au1", &scopes()).await;
    let (slots, patient) = free_slots(&first, &token).await;
    let body = by_slot(&slots[2], &patient);
    let (practitioner, _) = actors(&first, &token, &slots[2]).await;
    let attempts = (0..4).map(|n| {
        let app = if n % 2 == 0 { &first } else { &second };
        let (token, body) = (token.clone(), body.clone());
        async move {
            answer(
                write(
                    app,
                    Method::POST,
                    "/fhir/r4/Appointment",
                    &token,
                    &[],
                    &body,
                )
                .await,
            )
            .await
        }
    });
    let results = join_all(attempts).await;
    let created = results.iter().filter(|(status, ..)| *status == 201).count();
    assert_eq!(created, 1, "{results:?}");
    for (status, body, _) in results.iter().filter(|(status, ..)| *status != 201) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["resourceType"], "OperationOutcome");
    }
    assert_eq!(
        booked_at(&sandbox, &practitioner, slots[2]["start"].as_str().unwrap()).await,
        1
    );
}

#[tokio::test]
async fn bad_bookings_are_refused_with_an_outcome_and_reach_nothing() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", &scopes()).await;
    let (thames, reader) = fhir_client(&app, &sandbox, "thames", "uk1", FHIR_SCOPES).await;
    let (slots, patient) = free_slots(&app, &token).await;
    let key = admin_key(&sandbox, "au1");
    let calls = cliniko_calls(&sandbox, &key);
    let post = |body: String, content_type: &'static str, token: String| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/fhir/r4/Appointment", app.address))
                .bearer_auth(token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let good = by_slot(&slots[0], &patient).to_string();
    let malformed = post(
        "{not json".to_owned(),
        "application/fhir+json",
        token.clone(),
    )
    .await;
    assert_eq!(answer(malformed).await.0, 400);
    let xml = post(good.clone(), "application/fhir+xml", token.clone()).await;
    assert_eq!(xml.status(), 415);
    let mut wrong = by_slot(&slots[0], &patient);
    wrong["resourceType"] = json!("Patient");
    wrong["status"] = json!("proposed");
    let (status, outcome, _) =
        answer(post(wrong.to_string(), "application/fhir+json", token.clone()).await).await;
    assert_eq!(status, 422, "{outcome}");
    let fields: Vec<&str> = outcome["issue"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["expression"][0].as_str())
        .collect();
    assert_eq!(fields, ["resourceType", "status"]);
    let unknown_slot = json!({"resourceType": "Appointment", "status": "booked",
        "slot": [{"reference": "Slot/not-a-slot"}],
        "participant": [{"actor": {"reference": format!("Patient/{patient}")}, "status": "accepted"}]});
    let (status, _, _) = answer(
        post(
            unknown_slot.to_string(),
            "application/fhir+json",
            token.clone(),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    // A token without appointments:write (another clinic's, too) books nothing.
    let (status, outcome, _) =
        answer(post(good, "application/fhir+json", reader.clone()).await).await;
    assert_eq!(status, 403, "{outcome}");
    assert_eq!(
        cliniko_calls(&sandbox, &key),
        calls,
        "nothing reached Cliniko"
    );

    // Another clinic's appointment cannot be changed through this clinic's token.
    let (_, page, _) = answer(fhir_get(&app, "/fhir/r4/Appointment?_count=1", &token).await).await;
    let theirs = entries(&page, "match").next().unwrap().clone();
    let other_writer = token_for(&app, &thames, &scopes()).await;
    let mut cancel = theirs.clone();
    cancel["status"] = json!("cancelled");
    let path = format!("/fhir/r4/Appointment/{}", theirs["id"].as_str().unwrap());
    let (status, _, _) =
        answer(write(&app, Method::PUT, &path, &other_writer, &[], &cancel).await).await;
    assert_eq!(status, 404);
    // And a body whose id is not the URL's is refused before anything is read.
    let mut elsewhere = cancel.clone();
    elsewhere["id"] = json!("1");
    let (status, _, _) =
        answer(write(&app, Method::PUT, &path, &token, &[], &elsewhere).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        read(
            &app,
            "Appointment",
            theirs["id"].as_str().unwrap(),
            &token,
            true
        )
        .await["status"],
        theirs["status"]
    );
}
