//! Staff sessions: the cookie, login and logout, clinic binding, expiry, CSRF and throttling.

use std::time::{Duration, Instant};

use figment::providers::Serialized;
use reqwest::Method;

use crate::common::{PASSWORD, TestApp, session_cookie, spawn_app, spawn_app_with};

async fn whoami(app: &TestApp, subdomain: &str, cookie: &str) -> reqwest::StatusCode {
    app.on(Method::GET, subdomain, "/api/session", Some(cookie))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn logging_in_sets_an_opaque_host_only_http_only_lax_cookie() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let response = app
        .try_log_in("harbour", &clinic.owner_email, PASSWORD)
        .await;
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let attributes: Vec<String> = set_cookie
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attributes.contains(&"httponly".to_owned()), "{set_cookie}");
    assert!(
        attributes.contains(&"samesite=lax".to_owned()),
        "{set_cookie}"
    );
    assert!(attributes.contains(&"path=/".to_owned()), "{set_cookie}");
    assert!(
        !attributes.iter().any(|a| a.starts_with("domain")),
        "host-only: {set_cookie}"
    );
    assert!(
        !attributes.contains(&"secure".to_owned()),
        "plain http: {set_cookie}"
    );
    let value = session_cookie(&response)
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    assert!(value.len() >= 43, "at least 256 bits: {value}");
    assert!(!value.contains(&clinic.id) && !value.contains("owner"));
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_host_prefixed() {
    let app =
        spawn_app_with(|f| f.merge(Serialized::default("public_url", "https://localhost:8443")))
            .await;
    app.sign_up("harbour").await;
    let response = app
        .client
        .post(format!("{}/api/session", app.origin("harbour")))
        .header("origin", "https://harbour.localhost:8443")
        .json(&serde_json::json!({"email": "owner@harbour.example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        403,
        "the origin must match the port the request reached"
    );
    let response = app
        .client
        .post(format!("{}/api/session", app.origin("harbour")))
        .header("origin", format!("https://harbour.localhost:{}", app.port))
        .json(&serde_json::json!({"email": "owner@harbour.example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(set_cookie.starts_with("__Host-cg_session="), "{set_cookie}");
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
    assert!(
        !set_cookie.to_ascii_lowercase().contains("domain"),
        "{set_cookie}"
    );
}

#[tokio::test]
async fn the_session_says_who_is_logged_in_for_which_clinic() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let cookie = app
        .log_in("harbour", "OWNER@harbour.example.com", PASSWORD)
        .await;
    let response = app
        .on(Method::GET, "harbour", "/api/session", Some(&cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let me: serde_json::Value = response.json().await.unwrap();
    assert_eq!(me["user"]["email"], clinic.owner_email);
    assert_eq!(me["user"]["role"], "owner");
    assert_eq!(me["clinic"]["subdomain"], "harbour");
    assert_eq!(
        me["clinic"]["button_url"],
        "http://harbour.localhost:8080/patients"
    );
    assert_eq!(me["clinic"]["cliniko_connected"], false);
    let tenant: serde_json::Value = app
        .on(Method::GET, "harbour", "/api/tenant", Some(&cookie))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenant["wildcard_button_url"], "*.localhost:8080/patients");
    assert_eq!(tenant["id"], clinic.id);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let mut answers = Vec::new();
    for (email, password) in [
        (clinic.owner_email.as_str(), "not the right password"),
        ("nobody@harbour.example.com", PASSWORD),
        ("not even an email", PASSWORD),
    ] {
        let response = app.try_log_in("harbour", email, password).await;
        assert_eq!(response.status(), 401);
        assert!(response.headers().get("set-cookie").is_none());
        let problem: serde_json::Value = response.json().await.unwrap();
        answers.push((problem["code"].clone(), problem["detail"].clone()));
    }
    assert_eq!(answers[0].0, "invalid_credentials");
    assert!(answers.windows(2).all(|pair| pair[0] == pair[1]));
}

async fn timed_failed_login(app: &TestApp, email: &str) -> Duration {
    let started = Instant::now();
    let response = app
        .try_log_in("harbour", email, "a wrong password entirely")
        .await;
    assert_eq!(response.status(), 401);
    started.elapsed()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::test]
async fn the_time_a_login_takes_does_not_reveal_whether_the_email_exists() {
    // Limits high enough that throttling delays play no part.
    let app = spawn_app_with(|f| {
        f.merge(Serialized::default("login.max_failures_per_account", 1000))
            .merge(Serialized::default("login.max_failures_per_ip", 1000))
    })
    .await;
    let clinic = app.sign_up("harbour").await;
    // Interleaved, so a busy machine slows both kinds alike.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..9 {
        known.push(timed_failed_login(&app, &clinic.owner_email).await);
        unknown.push(timed_failed_login(&app, &format!("ghost{i}@harbour.example.com")).await);
    }
    let (wrong_password, unknown_email) = (median(known), median(unknown));
    // Without the dummy hash an unknown e-mail answers ~50x faster; noise stays well below 3x.
    assert!(
        unknown_email * 3 > wrong_password && wrong_password * 3 > unknown_email,
        "unknown e-mail {unknown_email:?} vs wrong password {wrong_password:?}"
    );
}

#[tokio::test]
async fn a_user_cannot_log_in_on_another_clinics_host() {
    let app = spawn_app().await;
    let a = app.sign_up("clinic-a").await;
    app.sign_up("clinic-b").await;
    let response = app.try_log_in("clinic-b", &a.owner_email, PASSWORD).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_session_from_one_clinic_is_refused_on_another_clinics_host() {
    let app = spawn_app().await;
    let a = app.sign_up("clinic-a").await;
    app.sign_up("clinic-b").await;
    let cookie = app.log_in("clinic-a", &a.owner_email, PASSWORD).await;
    assert_eq!(whoami(&app, "clinic-a", &cookie).await, 200);
    assert_eq!(whoami(&app, "clinic-b", &cookie).await, 401);
    let page = app
        .on(Method::GET, "clinic-b", "/settings/cliniko", Some(&cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(
        page.headers()["location"],
        "/login?next=%2Fsettings%2Fcliniko"
    );
    // Refusing it on B does not end it on A.
    assert_eq!(whoami(&app, "clinic-a", &cookie).await, 200);
}

#[tokio::test]
async fn logging_out_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let cookie = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let response = app
        .on(Method::DELETE, "harbour", "/api/session", Some(&cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // A copy of the cookie kept by an attacker is worthless now.
    assert_eq!(whoami(&app, "harbour", &cookie).await, 401);
}

#[tokio::test]
async fn logging_in_again_rotates_the_session() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let first = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let response = app
        .on(Method::POST, "harbour", "/api/session", Some(&first))
        .json(&serde_json::json!({"email": clinic.owner_email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let second = session_cookie(&response);
    assert_ne!(first, second);
    assert_eq!(whoami(&app, "harbour", &first).await, 401);
    assert_eq!(whoami(&app, "harbour", &second).await, 200);
}

#[tokio::test]
async fn an_idle_session_ends_after_the_idle_timeout() {
    let app =
        spawn_app_with(|f| f.merge(Serialized::default("session.idle_timeout_secs", 1))).await;
    let clinic = app.sign_up("harbour").await;
    let cookie = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    assert_eq!(whoami(&app, "harbour", &cookie).await, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(whoami(&app, "harbour", &cookie).await, 401);
}

#[tokio::test]
async fn an_active_session_still_ends_at_the_absolute_timeout() {
    let app = spawn_app_with(|f| {
        f.merge(Serialized::default("session.idle_timeout_secs", 2))
            .merge(Serialized::default("session.absolute_timeout_secs", 2))
    })
    .await;
    let clinic = app.sign_up("harbour").await;
    let cookie = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        assert_eq!(whoami(&app, "harbour", &cookie).await, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(whoami(&app, "harbour", &cookie).await, 401);
}

#[tokio::test]
async fn a_cookie_authenticated_write_is_refused_unless_it_comes_from_the_clinics_own_origin() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    app.sign_up("other").await;
    let cookie = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let url = format!("{}/api/tenant/users", app.origin("harbour"));
    let new_user = |email: &str| serde_json::json!({"email": email, "role": "clinician", "password": PASSWORD});

    let attempts = [
        None,
        Some(("origin", "http://evil.example".to_owned())),
        Some(("origin", app.origin("other"))),
        Some(("origin", "null".to_owned())),
        Some(("referer", "http://evil.example/harbour".to_owned())),
    ];
    for (i, header) in attempts.iter().enumerate() {
        let mut request = app.client.post(&url).header("cookie", &cookie);
        if let Some((name, value)) = header {
            request = request.header(*name, value);
        }
        let response = request
            .json(&new_user(&format!("x{i}@harbour.example.com")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{header:?}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "csrf_origin_mismatch");
    }
    // Without Origin, a same-origin Referer is enough (form posts from older browsers).
    let response = app
        .client
        .post(&url)
        .header("cookie", &cookie)
        .header(
            "referer",
            format!("{}/settings/users", app.origin("harbour")),
        )
        .json(&new_user("ok@harbour.example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    // Logout and login are writes too.
    let response = app
        .client
        .delete(format!("{}/api/session", app.origin("harbour")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(whoami(&app, "harbour", &cookie).await, 200);
}

fn throttled(
    max_per_account: u64,
    max_per_ip: u64,
) -> impl FnOnce(figment::Figment) -> figment::Figment {
    move |f| {
        f.merge(Serialized::default(
            "login.max_failures_per_account",
            max_per_account,
        ))
        .merge(Serialized::default("login.max_failures_per_ip", max_per_ip))
        .merge(Serialized::default("login.failure_window_secs", 60))
        .merge(Serialized::default("login.delay_step_ms", 300))
    }
}

#[tokio::test]
async fn repeated_failures_on_one_account_slow_down_then_get_429_with_retry_after() {
    let app = spawn_app_with(throttled(4, 1000)).await;
    let clinic = app.sign_up("harbour").await;
    let mut times = Vec::new();
    for _ in 0..4 {
        let started = Instant::now();
        let response = app
            .try_log_in("harbour", &clinic.owner_email, "wrong password!!")
            .await;
        times.push(started.elapsed());
        assert_eq!(response.status(), 401);
    }
    // From half the limit (2 failures) each attempt waits one more step.
    assert!(times[2] >= Duration::from_millis(300), "{times:?}");
    assert!(times[3] >= Duration::from_millis(600), "{times:?}");
    let response = app
        .try_log_in("harbour", &clinic.owner_email, PASSWORD)
        .await;
    assert_eq!(
        response.status(),
        429,
        "even the right password waits out the window"
    );
    assert_eq!(response.headers()["retry-after"], "60");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");
}

#[tokio::test]
async fn a_successful_login_resets_the_accounts_failures() {
    let app = spawn_app_with(throttled(3, 1000)).await;
    let clinic = app.sign_up("harbour").await;
    for _ in 0..2 {
        assert_eq!(
            app.try_log_in("harbour", &clinic.owner_email, "wrong password!!")
                .await
                .status(),
            401
        );
    }
    app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    for _ in 0..2 {
        assert_eq!(
            app.try_log_in("harbour", &clinic.owner_email, "wrong password!!")
                .await
                .status(),
            401
        );
    }
    app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
}

#[tokio::test]
async fn failures_across_many_accounts_from_one_address_are_throttled() {
    let app = spawn_app_with(throttled(1000, 4)).await;
    app.sign_up("harbour").await;
    for i in 0..4 {
        let email = format!("guess{i}@harbour.example.com");
        assert_eq!(
            app.try_log_in("harbour", &email, "wrong password!!")
                .await
                .status(),
            401
        );
    }
    let response = app
        .try_log_in("harbour", "guess9@harbour.example.com", "wrong password!!")
        .await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
}
