//! The settings API: owners and admins turn rules on, wrong input changes nothing, clinicians
//! are refused, each clinic sees only its own, previews escape what they show.

use reqwest::Method;
use serde_json::json;

use super::{call, enable};
use crate::common::{PASSWORD, spawn_app};
use crate::tokens::{Clinic, clinic};

const SETTINGS: &str = "/api/tenant/notifications/settings";

#[tokio::test]
async fn an_owner_turns_rules_on_and_wrong_input_changes_nothing() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let (status, empty) = call(&app, &owner, Method::GET, SETTINGS, None).await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["rules"], json!([]));
    assert_eq!(
        empty["email_configured"], false,
        "no relay in the test config"
    );
    assert!(
        empty["events"]
            .as_array()
            .unwrap()
            .contains(&json!("appointment.cancelled"))
    );

    enable(
        &app,
        &owner,
        &[
            ("appointment.created", "patient"),
            ("appointment.cancelled", "staff"),
        ],
        Some("desk@harbour.example"),
    )
    .await;

    for (body, field) in [
        (
            json!({"rules": [{"event": "patient.created", "channel": "email", "audience": "patient"}]}),
            "rules[0].event",
        ),
        (
            json!({"rules": [{"event": "appointment.created", "channel": "pigeon", "audience": "patient"}]}),
            "rules[0].channel",
        ),
        (
            json!({"rules": [{"event": "appointment.created", "channel": "email", "audience": "staff"}]}),
            "staff_email",
        ),
        (
            json!({"staff_email": "not an address", "rules": []}),
            "staff_email",
        ),
    ] {
        let (status, problem) = call(&app, &owner, Method::PUT, SETTINGS, Some(body)).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, bad_json) = call(
        &app,
        &owner,
        Method::PUT,
        SETTINGS,
        Some(json!({"rules": "all"})),
    )
    .await;
    assert_eq!(status, 422, "{bad_json}");

    let (_, kept) = call(&app, &owner, Method::GET, SETTINGS, None).await;
    assert_eq!(kept["staff_email"], "desk@harbour.example");
    assert_eq!(
        kept["rules"],
        json!([
            {"event": "appointment.cancelled", "channel": "email", "audience": "staff"},
            {"event": "appointment.created", "channel": "email", "audience": "patient"},
        ]),
        "the refused saves changed nothing"
    );

    // Another clinic has its own settings, and sees none of these.
    let other = clinic(&app, "lakeside").await;
    let (_, theirs) = call(&app, &other, Method::GET, SETTINGS, None).await;
    assert_eq!(theirs["rules"], json!([]));
    assert_eq!(theirs["staff_email"], json!(null));
    // A session of one clinic is refused on the other's host.
    let crossing = Clinic {
        clinic: other.clinic.clone(),
        cookie: owner.cookie.clone(),
    };
    let (status, _) = call(&app, &crossing, Method::GET, SETTINGS, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn clinicians_are_refused_and_previews_render_sample_data() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let clinician = "sam@harbour.example.com";
    app.add_user("harbour", &owner.cookie, clinician, "clinician")
        .await;
    let sam = Clinic {
        clinic: owner.clinic.clone(),
        cookie: app.log_in("harbour", clinician, PASSWORD).await,
    };
    let rule = json!({"event": "appointment.created", "channel": "email", "audience": "patient"});
    for (method, path, body) in [
        (Method::GET, SETTINGS, None),
        (Method::PUT, SETTINGS, Some(json!({"rules": []}))),
        (
            Method::POST,
            "/api/tenant/notifications/preview",
            Some(rule.clone()),
        ),
        (Method::GET, "/api/tenant/notifications/history", None),
    ] {
        let (status, problem) = call(&app, &sam, method.clone(), path, body).await;
        assert_eq!(status, 403, "{method} {path}: {problem}");
    }

    let (status, preview) = call(
        &app,
        &owner,
        Method::POST,
        "/api/tenant/notifications/preview",
        Some(rule),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        preview["subject"],
        "Your appointment on Mon 7 Dec 2026, 9:30 is booked"
    );
    assert!(
        preview["html"]
            .as_str()
            .unwrap()
            .contains("<p>Hello Jane Citizen,</p>")
    );
    assert!(
        preview["text"]
            .as_str()
            .unwrap()
            .starts_with("Hello Jane Citizen,")
    );
    let (status, problem) = call(
        &app,
        &owner,
        Method::POST,
        "/api/tenant/notifications/preview",
        Some(json!({"event": "appointment.created", "channel": "email", "audience": "everyone"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["field"], "audience");
}
