//! The HTML pages: labelled forms, no inline script, login flow with safe redirects, assets.

use reqwest::Method;

use crate::common::{PASSWORD, TestApp, spawn_app};

/// Every `<input>`, `<select>` and `<textarea>` with an id has a `<label for>` (hidden inputs
/// excepted), and there is no inline script or style attribute (the CSP would block them).
pub fn assert_accessible_and_csp_clean(html: &str, page: &str) {
    for tag in ["<input", "<select", "<textarea"] {
        for element in html
            .split(tag)
            .skip(1)
            .map(|rest| rest.split('>').next().unwrap())
        {
            if element.contains("type=\"hidden\"") {
                continue;
            }
            let id = element
                .split("id=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("{page}: {tag} without an id: {element}"));
            assert!(
                html.contains(&format!("<label for=\"{id}\"")),
                "{page}: no <label for=\"{id}\">"
            );
        }
    }
    assert!(!html.contains("<script>"), "{page}: inline script");
    for script in html.split("<script").skip(1) {
        assert!(
            script.split('>').next().unwrap().contains("src=\"/static/"),
            "{page}: script not from /static/"
        );
    }
    assert!(
        !html.contains(" style=\""),
        "{page}: inline style attribute"
    );
    assert!(
        !html.contains("//cdn") && !html.contains("https://"),
        "{page}: external resource"
    );
}

async fn page(
    app: &TestApp,
    sub: Option<&str>,
    path: &str,
    cookie: Option<&str>,
) -> (reqwest::StatusCode, String) {
    let request = match sub {
        Some(sub) => app.on(Method::GET, sub, path, cookie),
        None => app.client.get(format!("{}{path}", app.address)),
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    if status == 200 {
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8",
            "{path}"
        );
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("default-src 'self'"), "{csp}");
    }
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_landing_page_explains_clinicgate_and_offers_a_labelled_sign_up_form() {
    let app = spawn_app().await;
    let (status, html) = page(&app, None, "/", None).await;
    assert_eq!(status, 200);
    for label in ["Clinic name", "Subdomain", "Email", "Password"] {
        assert!(html.contains(&format!(">{label}</label>")), "{label}");
    }
    assert!(
        html.contains("data-host=\"localhost:8080\""),
        "the preview knows the public host"
    );
    assert!(html.contains("Cliniko"));
    assert!(html.contains("src=\"/static/signup.js\""));
    assert_accessible_and_csp_clean(&html, "landing");
}

#[tokio::test]
async fn every_clinic_page_has_labelled_fields_and_no_inline_script() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let (status, login) = page(&app, Some("harbour"), "/login?welcome=1", None).await;
    assert_eq!(status, 200);
    assert!(login.contains("Your clinic is ready"));
    assert!(login.contains("Clinic harbour"));
    assert_accessible_and_csp_clean(&login, "login");

    let cookie = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    for path in [
        "/",
        "/settings/cliniko",
        "/settings/users",
        "/settings/clients",
        "/settings/partners",
        "/settings/webhooks",
        "/settings/notifications",
        "/settings/sign-in",
        "/logout",
    ] {
        let (status, html) = page(&app, Some("harbour"), path, Some(&cookie)).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            html.contains(&clinic.owner_email),
            "{path} shows who is logged in"
        );
        assert_accessible_and_csp_clean(&html, path);
    }
    let (_, settings) = page(&app, Some("harbour"), "/settings/cliniko", Some(&cookie)).await;
    assert!(settings.contains("http://harbour.localhost:8080/patients"));
    assert!(settings.contains("*.localhost:8080/patients"));
    assert!(settings.contains("Settings → Our clinic → Integrations"));
}

#[tokio::test]
async fn clinic_pages_without_a_session_send_the_browser_to_log_in_and_back() {
    let app = spawn_app().await;
    app.sign_up("harbour").await;
    for (path, next) in [
        ("/", "%2F"),
        ("/settings/users", "%2Fsettings%2Fusers"),
        ("/settings/cliniko?tab=1", "%2Fsettings%2Fcliniko%3Ftab%3D1"),
    ] {
        let response = app
            .on(Method::GET, "harbour", path, None)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(
            response.headers()["location"],
            format!("/login?next={next}"),
            "{path}"
        );
    }
}

async fn form_login(app: &TestApp, email: &str, password: &str, next: &str) -> reqwest::Response {
    app.on(Method::POST, "harbour", "/login", None)
        .form(&[("email", email), ("password", password), ("next", next)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_login_form_goes_on_only_to_paths_on_the_same_host() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    for (next, expected) in [
        ("/settings/users", "/settings/users"),
        (
            "/patients?patient_id=836447129235883061",
            "/patients?patient_id=836447129235883061",
        ),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/%2F%2Fevil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("%2F%2Fevil.example", "/"),
        ("", "/"),
    ] {
        let response = form_login(&app, &clinic.owner_email, PASSWORD, next).await;
        assert_eq!(response.status(), 303, "{next}");
        assert_eq!(response.headers()["location"], expected, "{next}");
        assert!(
            response.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .contains("cg_session=")
        );
    }
}

#[tokio::test]
async fn a_failed_form_login_shows_the_form_again_with_one_generic_message() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let mut pages = Vec::new();
    for (email, password) in [
        (clinic.owner_email.as_str(), "wrong password here"),
        ("nobody@harbour.example.com", PASSWORD),
    ] {
        let response = form_login(&app, email, password, "/settings/users").await;
        assert_eq!(response.status(), 401);
        assert!(response.headers().get("set-cookie").is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains("The e-mail address or password is incorrect."));
        assert!(
            html.contains(&format!("value=\"{email}\"")),
            "the e-mail is kept"
        );
        assert!(html.contains("value=\"/settings/users\""), "next is kept");
        pages.push(html.replace(email, "EMAIL"));
    }
    assert_eq!(pages[0], pages[1], "the two failures must look identical");
}

#[tokio::test]
async fn a_form_login_from_another_origin_is_refused() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let response = app
        .client
        .post(format!("{}/login", app.origin("harbour")))
        .header("origin", "http://evil.example")
        .header("accept", "text/html")
        .form(&[
            ("email", clinic.owner_email.as_str()),
            ("password", PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none());
    assert!(response.text().await.unwrap().contains("Request id"));
}

#[tokio::test]
async fn logging_out_through_the_page_ends_the_session() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let cookie = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let response = app
        .on(Method::POST, "harbour", "/logout", Some(&cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login?logged_out=1");
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let status = app
        .on(Method::GET, "harbour", "/api/session", Some(&cookie))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn static_assets_are_embedded_with_their_content_types() {
    let app = spawn_app().await;
    app.sign_up("harbour").await;
    for (path, content_type) in [
        ("/static/app.css", "text/css; charset=utf-8"),
        ("/static/common.js", "text/javascript; charset=utf-8"),
        ("/static/signup.js", "text/javascript; charset=utf-8"),
        (
            "/static/cliniko-settings.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/static/users-settings.js",
            "text/javascript; charset=utf-8",
        ),
        ("/static/logo.svg", "image/svg+xml"),
    ] {
        for response in [
            app.get(path).await,
            app.on(Method::GET, "harbour", path, None)
                .send()
                .await
                .unwrap(),
        ] {
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(response.headers()["content-type"], content_type, "{path}");
            assert!(!response.bytes().await.unwrap().is_empty());
        }
    }
    assert_eq!(app.get("/static/nope.js").await.status(), 404);
    assert_eq!(app.get("/static/../Cargo.toml").await.status(), 404);
}

#[tokio::test]
async fn error_pages_on_a_clinic_host_keep_the_clinics_name_and_navigation() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let owner = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    app.add_user("harbour", &owner, "kim@harbour.example.com", "clinician")
        .await;
    let clinician = app
        .log_in("harbour", "kim@harbour.example.com", PASSWORD)
        .await;

    // A clinician opening the ledger: refused, inside the clinic's own pages.
    let (status, html) = page(&app, Some("harbour"), "/settings/audit", Some(&clinician)).await;
    assert_eq!(status, 403);
    assert!(html.contains("Not allowed"), "{html}");
    assert!(html.contains("Clinic harbour"), "the clinic's name: {html}");
    assert!(
        html.contains("kim@harbour.example.com") && html.contains("action=\"/logout\""),
        "who is logged in, and the way out: {html}"
    );
    assert_accessible_and_csp_clean(&html, "403");

    // Another clinic's host shows its own name, never this one's.
    app.sign_up("thames").await;
    let (status, html) = page(&app, Some("thames"), "/settings/audit", Some(&clinician)).await;
    assert_ne!(status, 200);
    assert!(
        !html.contains("Clinic harbour") && !html.contains("kim@"),
        "{html}"
    );
}
