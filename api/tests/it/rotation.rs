//! `clinicgate rotate-master-key --new-key-file F`, run as an operator runs it, against the
//! database of a running instance.

use std::process::Command;
use std::sync::Arc;

use clinicgate_adapters::secrets::SeaDataKeyRepository;
use clinicgate_core::crypto::{MasterKey, MasterKeyring};
use clinicgate_core::ids::TenantId;
use clinicgate_core::secrets::{DataKeyRepository as _, SealedSecret, SecretPurpose, Vault};
use figment::providers::Serialized;
use reqwest::Method;
use secrecy::ExposeSecret as _;
use serde_json::json;

use crate::common::{
    CLINIKO_KEY, OTHER_CLINIKO_KEY, PASSWORD, cliniko_at, cliniko_stub, integration_user,
    spawn_app_with,
};

const BIN: &str = env!("CARGO_BIN_EXE_clinicgate");

fn rotate(
    database_url: &str,
    current: &MasterKey,
    previous: Option<&MasterKey>,
    new_key_file: &std::path::Path,
) -> std::process::Output {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("CLINICGATE_") {
            command.env_remove(key);
        }
    }
    command
        .env("CLINICGATE_DATABASE_URL", database_url)
        .env("CLINICGATE_MASTER_KEY", current.to_base64().expose_secret())
        .env("RUST_LOG", "warn")
        .arg("rotate-master-key")
        .arg("--new-key-file")
        .arg(new_key_file);
    if let Some(previous) = previous {
        command.env(
            "CLINICGATE_PREVIOUS_MASTER_KEY",
            previous.to_base64().expose_secret(),
        );
    }
    command.output().unwrap()
}

#[tokio::test]
async fn rotating_the_master_key_rewraps_every_data_key_and_keeps_each_secret_readable() {
    let old = MasterKey::generate();
    let old_b64 = old.to_base64().expose_secret().to_owned();
    let server = cliniko_stub(integration_user()).await;
    let uri = server.uri();
    let configured = old_b64.clone();
    let app = spawn_app_with(move |f| {
        cliniko_at(f, &uri).merge(Serialized::default("master_key", configured))
    })
    .await;
    let mut tenants = Vec::new();
    // Each clinic connects a key of its own (one Cliniko key backs one clinic).
    for (sub, key) in [("clinic-a", CLINIKO_KEY), ("clinic-b", OTHER_CLINIKO_KEY)] {
        let clinic = app.sign_up(sub).await;
        let cookie = app.log_in(sub, &clinic.owner_email, PASSWORD).await;
        let response = app
            .on(Method::PUT, sub, "/api/tenant/cliniko-key", Some(&cookie))
            .json(&json!({"api_key": key}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        tenants.push(clinic.id.parse::<TenantId>().unwrap());
    }
    let keys = Arc::new(SeaDataKeyRepository::new(app.state.db.clone()));
    // A secret sealed by the running instance (under the old key), to read back afterwards.
    let sealed: SealedSecret = app
        .state
        .vault
        .seal(
            tenants[0],
            SecretPurpose::ClinikoApiKey,
            &"probe-au1".to_owned().into(),
        )
        .await
        .unwrap();

    let new = MasterKey::generate();
    let dir = tempfile::tempdir().unwrap();
    let new_key_file = dir.path().join("new.key");
    std::fs::write(
        &new_key_file,
        format!("{}\n", new.to_base64().expose_secret()),
    )
    .unwrap();
    let database_url = app.state.settings.database_url.expose_secret().to_owned();

    // The documented procedure: instances (and the command) run with the new key as current and
    // the old one as previous.
    let as_rolled_out = || {
        MasterKeyring::new(MasterKey::from_base64(&new.to_base64()).unwrap())
            .with_previous(MasterKey::from_base64(&old.to_base64()).unwrap())
    };
    let during = Vault::new(Arc::new(as_rolled_out()), keys.clone());
    let opened = during
        .open(tenants[0], SecretPurpose::ClinikoApiKey, &sealed)
        .await
        .unwrap();
    assert_eq!(
        opened.expose_secret(),
        "probe-au1",
        "the old key keeps working before the rotation"
    );

    let output = rotate(&database_url, &new, Some(&old), &new_key_file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Re-wrapped 2 data key(s)"), "{stdout}");
    assert!(!stdout.contains(new.to_base64().expose_secret()) && !stdout.contains(&old_b64));

    for tenant in &tenants {
        assert_eq!(
            keys.find(*tenant).await.unwrap().unwrap().master_key_id,
            new.id()
        );
    }
    let after = Vault::new(
        Arc::new(MasterKeyring::new(
            MasterKey::from_base64(&new.to_base64()).unwrap(),
        )),
        keys.clone(),
    );
    let opened = after
        .open(tenants[0], SecretPurpose::ClinikoApiKey, &sealed)
        .await
        .unwrap();
    assert_eq!(
        opened.expose_secret(),
        "probe-au1",
        "the new key alone reads everything"
    );
    let only_old = Vault::new(
        Arc::new(MasterKeyring::new(
            MasterKey::from_base64(&old.to_base64()).unwrap(),
        )),
        keys,
    );
    assert!(
        only_old
            .open(tenants[0], SecretPurpose::ClinikoApiKey, &sealed)
            .await
            .is_err(),
        "the old key is retired"
    );

    // Running it again finds nothing left to do.
    let output = rotate(&database_url, &new, Some(&old), &new_key_file);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("Re-wrapped 0 data key(s)"));
}

#[tokio::test]
async fn rotation_refuses_a_malformed_new_key_and_changes_nothing() {
    let app = spawn_app_with(|f| f).await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, "not a key").unwrap();
    let current = MasterKey::from_base64(
        &std::fs::read_to_string(app.state.settings.master_key_file())
            .unwrap()
            .into(),
    )
    .unwrap();
    let output = rotate(
        app.state.settings.database_url.expose_secret(),
        &current,
        None,
        &bad,
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("openssl rand -base64 32"), "{stderr}");
}
