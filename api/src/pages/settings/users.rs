//! The staff tab: add staff, change roles, deactivate.

use actix_web::{HttpResponse, get, web};

use super::ScriptedTab;
use crate::http::html::PageError;
use crate::sessions::PageSession;
use crate::state::AppState;

const USERS_TAB: ScriptedTab = ScriptedTab {
    title: "Staff",
    tab: "users",
    template: include_str!("../../../../frontend-static/pages/settings-users.html"),
    script: "users-settings.js",
};

/// Staff accounts.
#[get("/settings/users")]
pub async fn users_settings(
    state: web::Data<AppState>,
    session: PageSession,
) -> Result<HttpResponse, PageError> {
    session.require_manager()?;
    // Whether the deployment sends e-mail: the page then offers to e-mail reset and invite links.
    let mail = if state.recovery.mail_configured() {
        "on"
    } else {
        "off"
    };
    super::settings_page(
        &state,
        &session,
        (USERS_TAB.title, USERS_TAB.tab),
        USERS_TAB.template,
        USERS_TAB.script,
        &[("mail", mail)],
    )
}
