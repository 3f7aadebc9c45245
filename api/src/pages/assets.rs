//! Static assets from `frontend-static/`, embedded in the binary so one file is the whole
//! product and nothing is fetched from another origin.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

use crate::http::problem::ApiError;

/// An embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal, $path:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../frontend-static/",
                $path
            )),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8", "css/app.css"),
    asset!(
        "common.js",
        "text/javascript; charset=utf-8",
        "js/common.js"
    ),
    asset!(
        "signup.js",
        "text/javascript; charset=utf-8",
        "js/signup.js"
    ),
    asset!(
        "cliniko-settings.js",
        "text/javascript; charset=utf-8",
        "js/cliniko-settings.js"
    ),
    asset!(
        "users-settings.js",
        "text/javascript; charset=utf-8",
        "js/users-settings.js"
    ),
    asset!(
        "clients-settings.js",
        "text/javascript; charset=utf-8",
        "js/clients-settings.js"
    ),
    asset!(
        "partners-settings.js",
        "text/javascript; charset=utf-8",
        "js/partners-settings.js"
    ),
    asset!(
        "fhir-settings.js",
        "text/javascript; charset=utf-8",
        "js/fhir-settings.js"
    ),
    asset!(
        "webhooks-settings.js",
        "text/javascript; charset=utf-8",
        "js/webhooks-settings.js"
    ),
    asset!(
        "calendars-settings.js",
        "text/javascript; charset=utf-8",
        "js/calendars-settings.js"
    ),
    asset!(
        "notifications-settings.js",
        "text/javascript; charset=utf-8",
        "js/notifications-settings.js"
    ),
    asset!(
        "sign-in-settings.js",
        "text/javascript; charset=utf-8",
        "js/sign-in-settings.js"
    ),
    asset!("logo.svg", "image/svg+xml", "img/logo.svg"),
    asset!(
        "dashboard.css",
        "text/css; charset=utf-8",
        "css/dashboard.css"
    ),
    asset!(
        "patients.css",
        "text/css; charset=utf-8",
        "css/patients.css"
    ),
    asset!(
        "patient.js",
        "text/javascript; charset=utf-8",
        "js/patient.js"
    ),
];

/// One static asset. Cached briefly: names are not fingerprinted, so a deployment must be able
/// to replace them within minutes.
#[get("/static/{name}")]
pub async fn static_asset(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == name.as_str())
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(asset.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_non_empty_and_uniquely_named() {
        for (i, asset) in ASSETS.iter().enumerate() {
            assert!(!asset.body.is_empty(), "{}", asset.name);
            assert!(ASSETS[i + 1..].iter().all(|other| other.name != asset.name));
        }
    }
}
