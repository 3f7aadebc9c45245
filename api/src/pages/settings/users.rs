//! The staff tab: add staff, change roles, deactivate.

use actix_web::{HttpResponse, get, web};

use super::settings_page;
use crate::http::html::PageError;
use crate::sessions::PageSession;
use crate::state::AppState;

const USERS_SETTINGS: &str = include_str!("../../../../frontend-static/pages/settings-users.html");

/// Staff accounts.
#[get("/settings/users")]
pub async fn users_settings(
    state: web::Data<AppState>,
    session: PageSession,
) -> Result<HttpResponse, PageError> {
    session.require_manager()?;
    settings_page(
        &state,
        &session,
        ("Staff", "users"),
        USERS_SETTINGS,
        "users-settings.js",
        &[],
    )
}
