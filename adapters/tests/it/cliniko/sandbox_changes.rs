//! The sandbox as a change source, over plain HTTP: every write bumps `updated_at`, and lists
//! answer incremental queries (`q[]=updated_at:>=T`, `sort=updated_at`, hidden records on
//! request, `links.next`) the way the poller asks them. Also the accounts it generates for
//! scale tests.

use chrono::{DateTime, Datelike as _, Days, SecondsFormat, Utc};
use chrono_tz::Tz;
use clinicgate_cliniko_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

use super::{USER_AGENT, admin_key, start_sandbox};

/// Raw calls with one key.
struct Raw {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Raw {
    fn new(sandbox: &Sandbox, shard: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: sandbox.base_url().replace("{shard}", shard),
            key: admin_key(sandbox, shard).key,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self
            .http
            .request(method, url)
            .basic_auth(&self.key, Some(""))
            .header("user-agent", USER_AGENT);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn patch(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.send(reqwest::Method::PATCH, path, Some(body)).await;
        assert_eq!(status, 200, "PATCH {path}: {answer}");
        answer
    }

    async fn post(&self, path: &str, body: Option<Value>) -> u16 {
        self.send(reqwest::Method::POST, path, body).await.0
    }

    /// Ids of `envelope` changed at or after `since`, oldest change first, with `extra` filters.
    async fn changed(&self, envelope: &str, since: DateTime<Utc>, extra: &str) -> Vec<String> {
        let since = since.to_rfc3339_opts(SecondsFormat::Secs, true);
        let page = self
            .get(&format!(
                "/{envelope}?q[]=updated_at:>={since}{extra}&sort=updated_at&per_page=100"
            ))
            .await;
        ids(&page[envelope])
    }
}

fn ids(records: &Value) -> Vec<String> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The start of the current second: Cliniko's timestamps have no fraction.
fn this_second() -> DateTime<Utc> {
    let now = Utc::now();
    now - chrono::Duration::nanoseconds(i64::from(now.timestamp_subsec_nanos()))
}

#[tokio::test]
async fn each_write_bumps_updated_at_and_incremental_lists_return_only_what_changed() {
    let sandbox = start_sandbox(SandboxConfig::default());
    let raw = Raw::new(&sandbox, "au1");
    let since = this_second();
    assert!(raw.changed("patients", since, "").await.is_empty());

    let patients = raw.get("/patients?per_page=3").await;
    let patient = patients["patients"][0]["id"].as_str().unwrap().to_owned();
    let updated = raw
        .patch(
            &format!("/patients/{patient}"),
            json!({"occupation": "Pilot"}),
        )
        .await;
    let stamp: DateTime<Utc> = updated["updated_at"].as_str().unwrap().parse().unwrap();
    assert!(stamp >= since);
    assert!(updated["created_at"].as_str().unwrap() < updated["updated_at"].as_str().unwrap());
    assert_eq!(raw.changed("patients", since, "").await, [patient]);

    let appointments = raw.get("/individual_appointments?per_page=5").await;
    let moved = appointments["individual_appointments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = appointments["individual_appointments"][1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let archived = appointments["individual_appointments"][2]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let arrived = appointments["individual_appointments"][3]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    raw.patch(
        &format!("/individual_appointments/{moved}"),
        json!({"notes": "Bring the scans"}),
    )
    .await;
    assert_eq!(
        raw.send(
            reqwest::Method::PATCH,
            &format!("/individual_appointments/{cancelled}/cancel"),
            Some(json!({"cancellation_reason": 50})),
        )
        .await
        .0,
        204
    );
    assert_eq!(
        raw.post(
            &format!("/individual_appointments/{archived}/archive"),
            None
        )
        .await,
        204
    );
    let marked = raw
        .patch(
            &format!("/individual_appointments/{arrived}"),
            json!({"patient_arrived": true}),
        )
        .await;
    assert_eq!(marked["patient_arrived"], true);

    // Cancelled and archived appointments are hidden unless asked for, as Cliniko hides them.
    let mut visible = raw.changed("individual_appointments", since, "").await;
    visible.sort();
    let mut shown = vec![moved.clone(), arrived.clone()];
    shown.sort();
    assert_eq!(visible, shown);
    let everything = raw
        .changed(
            "individual_appointments",
            since,
            "&q[]=cancelled_at:*&q[]=archived_at:*",
        )
        .await;
    let mut expected = vec![moved, cancelled.clone(), archived.clone(), arrived];
    let mut got = everything.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    let one = raw
        .get(&format!("/individual_appointments/{cancelled}"))
        .await;
    assert!(one["updated_at"].as_str().unwrap() >= one["cancelled_at"].as_str().unwrap());
    let one = raw
        .get(&format!("/individual_appointments/{archived}"))
        .await;
    assert_eq!(one["archived_at"], one["updated_at"]);
}

#[tokio::test]
async fn a_sorted_incremental_list_is_followed_page_by_page_through_its_links() {
    let sandbox = start_sandbox(SandboxConfig::default());
    let raw = Raw::new(&sandbox, "uk1");
    let since = this_second();
    let patients = raw.get("/patients?per_page=5").await;
    let mut written = Vec::new();
    for patient in ids(&patients["patients"]) {
        raw.patch(&format!("/patients/{patient}"), json!({"notes": "seen"}))
            .await;
        written.push(patient);
    }
    let since_text = since.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut next = Some(format!(
        "/patients?q[]=updated_at:>={since_text}&sort=updated_at,id&order=asc&per_page=2"
    ));
    let mut seen = Vec::new();
    let mut stamps = Vec::new();
    while let Some(path) = next {
        let page = raw.get(&path).await;
        assert_eq!(page["total_entries"], 5);
        for record in page["patients"].as_array().unwrap() {
            seen.push(record["id"].as_str().unwrap().to_owned());
            stamps.push(record["updated_at"].as_str().unwrap().to_owned());
        }
        next = page["links"]["next"].as_str().map(str::to_owned);
    }
    let mut sorted = stamps.clone();
    sorted.sort();
    assert_eq!(stamps, sorted, "oldest change first");
    seen.sort();
    written.sort();
    assert_eq!(seen, written);
}

#[tokio::test]
async fn a_practitioners_daily_availability_changes_their_free_times() {
    let sandbox = start_sandbox(SandboxConfig::default());
    let raw = Raw::new(&sandbox, "ca1");
    let list = raw.get("/daily_availabilities?per_page=100").await;
    let records = list["daily_availabilities"].as_array().unwrap();
    assert!(!records.is_empty());
    let record = &records[0];
    assert!(record["practitioner"]["links"]["self"].is_string());
    assert!(record["availabilities"][0]["starts_at"].is_string());
    let id = record["id"].as_str().unwrap();
    let since = this_second();
    let patched = raw
        .patch(
            &format!("/daily_availabilities/{id}"),
            json!({"availabilities": [{"starts_at": "07:00", "ends_at": "07:30"}]}),
        )
        .await;
    assert_eq!(
        patched["availabilities"],
        json!([{"starts_at": "07:00", "ends_at": "07:30"}])
    );
    assert_eq!(raw.changed("daily_availabilities", since, "").await, [id]);

    // The next such weekday now offers one 30-minute slot, at 07:00 business time.
    let link_id = |name: &str| {
        record[name]["links"]["self"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    };
    let (practitioner, business) = (link_id("practitioner"), link_id("business"));
    let zone: Tz = raw.get(&format!("/businesses/{business}")).await["time_zone_identifier"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let weekday = record["day_of_week"].as_u64().unwrap();
    let mut day = Utc::now().with_timezone(&zone).date_naive() + Days::new(1);
    while u64::from(day.weekday().number_from_monday()) != weekday {
        day = day + Days::new(1);
    }
    let types = raw
        .get(&format!("/practitioners/{practitioner}/appointment_types"))
        .await;
    let half_hour = types["appointment_types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["duration_in_minutes"] == 30)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let free = raw
        .get(&format!(
            "/businesses/{business}/practitioners/{practitioner}/appointment_types/{half_hour}/available_times?from={day}&to={day}"
        ))
        .await;
    let starts: Vec<String> = free["available_times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t["appointment_start"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .unwrap()
                .with_timezone(&zone)
                .format("%H:%M")
                .to_string()
        })
        .collect();
    assert_eq!(starts, ["07:00"]);
    let (status, _) = raw
        .send(
            reqwest::Method::PATCH,
            &format!("/daily_availabilities/{id}"),
            Some(json!({"availabilities": [{"starts_at": "09:00"}]})),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn the_sandbox_generates_small_accounts_on_request_and_answers_their_keys() {
    let sandbox = start_sandbox(SandboxConfig::default());
    let http = reqwest::Client::new();
    let url = format!("http://{}/__sandbox/accounts", sandbox.address());
    let created = http
        .post(&url)
        .json(&json!({"count": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 8, "two keys per account");
    let admin = keys.iter().find(|k| k["role"] == "administrator").unwrap();
    let user = http
        .get(format!("{}/user", admin["base_url"].as_str().unwrap()))
        .basic_auth(admin["key"].as_str().unwrap(), Some(""))
        .header("user-agent", USER_AGENT)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 200);
    let listed: Value = http
        .get(format!("http://{}/__sandbox/keys", sandbox.address()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["keys"].as_array().unwrap().len(),
        sandbox.keys().len() + 8
    );
    for refused in [json!({"count": 0}), json!({}), json!({"count": 100_000})] {
        let answer = http.post(&url).json(&refused).send().await.unwrap();
        assert_eq!(answer.status(), 422, "{refused}");
    }
}

#[tokio::test]
async fn the_client_reads_changes_once_each_across_pages_and_same_second_ties() {
    use clinicgate_core::cliniko::{ChangeQuery, Changed, ClinikoClient as _, Feed, Lane};

    let sandbox = start_sandbox(SandboxConfig {
        rate_limit: 1000,
        ..SandboxConfig::default()
    });
    let raw = Raw::new(&sandbox, "au1");
    let instances = super::instances(1).await;
    let client = super::client(super::config(&sandbox.base_url()), &instances.states[0]);
    let clinic = super::account(&admin_key(&sandbox, "au1").key);
    let since = this_second();
    let mut written = Vec::new();
    for page in 1..=2 {
        let listed = raw.get(&format!("/patients?per_page=75&page={page}")).await;
        for patient in ids(&listed["patients"]) {
            raw.patch(&format!("/patients/{patient}"), json!({"city": "Bondi"}))
                .await;
            written.push(patient);
        }
    }
    assert_eq!(written.len(), 150);
    let query = |max_records| ChangeQuery {
        feed: Feed::Patients,
        since: Some(since),
        starting_from: None,
        max_records,
    };
    let patients = |changed: Changed| match changed {
        Changed::Patients(patients) => patients,
        other => panic!("{other:?}"),
    };
    let all = client
        .changes(&clinic, Lane::Background, &query(1000))
        .await
        .unwrap();
    assert!(all.complete);
    let mut read: Vec<String> = patients(all.records)
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    read.sort();
    written.sort();
    assert_eq!(read, written, "each changed patient once");

    let first = client
        .changes(&clinic, Lane::Background, &query(100))
        .await
        .unwrap();
    assert!(!first.complete, "stopped at a page's end");
    assert_eq!(first.records.len(), 100);
}
