//! The public API's door (`ApiCaller`): authentication, the route's scope, the client's rate
//! limit, the request log — and failing closed when the shared store is down.

use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, test, web};
use chrono::Utc;
use clinicgate_api::http::host;
use clinicgate_api::public::{ApiCaller, PatientsRead, rate_limit_headers};
use clinicgate_core::tokens::{Scope, ScopeSet};
use figment::providers::Serialized;
use serde_json::Value;

use super::{clinic, create_client, get_with, token};
use crate::common::{spawn_app, spawn_app_with};
use crate::shared_store::{CuttableProxy, PrivateRedis};

#[tokio::test]
async fn me_names_the_client_its_clinic_and_scopes_with_rate_limit_headers() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read", "slots:read"], None).await;
    let access_token = token(&app, &client).await;
    let response = get_with(&app, "/api/public/me", &access_token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["ratelimit-policy"],
        "\"client\";q=600;w=60"
    );
    assert!(
        response.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"client\";r=599;t=")
    );
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["client_id"], client.id.as_str());
    assert_eq!(me["clinic_id"], owner.clinic.id.as_str());
    assert_eq!(
        me["scopes"],
        serde_json::json!(["doctors:read", "slots:read"])
    );

    let metrics = app.get("/metrics").await.text().await.unwrap();
    let line = metrics
        .lines()
        .find(|line| line.starts_with("api_client_requests_total{") && line.contains(&client.id))
        .expect("the request log counts the call");
    for label in [
        format!("clinic=\"{}\"", owner.clinic.id),
        "route=\"/api/public/me\"".to_owned(),
        "method=\"GET\"".to_owned(),
        "status=\"200\"".to_owned(),
    ] {
        assert!(line.contains(&label), "{label} in {line}");
    }
    assert!(
        !metrics.contains(&access_token),
        "never a token in the metrics"
    );
}

#[tokio::test]
async fn without_a_usable_token_the_public_api_answers_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let missing = app.get("/api/public/me").await;
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer realm=\"clinicgate\""
    );
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    let bad = get_with(&app, "/api/public/me", "not.a.token").await;
    assert_eq!(bad.status(), 401);
    assert_eq!(
        bad.headers()["www-authenticate"],
        "Bearer realm=\"clinicgate\", error=\"invalid_token\""
    );
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_token");

    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let on_clinic_host = app
        .client
        .get(format!("{}/api/public/me", app.origin("harbour")))
        .bearer_auth(token(&app, &client).await)
        .send()
        .await
        .unwrap();
    assert_eq!(
        on_clinic_host.status(),
        404,
        "the public API lives on the root host"
    );
}

#[tokio::test]
async fn a_token_minted_for_another_clinic_than_its_clients_is_refused() {
    let app = spawn_app().await;
    let a = clinic(&app, "clinic-a").await;
    let b = clinic(&app, "clinic-b").await;
    let a_client = create_client(&app, &a, &["doctors:read"], None).await;
    // Genuinely signed (with the deployment's own key), but claiming clinic B for A's client.
    let keys = app.state.tokens.keys().current();
    let scopes: ScopeSet = [Scope::DoctorsRead].into_iter().collect();
    let crossed = app
        .state
        .tokens
        .issuer()
        .issue(
            keys.signing_key(),
            &a_client.id,
            b.clinic.id.parse().unwrap(),
            &scopes,
            Utc::now(),
        )
        .unwrap()
        .token;
    assert_eq!(
        get_with(&app, "/api/public/me", &crossed).await.status(),
        401
    );
    assert_eq!(super::validate(&app, &crossed).await.0, 401);

    let a_token = token(&app, &a_client).await;
    let me: Value = get_with(&app, "/api/public/me", &a_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["clinic_id"],
        a.clinic.id.as_str(),
        "a token reaches its own clinic only"
    );
}

#[actix_web::test]
async fn a_route_refuses_a_token_without_its_scope_and_names_the_scope() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let reader = create_client(&app, &owner, &["doctors:read"], None).await;
    let patients = create_client(&app, &owner, &["patients:read"], None).await;
    let service = test::init_service(
        App::new()
            .app_data(web::Data::new(app.state.clone()))
            .route(
                "/patients-only",
                web::get().to(|caller: ApiCaller<PatientsRead>| async move {
                    HttpResponse::Ok().body(caller.ctx().tenant_id().to_string())
                }),
            )
            .wrap(from_fn(rate_limit_headers))
            .wrap(from_fn(host::route_by_host)),
    )
    .await;
    let call = |token: String| {
        test::TestRequest::get()
            .uri("/patients-only")
            .insert_header(("host", "localhost"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_request()
    };

    let refused = test::call_service(&service, call(token(&app, &reader).await)).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.headers().get("www-authenticate").unwrap(),
        "Bearer realm=\"clinicgate\", error=\"insufficient_scope\", scope=\"patients:read\""
    );
    let problem: Value = test::read_body_json(refused).await;
    assert_eq!(problem["code"], "insufficient_scope");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("patients:read")
    );

    let allowed = test::call_service(&service, call(token(&app, &patients).await)).await;
    assert_eq!(allowed.status(), 200);
    assert!(allowed.headers().contains_key("ratelimit"));
    let body = test::read_body(allowed).await;
    assert_eq!(
        body,
        owner.clinic.id.as_bytes(),
        "the context's tenant is the token's clinic"
    );
}

#[tokio::test]
async fn beyond_its_rate_limit_a_client_gets_429_with_retry_after_and_ratelimit_headers() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read"], Some(2)).await;
    let other = create_client(&app, &owner, &["doctors:read"], None).await;
    let access_token = token(&app, &client).await;
    for remaining in [1, 0] {
        let response = get_with(&app, "/api/public/me", &access_token).await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with(&format!("\"client\";r={remaining};"))
        );
    }
    let limited = get_with(&app, "/api/public/me", &access_token).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Two per minute means two in any minute: the next request waits for the first two to be a
    // minute old (a bucket would have dripped one back after 30 s).
    assert!((55..=61).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.headers()["ratelimit-policy"], "\"client\";q=2;w=60");
    let state = limited.headers()["ratelimit"].to_str().unwrap().to_owned();
    assert!(state.starts_with("\"client\";r=0;t="), "{state}");
    let problem: Value = limited.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");

    let unaffected = get_with(&app, "/api/public/me", &token(&app, &other).await).await;
    assert_eq!(unaffected.status(), 200, "limits are per client");
}

#[tokio::test]
async fn when_the_shared_store_is_down_the_public_api_fails_closed_with_503() {
    // The Redis under test, or (runs without one) a private redis-server when installed.
    let private;
    let redis_url = match clinicgate_adapters::testing::test_redis() {
        Some((url, _)) => secrecy::ExposeSecret::expose_secret(&url).to_owned(),
        None => match PrivateRedis::start().await {
            Some(started) => {
                private = started;
                private.url().to_owned()
            }
            None => {
                eprintln!(
                    "fail-closed test NOT run: it needs Redis (CLINICGATE_TEST_REDIS_URL or redis-server)"
                );
                return;
            }
        },
    };
    let (proxy, through_proxy) = CuttableProxy::in_front_of(&redis_url).await;
    let app =
        spawn_app_with(move |f| f.merge(Serialized::default("redis_url", through_proxy))).await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let access_token = token(&app, &client).await;
    assert_eq!(
        get_with(&app, "/api/public/me", &access_token)
            .await
            .status(),
        200
    );

    proxy.cut();
    let response = get_with(&app, "/api/public/me", &access_token).await;
    assert_eq!(response.status(), 503, "no unchecked request gets through");
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "service_unavailable");
    assert_eq!(super::validate(&app, &access_token).await.0, 503);
}
