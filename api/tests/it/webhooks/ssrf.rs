//! The SSRF guard at create time: URLs pointing at the cloud metadata service, private networks
//! or loopback are refused with a reason, unless the operator's allow-list names them; plain
//! http only where the operator allows it.

use figment::providers::Serialized;
use reqwest::Method;
use serde_json::json;

use super::{Partner, field_codes};
use crate::common::spawn_app_with;

const SCOPES: &[&str] = &["appointments:read", "webhooks:manage"];

/// The field codes creating an endpoint at `url` answers (empty when it was created).
async fn refusal(partner: &Partner, url: &str) -> Vec<String> {
    let (status, body) = partner
        .call(
            Method::POST,
            "/api/public/webhooks",
            Some(json!({"url": url, "event_types": ["appointment.created"]})),
        )
        .await;
    match status {
        201 => Vec::new(),
        422 => field_codes(&body),
        other => panic!("{url}: {other} {body}"),
    }
}

#[tokio::test]
async fn metadata_private_and_link_local_addresses_are_refused_even_with_loopback_allowed() {
    let partner = Partner::new(SCOPES).await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://10.0.0.1/",
        "http://192.168.1.10:8080/hooks",
        "http://[fd00::1]:8080/",
        "http://0.0.0.0:8080/",
    ] {
        assert_eq!(
            refusal(&partner, url).await,
            ["url:address_not_allowed"],
            "{url}"
        );
    }
    // Nor can an endpoint be moved there.
    let endpoint = partner
        .create("http://127.0.0.1:9999/hooks", &["appointment.created"])
        .await;
    let (status, problem) = partner
        .patch(&endpoint, json!({"url": "http://169.254.169.254/"}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(field_codes(&problem), ["url:address_not_allowed"]);
    assert!(
        refusal(&partner, "http://127.0.0.1:9999/hooks")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn loopback_is_refused_unless_the_operators_allow_list_names_it() {
    let app = spawn_app_with(|f| f.merge(Serialized::default("outbound.allow_http", true))).await;
    let partner = Partner::on(app, "harbour", SCOPES).await;
    for url in [
        "http://localhost:8080/hooks",
        "http://127.0.0.1:8080/hooks",
        "http://[::1]:8080/hooks",
        "http://0x7f.1:8080/hooks",
    ] {
        assert_eq!(
            refusal(&partner, url).await,
            ["url:address_not_allowed"],
            "{url}"
        );
    }
}

#[tokio::test]
async fn plain_http_and_credentials_in_urls_are_refused_by_default() {
    let app = spawn_app_with(|f| f).await;
    let partner = Partner::on(app, "harbour", SCOPES).await;
    assert_eq!(
        refusal(&partner, "http://localhost:8080/hooks").await,
        ["url:scheme_not_allowed"]
    );
    assert_eq!(
        refusal(&partner, "https://user:secret@hooks.example.com/").await,
        ["url:credentials_not_allowed"]
    );
    assert_eq!(
        refusal(&partner, "https://hooks.example.com:25/").await,
        ["url:port_not_allowed"]
    );
    assert_eq!(refusal(&partner, "hooks").await, ["url:invalid_url"]);
}
