//! `GET /api/tenant`: the clinic of the host, with the URLs a clinic needs to set up Cliniko's
//! custom patient button.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use clinicgate_core::clinics::Clinic;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::config::PublicUrl;
use crate::http::problem::ApiError;
use crate::http::responses::SessionErrors;
use crate::sessions::Authenticated;
use crate::state::AppState;

/// A clinic, as its staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantClinicOut {
    /// The clinic's id.
    pub id: Uuid,
    /// Display name.
    #[schema(example = "Harbour Physio")]
    pub name: String,
    /// Its subdomain (lowercase).
    #[schema(example = "harbour-physio")]
    pub subdomain: String,
    /// The clinic's own address.
    #[schema(example = "https://harbour-physio.clinicgate.example.com")]
    pub url: String,
    /// The custom patient button URL to add in Cliniko (Settings → Our clinic → Integrations).
    #[schema(example = "https://harbour-physio.clinicgate.example.com/patients")]
    pub button_url: String,
    /// The wildcard URL registered with Cliniko for every clinic.
    #[schema(example = "*.clinicgate.example.com/patients")]
    pub wildcard_button_url: String,
    /// Whether a verified Cliniko API key is stored.
    pub cliniko_connected: bool,
    /// When the clinic signed up.
    pub created_at: DateTime<Utc>,
}

impl TenantClinicOut {
    /// The clinic with its URLs.
    pub fn new(clinic: &Clinic, public: &PublicUrl, cliniko_connected: bool) -> Self {
        let urls = public.clinic_urls(clinic.subdomain.as_str());
        Self {
            id: clinic.id.as_uuid(),
            name: clinic.name.clone(),
            subdomain: clinic.subdomain.as_str().to_owned(),
            url: urls.url,
            button_url: urls.button_url,
            wildcard_button_url: urls.wildcard_button_url,
            cliniko_connected,
            created_at: clinic.created_at,
        }
    }
}

/// The clinic whose host this is (any logged-in staff member).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "The clinic", body = TenantClinicOut),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant")]
pub async fn get_tenant(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<web::Json<TenantClinicOut>, ApiError> {
    let connected = state.cliniko_keys.connection(auth.ctx()).await?.is_some();
    Ok(web::Json(TenantClinicOut::new(
        &auth.clinic,
        &state.settings.public_url,
        connected,
    )))
}
