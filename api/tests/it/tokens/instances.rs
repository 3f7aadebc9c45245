//! Two instances of one deployment (one database; one Redis when testing on Redis, in-process
//! stores otherwise): what one does to a token, the other knows on its very next request.

use std::time::Duration;

use figment::providers::Serialized;
use reqwest::Method;

use super::{clinic, create_client, decode_part, revoke, token, validate};
use crate::common::{TestApp, spawn_app_with};

#[tokio::test]
async fn a_token_revoked_on_one_instance_is_refused_by_the_other_on_the_next_request() {
    let first = spawn_app_with(|f| f).await;
    let second = first.spawn_sibling(|f| f).await;
    let owner = clinic(&first, "harbour").await;
    let client = create_client(&first, &owner, &["doctors:read"], None).await;
    let access_token = token(&first, &client).await;
    assert_eq!(
        validate(&second, &access_token).await.0,
        200,
        "both instances share the keys"
    );

    assert_eq!(revoke(&first, &access_token, None).await.status(), 204);
    refused_at_once(&second, &access_token, "the other instance").await;
    refused_at_once(&first, &access_token, "the revoking instance").await;
}

/// Asserts that `app` refuses `access_token` now. When it does not, says whether it did a moment
/// later (a change that arrived late) or still does not (a change that was missed), and on which
/// backends: the two failures have different causes.
async fn refused_at_once(app: &TestApp, access_token: &str, which: &str) {
    let (status, body) = validate(app, access_token).await;
    if status == 401 {
        return;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (later, _) = validate(app, access_token).await;
    panic!(
        "{which} answered {status} {body} right after the revocation and {later} 1.5 s later \
         (backends {:?})",
        app.backends()
    );
}

#[tokio::test]
async fn a_client_deleted_on_one_instance_is_refused_by_the_other_on_the_next_request() {
    let first = spawn_app_with(|f| f).await;
    let second = first.spawn_sibling(|f| f).await;
    let owner = clinic(&first, "harbour").await;
    let client = create_client(&first, &owner, &["doctors:read", "slots:read"], None).await;
    let access_token = token(&first, &client).await;
    // The second instance has seen (and, with Redis, cached) the client as active.
    assert_eq!(validate(&second, &access_token).await.0, 200);

    let narrowed = first
        .on(
            Method::PATCH,
            "harbour",
            &format!("/api/tenant/clients/{}", client.id),
            Some(&owner.cookie),
        )
        .json(&serde_json::json!({"scopes": ["slots:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(narrowed.status(), 200);
    assert_eq!(
        validate(&second, &access_token).await.1["scope"],
        "slots:read"
    );

    let deleted = first
        .on(
            Method::DELETE,
            "harbour",
            &format!("/api/tenant/clients/{}", client.id),
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(validate(&second, &access_token).await.0, 401);
}

#[tokio::test]
async fn a_key_rotated_by_one_instance_is_accepted_by_the_other_at_once() {
    let activation =
        |f: figment::Figment| f.merge(Serialized::default("tokens.signing_key_activation_secs", 0));
    let first = spawn_app_with(activation).await;
    let second = first.spawn_sibling(activation).await;
    let owner = clinic(&first, "harbour").await;
    let client = create_client(&first, &owner, &["doctors:read"], None).await;

    let kid = first.state.tokens.keys().rotate().await.unwrap();
    let fresh = token(&first, &client).await;
    assert_eq!(
        decode_part(fresh.split('.').next().unwrap())["kid"],
        kid.as_str(),
        "signed with a key the second instance has not loaded yet"
    );
    assert_eq!(
        validate(&second, &fresh).await.0,
        200,
        "an unknown kid makes the instance reload its keys"
    );
}
