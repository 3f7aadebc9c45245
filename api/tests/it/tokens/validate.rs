//! `GET /api/auth/validate`, `DELETE /api/auth/revoke` and `/.well-known/jwks.json`: what a
//! genuine token looks like to a partner, and every way a token is refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use clinicgate_core::clinics::ClinicStatus;
use clinicgate_core::tokens::{Scope, ScopeSet, TokenIssuer};
use jwt_simple::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use super::{clinic, create_client, decode_part, encode_part, revoke, token, validate};
use crate::common::spawn_app;

/// A token signed with the deployment's real key, with chosen times or issuer, as a stand-in for
/// tokens that were genuine once (expired) or are genuine but not for us.
fn minted(
    app: &crate::common::TestApp,
    client_id: &str,
    clinic_id: &str,
    issuer: &TokenIssuer,
    at: chrono::DateTime<Utc>,
) -> String {
    let keys = app.state.tokens.keys().current();
    let scopes: ScopeSet = [Scope::DoctorsRead].into_iter().collect();
    issuer
        .issue(
            keys.signing_key(),
            client_id,
            clinic_id.parse().unwrap(),
            &scopes,
            at,
        )
        .unwrap()
        .token
}

#[derive(Debug, Serialize, Deserialize)]
struct OurClaims {
    tid: String,
    scope: String,
}

#[tokio::test]
async fn a_partner_verifies_an_issued_token_offline_with_the_jwks_and_another_jwt_library() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read", "slots:read"], None).await;
    let access_token = token(&app, &client).await;

    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), 200);
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(cache, "public, max-age=300");
    let jwks: Value = response.json().await.unwrap();
    let header = decode_part(access_token.split('.').next().unwrap());
    assert_eq!(header["alg"], "EdDSA");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == header["kid"])
        .expect("the token's key is published");
    assert_eq!(
        (
            jwk["kty"].as_str(),
            jwk["crv"].as_str(),
            jwk["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert!(jwk.get("d").is_none(), "never the private key");

    let public = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    let key = Ed25519PublicKey::from_bytes(&public).unwrap();
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&[app
            .state
            .settings
            .public_url
            .as_str()])),
        allowed_audiences: Some(HashSet::from_strings(&["clinicgate-api"])),
        required_key_id: Some(header["kid"].as_str().unwrap().to_owned()),
        ..Default::default()
    };
    let claims = key
        .verify_token::<OurClaims>(&access_token, Some(options))
        .expect("the token verifies with the published key");
    assert_eq!(claims.subject.as_deref(), Some(client.id.as_str()));
    assert_eq!(claims.custom.tid, owner.clinic.id);
    assert_eq!(claims.custom.scope, "doctors:read slots:read");
    assert!(claims.jwt_id.is_some());
    let lifetime = claims.expires_at.unwrap() - claims.issued_at.unwrap();
    assert_eq!(lifetime.as_secs(), 900);

    let stranger = Ed25519KeyPair::generate().public_key();
    assert!(
        stranger
            .verify_token::<OurClaims>(&access_token, None)
            .is_err(),
        "the check can fail: another key does not verify it"
    );
}

#[tokio::test]
async fn every_kind_of_bad_token_gets_401_with_active_false() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let good = token(&app, &client).await;
    assert_eq!(
        validate(&app, &good).await.0,
        200,
        "the baseline is accepted"
    );
    let parts: Vec<&str> = good.split('.').collect();
    let (header, payload) = (decode_part(parts[0]), decode_part(parts[1]));
    let kid = header["kid"].as_str().unwrap().to_owned();
    let ours = app.state.tokens.issuer().clone();

    let mut more_scopes = payload.clone();
    more_scopes["scope"] = json!("doctors:read patients:read patients:write");
    let mut flipped = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    flipped[10] ^= 0x01;
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let public = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let hs256 = HS256Key::from_bytes(&public)
        .with_key_id(&kid)
        .authenticate(
            Claims::with_custom_claims(
                OurClaims {
                    tid: owner.clinic.id.clone(),
                    scope: "doctors:read".to_owned(),
                },
                jwt_simple::prelude::Duration::from_mins(15),
            )
            .with_issuer(app.state.settings.public_url.as_str())
            .with_audience("clinicgate-api")
            .with_subject(&client.id)
            .with_jwt_id("forged-jti"),
        )
        .unwrap();
    assert_eq!(
        decode_part(hs256.split('.').next().unwrap())["alg"],
        "HS256"
    );
    let unknown_key = {
        let stranger = clinicgate_core::tokens::SigningKey::generate().unwrap();
        ours.issue(
            &stranger,
            &client.id,
            owner.clinic.id.parse().unwrap(),
            &[Scope::DoctorsRead].into_iter().collect(),
            Utc::now(),
        )
        .unwrap()
        .token
    };

    let cases: Vec<(&str, String)> = vec![
        ("not a JWT", "not-a-token".to_owned()),
        (
            "the payload changed",
            format!("{}.{}.{}", parts[0], encode_part(&more_scopes), parts[2]),
        ),
        (
            "the signature changed",
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                URL_SAFE_NO_PAD.encode(&flipped)
            ),
        ),
        ("no signature", format!("{}.{}.", parts[0], parts[1])),
        (
            "alg none",
            format!(
                "{}.{}.",
                encode_part(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
                parts[1]
            ),
        ),
        ("HS256 signed with the public key", hs256),
        ("signed by an unknown key", unknown_key),
        (
            "expired",
            minted(
                &app,
                &client.id,
                &owner.clinic.id,
                &ours,
                Utc::now() - Duration::hours(1),
            ),
        ),
        (
            "not yet valid",
            minted(
                &app,
                &client.id,
                &owner.clinic.id,
                &ours,
                Utc::now() + Duration::hours(1),
            ),
        ),
        (
            "another issuer",
            minted(
                &app,
                &client.id,
                &owner.clinic.id,
                &TokenIssuer::new("https://evil.example.com", "clinicgate-api", ours.ttl()),
                Utc::now(),
            ),
        ),
        (
            "another audience",
            minted(
                &app,
                &client.id,
                &owner.clinic.id,
                &TokenIssuer::new(ours.issuer(), "another-api", ours.ttl()),
                Utc::now(),
            ),
        ),
    ];
    for (what, bad) in cases {
        let response = super::get_with(&app, "/api/auth/validate", &bad).await;
        assert_eq!(response.status(), 401, "{what}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"clinicgate\", error=\"invalid_token\"",
            "{what}"
        );
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"active": false}),
            "{what}"
        );
    }
    let missing = app.get("/api/auth/validate").await;
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"active": false})
    );
    assert_eq!(
        validate(&app, &good).await.0,
        200,
        "the genuine token is still fine"
    );
}

#[tokio::test]
async fn a_deleted_client_or_a_suspended_clinic_stops_its_tokens_at_once() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let deleted = create_client(&app, &owner, &["doctors:read"], None).await;
    let kept = create_client(&app, &owner, &["doctors:read"], None).await;
    let deleted_token = token(&app, &deleted).await;
    let kept_token = token(&app, &kept).await;
    assert_eq!(validate(&app, &deleted_token).await.0, 200);

    let response = app
        .on(
            Method::DELETE,
            "harbour",
            &format!("/api/tenant/clients/{}", deleted.id),
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(validate(&app, &deleted_token).await.0, 401);
    assert_eq!(
        validate(&app, &kept_token).await.0,
        200,
        "other clients are untouched"
    );

    let tenant = owner.clinic.id.parse().unwrap();
    app.state
        .clinics
        .set_status(tenant, ClinicStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(validate(&app, &kept_token).await.0, 401);
    app.state
        .clinics
        .set_status(tenant, ClinicStatus::Active)
        .await
        .unwrap();
    assert_eq!(
        validate(&app, &kept_token).await.0,
        200,
        "resuming the clinic restores its tokens"
    );
}

#[tokio::test]
async fn a_client_revokes_another_of_its_tokens_but_not_another_clients() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let other = create_client(&app, &owner, &["doctors:read"], None).await;
    let (first, second) = (token(&app, &client).await, token(&app, &client).await);
    let others = token(&app, &other).await;

    let refused = revoke(&app, &first, Some(&others)).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    assert_eq!(validate(&app, &others).await.0, 200);

    assert_eq!(revoke(&app, &first, Some(&second)).await.status(), 204);
    assert_eq!(validate(&app, &second).await.0, 401);
    assert_eq!(
        validate(&app, &first).await.0,
        200,
        "only the named token is revoked"
    );
    assert_eq!(
        revoke(&app, &first, Some("not-a-token")).await.status(),
        204,
        "an invalid token has nothing to revoke (RFC 7009 §2.2)"
    );

    let json_body = app
        .client
        .delete(format!("{}/api/auth/revoke", app.address))
        .bearer_auth(&first)
        .json(&json!({"token": first}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 204);
    assert_eq!(validate(&app, &first).await.0, 401);

    let anonymous = app
        .client
        .delete(format!("{}/api/auth/revoke", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.json::<Value>().await.unwrap()["error"],
        "invalid_token"
    );
}

#[tokio::test]
async fn a_client_revokes_a_token_with_its_own_credentials_and_no_bearer() {
    let app = spawn_app().await;
    let owner = clinic(&app, "quayside").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let other = create_client(&app, &owner, &["doctors:read"], None).await;
    let (lost, others) = (token(&app, &client).await, token(&app, &other).await);
    let revoke_as = |id: &str, secret: &str, form: Vec<(&'static str, String)>| {
        app.client
            .delete(format!("{}/api/auth/revoke", app.address))
            .basic_auth(id, Some(secret))
            .form(&form)
    };

    let wrong_secret = revoke_as(&client.id, "cgcs_wrong", vec![("token", lost.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_secret.status(), 401);
    assert!(wrong_secret.headers().contains_key("www-authenticate"));
    assert_eq!(
        wrong_secret.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    assert_eq!(validate(&app, &lost).await.0, 200, "nothing was revoked");

    let no_token = revoke_as(&client.id, &client.secret, Vec::new())
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 400);
    assert_eq!(
        no_token.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );

    let not_mine = revoke_as(&client.id, &client.secret, vec![("token", others.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(not_mine.status(), 400);
    assert_eq!(
        not_mine.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    assert_eq!(validate(&app, &others).await.0, 200);

    let revoked = revoke_as(&client.id, &client.secret, vec![("token", lost.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(revoked.headers()["cache-control"], "no-store");
    assert_eq!(validate(&app, &lost).await.0, 401);

    // Credentials in the body work too, and revoking again (or a non-token) is fine.
    let in_body = app
        .client
        .delete(format!("{}/api/auth/revoke", app.address))
        .form(&[
            ("client_id", client.id.as_str()),
            ("client_secret", client.secret.as_str()),
            ("token", lost.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(in_body.status(), 204);
    let garbage = revoke_as(&client.id, &client.secret, vec![("token", "x.y.z".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 204, "RFC 7009 §2.2");
}
