//! The Cliniko tab: connect the clinic's Cliniko key, and the patient button to add in Cliniko.

use actix_web::{HttpResponse, get, web};

use super::settings_page;
use crate::http::html::PageError;
use crate::sessions::PageSession;
use crate::state::AppState;

const CLINIKO_SETTINGS: &str =
    include_str!("../../../../frontend-static/pages/settings-cliniko.html");

/// Connect Cliniko, and the custom patient button URL with the steps to add it in Cliniko.
#[get("/settings/cliniko")]
pub async fn cliniko_settings(
    state: web::Data<AppState>,
    session: PageSession,
) -> Result<HttpResponse, PageError> {
    session.require_manager()?;
    settings_page(
        &state,
        &session,
        ("Cliniko settings", "cliniko"),
        CLINIKO_SETTINGS,
        "cliniko-settings.js",
        &[],
    )
}
