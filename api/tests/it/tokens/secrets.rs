//! Client secrets, access tokens and signing keys never appear in plaintext in the database or
//! in the logs.

use super::{clinic, create_client, get_with, request_token, revoke, token};
use crate::common::spawn_app;
use crate::secrets_at_rest::{captured_logs, contains, database_contents, forms_of};

#[tokio::test]
async fn client_secrets_tokens_and_signing_keys_are_never_stored_or_logged_in_plaintext() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let owner = clinic(&app, "secret-keeper").await;
    let client = create_client(&app, &owner, &["doctors:read"], None).await;
    let access_token = token(&app, &client).await;
    assert_eq!(
        get_with(&app, "/api/public/me", &access_token)
            .await
            .status(),
        200
    );
    assert_eq!(
        request_token(
            &app,
            &super::Client {
                id: client.id.clone(),
                secret: format!("{}x", client.secret),
            },
            &[("grant_type", "client_credentials")],
        )
        .await
        .status(),
        401
    );
    assert_eq!(revoke(&app, &access_token, None).await.status(), 204);
    let signing_key = app
        .state
        .tokens
        .keys()
        .current()
        .signing_key()
        .expose_pkcs8()
        .to_vec();

    let stored = database_contents(
        &app,
        &[
            "api_clients",
            "service_keys",
            "token_revocations",
            "clinics",
        ],
    )
    .await;
    assert!(
        contains(&stored, client.id.as_bytes()),
        "the scan must see the data it looks through"
    );
    for form in forms_of(&client.secret) {
        assert!(
            !contains(&stored, &form),
            "the database holds the client secret"
        );
    }
    assert!(
        !contains(&stored, access_token.as_bytes()),
        "the database holds a token"
    );
    // In the PKCS#8 DER the 32-byte private seed follows `04 22 04 20` (an OCTET STRING in an
    // OCTET STRING); the public key after it is published anyway.
    let at = signing_key
        .windows(4)
        .position(|w| w == [0x04, 0x22, 0x04, 0x20])
        .unwrap()
        + 4;
    let seed = &signing_key[at..at + 32];
    assert!(
        !contains(&stored, seed),
        "the database holds the signing key unsealed"
    );
    let master = std::fs::read_to_string(app.state.settings.master_key_file()).unwrap();
    assert!(!contains(&stored, master.trim().as_bytes()));

    let logged = logs.lock().unwrap().clone();
    assert!(
        contains(&logged, b"issued an access token"),
        "the capture must see this test's requests"
    );
    for form in forms_of(&client.secret) {
        assert!(!contains(&logged, &form), "the logs hold the client secret");
    }
    let signature = access_token.rsplit('.').next().unwrap();
    assert!(
        !contains(&logged, signature.as_bytes()),
        "a token was logged"
    );
    assert!(!contains(&logged, seed));
}
