//! Clinic-edited templates: an edited template is what the patient receives (through the SMTP
//! sink), with the patient's data escaped in the HTML part; a reset sends the default again; a
//! broken template is refused with 422 naming the field and line, and nothing is stored;
//! previews render saved templates and unsaved drafts; clinicians are refused; another clinic
//! sees none of it.

use mail_parser::MimeHeaders as _;
use reqwest::Method;
use serde_json::{Value, json};

use super::sink::SmtpSink;
use super::{book_slot, call, enable};
use crate::common::{PASSWORD, spawn_app};
use crate::polling::{connected, roomy_sandbox};
use crate::public_api::app_on;
use crate::tokens::{Clinic, clinic};
use crate::webhooks::Partner;

const TEMPLATES: &str = "/api/tenant/notifications/templates";
const CREATED_EMAIL: &str = "/api/tenant/notifications/templates/appointment.created/email";
const PREVIEW: &str = "/api/tenant/notifications/preview";

const SCOPES: &[&str] = &[
    "appointments:read",
    "appointments:write",
    "patients:read",
    "doctors:read",
    "slots:read",
];

fn edited() -> Value {
    json!({
        "subject": "Harbour: booked for {{ when }}",
        "text": "Kia ora {{ patient_name }},\n\nsee you {{ when }}.",
        "html": "<h1>Harbour</h1>\n<p>Kia ora <b>{{ patient_name }}</b></p>",
    })
}

/// The clinic's entry for `appointment.created` by e-mail.
async fn created_entry(app: &crate::common::TestApp, clinic: &Clinic) -> Value {
    let (status, all) = call(app, clinic, Method::GET, TEMPLATES, None).await;
    assert_eq!(status, 200, "{all}");
    all.as_array()
        .unwrap()
        .iter()
        .find(|t| t["event"] == "appointment.created" && t["channel"] == "email")
        .cloned()
        .unwrap_or_else(|| panic!("{all}"))
}

#[tokio::test]
async fn an_edited_template_is_sent_with_the_patients_data_escaped_and_a_reset_sends_the_default() {
    let sink = SmtpSink::start().await;
    let sandbox = roomy_sandbox();
    let app = app_on(&sandbox, |f| sink.relay_for(f)).await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    enable(
        &app,
        &clinic.owner,
        &[("appointment.created", "patient")],
        None,
    )
    .await;
    let (status, saved) = call(
        &app,
        &clinic.owner,
        Method::PUT,
        CREATED_EMAIL,
        Some(edited()),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["custom"], true);
    assert_eq!(saved["template"], edited());
    assert!(
        saved["default"]["subject"]
            .as_str()
            .unwrap()
            .contains("is booked")
    );
    let partner = Partner::on_clinic(app, clinic.owner, SCOPES).await;

    // A patient whose name is markup: the HTML part shows it as text, the text part as typed.
    book_slot(
        &partner,
        |free| free[0].clone(),
        |booking| {
            booking["patient"]["first_name"] = json!("<i>Aroha</i>");
            booking["patient"]["email"] = json!("aroha@example.org");
        },
    )
    .await;
    let message = sink
        .wait_for("aroha@example.org", "Harbour: booked for ")
        .await;
    let parsed = message.parsed();
    let html = parsed.body_html(0).unwrap();
    // (MIME turns the template's line break into CRLF.)
    assert!(html.starts_with("<h1>Harbour</h1>"), "{html}");
    assert!(
        html.contains("<p>Kia ora <b>&lt;i&gt;Aroha&lt;&#x2f;i&gt; Citizen</b></p>"),
        "{html}"
    );
    assert!(!html.contains("<i>Aroha"), "{html}");
    let text = parsed.body_text(0).unwrap();
    assert!(
        text.replace("\r\n", "\n")
            .starts_with("Kia ora <i>Aroha</i> Citizen,\n\nsee you "),
        "{text}"
    );
    // The invitation is still attached to an edited confirmation.
    assert!(
        parsed
            .attachments()
            .any(|part| part.content_type().is_some_and(|ct| ct.ctype() == "text"))
    );

    // Back to the default: the next booking's e-mail is the default one.
    let (status, reset) = call(
        &partner.app,
        &partner.clinic,
        Method::DELETE,
        CREATED_EMAIL,
        None,
    )
    .await;
    assert_eq!(status, 200, "{reset}");
    assert_eq!(reset["custom"], false);
    assert_eq!(reset["template"], reset["default"]);
    assert_eq!(
        created_entry(&partner.app, &partner.clinic).await["custom"],
        false
    );
    book_slot(
        &partner,
        |free| free[1].clone(),
        |booking| booking["patient"]["email"] = json!("kiri@example.org"),
    )
    .await;
    let default = sink
        .wait_for("kiri@example.org", "Your appointment on")
        .await;
    assert!(
        default
            .parsed()
            .body_text(0)
            .unwrap()
            .starts_with("Hello Jane Citizen,")
    );
    assert!(
        sink.messages()
            .iter()
            .filter(|m| m.to == ["kiri@example.org"])
            .all(|m| !m.parsed().subject().unwrap().starts_with("Harbour:")),
        "the reset template is not sent"
    );
}

#[tokio::test]
async fn a_broken_template_is_refused_naming_the_field_and_line_and_nothing_is_stored() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    for (body, field, code, line) in [
        (
            json!({"subject": "Hi", "text": "ok", "html": "<p>\n{% if %}</p>"}),
            "html",
            "syntax",
            "line 2",
        ),
        (
            json!({"subject": "Hi {{ patient.address }}", "text": "ok", "html": "<p></p>"}),
            "subject",
            "unknown_variable",
            "line 1",
        ),
        (
            json!({"subject": "Hi", "text": "a\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "html": "<p></p>"}),
            "text",
            "render",
            "",
        ),
        (
            json!({"subject": "Hi", "text": "{% include 'secrets.txt' %}", "html": "<p></p>"}),
            "text",
            "render",
            "",
        ),
        (
            json!({"subject": "Hi", "text": "x".repeat(10_001), "html": "<p></p>"}),
            "text",
            "too_long",
            "",
        ),
        (
            json!({"subject": "Hi", "text": "ok"}),
            "html",
            "required",
            "",
        ),
    ] {
        let (status, problem) = call(&app, &owner, Method::PUT, CREATED_EMAIL, Some(body)).await;
        assert_eq!(status, 422, "{problem}");
        let error = &problem["errors"][0];
        assert_eq!(error["field"], field, "{problem}");
        assert_eq!(error["code"], code, "{problem}");
        assert!(
            error["message"].as_str().unwrap().starts_with(line),
            "{problem}"
        );
    }
    let entry = created_entry(&app, &owner).await;
    assert_eq!(entry["custom"], false, "nothing stored: {entry}");
    assert_eq!(entry["template"], entry["default"]);
    let (status, _) = call(
        &app,
        &owner,
        Method::PUT,
        "/api/tenant/notifications/templates/patient.created/email",
        Some(edited()),
    )
    .await;
    assert_eq!(status, 404, "no such event");
}

#[tokio::test]
async fn previews_render_drafts_and_saved_templates_and_only_the_clinics_managers_see_them() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let rule = json!({"event": "appointment.created", "channel": "email", "audience": "patient"});

    // A draft, unsaved: rendered with sample data, escaped in HTML.
    let mut draft = rule.clone();
    draft["template"] = json!({
        "subject": "Draft for {{ patient_name }}",
        "text": "{{ patient_name }} at {{ when }}",
        "html": "<p>{{ '<b>' }}{{ patient_name }}</p>",
    });
    let (status, preview) = call(&app, &owner, Method::POST, PREVIEW, Some(draft)).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["subject"], "Draft for Jane Citizen");
    assert_eq!(preview["text"], "Jane Citizen at Mon 7 Dec 2026, 9:30");
    assert_eq!(preview["html"], "<p>&lt;b&gt;Jane Citizen</p>");
    assert_eq!(created_entry(&app, &owner).await["custom"], false);

    // A broken draft: 422 naming the draft's field.
    let mut broken = rule.clone();
    broken["template"] = json!({"subject": "x", "text": "{{ nope }}", "html": "<p></p>"});
    let (status, problem) = call(&app, &owner, Method::POST, PREVIEW, Some(broken)).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "template.text");

    // Without a draft: the saved template.
    let (status, _) = call(&app, &owner, Method::PUT, CREATED_EMAIL, Some(edited())).await;
    assert_eq!(status, 200);
    let (_, preview) = call(&app, &owner, Method::POST, PREVIEW, Some(rule.clone())).await;
    assert_eq!(
        preview["subject"],
        "Harbour: booked for Mon 7 Dec 2026, 9:30"
    );

    // Clinicians are refused everything.
    let clinician = "sam@harbour.example.com";
    app.add_user("harbour", &owner.cookie, clinician, "clinician")
        .await;
    let sam = Clinic {
        clinic: owner.clinic.clone(),
        cookie: app.log_in("harbour", clinician, PASSWORD).await,
    };
    for (method, path, body) in [
        (Method::GET, TEMPLATES, None),
        (Method::PUT, CREATED_EMAIL, Some(edited())),
        (Method::DELETE, CREATED_EMAIL, None),
        (Method::GET, "/api/tenant/notifications/opt-outs", None),
        (
            Method::DELETE,
            "/api/tenant/notifications/opt-outs/email/1000000000000000001",
            None,
        ),
    ] {
        let (status, problem) = call(&app, &sam, method.clone(), path, body).await;
        assert_eq!(status, 403, "{method} {path}: {problem}");
    }
    assert_eq!(created_entry(&app, &owner).await["custom"], true);

    // Another clinic has only the defaults, and its preview is the default.
    let other = clinic(&app, "lakeside").await;
    let theirs = created_entry(&app, &other).await;
    assert_eq!(theirs["custom"], false, "{theirs}");
    let (_, preview) = call(&app, &other, Method::POST, PREVIEW, Some(rule)).await;
    assert_eq!(
        preview["subject"],
        "Your appointment on Mon 7 Dec 2026, 9:30 is booked"
    );
}
