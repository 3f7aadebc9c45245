//! Webhook endpoints through the real HTTP surface: the scope that manages them.

mod scope;

use crate::common::{TestApp, spawn_app};
use crate::tokens::{Client, clinic, create_client, token};

/// An app, a clinic, and a client of it holding `scopes` with a token for all of them.
pub struct Partner {
    pub app: TestApp,
    pub client: Client,
    pub token: String,
}

impl Partner {
    pub async fn new(scopes: &[&str]) -> Self {
        let app = spawn_app().await;
        Self::on(app, "harbour", scopes).await
    }

    /// A clinic `subdomain` on `app` with a client holding `scopes`.
    pub async fn on(app: TestApp, subdomain: &str, scopes: &[&str]) -> Self {
        let clinic = clinic(&app, subdomain).await;
        let client = create_client(&app, &clinic, scopes, None).await;
        let token = token(&app, &client).await;
        Self { app, client, token }
    }
}
