//! What each kind of change made in Cliniko announces, exactly once, in the public API's shape.

use chrono::{Duration, Utc};
use serde_json::json;

use super::{
    Scene, a_few_polls, data_of, deliveries, events, start_polling, types_after, wait_for,
};

fn count(types: &[String], wanted: &str) -> usize {
    types.iter().filter(|t| *t == wanted).count()
}

#[tokio::test]
async fn the_first_poll_is_a_silent_baseline_and_each_later_change_is_announced_once() {
    let Scene {
        app,
        tenant,
        desk,
        polling,
        ..
    } = Scene::start("harbour", "au1").await;
    a_few_polls().await;
    assert!(
        events(&app, tenant).await.is_empty(),
        "hundreds of existing records, and no event"
    );

    let patient = desk.new_patient("Wiremu", "Tane").await;
    let created = wait_for(&app, tenant, 0, &["patient.created"]).await;
    assert_eq!(created[0].data["id"], patient.as_str());
    assert_eq!(created[0].data["first_name"], "Wiremu");
    assert_eq!(created[0].data["email"], "Wiremu@mail.example");

    // Nothing a subscriber sees: nothing announced.
    desk.patch(
        &format!("/patients/{patient}"),
        json!({"occupation": "Carpenter"}),
    )
    .await;
    a_few_polls().await;
    assert_eq!(types_after(&app, tenant, 1).await, Vec::<String>::new());
    desk.patch(
        &format!("/patients/{patient}"),
        json!({"email": "wiremu@new.example"}),
    )
    .await;
    let updated = wait_for(&app, tenant, 1, &["patient.updated"]).await;
    assert_eq!(updated[0].data["email"], "wiremu@new.example");

    let starts = Utc::now() + Duration::hours(3);
    let appointment = desk
        .book(&patient, starts, starts + Duration::minutes(30))
        .await;
    let booked = wait_for(
        &app,
        tenant,
        2,
        &["appointment.created", "doctor.availability_changed"],
    )
    .await;
    // Held availability changes are due a minute after the last event: under a slow machine the
    // rest of this test can outlast that minute, and the cancellation's change is then sent too.
    let booked_seen = std::time::Instant::now();
    let data = data_of(&booked, "appointment.created");
    assert_eq!(data["id"], appointment.as_str());
    assert_eq!(data["status"], "booked");
    assert_eq!(data["patient_id"], patient.as_str());
    assert!(data["doctor_id"].is_string() && data["clinic_id"].is_string());
    assert!(data["time_zone"].as_str().unwrap().contains('/'), "{data}");
    assert!(data["starts_at_local"].is_string());
    let availability = data_of(&booked, "doctor.availability_changed");
    assert_eq!(availability["doctor_id"], data["doctor_id"]);

    let path = format!("/individual_appointments/{appointment}");
    desk.patch(&path, json!({"notes": "Bring the MRI"})).await;
    let noted = wait_for(&app, tenant, 4, &["appointment.updated"]).await;
    assert_eq!(noted[0].data["notes"], "Bring the MRI");

    // Saved again as it was: Cliniko bumps updated_at, nothing visible changed.
    desk.patch(&path, json!({"patient_arrived": false})).await;
    a_few_polls().await;
    assert_eq!(types_after(&app, tenant, 5).await, Vec::<String>::new());

    desk.patch(&path, json!({"patient_arrived": true})).await;
    let arrived = wait_for(
        &app,
        tenant,
        5,
        &["appointment.patient_arrived", "doctor.queue_updated"],
    )
    .await;
    let queue = data_of(&arrived, "doctor.queue_updated");
    assert_eq!(queue["doctor_id"], data["doctor_id"]);
    // Earlier arrivals of the doctor's day (the sandbox's history) come first: ours is the last
    // token, waiting.
    let entries = queue["entries"].as_array().expect("entries");
    let ours = entries.last().expect("our patient is queued");
    assert_eq!(ours["token"], entries.len());
    assert_eq!(ours["appointment_id"], appointment.as_str());
    assert_eq!(ours["status"], "waiting");

    desk.call(
        reqwest::Method::PATCH,
        &format!("{path}/cancel"),
        Some(json!({"cancellation_reason": 40, "cancellation_note": "Away"})),
    )
    .await;
    let cancelled = wait_for(&app, tenant, 7, &["appointment.cancelled"]).await;
    let data = data_of(&cancelled, "appointment.cancelled");
    assert_eq!(data["status"], "cancelled");
    assert_eq!(data["cancellation_reason"], "away");
    a_few_polls().await;

    let types = types_after(&app, tenant, 0).await;
    // Within 50 s of the first availability event the second is surely still held back; later,
    // it may have been sent (exactly once either way).
    let availability_sent = count(&types, "doctor.availability_changed");
    if booked_seen.elapsed() >= std::time::Duration::from_secs(50) {
        assert!(
            (1..=2).contains(&availability_sent),
            "doctor.availability_changed in {types:?}"
        );
    } else {
        assert_eq!(availability_sent, 1, "held back, not yet sent: {types:?}");
    }
    for (wanted, times) in [
        ("patient.created", 1),
        ("patient.updated", 1),
        ("appointment.created", 1),
        ("appointment.updated", 1),
        ("appointment.patient_arrived", 1),
        ("appointment.cancelled", 1),
        // The arrival, then the cancellation that took the patient out of the queue.
        ("doctor.queue_updated", 2),
    ] {
        assert_eq!(count(&types, wanted), times, "{wanted} in {types:?}");
    }
    assert_eq!(types.len(), 8 + availability_sent, "{types:?}");
    assert_eq!(deliveries(&app, tenant).await, types.len());
    polling.stop().await;
}

#[tokio::test]
async fn an_arrived_appointment_completes_when_it_ends_without_another_change_in_cliniko() {
    let Scene {
        app,
        tenant,
        desk,
        polling,
        ..
    } = Scene::start("thames", "uk1").await;
    let patient = desk.new_patient("Siobhan", "Kelly").await;
    let now = Utc::now();
    let booked = std::time::Instant::now();
    let appointment = desk
        .book(
            &patient,
            now - Duration::minutes(20),
            now + Duration::seconds(12),
        )
        .await;
    desk.patch(
        &format!("/individual_appointments/{appointment}"),
        json!({"patient_arrived": true}),
    )
    .await;
    let arrived = wait_for(&app, tenant, 0, &["appointment.patient_arrived"]).await;
    // A loaded machine may see the arrival only after the appointment's end.
    if booked.elapsed() < std::time::Duration::from_secs(10) {
        assert!(
            !arrived
                .iter()
                .any(|e| e.event_type == "appointment.completed"),
            "not over yet"
        );
    }
    let done = wait_for(&app, tenant, 0, &["appointment.completed"]).await;
    let completed: Vec<_> = done
        .iter()
        .filter(|e| e.event_type == "appointment.completed")
        .collect();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].data["id"], appointment.as_str());
    assert_eq!(completed[0].data["status"], "completed");
    assert_eq!(completed[0].data["patient_id"], patient.as_str());
    a_few_polls().await;
    let types = types_after(&app, tenant, 0).await;
    assert_eq!(count(&types, "appointment.completed"), 1, "{types:?}");
    assert!(
        count(&types, "doctor.queue_updated") >= 2,
        "the patient was seen, then done: {types:?}"
    );
    polling.stop().await;
}

#[tokio::test]
async fn a_booking_clinicgate_made_is_announced_at_once_and_the_poller_adds_nothing() {
    use clinicgate_core::booking::BookedAppointment;
    use clinicgate_core::cliniko::{ClinikoAccount, ClinikoApiKey, ClinikoId, Lane};

    let Scene {
        app,
        clinic,
        tenant,
        desk,
        polling,
        ..
    } = Scene::start("harbour", "au1").await;
    polling.stop().await;

    // As ClinicGate's booking service does: book in Cliniko, then report what Cliniko answered.
    let patient = desk.new_patient("Ananya", "Singh").await;
    let starts = Utc::now() + Duration::hours(26);
    let id = desk
        .book(&patient, starts, starts + Duration::minutes(45))
        .await;
    let account = ClinikoAccount {
        tenant_id: tenant,
        key: ClinikoApiKey::parse(&clinic.key.key).unwrap(),
        caller: None,
    };
    let appointment = app
        .state
        .cliniko
        .appointment(&account, Lane::Api, &ClinikoId::parse(&id).unwrap())
        .await
        .unwrap();
    let detector = super::detector(&app);
    detector
        .appointment_written(
            tenant,
            &BookedAppointment {
                appointment,
                time_zone: chrono_tz::Australia::Sydney,
            },
        )
        .await
        .unwrap();
    let at_once = types_after(&app, tenant, 0).await;
    assert_eq!(
        at_once,
        ["appointment.created", "doctor.availability_changed"],
        "before any poll"
    );
    let data = &events(&app, tenant).await[0].data;
    assert_eq!(data["time_zone"], "Australia/Sydney");

    let polling = start_polling(&app);
    wait_for(&app, tenant, 2, &["patient.created"]).await;
    a_few_polls().await;
    assert_eq!(
        types_after(&app, tenant, 0).await,
        [
            "appointment.created",
            "doctor.availability_changed",
            "patient.created"
        ],
        "the poller found the booking already announced"
    );
    polling.stop().await;
}

#[tokio::test]
async fn an_old_appointment_the_baseline_did_not_read_is_announced_when_changed() {
    let Scene {
        app, tenant, desk, ..
    } = Scene::start("harbour", "au1").await;
    a_few_polls().await;
    // An appointment that ended days before the clinic connected: outside the baseline's window.
    let week_ago =
        (Utc::now() - Duration::days(7)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let page = desk
        .get(&format!(
            "/individual_appointments?q[]=ends_at:<{week_ago}&per_page=1"
        ))
        .await;
    let old = page["individual_appointments"][0]["id"]
        .as_str()
        .expect("the sandbox has past appointments")
        .to_owned();

    desk.patch(
        &format!("/individual_appointments/{old}"),
        json!({"notes": "Letter sent to the GP"}),
    )
    .await;
    let updated = wait_for(&app, tenant, 0, &["appointment.updated"]).await;
    assert_eq!(updated[0].data["id"], old.as_str());
    assert_eq!(updated[0].data["notes"], "Letter sent to the GP");
    a_few_polls().await;
    assert_eq!(types_after(&app, tenant, 1).await, Vec::<String>::new());
}
