//! A clinic that requires two-step login: the owner's switch (`PATCH /api/tenant/settings`),
//! staff without MFA held to enrolment (pages send them to the account page, JSON routes answer
//! `mfa_enrolment_required`), the patient button's page reached once enrolled, and other clinics
//! left alone.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp, session_cookie};
use crate::mfa::{app, code_at, current_step, enrolled_owner, json_on, log_in_with_code};

const PATIENT_PAGE: &str = "/patients?patient_id=1001";

/// `PATCH /api/tenant/settings` with `body` as the holder of `cookie`.
async fn patch_settings(app: &TestApp, sub: &str, cookie: &str, body: Value) -> (u16, Value) {
    json_on(
        app,
        Method::PATCH,
        sub,
        "/api/tenant/settings",
        Some(cookie),
        body,
    )
    .await
}

/// `GET path` on `sub`'s host with `cookie`.
async fn get(app: &TestApp, sub: &str, path: &str, cookie: &str) -> reqwest::Response {
    app.on(Method::GET, sub, path, Some(cookie))
        .send()
        .await
        .unwrap()
}

/// The text between `start` and the next `end` in `html`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    html.split(start)
        .nth(1)
        .and_then(|rest| rest.split(end).next())
        .unwrap_or_else(|| panic!("{start:?} not in {html}"))
}

#[tokio::test]
async fn only_an_owner_switches_the_requirement_and_bad_values_change_nothing() {
    let app = app().await;
    let clinic = app.sign_up("harbour").await;
    let owner = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    app.add_user("harbour", &owner, "admin@harbour.example.com", "admin")
        .await;
    let admin = app
        .log_in("harbour", "admin@harbour.example.com", PASSWORD)
        .await;

    let (status, body) = get_json(&app, "harbour", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"mfa_required": false, "partner_id_field": null})
    );

    let (status, body) =
        patch_settings(&app, "harbour", &admin, json!({"mfa_required": true})).await;
    assert_eq!(status, 403, "an admin may not: {body}");
    for bad in [
        json!({}),
        json!({"partner_id_field": "notes"}),
        json!({"mfa_required": "yes"}),
        json!({"mfa_required": true, "unknown": 1}),
    ] {
        let (status, body) = patch_settings(&app, "harbour", &owner, bad.clone()).await;
        assert!(status == 422 || status == 400, "{bad}: {status} {body}");
    }
    let (_, body) = get_json(&app, "harbour", &owner).await;
    assert_eq!(body["mfa_required"], false, "nothing changed");
    assert_eq!(body["partner_id_field"], Value::Null);

    // Without a session: 401, and the setting stays off.
    let response = app
        .on(Method::PATCH, "harbour", "/api/tenant/settings", None)
        .json(&json!({"mfa_required": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (_, body) = get_json(&app, "harbour", &owner).await;
    assert_eq!(body["mfa_required"], false);
}

async fn get_json(app: &TestApp, sub: &str, cookie: &str) -> (u16, Value) {
    let response = get(app, sub, "/api/tenant/settings", cookie).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn staff_without_mfa_are_sent_to_enrolment_and_land_on_the_patient_afterwards() {
    let app = app().await;
    let step = current_step();
    let (owner_email, owner_secret, _) = enrolled_owner(&app, "harbour", step).await;
    let owner = log_in_with_code(
        &app,
        "harbour",
        &owner_email,
        &code_at(&owner_secret, step + 1),
    )
    .await;
    app.add_user("harbour", &owner, "sam@harbour.example.com", "clinician")
        .await;
    let bayside = app.sign_up("bayside").await;
    let bayside_owner = app.log_in("bayside", &bayside.owner_email, PASSWORD).await;

    let (status, body) =
        patch_settings(&app, "harbour", &owner, json!({"mfa_required": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mfa_required"], true);
    assert_eq!(
        get(&app, "harbour", "/api/tenant", &owner).await.status(),
        200,
        "an owner with MFA goes on as before"
    );
    assert_eq!(
        get(&app, "bayside", "/api/tenant", &bayside_owner)
            .await
            .status(),
        200,
        "another clinic is not affected"
    );

    // The clinician clicks the patient button and logs in with the password alone.
    let response = app
        .on(Method::POST, "harbour", "/login", None)
        .form(&[
            ("email", "sam@harbour.example.com"),
            ("password", PASSWORD),
            ("next", PATIENT_PAGE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let sam = session_cookie(&response);

    let response = get(&app, "harbour", PATIENT_PAGE, &sam).await;
    assert_eq!(response.status(), 303, "held for enrolment");
    let enrol_at = "/account?next=%2Fpatients%3Fpatient_id%3D1001#mfa";
    assert_eq!(response.headers()["location"], enrol_at);
    let response = get(&app, "harbour", "/api/tenant/users", &sam).await;
    assert_eq!(response.status(), 403);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "mfa_enrolment_required", "{problem}");
    assert_eq!(
        problem["type"],
        "urn:clinicgate:problem:mfa_enrolment_required"
    );

    let html = get(
        &app,
        "harbour",
        "/account?next=%2Fpatients%3Fpatient_id%3D1001",
        &sam,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        html.contains("Clinic harbour requires two-step login"),
        "{html}"
    );
    crate::pages::assert_accessible_and_csp_clean(&html, "/account (MFA required)");
    let enrolment = between(&html, "action=\"/account/mfa/enrolment", "\"");
    assert_eq!(enrolment, "?next=%2Fpatients%3Fpatient_id%3D1001");

    let response = app
        .on(
            Method::POST,
            "harbour",
            &format!("/account/mfa/enrolment{enrolment}"),
            Some(&sam),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    let secret = between(&html, "Enter this key in the app: <code>", "<").to_owned();
    let confirm = between(&html, "action=\"/account/mfa/confirm", "\"").to_owned();
    assert_eq!(confirm, enrolment, "the page to come back to is carried on");

    let response = app
        .on(
            Method::POST,
            "harbour",
            &format!("/account/mfa/confirm{confirm}"),
            Some(&sam),
        )
        .form(&[("code", code_at(&secret, current_step()).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("recovery-codes"), "{html}");
    assert_eq!(
        between(&html, "<a class=\"button\" href=\"", "\""),
        PATIENT_PAGE
    );

    // Enrolled: the patient page and the JSON routes serve the same session again.
    let response = get(&app, "harbour", PATIENT_PAGE, &sam).await;
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    assert!(
        !location.as_deref().unwrap_or("").starts_with("/account"),
        "{location:?}"
    );
    assert_eq!(
        get(&app, "harbour", "/api/tenant", &sam).await.status(),
        200
    );
}

#[tokio::test]
async fn switching_the_requirement_off_frees_staff_without_mfa() {
    let app = app().await;
    let step = current_step();
    let (owner_email, owner_secret, _) = enrolled_owner(&app, "harbour", step).await;
    let owner = log_in_with_code(
        &app,
        "harbour",
        &owner_email,
        &code_at(&owner_secret, step + 1),
    )
    .await;
    app.add_user("harbour", &owner, "sam@harbour.example.com", "clinician")
        .await;
    let sam = app
        .log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;
    let (status, _) = patch_settings(&app, "harbour", &owner, json!({"mfa_required": true})).await;
    assert_eq!(status, 200);
    assert_eq!(
        get(&app, "harbour", "/api/tenant", &sam).await.status(),
        403
    );
    assert_eq!(
        get(&app, "harbour", "/", &sam).await.headers()["location"],
        "/account?next=%2F#mfa"
    );
    let (status, _) = patch_settings(&app, "harbour", &owner, json!({"mfa_required": false})).await;
    assert_eq!(status, 200);
    assert_eq!(
        get(&app, "harbour", "/api/tenant", &sam).await.status(),
        200
    );
}
