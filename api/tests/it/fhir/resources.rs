//! Each resource type read and searched against the sandbox, every answer schema-valid.

use serde_json::Value;

use super::{FHIR_SCOPES, assert_valid, entries, fhir_client, fhir_get, fhir_json};
use crate::common::spawn_app;
use crate::public_api::app_on;
use crate::public_api::sandbox;

/// Searches `path`, validates the Bundle and each of its resources, and returns it.
pub(super) async fn searchset(app: &crate::common::TestApp, path: &str, token: &str) -> Value {
    let (status, bundle) = fhir_json(app, path, token).await;
    assert_eq!(status, 200, "{path}: {bundle}");
    assert_eq!(bundle["type"], "searchset");
    assert!(bundle["total"].as_u64().is_some(), "{bundle}");
    assert_valid(&bundle);
    for entry in bundle["entry"].as_array().into_iter().flatten() {
        assert_valid(&entry["resource"]);
        if entry["search"]["mode"] != "outcome" {
            let resource = &entry["resource"];
            let url = entry["fullUrl"].as_str().unwrap();
            assert!(
                url.ends_with(&format!(
                    "/fhir/r4/{}/{}",
                    resource["resourceType"].as_str().unwrap(),
                    resource["id"].as_str().unwrap()
                )),
                "{url}"
            );
        }
    }
    bundle
}

/// Reads `Type/id`, checks the read headers and validity, and returns the resource.
pub(super) async fn read(
    app: &crate::common::TestApp,
    kind: &str,
    id: &str,
    token: &str,
    phi: bool,
) -> Value {
    let path = format!("/fhir/r4/{kind}/{id}");
    let response = fhir_get(app, &path, token).await;
    assert_eq!(response.status(), 200, "{path}");
    let headers = response.headers().clone();
    assert_eq!(
        headers["content-type"],
        "application/fhir+json; fhirVersion=4.0"
    );
    assert_eq!(headers["cache-control"], "no-store");
    let resource: Value = response.json().await.unwrap();
    assert_eq!(resource["resourceType"], kind);
    assert_eq!(resource["id"], id);
    assert_valid(&resource);
    if resource["meta"]["lastUpdated"].is_string() {
        let etag = headers["etag"].to_str().unwrap();
        assert_eq!(
            etag,
            format!("W/\"{}\"", resource["meta"]["versionId"].as_str().unwrap())
        );
        assert!(headers.contains_key("last-modified"));
    }
    if phi {
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }
    resource
}

#[tokio::test]
async fn the_capability_statement_lists_what_is_served_and_needs_no_token() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/fhir/r4/metadata", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/fhir+json; fhirVersion=4.0"
    );
    let statement: Value = response.json().await.unwrap();
    assert_valid(&statement);
    assert_eq!(statement["kind"], "instance");
    assert_eq!(statement["fhirVersion"], "4.0.1");
    assert_eq!(statement["format"], serde_json::json!(["json"]));
    let rest = &statement["rest"][0];
    assert_eq!(
        rest["security"]["service"][0]["coding"][0]["code"],
        "SMART-on-FHIR"
    );
    let kinds: Vec<&str> = rest["resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Patient",
            "Practitioner",
            "PractitionerRole",
            "Organization",
            "Location",
            "Schedule",
            "Slot",
            "Appointment",
            "Flag"
        ]
    );
    assert!(
        statement["description"]
            .as_str()
            .unwrap()
            .contains("no structured allergies or medications")
    );
}

#[tokio::test]
async fn patients_are_read_and_searched_as_valid_fhir_and_each_disclosure_is_in_the_ledger() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (owner, token) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    let all = searchset(&app, "/fhir/r4/Patient?_count=5", &token).await;
    assert_eq!(entries(&all, "match").count(), 5);
    let first = entries(&all, "match").next().unwrap().clone();
    let id = first["id"].as_str().unwrap().to_owned();
    let patient = read(&app, "Patient", &id, &token, true).await;
    assert_eq!(patient, first);
    assert_eq!(patient["identifier"][0]["value"], id.as_str());

    // Search parameters narrow the list as Cliniko's filters do.
    let family = patient["name"][0]["family"].as_str().unwrap();
    let by_family = searchset(
        &app,
        &format!("/fhir/r4/Patient?family={}", &family[..3]),
        &token,
    )
    .await;
    assert!(entries(&by_family, "match").all(|p| {
        p["name"][0]["family"]
            .as_str()
            .unwrap()
            .starts_with(&family[..3])
    }));
    assert!(entries(&by_family, "match").any(|p| p["id"] == id.as_str()));
    let by_id = searchset(&app, &format!("/fhir/r4/Patient?_id={id}"), &token).await;
    assert_eq!(by_id["total"], 1);
    let by_identifier = searchset(
        &app,
        &format!(
            "/fhir/r4/Patient?identifier=https://clinicgate.dev/fhir/sid/cliniko-patient-id|{id}"
        ),
        &token,
    )
    .await;
    assert_eq!(by_identifier["total"], 1);
    if let Some(born) = patient["birthDate"].as_str() {
        let by_birth = searchset(&app, &format!("/fhir/r4/Patient?birthdate={born}"), &token).await;
        assert!(entries(&by_birth, "match").all(|p| p["birthDate"] == born));
    }
    let count = searchset(&app, "/fhir/r4/Patient?_summary=count", &token).await;
    assert_eq!(count["total"], all["total"]);
    assert!(count["entry"].is_null());

    // The read and the search were disclosures to the API client, through FHIR.
    let ledger: Value = app
        .on(
            reqwest::Method::GET,
            owner.sub(),
            &format!("/api/tenant/audit?patient_id={id}"),
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recorded = ledger["entries"].as_array().unwrap();
    assert!(recorded.len() >= 3, "{ledger}");
    assert!(
        recorded
            .iter()
            .all(|e| e["channel"] == "fhir" && e["actor"]["kind"] == "api_client"),
        "{ledger}"
    );
}

#[tokio::test]
async fn practitioners_roles_the_clinic_locations_and_schedules_are_valid_fhir() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", &["doctors:read"]).await;
    let practitioners = searchset(&app, "/fhir/r4/Practitioner", &token).await;
    let practitioner = entries(&practitioners, "match").next().unwrap().clone();
    let id = practitioner["id"].as_str().unwrap();
    read(&app, "Practitioner", id, &token, false).await;
    let name = practitioner["name"][0]["family"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let named = searchset(&app, &format!("/fhir/r4/Practitioner?name={name}"), &token).await;
    assert!(entries(&named, "match").any(|p| p["id"] == id));

    let role = read(&app, "PractitionerRole", id, &token, false).await;
    assert_eq!(
        role["practitioner"]["reference"],
        format!("Practitioner/{id}")
    );
    let roles = searchset(&app, "/fhir/r4/PractitionerRole", &token).await;
    let located = entries(&roles, "match")
        .find(|r| r["location"].is_array())
        .unwrap()
        .clone();
    let location = located["location"][0]["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = searchset(
        &app,
        &format!("/fhir/r4/PractitionerRole?location={location}"),
        &token,
    )
    .await;
    assert!(entries(&at, "match").any(|r| r["id"] == located["id"]));
    if let Some(specialty) = located["specialty"][0]["text"].as_str() {
        let by_specialty = searchset(
            &app,
            &format!("/fhir/r4/PractitionerRole?specialty={specialty}"),
            &token,
        )
        .await;
        assert!(entries(&by_specialty, "match").all(|r| r["specialty"][0]["text"] == specialty));
    }

    let organizations = searchset(&app, "/fhir/r4/Organization", &token).await;
    assert_eq!(organizations["total"], 1);
    let organization = entries(&organizations, "match").next().unwrap();
    read(
        &app,
        "Organization",
        organization["id"].as_str().unwrap(),
        &token,
        false,
    )
    .await;
    let locations = searchset(&app, "/fhir/r4/Location", &token).await;
    assert!(locations["total"].as_u64().unwrap() >= 2);
    let location_id = location.trim_start_matches("Location/");
    let location = read(&app, "Location", location_id, &token, false).await;
    assert_eq!(
        location["managingOrganization"]["reference"],
        format!("Organization/{}", organization["id"].as_str().unwrap())
    );

    let schedules = searchset(
        &app,
        &format!(
            "/fhir/r4/Schedule?actor=Practitioner/{}",
            located["id"].as_str().unwrap()
        ),
        &token,
    )
    .await;
    let schedule = entries(&schedules, "match").next().unwrap();
    read(
        &app,
        "Schedule",
        schedule["id"].as_str().unwrap(),
        &token,
        false,
    )
    .await;
}

#[tokio::test]
async fn free_slots_of_a_schedule_are_searched_over_more_than_a_week() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(
        &app,
        &sandbox,
        "harbour",
        "au1",
        &["doctors:read", "slots:read"],
    )
    .await;
    let schedules = searchset(&app, "/fhir/r4/Schedule", &token).await;
    let schedule = entries(&schedules, "match").next().unwrap().clone();
    let kind = schedule["serviceType"][0]["coding"][0]["code"]
        .as_str()
        .unwrap();
    let from = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    let to = from + chrono::Days::new(12);
    let path = format!(
        "/fhir/r4/Slot?schedule=Schedule/{}&service-type={kind}&start=ge{from}&start=le{to}&_count=100",
        schedule["id"].as_str().unwrap()
    );
    let slots = searchset(&app, &path, &token).await;
    let starts: Vec<&str> = entries(&slots, "match")
        .map(|s| s["start"].as_str().unwrap())
        .collect();
    assert!(!starts.is_empty(), "{slots}");
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "slots come in order, without repeats"
    );
    // Stitched across Cliniko's 7-day windows: the range holds slots beyond the first week.
    let week = format!("{}", from + chrono::Days::new(7));
    assert!(starts.iter().any(|s| *s > week.as_str()), "{starts:?}");
    assert!(entries(&slots, "match").all(|s| s["status"] == "free"));
}

#[tokio::test]
async fn appointments_with_their_patients_practitioners_and_locations_included_and_flags() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    let path = "/fhir/r4/Appointment?_count=10&_include=Appointment:patient&_include=Appointment:practitioner&_include=Appointment:location";
    let bundle = searchset(&app, path, &token).await;
    let appointments: Vec<Value> = entries(&bundle, "match").cloned().collect();
    assert_eq!(appointments.len(), 10);
    let included: Vec<String> = entries(&bundle, "include")
        .map(|r| {
            format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            )
        })
        .collect();
    for appointment in &appointments {
        for participant in appointment["participant"].as_array().unwrap() {
            let reference = participant["actor"]["reference"].as_str().unwrap();
            assert!(
                included.iter().any(|i| i == reference),
                "{reference} not included"
            );
        }
    }
    let appointment = &appointments[0];
    let id = appointment["id"].as_str().unwrap();
    assert_eq!(
        &read(&app, "Appointment", id, &token, true).await,
        appointment
    );
    let patient = appointment["participant"][0]["actor"]["reference"]
        .as_str()
        .unwrap();
    let theirs = searchset(
        &app,
        &format!("/fhir/r4/Appointment?patient={patient}"),
        &token,
    )
    .await;
    assert!(
        entries(&theirs, "match").all(|a| a["participant"][0]["actor"]["reference"] == patient)
    );
    assert!(entries(&theirs, "match").any(|a| a["id"] == id));
    let start = appointment["start"].as_str().unwrap();
    let day = &start[..10];
    let that_day = searchset(&app, &format!("/fhir/r4/Appointment?date={day}"), &token).await;
    assert!(entries(&that_day, "match").all(|a| a["start"].as_str().unwrap().starts_with(day)));
    assert!(entries(&that_day, "match").any(|a| a["id"] == id));

    // Medical alerts: some patient among the first ones has one.
    let patients = searchset(&app, "/fhir/r4/Patient?_count=12", &token).await;
    let mut flagged = 0;
    for patient in entries(&patients, "match") {
        let flags = searchset(
            &app,
            &format!("/fhir/r4/Flag?patient={}", patient["id"].as_str().unwrap()),
            &token,
        )
        .await;
        for flag in entries(&flags, "match") {
            assert_eq!(
                flag["subject"]["reference"],
                format!("Patient/{}", patient["id"].as_str().unwrap())
            );
            flagged += 1;
        }
    }
    assert!(
        flagged > 0,
        "no sandbox patient among the first 12 has a medical alert"
    );
}

#[tokio::test]
async fn a_flag_is_read_by_id_recorded_against_its_patient_and_hidden_from_other_clinics() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (owner, token) = fhir_client(&app, &sandbox, "harbour", "au1", FHIR_SCOPES).await;
    let (_, thames) = fhir_client(&app, &sandbox, "thames", "uk1", FHIR_SCOPES).await;
    let patients = searchset(&app, "/fhir/r4/Patient?_count=12", &token).await;
    let mut found = None;
    for patient in entries(&patients, "match") {
        let id = patient["id"].as_str().unwrap();
        let flags = searchset(&app, &format!("/fhir/r4/Flag?patient={id}"), &token).await;
        if let Some(flag) = entries(&flags, "match").next() {
            found = Some((id.to_owned(), flag.clone()));
            break;
        }
    }
    let (patient, searched) = found.expect("a sandbox patient among the first 12 has an alert");
    let flag_id = searched["id"].as_str().unwrap();
    let audit = |owner: &crate::tokens::Clinic| {
        app.on(
            reqwest::Method::GET,
            owner.sub(),
            &format!("/api/tenant/audit?patient_id={patient}"),
            Some(&owner.cookie),
        )
    };
    let before: Value = audit(&owner).send().await.unwrap().json().await.unwrap();

    let read_flag = read(&app, "Flag", flag_id, &token, true).await;
    assert_eq!(read_flag, searched);

    let after: Value = audit(&owner).send().await.unwrap().json().await.unwrap();
    let (before, after) = (
        before["entries"].as_array().unwrap(),
        after["entries"].as_array().unwrap(),
    );
    assert_eq!(
        after.len(),
        before.len() + 1,
        "the read is one more ledger entry"
    );
    assert!(
        after
            .iter()
            .all(|e| e["channel"] == "fhir" && e["actor"]["kind"] == "api_client")
    );

    // Another clinic's alert and unknown ids are 404, as for every other read.
    for (path, token) in [
        (format!("/fhir/r4/Flag/{flag_id}"), &thames),
        ("/fhir/r4/Flag/999999999".to_owned(), &token),
        ("/fhir/r4/Flag/not-an-id".to_owned(), &token),
    ] {
        let (status, body) = fhir_json(&app, &path, token).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["issue"][0]["code"], "not-found");
    }
}

#[tokio::test]
async fn a_roles_available_time_is_the_practitioners_weekly_hours_in_cliniko() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let (_, token) = fhir_client(&app, &sandbox, "harbour", "au1", &["doctors:read"]).await;
    let roles = searchset(&app, "/fhir/r4/PractitionerRole?_count=100", &token).await;
    let located = entries(&roles, "match")
        .find(|r| r["location"].is_array())
        .unwrap()
        .clone();
    assert!(located["availableTime"].is_array(), "{located}");
    let id = located["id"].as_str().unwrap();
    let role = read(&app, "PractitionerRole", id, &token, false).await;
    assert_eq!(role["availableTime"], located["availableTime"]);

    // The same hours as Cliniko's daily availabilities at the role's locations.
    let locations: Vec<String> = role["location"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l["reference"]
                .as_str()
                .unwrap()
                .trim_start_matches("Location/")
                .to_owned()
        })
        .collect();
    let key = crate::public_api::admin_key(&sandbox, "au1");
    let days = crate::public_api::cliniko_get(
        &sandbox,
        &key,
        &format!("/daily_availabilities?q%5B%5D=practitioner_id%3A%3D{id}&per_page=100"),
    )
    .await;
    let mut expected = std::collections::BTreeSet::new();
    for day in days["daily_availabilities"].as_array().unwrap() {
        let business = day["business"]["links"]["self"].as_str().unwrap();
        if !locations
            .iter()
            .any(|l| business.ends_with(&format!("/{l}")))
        {
            continue;
        }
        let weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            [day["day_of_week"].as_u64().unwrap() as usize - 1];
        for span in day["availabilities"].as_array().unwrap() {
            expected.insert((
                weekday.to_owned(),
                format!("{}:00", span["starts_at"].as_str().unwrap()),
                format!("{}:00", span["ends_at"].as_str().unwrap()),
            ));
        }
    }
    let mut shown = std::collections::BTreeSet::new();
    for entry in role["availableTime"].as_array().unwrap() {
        for day in entry["daysOfWeek"].as_array().unwrap() {
            shown.insert((
                day.as_str().unwrap().to_owned(),
                entry["availableStartTime"].as_str().unwrap().to_owned(),
                entry["availableEndTime"].as_str().unwrap().to_owned(),
            ));
        }
    }
    assert!(!expected.is_empty());
    assert_eq!(shown, expected);
}
