//! The notifications tab: which appointment events e-mail or text the patient and/or staff,
//! queue progress, the clinic's SMS account, a preview of each message, and the history, through
//! `/api/tenant/notifications`.

use actix_web::{HttpResponse, get, web};

use super::ScriptedTab;
use crate::http::html::PageError;
use crate::sessions::PageSession;
use crate::state::AppState;

const NOTIFICATIONS_TAB: ScriptedTab = ScriptedTab {
    title: "Notifications",
    tab: "notifications",
    template: include_str!("../../../../frontend-static/pages/settings-notifications.html"),
    script: "notifications-settings.js",
};

/// The clinic's notification e-mails and text messages.
#[get("/settings/notifications")]
pub async fn notifications_settings(
    state: web::Data<AppState>,
    session: PageSession,
) -> Result<HttpResponse, PageError> {
    NOTIFICATIONS_TAB.page(&state, &session)
}
