//! Doctors' calendar feeds through the real HTTP surface, against the Cliniko sandbox. Every
//! feed fetched is parsed by the `ical` crate, an iCalendar parser nobody here wrote, and its
//! events are held against what the sandbox (Cliniko) holds.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use clinicgate_cliniko_sandbox::Sandbox;
use figment::providers::Serialized;
use ical::parser::ical::component::{IcalCalendar, IcalEvent};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp};
use crate::polling::Reception;
use crate::public_api::{admin_key, app_on, at, connect_cliniko, sandbox};
use crate::tokens::{Clinic, clinic};

const FEEDS: &str = "/api/tenant/calendar-feeds";

/// A clinic connected to the sandbox's `au1` account.
async fn connected(app: &TestApp, sandbox: &Sandbox, subdomain: &str) -> Clinic {
    connected_to(app, sandbox, subdomain, "au1").await
}

/// A clinic connected to the sandbox's account on `shard` (one account backs one clinic).
async fn connected_to(app: &TestApp, sandbox: &Sandbox, subdomain: &str, shard: &str) -> Clinic {
    let owner = clinic(app, subdomain).await;
    connect_cliniko(app, &owner, &admin_key(sandbox, shard).key).await;
    owner
}

/// A session JSON call on the clinic's host: status and body.
async fn tenant_json(
    app: &TestApp,
    clinic: &Clinic,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.on(method, clinic.sub(), path, Some(&clinic.cookie));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Every appointment of `doctor` in the sandbox, cancelled ones included, by id.
async fn appointments_in_cliniko(desk: &Reception, doctor: &str) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    for page in 1.. {
        let body = desk
            .get(&format!(
                "/individual_appointments?q%5B%5D=practitioner_id%3A%3D{doctor}&q%5B%5D=cancelled_at%3A*&per_page=100&page={page}"
            ))
            .await;
        let batch = body["individual_appointments"].as_array().unwrap();
        for appointment in batch {
            found.insert(
                appointment["id"].as_str().unwrap().to_owned(),
                appointment.clone(),
            );
        }
        if batch.is_empty() || found.len() as u64 >= body["total_entries"].as_u64().unwrap() {
            break;
        }
    }
    found
}

/// The first doctor the settings page offers who has appointments in the sandbox, with them.
async fn busy_doctor(
    app: &TestApp,
    owner: &Clinic,
    desk: &Reception,
) -> (String, BTreeMap<String, Value>) {
    let (status, doctors) =
        tenant_json(app, owner, Method::GET, &format!("{FEEDS}/doctors"), None).await;
    assert_eq!(status, 200, "{doctors}");
    for doctor in doctors.as_array().unwrap() {
        let id = doctor["id"].as_str().unwrap().to_owned();
        assert!(!doctor["name"].as_str().unwrap().is_empty());
        let appointments = appointments_in_cliniko(desk, &id).await;
        if !appointments.is_empty() {
            return (id, appointments);
        }
    }
    panic!("no doctor in the sandbox has appointments");
}

/// Creates a feed of `doctor`; its URL.
async fn create_feed(app: &TestApp, owner: &Clinic, doctor: &str) -> String {
    let (status, created) = tenant_json(
        app,
        owner,
        Method::POST,
        FEEDS,
        Some(json!({ "doctor_id": doctor })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["doctor_id"], doctor);
    let url = created["url"].as_str().unwrap();
    // The URL names the clinic's host under the public URL; the test server listens elsewhere.
    let public = app.state.settings.public_url.tenant_url(owner.sub());
    let path = url
        .strip_prefix(&public)
        .unwrap_or_else(|| panic!("{url} is not on {public}"));
    format!("{}{path}", app.origin(owner.sub()))
}

/// A fetched feed: the response's status, headers and text.
struct Fetched {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

async fn fetch(app: &TestApp, url: &str) -> Fetched {
    let response = app
        .client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|err| panic!("{url}: {err:?}"));
    Fetched {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

/// The one calendar in `text`, as the `ical` crate reads it.
pub fn parse(text: &str) -> IcalCalendar {
    let mut calendars = ical::IcalParser::new(text.as_bytes());
    let calendar = calendars
        .next()
        .expect("one calendar")
        .unwrap_or_else(|err| panic!("the feed does not parse: {err}\n{text}"));
    assert!(calendars.next().is_none(), "a single VCALENDAR");
    calendar
}

/// A property's parameters, as the `ical` crate reads them.
pub type Params = Vec<(String, Vec<String>)>;

/// The value of the property `name`, and its parameters.
pub fn property<'a>(
    properties: &'a [ical::property::Property],
    name: &str,
) -> Option<(&'a str, Params)> {
    properties.iter().find(|p| p.name == name).map(|p| {
        (
            p.value.as_deref().unwrap_or_default(),
            p.params.clone().unwrap_or_default(),
        )
    })
}

fn value<'a>(event: &'a IcalEvent, name: &str) -> &'a str {
    property(&event.properties, name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .0
}

/// An event's `DTSTART` or `DTEND` in UTC: a local time with a `TZID` naming `zone`.
pub fn instant(event: &IcalEvent, name: &str, zone: Tz) -> DateTime<Utc> {
    let (text, params) = property(&event.properties, name).unwrap();
    assert_eq!(
        params,
        vec![("TZID".to_owned(), vec![zone.name().to_owned()])],
        "{name} names the clinic's zone"
    );
    let local = NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S").unwrap();
    zone.from_local_datetime(&local)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

/// The events of `calendar` by the Cliniko id in their UID.
fn events_by_appointment(calendar: &IcalCalendar) -> BTreeMap<String, &IcalEvent> {
    calendar
        .events
        .iter()
        .map(|event| {
            let uid = value(event, "UID");
            let id = uid
                .strip_prefix("cliniko-appointment-")
                .and_then(|rest| rest.split('.').next())
                .unwrap_or_else(|| panic!("unexpected UID {uid}"));
            (id.to_owned(), event)
        })
        .collect()
}

#[tokio::test]
async fn a_doctors_feed_holds_their_appointments_in_the_clinics_zone_with_initials_only() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let owner = connected(&app, &sandbox, "harbour").await;
    let desk = Reception::at(&sandbox, &admin_key(&sandbox, "au1"));
    let (doctor, expected) = busy_doctor(&app, &owner, &desk).await;

    let url = create_feed(&app, &owner, &doctor).await;
    assert!(
        url.starts_with(&format!(
            "{}/calendars/doctors/{doctor}.ics?token=cgcf_",
            app.origin("harbour")
        )),
        "{url}"
    );
    let (status, listed) = tenant_json(&app, &owner, Method::GET, FEEDS, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["doctor_id"], doctor.as_str());
    let token = url.split("token=").nth(1).unwrap();
    assert!(
        !listed.to_string().contains(token),
        "the list never shows a token"
    );

    let feed = fetch(&app, &url).await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    assert_eq!(feed.headers["content-type"], "text/calendar; charset=utf-8");
    assert_eq!(feed.headers["cache-control"], "no-store");
    let calendar = parse(&feed.text);

    // The account's zone, defined in the feed itself.
    let settings = desk.get("/settings").await;
    let label = settings["account"]["time_zone"].as_str().unwrap();
    let zone: Tz = clinicgate_core::cliniko::iana_for_label(label)
        .unwrap()
        .parse()
        .unwrap();
    let (named_zone, _) = property(&calendar.properties, "X-WR-TIMEZONE").unwrap();
    assert_eq!(named_zone, zone.name());
    assert_eq!(calendar.timezones.len(), 1);
    let timezone = &calendar.timezones[0];
    assert_eq!(
        property(&timezone.properties, "TZID").unwrap().0,
        zone.name()
    );
    assert!(!timezone.transitions.is_empty());
    for properties in std::iter::once(&timezone.properties)
        .chain(timezone.transitions.iter().map(|t| &t.properties))
    {
        // RFC 5545 allows neither in a VTIMEZONE or its observances.
        assert!(property(properties, "UID").is_none() && property(properties, "DTSTAMP").is_none());
    }
    for transition in &timezone.transitions {
        for name in ["DTSTART", "TZOFFSETFROM", "TZOFFSETTO"] {
            assert!(property(&transition.properties, name).is_some(), "{name}");
        }
    }

    // Exactly the doctor's appointments, each at its time, cancelled ones marked.
    let events = events_by_appointment(&calendar);
    assert_eq!(
        events.keys().collect::<BTreeSet<_>>(),
        expected.keys().collect::<BTreeSet<_>>()
    );
    let mut cancelled = 0;
    for (id, appointment) in &expected {
        let event = events[id];
        assert_eq!(
            instant(event, "DTSTART", zone),
            at(appointment["starts_at"].as_str().unwrap())
        );
        assert_eq!(
            instant(event, "DTEND", zone),
            at(appointment["ends_at"].as_str().unwrap())
        );
        assert!(value(event, "DTSTAMP").ends_with('Z'));
        value(event, "SEQUENCE").parse::<u32>().unwrap();
        let name = appointment["patient_name"].as_str().unwrap();
        let initials: String = name
            .split_whitespace()
            .map(|word| format!("{}.", word.chars().next().unwrap().to_uppercase()))
            .collect();
        let summary = value(event, "SUMMARY");
        assert!(summary.contains(&initials), "{summary} shows {initials}");
        assert!(!feed.text.contains(name), "no full name by default");
        if appointment["cancelled_at"].is_null() {
            assert_eq!(value(event, "STATUS"), "CONFIRMED");
        } else {
            cancelled += 1;
            assert_eq!(value(event, "STATUS"), "CANCELLED");
        }
    }
    assert!(
        cancelled > 0,
        "the sandbox cancels some appointments; the feed shows them"
    );

    // The fetch is in the ledger: each patient shown, by the feed, through the calendar channel.
    let (status, audit) = tenant_json(
        &app,
        &owner,
        Method::GET,
        "/api/tenant/audit?limit=500",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let entries: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["channel"] == "calendar")
        .collect();
    let patients: BTreeSet<String> = expected
        .values()
        .map(|a| {
            let link = a["patient"]["links"]["self"].as_str().unwrap();
            link.rsplit('/').next().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        entries
            .iter()
            .map(|e| e["patient_id"].as_str().unwrap().to_owned())
            .collect::<BTreeSet<_>>(),
        patients
    );
    assert!(entries.iter().all(
        |e| e["actor"]["kind"] == "calendar_feed" && e["categories"] == json!(["appointments"])
    ));
}

#[tokio::test]
async fn a_cancellation_in_cliniko_shows_as_cancelled_with_a_higher_sequence() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let owner = connected(&app, &sandbox, "harbour").await;
    let desk = Reception::at(&sandbox, &admin_key(&sandbox, "au1"));
    let (doctor, expected) = busy_doctor(&app, &owner, &desk).await;
    let (id, _) = expected
        .iter()
        .find(|(_, a)| {
            a["cancelled_at"].is_null() && at(a["starts_at"].as_str().unwrap()) > Utc::now()
        })
        .expect("an upcoming appointment");
    let url = create_feed(&app, &owner, &doctor).await;

    let before = parse(&fetch(&app, &url).await.text);
    let event = events_by_appointment(&before)[id.as_str()].clone();
    assert_eq!(value(&event, "STATUS"), "CONFIRMED");
    let sequence: u32 = value(&event, "SEQUENCE").parse().unwrap();

    // Cliniko stamps changes to the second; a second later the change is visible in the stamp.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    desk.call(
        Method::PATCH,
        &format!("/individual_appointments/{id}/cancel"),
        Some(json!({"cancellation_reason": 40, "cancellation_note": "Away"})),
    )
    .await;
    let after = parse(&fetch(&app, &url).await.text);
    let event = events_by_appointment(&after)[id.as_str()].clone();
    assert_eq!(value(&event, "STATUS"), "CANCELLED");
    assert!(value(&event, "SUMMARY").starts_with("Cancelled: "));
    let later: u32 = value(&event, "SEQUENCE").parse().unwrap();
    assert!(later > sequence, "{later} > {sequence}");
    assert_eq!(
        value(&event, "UID"),
        value(events_by_appointment(&before)[id.as_str()], "UID"),
        "the same event, changed"
    );
}

#[tokio::test]
async fn revoked_unknown_misplaced_and_other_clinics_tokens_are_all_404() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let owner = connected(&app, &sandbox, "harbour").await;
    let other = connected_to(&app, &sandbox, "bayside", "uk1").await;
    let desk = Reception::at(&sandbox, &admin_key(&sandbox, "au1"));
    let (doctor, _) = busy_doctor(&app, &owner, &desk).await;
    let url = create_feed(&app, &owner, &doctor).await;
    let token = url.split("token=").nth(1).unwrap().to_owned();
    assert_eq!(fetch(&app, &url).await.status, 200);

    let harbour = app.origin("harbour");
    let misplaced = [
        format!("{harbour}/calendars/doctors/{doctor}.ics"),
        format!("{harbour}/calendars/doctors/{doctor}.ics?token=cgcf_nope"),
        // The token with its last character changed (to one it does not already have).
        format!(
            "{harbour}/calendars/doctors/{doctor}.ics?token={}{}",
            &token[..token.len() - 1],
            if token.ends_with('A') { 'B' } else { 'A' }
        ),
        format!("{harbour}/calendars/doctors/1{doctor}.ics?token={token}"),
        format!(
            "{}/calendars/doctors/{doctor}.ics?token={token}",
            app.origin("bayside")
        ),
        format!(
            "{}/calendars/doctors/{doctor}.ics?token={token}",
            app.address
        ),
    ];
    for url in &misplaced {
        let fetched = fetch(&app, url).await;
        assert_eq!(fetched.status, 404, "{url}");
        assert!(!fetched.text.contains("BEGIN:VCALENDAR"));
    }

    // Another clinic cannot see or revoke the feed.
    let feed_id = tenant_json(&app, &owner, Method::GET, FEEDS, None).await.1[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        tenant_json(&app, &other, Method::GET, FEEDS, None).await.1,
        json!([])
    );
    let path = format!("{FEEDS}/{feed_id}");
    assert_eq!(
        tenant_json(&app, &other, Method::DELETE, &path, None)
            .await
            .0,
        404
    );
    assert_eq!(fetch(&app, &url).await.status, 200);

    // Clinicians do not manage feeds.
    let clinician = "sam@harbour.example.com";
    app.add_user("harbour", &owner.cookie, clinician, "clinician")
        .await;
    let sam = Clinic {
        clinic: owner.clinic.clone(),
        cookie: app.log_in("harbour", clinician, PASSWORD).await,
    };
    assert_eq!(
        tenant_json(&app, &sam, Method::GET, FEEDS, None).await.0,
        403
    );
    assert_eq!(
        tenant_json(&app, &sam, Method::DELETE, &path, None).await.0,
        403
    );

    // One click revokes it.
    assert_eq!(
        tenant_json(&app, &owner, Method::DELETE, &path, None)
            .await
            .0,
        204
    );
    assert_eq!(fetch(&app, &url).await.status, 404);
    assert_eq!(
        tenant_json(&app, &owner, Method::DELETE, &path, None)
            .await
            .0,
        404
    );
    assert_eq!(
        tenant_json(&app, &owner, Method::GET, FEEDS, None).await.1,
        json!([])
    );
}

#[tokio::test]
async fn full_names_are_the_clinics_choice_and_unknown_doctors_are_refused() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let owner = connected(&app, &sandbox, "harbour").await;
    let desk = Reception::at(&sandbox, &admin_key(&sandbox, "au1"));
    let (doctor, expected) = busy_doctor(&app, &owner, &desk).await;
    let settings = format!("{FEEDS}/settings");
    assert_eq!(
        tenant_json(&app, &owner, Method::GET, &settings, None)
            .await
            .1,
        json!({"patient_names": "initials"})
    );
    for bad in [
        json!({"doctor_id": "12x"}),
        json!({"doctor_id": "999999999"}),
    ] {
        let (status, problem) = tenant_json(&app, &owner, Method::POST, FEEDS, Some(bad)).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "doctor_id");
    }
    let (status, _) = tenant_json(
        &app,
        &owner,
        Method::PUT,
        &settings,
        Some(json!({"patient_names": "some"})),
    )
    .await;
    assert_eq!(status, 422);

    let url = create_feed(&app, &owner, &doctor).await;
    let (status, saved) = tenant_json(
        &app,
        &owner,
        Method::PUT,
        &settings,
        Some(json!({"patient_names": "full"})),
    )
    .await;
    assert_eq!((status, saved), (200, json!({"patient_names": "full"})));
    let feed = fetch(&app, &url).await;
    let calendar = parse(&feed.text);
    let events = events_by_appointment(&calendar);
    for (id, appointment) in &expected {
        let name = appointment["patient_name"].as_str().unwrap();
        assert!(value(events[id.as_str()], "SUMMARY").contains(name));
    }
    let (_, audit) =
        tenant_json(&app, &owner, Method::GET, "/api/tenant/audit?limit=5", None).await;
    assert_eq!(audit["entries"][0]["channel"], "calendar");
    assert_eq!(
        audit["entries"][0]["categories"],
        json!(["demographics", "appointments"])
    );
}

#[tokio::test]
async fn each_feed_has_its_own_rate_limit() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| {
        f.merge(Serialized::default("calendar_feeds.fetches_per_hour", 2))
    })
    .await;
    let owner = connected(&app, &sandbox, "harbour").await;
    let desk = Reception::at(&sandbox, &admin_key(&sandbox, "au1"));
    let (doctor, _) = busy_doctor(&app, &owner, &desk).await;
    let first = create_feed(&app, &owner, &doctor).await;
    let second = create_feed(&app, &owner, &doctor).await;
    assert_eq!(fetch(&app, &first).await.status, 200);
    assert_eq!(fetch(&app, &first).await.status, 200);
    let refused = fetch(&app, &first).await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0);
    assert_eq!(
        fetch(&app, &second).await.status,
        200,
        "another feed is not held back"
    );
}
