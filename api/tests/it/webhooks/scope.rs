//! `webhooks:manage` is a scope like the others: a clinic grants it to a client, and the client
//! asks for it in a token.

use serde_json::Value;

use super::Partner;
use crate::tokens::request_token;

#[tokio::test]
async fn a_clinic_grants_webhooks_manage_and_its_client_gets_a_token_for_it() {
    let partner = Partner::new(&["appointments:read", "webhooks:manage"]).await;
    let response = request_token(
        &partner.app,
        &partner.client,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "webhooks:manage"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "webhooks:manage");

    let me = crate::tokens::get_with(&partner.app, "/api/public/me", &partner.token).await;
    let me: Value = me.json().await.unwrap();
    assert_eq!(
        me["scopes"],
        serde_json::json!(["appointments:read", "webhooks:manage"])
    );
}
