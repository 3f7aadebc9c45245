//! The FHIR tab: the clinic's FHIR destinations (push to external FHIR servers): add, switch on
//! and off, test the connection, remove, and see each one's pushes with "retry now".

use actix_web::{HttpResponse, get, web};

use super::ScriptedTab;
use crate::http::html::PageError;
use crate::sessions::PageSession;
use crate::state::AppState;

const FHIR_TAB: ScriptedTab = ScriptedTab {
    title: "FHIR",
    tab: "fhir",
    template: include_str!("../../../../frontend-static/pages/settings-fhir.html"),
    script: "fhir-settings.js",
};

/// The clinic's FHIR destinations.
#[get("/settings/fhir")]
pub async fn fhir_settings(
    state: web::Data<AppState>,
    session: PageSession,
) -> Result<HttpResponse, PageError> {
    FHIR_TAB.page(&state, &session)
}
