//! SMART Backend Services: the discovery document, `private_key_jwt` client authentication with
//! keys a clinic registers (assertions made with `jwt-simple`, a JWT library independent of the
//! verifier), replay protection across instances, and SMART system scopes mapped onto
//! ClinicGate's and enforced by the facade.

use jwt_simple::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use super::{FHIR_SCOPES, fhir_get};
use crate::common::{TestApp, spawn_app};
use crate::public_api::{admin_key, app_on, connect_cliniko, sandbox};
use crate::tokens::{Client, Clinic, clinic, create_client, validate};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A 2048-bit RSA key generated once for these tests (generating one per run is slow in debug
/// builds); it protects nothing.
const RSA_TEST_KEY: &str = include_str!("../../fixtures/smart/rs384-test-key.pem");

/// A key that signs assertions, and its public JWK.
pub(super) enum Signer {
    Ec(ES384KeyPair),
    Rsa(RS384KeyPair),
}

impl Signer {
    pub(super) fn ec() -> Self {
        Self::Ec(ES384KeyPair::generate())
    }

    fn rsa() -> Self {
        Self::Rsa(RS384KeyPair::from_pem(RSA_TEST_KEY).unwrap())
    }

    /// The public JWK under `kid`.
    pub(super) fn jwk(&self, kid: &str) -> Value {
        let text = match self {
            Self::Ec(key) => key.public_key().to_jwk(),
            Self::Rsa(key) => key.public_key().to_jwk(),
        };
        let mut jwk: Value = serde_json::from_str(&text).unwrap();
        jwk["kid"] = json!(kid);
        jwk
    }

    /// Signs `claims` with `kid` in the header.
    pub(super) fn sign(&self, kid: &str, claims: JWTClaims<NoCustomClaims>) -> String {
        match self {
            // The pair is not `Clone`; a copy from its bytes takes the kid.
            Self::Ec(key) => ES384KeyPair::from_bytes(&key.to_bytes())
                .unwrap()
                .with_key_id(kid)
                .sign(claims)
                .unwrap(),
            Self::Rsa(key) => key.clone().with_key_id(kid).sign(claims).unwrap(),
        }
    }
}

/// The claims of a good assertion from `client` to `app`'s token endpoint, valid 2 minutes.
pub(super) fn claims(app: &TestApp, client: &Client) -> JWTClaims<NoCustomClaims> {
    Claims::create(Duration::from_mins(2))
        .with_issuer(&client.id)
        .with_subject(&client.id)
        .with_audience(token_url(app))
        .with_jwt_id(uuid::Uuid::new_v4().to_string())
}

fn token_url(app: &TestApp) -> String {
    format!("{}/api/auth/token", app.state.settings.public_url.as_str())
}

/// Registers `jwks` as `client`'s keys; the response.
async fn register(
    app: &TestApp,
    owner: &Clinic,
    client: &Client,
    jwks: Value,
) -> reqwest::Response {
    app.on(
        Method::PUT,
        owner.sub(),
        &format!("/api/tenant/clients/{}/jwks", client.id),
        Some(&owner.cookie),
    )
    .json(&json!({"jwks": jwks}))
    .send()
    .await
    .unwrap()
}

/// `POST /api/auth/token` with `assertion` (and `scope` when given): status and body.
pub(super) async fn exchange(app: &TestApp, assertion: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    form.extend(scope.map(|scope| ("scope", scope)));
    let response = app
        .client
        .post(format!("{}/api/auth/token", app.address))
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// A clinic with a client holding `scopes` whose keys are `signer`'s under kid `k1`.
async fn keyed_client(
    app: &TestApp,
    subdomain: &str,
    scopes: &[&str],
    signer: &Signer,
) -> (Clinic, Client) {
    let owner = clinic(app, subdomain).await;
    let client = create_client(app, &owner, scopes, None).await;
    let response = register(app, &owner, &client, json!({"keys": [signer.jwk("k1")]})).await;
    assert_eq!(response.status(), 200);
    (owner, client)
}

#[tokio::test]
async fn the_smart_configuration_is_served_at_the_root_and_under_the_fhir_base() {
    let app = spawn_app().await;
    let mut documents = Vec::new();
    for path in [
        "/.well-known/smart-configuration",
        "/fhir/r4/.well-known/smart-configuration",
    ] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
        documents.push(response.json::<Value>().await.unwrap());
    }
    assert_eq!(documents[0], documents[1]);
    let document = &documents[0];
    assert_eq!(document["token_endpoint"], token_url(&app));
    assert_eq!(
        document["grant_types_supported"],
        json!(["client_credentials"])
    );
    assert_eq!(
        document["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "private_key_jwt"])
    );
    assert_eq!(
        document["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES384", "RS384"])
    );
    assert_eq!(
        document["capabilities"],
        json!(["client-confidential-asymmetric", "permission-v2"])
    );
    let scopes = document["scopes_supported"].as_array().unwrap();
    for scope in [
        "patients:read",
        "system/Patient.rs",
        "system/Appointment.cu",
    ] {
        assert!(scopes.contains(&json!(scope)), "{scope} missing");
    }
}

#[tokio::test]
async fn es384_and_rs384_assertions_get_tokens_with_the_smart_scopes_mapped() {
    let app = spawn_app().await;
    let ec = Signer::ec();
    let rsa = Signer::rsa();
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["patients:read", "doctors:read"], None).await;
    let jwks = json!({"keys": [ec.jwk("ec-1"), rsa.jwk("rsa-1")]});
    assert_eq!(
        register(&app, &owner, &client, jwks.clone()).await.status(),
        200
    );
    let shown: Value = app
        .on(
            Method::GET,
            owner.sub(),
            &format!("/api/tenant/clients/{}/jwks", client.id),
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["jwks"], jwks);

    for (signer, kid) in [(&ec, "ec-1"), (&rsa, "rsa-1")] {
        let assertion = signer.sign(kid, claims(&app, &client));
        let (status, body) = exchange(&app, &assertion, Some("system/Patient.rs")).await;
        assert_eq!(status, 200, "{kid}: {body}");
        assert_eq!(body["scope"], "system/Patient.rs");
        let (status, introspection) = validate(&app, body["access_token"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(introspection["scope"], "patients:read");
        assert_eq!(introspection["client_id"], client.id.as_str());
    }

    // The secret keeps working beside the keys.
    let response =
        crate::tokens::request_token(&app, &client, &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_replayed_assertion_is_refused_by_every_instance() {
    let app = spawn_app().await;
    let sibling = app.spawn_sibling(|f| f).await;
    let signer = Signer::ec();
    let (_, client) = keyed_client(&app, "harbour", &["doctors:read"], &signer).await;
    let assertion = signer.sign("k1", claims(&app, &client));
    assert_eq!(exchange(&app, &assertion, None).await.0, 200);
    for instance in [&app, &sibling] {
        let (status, body) = exchange(instance, &assertion, None).await;
        assert_eq!((status, &body["error"]), (401, &json!("invalid_client")));
    }
    // A fresh jti from the same key is fine on the other instance.
    let fresh = signer.sign("k1", claims(&app, &client));
    assert_eq!(exchange(&sibling, &fresh, None).await.0, 200);
}

#[tokio::test]
async fn assertions_with_a_wrong_audience_bad_times_or_an_unknown_key_are_refused() {
    let app = spawn_app().await;
    let signer = Signer::ec();
    let (owner, client) = keyed_client(&app, "harbour", &["doctors:read"], &signer).await;
    let now = Clock::now_since_epoch();
    let mut expired = claims(&app, &client);
    expired.issued_at = Some(now - Duration::from_mins(10));
    expired.invalid_before = expired.issued_at;
    expired.expires_at = Some(now - Duration::from_mins(5));
    let mut too_long = claims(&app, &client);
    too_long.expires_at = Some(now + Duration::from_mins(30));
    let mut no_jti = claims(&app, &client);
    no_jti.jwt_id = None;
    let cases = [
        (
            "wrong aud",
            signer.sign(
                "k1",
                claims(&app, &client).with_audience(format!("{}/fhir/r4", app.address)),
            ),
        ),
        ("expired", signer.sign("k1", expired)),
        ("exp too far ahead", signer.sign("k1", too_long)),
        ("no jti", signer.sign("k1", no_jti)),
        ("unknown kid", signer.sign("k2", claims(&app, &client))),
        (
            "an unregistered key under a known kid",
            Signer::ec().sign("k1", claims(&app, &client)),
        ),
        (
            "another client's iss",
            signer.sign("k1", claims(&app, &client).with_issuer("cgcl_someoneelse")),
        ),
    ];
    for (what, assertion) in cases {
        let (status, body) = exchange(&app, &assertion, None).await;
        assert_eq!(
            (status, &body["error"]),
            (401, &json!("invalid_client")),
            "{what}: {body}"
        );
    }

    // Removing the keys ends assertions.
    let good = signer.sign("k1", claims(&app, &client));
    let removed = app
        .on(
            Method::DELETE,
            owner.sub(),
            &format!("/api/tenant/clients/{}/jwks", client.id),
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(exchange(&app, &good, None).await.0, 401);
}

#[tokio::test]
async fn several_keys_under_one_kid_are_each_tried() {
    let app = spawn_app().await;
    let (old, new) = (Signer::ec(), Signer::ec());
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let jwks = json!({"keys": [old.jwk("rotating"), new.jwk("rotating")]});
    assert_eq!(register(&app, &owner, &client, jwks).await.status(), 200);
    for signer in [&old, &new] {
        let assertion = signer.sign("rotating", claims(&app, &client));
        assert_eq!(exchange(&app, &assertion, None).await.0, 200);
    }
}

#[tokio::test]
async fn a_private_key_or_another_clinics_client_cannot_be_registered() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let other = clinic(&app, "meadow").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let pair = ES384KeyPair::generate().with_key_id("k1");
    let private: Value = serde_json::from_str(&pair.to_jwk()).unwrap();
    let response = register(&app, &owner, &client, json!({"keys": [private]})).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "jwks");

    let public = json!({"keys": [Signer::ec().jwk("k1")]});
    assert_eq!(register(&app, &other, &client, public).await.status(), 404);
}

#[tokio::test]
async fn a_system_patient_read_token_reads_patients_but_cannot_book() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let owner = clinic(&app, "harbour").await;
    connect_cliniko(&app, &owner, &admin_key(&sandbox, "au1").key).await;
    let mut scopes = FHIR_SCOPES.to_vec();
    scopes.push("appointments:write");
    let client = create_client(&app, &owner, &scopes, None).await;
    let signer = Signer::rsa();
    assert_eq!(
        register(&app, &owner, &client, json!({"keys": [signer.jwk("k1")]}))
            .await
            .status(),
        200
    );
    let assertion = signer.sign("k1", claims(&app, &client));
    let (status, body) = exchange(&app, &assertion, Some("system/Patient.rs")).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();

    assert_eq!(
        fhir_get(&app, "/fhir/r4/Patient?_count=1", token)
            .await
            .status(),
        200
    );
    assert_eq!(
        fhir_get(&app, "/fhir/r4/Appointment", token).await.status(),
        403
    );
    let booking = app
        .client
        .post(format!("{}/fhir/r4/Appointment", app.address))
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .body(json!({"resourceType": "Appointment", "status": "booked"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(booking.status(), 403);
}

#[tokio::test]
async fn smart_scopes_beyond_the_clients_or_unknown_ones_are_invalid_scope() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["patients:read", "appointments:read"], None).await;
    let basic = |scope: &'static str| {
        let app = &app;
        let client = &client;
        async move {
            let response = crate::tokens::request_token(
                app,
                client,
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, body) = basic("system/Appointment.rs system/Flag.read").await;
    assert_eq!(status, 200);
    assert_eq!(body["scope"], "system/Appointment.rs system/Flag.read");
    for refused in [
        "system/Appointment.cu",
        "system/Slot.rs",
        "system/Observation.rs",
    ] {
        let (status, body) = basic(refused).await;
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("invalid_scope")),
            "{refused}"
        );
    }
}
