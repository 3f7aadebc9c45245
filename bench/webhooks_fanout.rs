//! Load generator of the webhook fan-out benchmark (run by `bench/webhooks_fanout.py`, not a
//! test): publishes `appointment.created` events for one clinic at a fixed rate through the same
//! publisher a serving instance uses (same rendering, sealing, subscriber lookup and queue), so
//! the instances under test deliver them exactly as they would events from Cliniko. Prints one
//! JSON line: events published, publish latency, errors.
//!
//!   webhooks_fanout --subdomain bench --rate 40 --seconds 30
//!
//! Configuration (database, master key) comes from the same `CLINICGATE_*` environment as the
//! instances'.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark binary"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use chrono_tz::Tz;
use clinicgate_adapters::clinics::SeaClinicRepository;
use clinicgate_api::config::Settings;
use clinicgate_api::startup::standalone_publisher;
use clinicgate_core::booking::BookedAppointment;
use clinicgate_core::clinics::{ClinicRepository as _, Subdomain};
use clinicgate_core::cliniko::{Appointment, ClinikoId};
use clinicgate_core::events::{EventData, EventType, NewEvent};
use tokio::sync::{Mutex, Semaphore};

fn arg(name: &str) -> String {
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag.trim_start_matches("--") == name {
            return args
                .next()
                .unwrap_or_else(|| panic!("--{name} needs a value"));
        }
    }
    panic!("--{name} is required")
}

/// An appointment of the size a real one has.
fn appointment(n: u64) -> BookedAppointment {
    let id = |k: u64| ClinikoId::parse(&(836_447_129_235_000_000 + k).to_string()).unwrap();
    let starts_at = Utc::now() + TimeDelta::days(3);
    BookedAppointment {
        appointment: Appointment {
            id: id(n),
            starts_at,
            ends_at: Some(starts_at + TimeDelta::minutes(30)),
            patient_name: Some("Jane Citizen".to_owned()),
            notes: Some("Follow-up on the left knee".to_owned()),
            patient_id: Some(id(1)),
            practitioner_id: Some(id(2)),
            business_id: Some(id(3)),
            appointment_type_id: Some(id(4)),
            cancelled_at: None,
            cancellation_reason: None,
            cancellation_reason_description: None,
            cancellation_note: None,
            did_not_arrive: Some(false),
            patient_arrived: Some(false),
            telehealth_url: None,
            archived_at: None,
            deleted_at: None,
            created_at: Some(Utc::now()),
            updated_at: Some(Utc::now()),
        },
        time_zone: Tz::Australia__Sydney,
    }
}

#[tokio::main]
async fn main() {
    let rate: f64 = arg("rate").parse().unwrap();
    let seconds: u64 = arg("seconds").parse().unwrap();
    let settings = Settings::load(None).expect("configuration");
    let (publisher, db) = standalone_publisher(&settings).await.expect("publisher");
    let tenant = SeaClinicRepository::new(db)
        .find_by_subdomain(&Subdomain::parse(&arg("subdomain")).unwrap())
        .await
        .unwrap()
        .expect("the clinic exists")
        .id;
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(Semaphore::new(64));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut published = 0u64;
    let mut tasks = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        published += 1;
        let permit = in_flight.clone().acquire_owned().await.unwrap();
        let (publisher, latencies, errors) = (publisher.clone(), latencies.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let begun = Instant::now();
            let event = NewEvent {
                event_type: EventType::AppointmentCreated,
                occurred_at: Utc::now(),
                data: EventData::Appointment(appointment(published)),
            };
            match publisher.publish(tenant, event).await {
                Ok(_) => latencies
                    .lock()
                    .await
                    .push(begun.elapsed().as_secs_f64() * 1000.0),
                Err(err) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("publish failed: {err}");
                }
            }
            drop(permit);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = latencies.lock().await.clone();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{}",
        serde_json::json!({
            "published": published,
            "errors": errors.load(Ordering::Relaxed),
            "seconds": elapsed,
            "events_per_second": published as f64 / elapsed,
            "publish_p50_ms": pct(0.5),
            "publish_p99_ms": pct(0.99),
        })
    );
}
