//! Signing-key rotation: new tokens use the new key, tokens signed by the previous key keep
//! validating until they expire, and the previous key leaves the JWKS only then.

use std::process::Command;

use figment::Figment;
use figment::providers::Serialized;
use secrecy::ExposeSecret as _;
use serde_json::Value;

use super::{clinic, create_client, decode_part, token, validate};
use crate::common::{TestApp, spawn_app_with};

const BIN: &str = env!("CARGO_BIN_EXE_clinicgate");

fn kid_of(token: &str) -> String {
    decode_part(token.split('.').next().unwrap())["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn immediate_keys(figment: Figment) -> Figment {
    figment.merge(Serialized::default("tokens.signing_key_activation_secs", 0))
}

#[tokio::test]
async fn after_a_rotation_new_tokens_use_the_new_key_and_old_tokens_still_validate() {
    let app = spawn_app_with(immediate_keys).await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let before = token(&app, &client).await;

    let new_kid = app.state.tokens.keys().rotate().await.unwrap();
    let after = token(&app, &client).await;
    assert_eq!(kid_of(&after), new_kid.as_str());
    assert_ne!(kid_of(&before), kid_of(&after));
    assert_eq!(
        validate(&app, &before).await.0,
        200,
        "the previous key's token still validates"
    );
    assert_eq!(validate(&app, &after).await.0, 200);
    assert_eq!(
        published_kids(&app).await,
        [kid_of(&after), kid_of(&before)],
        "both keys are published, newest first"
    );
}

#[tokio::test]
async fn the_previous_key_is_published_until_its_last_token_expired_and_no_longer() {
    let app = spawn_app_with(|f| {
        immediate_keys(f)
            .merge(Serialized::default("tokens.ttl_secs", 2))
            .merge(Serialized::default("tokens.leeway_secs", 0))
    })
    .await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let before = token(&app, &client).await;
    app.state.tokens.keys().rotate().await.unwrap();
    let after = token(&app, &client).await;
    app.state.tokens.maintain().await.unwrap();
    assert_eq!(
        published_kids(&app).await.len(),
        2,
        "just retired: still published"
    );

    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(validate(&app, &before).await.0, 401, "expired");
    app.state.tokens.maintain().await.unwrap();
    assert_eq!(
        published_kids(&app).await,
        [kid_of(&after)],
        "the retired key is gone once no token it signed can be valid"
    );
}

#[tokio::test]
async fn rotate_signing_key_publishes_a_key_that_signs_only_after_the_activation_delay() {
    let app = spawn_app_with(|f| f).await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let before = token(&app, &client).await;

    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("CLINICGATE_") {
            command.env_remove(key);
        }
    }
    let master_key = std::fs::read_to_string(app.state.settings.master_key_file()).unwrap();
    let output = command
        .env(
            "CLINICGATE_DATABASE_URL",
            app.state.settings.database_url.expose_secret(),
        )
        .env("CLINICGATE_MASTER_KEY", master_key.trim())
        .env("RUST_LOG", "warn")
        .arg("rotate-signing-key")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Created signing key"), "{stdout}");

    app.state.tokens.keys().reload().await.unwrap();
    let kids = published_kids(&app).await;
    assert_eq!(kids.len(), 2, "the new key is published at once");
    assert!(stdout.contains(&kids[0]), "{stdout}");
    let after = token(&app, &client).await;
    assert_eq!(
        kid_of(&after),
        kid_of(&before),
        "within the activation delay, tokens are still signed with the current key"
    );
}
