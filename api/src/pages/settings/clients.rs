//! The API clients tab: partners' clients, their scopes and secrets.

use actix_web::{HttpResponse, get, web};

use super::settings_page;
use crate::http::html::PageError;
use crate::sessions::PageSession;
use crate::state::AppState;

const CLIENTS_SETTINGS: &str =
    include_str!("../../../../frontend-static/pages/settings-clients.html");

/// API clients for partners: create (secret shown once), rotate, delete.
#[get("/settings/clients")]
pub async fn clients_settings(
    state: web::Data<AppState>,
    session: PageSession,
) -> Result<HttpResponse, PageError> {
    session.require_manager()?;
    let tokens = &state.settings.tokens;
    let token_url = format!("{}/api/auth/token", state.settings.public_url.as_str());
    let grace = match tokens.secret_grace_hours {
        1 => "1 hour".to_owned(),
        hours => format!("{hours} hours"),
    };
    let default_rate_limit = tokens.default_rate_limit_per_minute.to_string();
    let token_lifetime = match tokens.ttl_secs {
        secs if secs % 60 == 0 => format!("{} minutes", secs / 60),
        secs => format!("{secs} seconds"),
    };
    settings_page(
        &state,
        &session,
        ("API clients", "clients"),
        CLIENTS_SETTINGS,
        "clients-settings.js",
        &[
            ("token_url", &token_url),
            ("grace", &grace),
            ("default_rate_limit", &default_rate_limit),
            ("token_lifetime", &token_lifetime),
        ],
    )
}
