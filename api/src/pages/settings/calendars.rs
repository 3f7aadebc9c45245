//! The calendars tab: doctors' calendar feeds (create, with the URL shown once; revoke) and
//! whether they show patients' initials or full names, through `/api/tenant/calendar-feeds`.

use actix_web::{HttpResponse, get, web};

use super::ScriptedTab;
use crate::http::html::PageError;
use crate::sessions::PageSession;
use crate::state::AppState;

const CALENDARS_TAB: ScriptedTab = ScriptedTab {
    title: "Calendars",
    tab: "calendars",
    template: include_str!("../../../../frontend-static/pages/settings-calendars.html"),
    script: "calendars-settings.js",
};

/// Doctors' calendar feeds.
#[get("/settings/calendars")]
pub async fn calendars_settings(
    state: web::Data<AppState>,
    session: PageSession,
) -> Result<HttpResponse, PageError> {
    CALENDARS_TAB.page(&state, &session)
}
