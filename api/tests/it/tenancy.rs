//! Host routing: the root host, clinic hosts, and every other host.

use clinicgate_core::clinics::{ClinicStatus, Subdomain};
use reqwest::Method;

use crate::common::spawn_app;

async fn get_with_host(app: &crate::common::TestApp, host: &str, path: &str) -> reqwest::Response {
    app.client
        .get(format!("http://127.0.0.1:{}{path}", app.port))
        .header("host", host)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn unknown_and_suspended_clinics_and_foreign_hosts_all_get_the_same_404() {
    let app = spawn_app().await;
    let clinic = app.sign_up("quiet").await;
    let port = app.port;

    let live = get_with_host(&app, &format!("quiet.localhost:{port}"), "/login").await;
    assert_eq!(live.status(), 200);

    app.state
        .clinics
        .set_status(clinic.id.parse().unwrap(), ClinicStatus::Suspended)
        .await
        .unwrap();
    let mut bodies = Vec::new();
    for host in [
        format!("quiet.localhost:{port}"),
        format!("nobody.localhost:{port}"),
        format!("fr.eu.localhost:{port}"),
        format!("my_clinic.localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "evil.example".to_owned(),
    ] {
        let response = get_with_host(&app, &host, "/login").await;
        assert_eq!(response.status(), 404, "{host}");
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.text().await.unwrap();
        assert!(!body.contains("quiet"), "{host}: the page names the clinic");
        assert!(
            body.contains(&format!(
                "href=\"{}\"",
                app.state.settings.public_url.as_str()
            )),
            "{host}: the page does not lead to the public URL"
        );
        // The page is styled wherever it is shown.
        let css = get_with_host(&app, &host, "/static/app.css").await;
        assert_eq!(css.status(), 200, "{host}: no stylesheet");
        assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
        bodies.push(body.replace(&request_id, "ID"));
    }
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "the 404 pages differ"
    );
    assert!(
        app.state
            .clinics
            .find_by_subdomain(&Subdomain::parse("quiet").unwrap())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_request_without_a_host_is_refused() {
    let app = spawn_app().await;
    // HTTP/1.0 allows omitting Host; a raw request is the only way to send none.
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(
        response.starts_with("HTTP/1.0 404") || response.starts_with("HTTP/1.1 404"),
        "{response}"
    );
}

#[tokio::test]
async fn operator_endpoints_answer_on_any_host() {
    let app = spawn_app().await;
    let response = get_with_host(&app, &format!("10.0.0.7:{}", app.port), "/healthz").await;
    assert_eq!(response.status(), 200);
    let response = get_with_host(&app, &format!("10.0.0.7:{}", app.port), "/openapi.json").await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn clinic_hosts_match_case_insensitively_with_a_trailing_dot() {
    let app = spawn_app().await;
    app.sign_up("harbour").await;
    for host in [
        format!("HARBOUR.LocalHost:{}", app.port),
        format!("harbour.localhost.:{}", app.port),
        "harbour.localhost".to_owned(),
    ] {
        assert_eq!(
            get_with_host(&app, &host, "/login").await.status(),
            200,
            "{host}"
        );
    }
}

#[tokio::test]
async fn tenant_apis_do_not_exist_on_the_root_host() {
    let app = spawn_app().await;
    for path in [
        "/api/session",
        "/api/tenant",
        "/api/tenant/users",
        "/api/tenant/cliniko-key",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    // `/login` on the root host is the page that asks for the clinic's address (see identity).
    let clinic = app.sign_up("harbour").await;
    let response = app
        .on(Method::GET, &clinic.subdomain, "/api/tenant", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_patient_button_on_any_host_but_an_active_clinics_is_the_same_404_page() {
    let app = spawn_app().await;
    let clinic = app.sign_up("quiet").await;
    app.state
        .clinics
        .set_status(clinic.id.parse().unwrap(), ClinicStatus::Suspended)
        .await
        .unwrap();
    let port = app.port;
    let mut bodies = Vec::new();
    for host in [
        format!("quiet.localhost:{port}"),
        format!("QUIET.localhost.:{port}"),
        format!("nobody.localhost:{port}"),
        format!("fr.eu.localhost:{port}"),
        format!("my_clinic.localhost:{port}"),
        format!("quiet.localhost.evil.example:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "[::1]".to_owned(),
        format!("localhost:{port}"),
    ] {
        let response = get_with_host(&app, &host, "/patients?patient_id=836447129235883061").await;
        assert_eq!(response.status(), 404, "{host}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{host}: browsers get a page"
        );
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("quiet") && !body.contains("836447129235883061"),
            "{host}"
        );
        bodies.push(body.replace(&request_id, "ID"));
    }
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "the 404 pages differ"
    );
}
