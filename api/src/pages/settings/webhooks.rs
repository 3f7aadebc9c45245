//! The webhooks tab: every endpoint of the clinic's API clients, their deliveries, and (for
//! owners and admins) disable, enable and resend. Unlike the other tabs, every staff member may
//! look: the JSON API refuses clinicians the controls, and the script shows them none.

use actix_web::{HttpResponse, get, web};

use super::settings_page;
use crate::http::html::PageError;
use crate::sessions::PageSession;
use crate::state::AppState;

const WEBHOOKS_SETTINGS: &str =
    include_str!("../../../../frontend-static/pages/settings-webhooks.html");

/// Partners' webhook endpoints and their deliveries.
#[get("/settings/webhooks")]
pub async fn webhooks_settings(
    state: web::Data<AppState>,
    session: PageSession,
) -> Result<HttpResponse, PageError> {
    settings_page(
        &state,
        &session,
        ("Webhooks", "webhooks"),
        WEBHOOKS_SETTINGS,
        "webhooks-settings.js",
        &[],
    )
}
