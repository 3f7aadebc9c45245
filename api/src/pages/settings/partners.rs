//! The partners tab: each API client's partner patient API (outbound patient sync): connect,
//! switch on and off, remove, and send the existing patients.

use actix_web::{HttpResponse, get, web};

use super::ScriptedTab;
use crate::http::html::PageError;
use crate::sessions::PageSession;
use crate::state::AppState;

const PARTNERS_TAB: ScriptedTab = ScriptedTab {
    title: "Partners",
    tab: "partners",
    template: include_str!("../../../../frontend-static/pages/settings-partners.html"),
    script: "partners-settings.js",
};

/// Clients' patient sync.
#[get("/settings/partners")]
pub async fn partners_settings(
    state: web::Data<AppState>,
    session: PageSession,
) -> Result<HttpResponse, PageError> {
    PARTNERS_TAB.page(&state, &session)
}
