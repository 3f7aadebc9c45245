//! `POST /api/auth/token`: the client-credentials grant and every RFC 6749 §5.2 error.

use figment::providers::Serialized;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Client, clinic, create_client, request_token, revoke, token, validate};
use crate::common::{spawn_app, spawn_app_with};

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_client_gets_a_token_with_basic_auth_validates_it_and_revokes_it() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read", "slots:read"], None).await;

    let response = request_token(&app, &client, &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "doctors:read slots:read");
    let access_token = body["access_token"].as_str().unwrap();

    let (status, introspection) = validate(&app, access_token).await;
    assert_eq!(status, 200);
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["client_id"], client.id.as_str());
    assert_eq!(introspection["sub"], client.id.as_str());
    assert_eq!(introspection["clinic_id"], owner.clinic.id.as_str());
    assert_eq!(introspection["scope"], "doctors:read slots:read");
    assert_eq!(introspection["iss"], app.state.settings.public_url.as_str());
    assert_eq!(introspection["aud"], "clinicgate-api");
    assert_eq!(introspection["token_type"], "Bearer");
    let exp = introspection["exp"].as_i64().unwrap();
    assert_eq!(exp - introspection["iat"].as_i64().unwrap(), 900);
    assert!(
        introspection["jti"]
            .as_str()
            .is_some_and(|jti| !jti.is_empty())
    );

    assert_eq!(revoke(&app, access_token, None).await.status(), 204);
    assert_eq!(
        validate(&app, access_token).await,
        (401, json!({"active": false}))
    );
    assert_eq!(
        revoke(&app, access_token, None).await.status(),
        204,
        "revoking twice is fine"
    );
}

#[tokio::test]
async fn client_credentials_in_a_form_or_json_body_are_accepted_too() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let url = format!("{}/api/auth/token", app.address);

    let form = app
        .client
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.id.as_str()),
            ("client_secret", client.secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);

    let json_body = app
        .client
        .post(&url)
        .json(&json!({"grant_type": "client_credentials", "client_id": client.id, "client_secret": client.secret, "scope": "doctors:read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 200);
    let body: Value = json_body.json().await.unwrap();
    assert_eq!(
        validate(&app, body["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn each_bad_token_request_gets_its_rfc_6749_error() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read", "slots:read"], None).await;
    let url = format!("{}/api/auth/token", app.address);
    let grant = [("grant_type", "client_credentials")];

    // (what, response, status, error)
    let cases = vec![
        (
            "no grant_type",
            request_token(&app, &client, &[("scope", "doctors:read")]).await,
            400,
            "invalid_request",
        ),
        (
            "another grant type",
            request_token(&app, &client, &[("grant_type", "password")]).await,
            400,
            "unsupported_grant_type",
        ),
        (
            "a repeated parameter",
            app.client
                .post(&url)
                .basic_auth(&client.id, Some(&client.secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials&grant_type=client_credentials")
                .send()
                .await
                .unwrap(),
            400,
            "invalid_request",
        ),
        (
            "a body that is neither a form nor JSON",
            app.client
                .post(&url)
                .basic_auth(&client.id, Some(&client.secret))
                .header("content-type", "text/plain")
                .body("grant_type=client_credentials")
                .send()
                .await
                .unwrap(),
            400,
            "invalid_request",
        ),
        (
            "two client authentication methods",
            app.client
                .post(&url)
                .basic_auth(&client.id, Some(&client.secret))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_secret", client.secret.as_str()),
                ])
                .send()
                .await
                .unwrap(),
            400,
            "invalid_request",
        ),
        (
            "an unknown scope",
            request_token(
                &app,
                &client,
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "doctors:read admin:all"),
                ],
            )
            .await,
            400,
            "invalid_scope",
        ),
        (
            "a scope the client does not have",
            request_token(
                &app,
                &client,
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "patients:read"),
                ],
            )
            .await,
            400,
            "invalid_scope",
        ),
        (
            "no client authentication",
            app.client.post(&url).form(&grant).send().await.unwrap(),
            401,
            "invalid_client",
        ),
        (
            "a wrong secret",
            request_token(
                &app,
                &Client {
                    id: client.id.clone(),
                    secret: "cgsk_wrong".to_owned(),
                },
                &grant,
            )
            .await,
            401,
            "invalid_client",
        ),
        (
            "an unknown client",
            request_token(
                &app,
                &Client {
                    id: "cgcl_AAAAAAAAAAAAAAAAAAAAAA".to_owned(),
                    secret: client.secret.clone(),
                },
                &grant,
            )
            .await,
            401,
            "invalid_client",
        ),
        (
            "a malformed Basic header",
            app.client
                .post(&url)
                .header("authorization", "Basic !!!not-base64")
                .form(&grant)
                .send()
                .await
                .unwrap(),
            401,
            "invalid_client",
        ),
        (
            "the body secret without its client id",
            app.client
                .post(&url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_secret", client.secret.as_str()),
                ])
                .send()
                .await
                .unwrap(),
            401,
            "invalid_client",
        ),
    ];
    for (what, response, status, error) in cases {
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let no_store = response.headers().get("cache-control").cloned();
        let (got_status, body) = error_of(response).await;
        assert_eq!(
            (got_status, body["error"].as_str()),
            (status, Some(error)),
            "{what}: {body}"
        );
        assert!(body["error_description"].is_string(), "{what}");
        assert_eq!(no_store.unwrap(), "no-store", "{what}");
        if status == 401 {
            assert_eq!(
                challenge.as_deref(),
                Some("Basic realm=\"clinicgate\""),
                "{what}"
            );
        }
    }

    let on_clinic_host = app
        .client
        .post(format!("{}/api/auth/token", app.origin("harbour")))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&grant)
        .send()
        .await
        .unwrap();
    assert_eq!(
        on_clinic_host.status(),
        404,
        "the token endpoint is on the root host only"
    );
}

#[tokio::test]
async fn a_requested_subset_of_scopes_is_granted_and_no_scope_means_all_of_them() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(
        &app,
        &owner,
        &["doctors:read", "slots:read", "patients:read"],
        None,
    )
    .await;
    let response = request_token(
        &app,
        &client,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "slots:read"),
        ],
    )
    .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "slots:read");
    let (_, introspection) = validate(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(introspection["scope"], "slots:read");

    let all = token(&app, &client).await;
    assert_eq!(
        validate(&app, &all).await.1["scope"],
        "doctors:read slots:read patients:read"
    );
}

#[tokio::test]
async fn repeated_failed_client_authentications_are_refused_with_429_even_with_the_right_secret() {
    let app =
        spawn_app_with(|f| f.merge(Serialized::default("tokens.max_failed_auth_per_client", 3)))
            .await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let wrong = Client {
        id: client.id.clone(),
        secret: "cgsk_guess".to_owned(),
    };
    let grant = [("grant_type", "client_credentials")];
    for _ in 0..3 {
        assert_eq!(request_token(&app, &wrong, &grant).await.status(), 401);
    }
    let response = request_token(&app, &client, &grant).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
}

#[tokio::test]
async fn a_rotated_secret_keeps_working_during_the_grace_period() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let old = create_client(&app, &owner, &["doctors:read"], None).await;
    let response = app
        .on(
            Method::POST,
            "harbour",
            &format!("/api/tenant/clients/{}/rotate-secret", old.id),
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let new = Client {
        id: old.id.clone(),
        secret: body["client_secret"].as_str().unwrap().to_owned(),
    };
    assert_ne!(new.secret, old.secret);
    let grace_ends: chrono::DateTime<chrono::Utc> = body["previous_secret_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let hours = (grace_ends - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!(
        (23.9..=24.0).contains(&hours),
        "a 24-hour grace period, got {hours} h"
    );
    let grant = [("grant_type", "client_credentials")];
    assert_eq!(request_token(&app, &new, &grant).await.status(), 200);
    assert_eq!(
        request_token(&app, &old, &grant).await.status(),
        200,
        "the old secret still works"
    );
}

#[tokio::test]
async fn without_a_grace_period_the_old_secret_stops_at_once() {
    let app =
        spawn_app_with(|f| f.merge(Serialized::default("tokens.secret_grace_hours", 0))).await;
    let owner = clinic(&app, "harbour").await;
    let old = create_client(&app, &owner, &["doctors:read"], None).await;
    let earlier_token = token(&app, &old).await;
    let response = app
        .on(
            Method::POST,
            "harbour",
            &format!("/api/tenant/clients/{}/rotate-secret", old.id),
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let new = Client {
        id: old.id.clone(),
        secret: body["client_secret"].as_str().unwrap().to_owned(),
    };
    let grant = [("grant_type", "client_credentials")];
    assert_eq!(request_token(&app, &old, &grant).await.status(), 401);
    assert_eq!(request_token(&app, &new, &grant).await.status(), 200);
    assert_eq!(
        validate(&app, &earlier_token).await.0,
        200,
        "rotating the secret does not revoke tokens already issued"
    );
}

#[tokio::test]
async fn a_suspended_clinics_client_cannot_get_a_token() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    app.state
        .clinics
        .set_status(
            owner.clinic.id.parse().unwrap(),
            clinicgate_core::clinics::ClinicStatus::Suspended,
        )
        .await
        .unwrap();
    let response = request_token(&app, &client, &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_of(response).await.1["error"], "invalid_client");
}
