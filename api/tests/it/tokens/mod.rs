//! Third-party access through the real HTTP surface: API clients, the token endpoint,
//! introspection and revocation, the JWKS and key rotation, the public API's door (scopes, rate
//! limits, request log), several instances, and secrets at rest.

mod clients;
mod grant;
mod instances;
mod keys;
mod public;
mod rate_window;
mod secrets;
mod validate;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp, TestClinic};

/// An API client as created through the clinic's API.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: String,
}

/// A clinic with its owner logged in.
pub struct Clinic {
    pub clinic: TestClinic,
    pub cookie: String,
}

/// Signs `subdomain` up and logs its owner in.
pub async fn clinic(app: &TestApp, subdomain: &str) -> Clinic {
    let clinic = app.sign_up(subdomain).await;
    let cookie = app.log_in(subdomain, &clinic.owner_email, PASSWORD).await;
    Clinic { clinic, cookie }
}

impl Clinic {
    pub fn sub(&self) -> &str {
        &self.clinic.subdomain
    }
}

/// `POST /api/tenant/clients` as the clinic's owner; the raw response.
pub async fn try_create_client(app: &TestApp, clinic: &Clinic, body: Value) -> reqwest::Response {
    app.on(
        Method::POST,
        clinic.sub(),
        "/api/tenant/clients",
        Some(&clinic.cookie),
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

/// Creates a client with `scopes` (and `rate_limit_per_minute` when given).
pub async fn create_client(
    app: &TestApp,
    clinic: &Clinic,
    scopes: &[&str],
    rate_limit: Option<u32>,
) -> Client {
    let response = try_create_client(
        app,
        clinic,
        json!({"name": "Partner app", "scopes": scopes, "rate_limit_per_minute": rate_limit}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    Client {
        id: body["client_id"].as_str().unwrap().to_owned(),
        secret: body["client_secret"].as_str().unwrap().to_owned(),
    }
}

/// `POST /api/auth/token` with HTTP Basic client authentication and a form body.
pub async fn request_token(
    app: &TestApp,
    client: &Client,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(format!("{}/api/auth/token", app.address))
        .basic_auth(&client.id, Some(&client.secret))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// An access token for `client` (all its scopes).
pub async fn token(app: &TestApp, client: &Client) -> String {
    let response = request_token(app, client, &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// `GET {path}` on the root host with `token` as the bearer.
pub async fn get_with(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// `GET /api/auth/validate` with `token`; the status and body.
pub async fn validate(app: &TestApp, token: &str) -> (u16, Value) {
    let response = get_with(app, "/api/auth/validate", token).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// `DELETE /api/auth/revoke` with `bearer`, revoking `target` when given.
pub async fn revoke(app: &TestApp, bearer: &str, target: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .delete(format!("{}/api/auth/revoke", app.address))
        .bearer_auth(bearer);
    if let Some(target) = target {
        request = request.form(&[("token", target)]);
    }
    request.send().await.unwrap()
}

/// The JSON of a JWT part.
pub fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A JWT part from JSON.
pub fn encode_part(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(json.to_string())
}
