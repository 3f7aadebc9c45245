//! The Cliniko tab: connect the clinic's Cliniko key, and the patient button to add in Cliniko.

use actix_web::{HttpResponse, get, web};

use super::ScriptedTab;
use crate::http::html::PageError;
use crate::sessions::PageSession;
use crate::state::AppState;

const CLINIKO_TAB: ScriptedTab = ScriptedTab {
    title: "Cliniko settings",
    tab: "cliniko",
    template: include_str!("../../../../frontend-static/pages/settings-cliniko.html"),
    script: "cliniko-settings.js",
};

/// Connect Cliniko, and the custom patient button URL with the steps to add it in Cliniko.
#[get("/settings/cliniko")]
pub async fn cliniko_settings(
    state: web::Data<AppState>,
    session: PageSession,
) -> Result<HttpResponse, PageError> {
    CLINIKO_TAB.page(&state, &session)
}
