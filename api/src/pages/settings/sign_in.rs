//! The sign-in tab: the clinic's single sign-on with OpenID Connect (issuer, client id and
//! secret, "SSO only"), through `/api/tenant/sso`. The redirect URI to register at the provider
//! is shown on the page. Owners change it; admins see it.

use actix_web::{HttpResponse, get, web};

use super::ScriptedTab;
use crate::http::html::PageError;
use crate::sessions::PageSession;
use crate::state::AppState;

const SIGN_IN_TAB: ScriptedTab = ScriptedTab {
    title: "Sign-in",
    tab: "sign-in",
    template: include_str!("../../../../frontend-static/pages/settings-sign-in.html"),
    script: "sign-in-settings.js",
};

/// Single sign-on.
#[get("/settings/sign-in")]
pub async fn sign_in_settings(
    state: web::Data<AppState>,
    session: PageSession,
) -> Result<HttpResponse, PageError> {
    SIGN_IN_TAB.page(&state, &session)
}
