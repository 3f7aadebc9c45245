//! Unsubscribing: every patient e-mail carries a link to the clinic's host and the RFC 8058
//! headers; `GET` on the link only asks, `POST` (one-click, as a mail client sends it) records
//! the opt-out, repeatably; the next event sends that patient nothing and the history says
//! why; an altered token or another clinic's host changes nothing; the clinic sees the opt-out
//! by Cliniko id and clearing it makes e-mails go again.

use mail_parser::HeaderValue;
use reqwest::Method;
use serde_json::{Value, json};

use super::sink::{Received, SmtpSink};
use super::{book_slot, call, enable, finished};
use crate::common::TestApp;
use crate::polling::{Reception, connected, roomy_sandbox};
use crate::public_api::app_on;
use crate::webhooks::Partner;

const OPT_OUTS: &str = "/api/tenant/notifications/opt-outs";

const SCOPES: &[&str] = &[
    "appointments:read",
    "appointments:write",
    "patients:read",
    "doctors:read",
    "slots:read",
];

/// A raw header of `message`, as text.
fn header(message: &Received, name: &str) -> String {
    let parsed = message.parsed();
    let value = parsed
        .header(name)
        .unwrap_or_else(|| panic!("no {name} header"));
    match value {
        HeaderValue::Text(text) => text.to_string(),
        HeaderValue::TextList(list) => list.join(","),
        HeaderValue::Address(address) => address
            .first()
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned(),
        other => panic!("{name}: {other:?}"),
    }
}

/// The unsubscribe URL of `message`, from its `List-Unsubscribe` header.
fn unsubscribe_url(message: &Received) -> String {
    let raw = message
        .parsed()
        .header_raw("List-Unsubscribe")
        .expect("a List-Unsubscribe header")
        .trim()
        .to_owned();
    raw.strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .unwrap_or_else(|| panic!("{raw}"))
        .to_owned()
}

/// `method url` as a mail client or a browser sends it (no session, no `Origin`).
async fn visit(app: &TestApp, method: Method, url: &str) -> (u16, String) {
    let mut request = app.client.request(method.clone(), url);
    if method == Method::POST {
        request = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click");
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

async fn opt_outs(app: &TestApp, clinic: &crate::tokens::Clinic) -> Vec<Value> {
    let (status, body) = call(app, clinic, Method::GET, OPT_OUTS, None).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_patient_unsubscribes_with_one_click_gets_nothing_more_and_hears_again_once_cleared() {
    let sink = SmtpSink::start().await;
    let sandbox = roomy_sandbox();
    let app = app_on(&sandbox, |f| sink.relay_for(f)).await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    let lakeside = crate::tokens::clinic(&app, "lakeside").await;
    enable(
        &app,
        &clinic.owner,
        &[
            ("appointment.created", "patient"),
            ("appointment.created", "staff"),
        ],
        Some("desk@harbour.example"),
    )
    .await;
    let desk = Reception::at(&sandbox, &clinic.key);
    let tama = desk
        .post(
            "/patients",
            json!({"first_name": "Tama", "last_name": "Wiremu", "email": "tama@example.org"}),
        )
        .await;
    let tama = tama["id"].as_str().unwrap().to_owned();
    let partner = Partner::on_clinic(app, clinic.owner, SCOPES).await;
    let book_tama = |nth: usize| {
        let tama = tama.clone();
        let partner = &partner;
        async move {
            book_slot(
                partner,
                |free| free[nth].clone(),
                |booking| {
                    booking.as_object_mut().unwrap().remove("patient");
                    booking["patient_id"] = json!(tama);
                },
            )
            .await
        }
    };

    // The confirmation carries the link (in both parts) and the one-click headers; the staff
    // copy carries neither (staff are not a list anyone subscribed to).
    book_tama(0).await;
    let first = sink
        .wait_for("tama@example.org", "Your appointment on")
        .await;
    let staff = sink.wait_for("desk@harbour.example", "Booked: Tama").await;
    assert!(staff.parsed().header_raw("List-Unsubscribe").is_none());
    assert!(!staff.parsed().body_text(0).unwrap().contains("unsubscribe"));
    let to_tama = || {
        sink.messages()
            .iter()
            .filter(|m| m.to == ["tama@example.org"])
            .count()
    };
    let url = unsubscribe_url(&first);
    // The link is on the clinic's host under the configured public URL (port 8080 in tests;
    // the server listens on another, so the visits below go to its real port).
    let (configured, path) = url.split_at(url.find("/unsubscribe/").unwrap());
    assert_eq!(configured, "http://harbour.localhost:8080", "{url}");
    assert!(!url.contains(&tama), "the URL holds no patient id: {url}");
    assert_eq!(
        header(&first, "List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    let parsed = first.parsed();
    assert!(parsed.body_text(0).unwrap().contains(&url));
    assert!(
        parsed
            .body_html(0)
            .unwrap()
            .contains(&url.replace('/', "&#x2f;"))
    );

    // A GET (a link scanner, or the patient opening it) only asks.
    let link = format!("{}{path}", partner.app.origin("harbour"));
    let (status, page) = visit(&partner.app, Method::GET, &link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<button"), "{page}");
    assert!(opt_outs(&partner.app, &partner.clinic).await.is_empty());

    // An altered token, or the link on another clinic's host, changes nothing.
    let (head, token) = link.rsplit_once('/').unwrap();
    let flipped: String = token
        .chars()
        .enumerate()
        .map(|(i, c)| match (i, c) {
            (10, 'A') => 'B',
            (10, _) => 'A',
            (_, c) => c,
        })
        .collect();
    let (status, _) = visit(&partner.app, Method::POST, &format!("{head}/{flipped}")).await;
    assert_eq!(status, 400);
    let elsewhere = format!("{}/unsubscribe/{token}", partner.app.origin("lakeside"));
    let (status, _) = visit(&partner.app, Method::POST, &elsewhere).await;
    assert_eq!(status, 400);
    assert!(opt_outs(&partner.app, &partner.clinic).await.is_empty());
    assert!(opt_outs(&partner.app, &lakeside).await.is_empty());

    // One click (twice: idempotent) records it.
    for _ in 0..2 {
        let (status, page) = visit(&partner.app, Method::POST, &link).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("You are unsubscribed"), "{page}");
    }
    let recorded = opt_outs(&partner.app, &partner.clinic).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["patient_id"], tama.as_str());
    assert_eq!(recorded[0]["channel"], "email");
    assert_eq!(recorded[0]["in_force"], true);
    assert!(opt_outs(&partner.app, &lakeside).await.is_empty());

    // The next booking sends Tama nothing, and the history says why.
    book_tama(1).await;
    let entries = finished(&partner.app, &partner.clinic, 4).await;
    let withheld = entries
        .iter()
        .find(|e| e["last_error"] == "nothing_to_send")
        .unwrap_or_else(|| panic!("{entries:?}"));
    assert!(
        withheld["answer"]
            .as_str()
            .unwrap()
            .contains("opted out (unsubscribed"),
        "{withheld}"
    );
    assert_eq!(to_tama(), 1, "nothing more sent to Tama");

    // The clinic clears it (once): e-mails go again.
    let path = format!("{OPT_OUTS}/email/{tama}");
    let (status, _) = call(&partner.app, &partner.clinic, Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&partner.app, &lakeside, Method::DELETE, &path, None).await;
    assert_eq!(status, 404, "another clinic clears nothing here");
    let (status, _) = call(&partner.app, &partner.clinic, Method::DELETE, &path, None).await;
    assert_eq!(status, 404, "nothing left in force");
    let cleared = opt_outs(&partner.app, &partner.clinic).await;
    assert_eq!(cleared[0]["in_force"], false, "{cleared:?}");
    assert!(cleared[0]["cleared_by"].is_string(), "{cleared:?}");
    book_tama(2).await;
    for _ in 0..300 {
        if to_tama() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(to_tama(), 2, "Tama hears again");
}
