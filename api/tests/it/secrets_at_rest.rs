//! Secrets never appear in plaintext where they could be read later: not in the database files
//! (SQLite main file and write-ahead log), not in the database rows (PostgreSQL), not in the logs.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use reqwest::Method;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::json;

use crate::common::{
    CLINIKO_KEY, TestApp, cliniko_at, cliniko_stub, integration_user, spawn_app_with,
};

/// Everything every test of this binary logged from the moment the capture was installed.
pub(crate) fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        #[derive(Clone)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(buffer.clone());
        // More verbose than production (info): whatever debug or trace output could leak is
        // caught here too.
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,clinicgate_api=trace,clinicgate_core=trace,clinicgate_adapters=trace",
            ))
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        buffer
    })
    .clone()
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Every form in which a secret could leak: as typed, as hex, and for the key also without its
/// shard and in the `Authorization: Basic` encoding.
pub(crate) fn forms_of(secret: &str) -> Vec<Vec<u8>> {
    let mut forms = vec![secret.as_bytes().to_vec()];
    forms.push(
        secret
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into_bytes(),
    );
    if let Some((body, _shard)) = secret.rsplit_once('-') {
        forms.push(body.as_bytes().to_vec());
    }
    forms.push(
        base64::engine::general_purpose::STANDARD
            .encode(format!("{secret}:"))
            .into_bytes(),
    );
    forms
}

/// Everything the database holds: the SQLite files (main, write-ahead log, shared memory) byte
/// for byte, or on PostgreSQL every row of `tables` as JSON.
pub(crate) async fn database_contents(app: &TestApp, tables: &[&str]) -> Vec<u8> {
    if app.backends().0 == "sqlite" {
        let url = secrecy::ExposeSecret::expose_secret(&app.state.settings.database_url).to_owned();
        let path = url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            if let Ok(content) = std::fs::read(format!("{path}{suffix}")) {
                bytes.extend(content);
            }
        }
        bytes
    } else {
        let mut rows = Vec::new();
        for table in tables {
            let statement = Statement::from_string(
                app.state.db.get_database_backend(),
                format!("SELECT row_to_json(t)::text AS row FROM {table} t"),
            );
            for row in app.state.db.query_all_raw(statement).await.unwrap() {
                rows.extend(row.try_get::<String>("", "row").unwrap().into_bytes());
            }
        }
        rows
    }
}

#[tokio::test]
async fn neither_a_cliniko_key_nor_a_password_is_stored_or_logged_in_plaintext() {
    let logs = captured_logs();
    let server = cliniko_stub(integration_user()).await;
    let uri = server.uri();
    let app = spawn_app_with(move |f| cliniko_at(f, &uri)).await;
    let owner_password = "Owner Passphrase Unique 7731";
    let staff_password = "Staff Passphrase Unique 9902";
    let wrong_password = "Wrong Guess Passphrase 5531";

    let response = app
        .client
        .post(format!("{}/api/signup", app.address))
        .json(&json!({"clinic_name": "Secretive", "subdomain": "secretive", "email": "owner@secretive.example.com", "password": owner_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        app.try_log_in("secretive", "owner@secretive.example.com", wrong_password)
            .await
            .status(),
        401
    );
    let cookie = app
        .log_in("secretive", "owner@secretive.example.com", owner_password)
        .await;
    let response = app
        .on(Method::POST, "secretive", "/api/tenant/users", Some(&cookie))
        .json(&json!({"email": "sam@secretive.example.com", "role": "clinician", "password": staff_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = app
        .on(
            Method::PUT,
            "secretive",
            "/api/tenant/cliniko-key",
            Some(&cookie),
        )
        .json(&json!({"api_key": CLINIKO_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let secrets = [owner_password, staff_password, wrong_password, CLINIKO_KEY];
    let session_value = cookie.split_once('=').unwrap().1;

    let stored = database_contents(
        &app,
        &["clinics", "users", "clinic_data_keys", "cliniko_keys"],
    )
    .await;
    assert!(
        contains(&stored, b"secretive"),
        "the scan must see the data it looks through"
    );
    for secret in secrets {
        for form in forms_of(secret) {
            assert!(
                !contains(&stored, &form),
                "the database holds {secret:?} in a readable form"
            );
        }
    }
    assert!(
        !contains(&stored, session_value.as_bytes()),
        "the session token is stored as is"
    );

    // What was logged.
    let logged = logs.lock().unwrap().clone();
    assert!(
        contains(&logged, b"request served"),
        "the capture must see this test's requests"
    );
    for secret in secrets {
        for form in forms_of(secret) {
            assert!(
                !contains(&logged, &form),
                "the logs hold {secret:?} in a readable form"
            );
        }
    }
    assert!(
        !contains(&logged, session_value.as_bytes()),
        "a session token was logged"
    );
}
