//! The FHIR R4 facade through the real HTTP surface against the Cliniko sandbox: every resource
//! type read and searched, each resource and Bundle validated against the official FHIR R4 JSON
//! schema (a validator nobody here wrote), paging by sealed cursors, errors as
//! `OperationOutcome`.

mod booking;
mod errors;
mod jwks_uri;
mod name_search;
mod paging;
mod resources;
mod smart;
mod status_search;

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::{Arc, Mutex, OnceLock};

use clinicgate_cliniko_sandbox::Sandbox;
use reqwest::Method;
use serde_json::Value;

use crate::common::TestApp;
use crate::public_api::{admin_key, connect_cliniko};
use crate::tokens::{Clinic, clinic, create_client, token};

/// Every scope the facade reads with.
pub const FHIR_SCOPES: &[&str] = &[
    "patients:read",
    "appointments:read",
    "doctors:read",
    "slots:read",
];

/// The official FHIR R4 (4.0.1) JSON schema, vendored gzipped (see the README beside it).
fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let packed = include_bytes!("../../fixtures/fhir/fhir.schema.json.gz");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_string(&mut text)
            .unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

/// A validator of one resource type: the whole official schema, entered at that type's
/// definition rather than at the root's `oneOf` over every type (whose only error would be
/// "valid under none of them", hiding what is wrong).
fn validator(kind: &str) -> Arc<jsonschema::Validator> {
    static VALIDATORS: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> =
        OnceLock::new();
    let mut validators = VALIDATORS.get_or_init(Default::default).lock().unwrap();
    let validator = validators.entry(kind.to_owned()).or_insert_with(|| {
        let mut schema = schema().clone();
        assert!(
            schema["definitions"][kind].is_object(),
            "FHIR R4 has no resource type {kind}"
        );
        let root = schema.as_object_mut().unwrap();
        root.remove("oneOf");
        root.remove("discriminator");
        root.insert(
            "$ref".to_owned(),
            Value::String(format!("#/definitions/{kind}")),
        );
        Arc::new(
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft6)
                .build(&schema)
                .unwrap(),
        )
    });
    Arc::clone(validator)
}

/// The schema errors of `resource`, validated as its `resourceType`.
fn schema_errors(resource: &Value) -> Vec<String> {
    let kind = resource["resourceType"]
        .as_str()
        .expect("a resource has a resourceType");
    validator(kind)
        .iter_errors(resource)
        .map(|e| {
            let mut message = e.to_string();
            message.truncate(300);
            format!("{message} at {}", e.instance_path())
        })
        .collect()
}

/// Fails the test, listing every schema error, unless `resource` is valid FHIR R4. A Bundle's
/// entries are validated one by one too, so an error names the entry.
pub fn assert_valid(resource: &Value) {
    let errors = schema_errors(resource);
    assert!(
        errors.is_empty(),
        "{} is not valid FHIR R4:\n{}\n{resource:#}",
        resource["resourceType"],
        errors.join("\n")
    );
    for entry in resource["entry"].as_array().into_iter().flatten() {
        assert_valid(&entry["resource"]);
    }
}

/// A clinic connected to the sandbox account on `shard`, with a token carrying `scopes`.
pub async fn fhir_client(
    app: &TestApp,
    sandbox: &Sandbox,
    subdomain: &str,
    shard: &str,
    scopes: &[&str],
) -> (Clinic, String) {
    let owner = clinic(app, subdomain).await;
    connect_cliniko(app, &owner, &admin_key(sandbox, shard).key).await;
    let client = create_client(app, &owner, scopes, None).await;
    let token = token(app, &client).await;
    (owner, token)
}

/// `GET path` (absolute or from the root) with `token`: the response.
pub async fn fhir_get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    let url = if path.starts_with("http") {
        path.to_owned()
    } else {
        format!("{}{path}", app.address)
    };
    app.client
        .request(Method::GET, url)
        .bearer_auth(token)
        .header("accept", "application/fhir+json")
        .send()
        .await
        .unwrap()
}

/// `GET path` with `token`: status and body, after checking the FHIR media type.
pub async fn fhir_json(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = fhir_get(app, path, token).await;
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        content_type, "application/fhir+json; fhirVersion=4.0",
        "{path}"
    );
    (status, response.json().await.unwrap())
}

/// A searchset's entries of `mode` (`match`, `include`, `outcome`).
pub fn entries<'a>(bundle: &'a Value, mode: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |e| e["search"]["mode"] == mode)
        .map(|e| &e["resource"])
}

/// The URL of a Bundle link.
pub fn link<'a>(bundle: &'a Value, relation: &str) -> Option<&'a str> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)?["url"]
        .as_str()
}

/// The public URL of the app, as links carry it, turned into the test server's address.
pub fn local(app: &TestApp, url: &str) -> String {
    let path = &url[url.find("/fhir/r4").unwrap()..];
    format!("{}{path}", app.address)
}

#[test]
fn the_vendored_schema_refuses_what_fhir_refuses() {
    // A test that cannot fail proves nothing: the validator must catch real mistakes.
    let bad =
        serde_json::json!({"resourceType": "Patient", "gender": "mail", "birthDate": "02/03/1984"});
    assert_eq!(schema_errors(&bad).len(), 2, "{:?}", schema_errors(&bad));
    let empty_string =
        serde_json::json!({"resourceType": "Patient", "id": "1", "name": [{"family": ""}]});
    assert_eq!(schema_errors(&empty_string).len(), 1);
    let long_id = serde_json::json!({"resourceType": "Slot", "id": "1".repeat(65), "status": "free",
        "schedule": {"reference": "Schedule/1"}, "start": "2030-01-01T00:00:00Z", "end": "2030-01-01T00:30:00Z"});
    assert_eq!(schema_errors(&long_id).len(), 1);
    let good =
        serde_json::json!({"resourceType": "Patient", "id": "1", "name": [{"family": "Citizen"}]});
    assert_valid(&good);
}
