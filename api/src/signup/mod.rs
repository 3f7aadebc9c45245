//! `POST /api/signup` on the root host: a clinic and its owner, created together.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use clinicgate_core::Error;
use clinicgate_core::clinics::SignupRequest;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::client_ip::client_ip;
use crate::http::host::RootHost;
use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, StoreErrors, route_problems};
use crate::state::AppState;

/// The window sign-ups per address are counted in.
const SIGNUP_WINDOW: Duration = Duration::from_secs(3600);

/// A new clinic and its owner.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SignupIn {
    /// The clinic's display name (1–200 characters).
    #[schema(example = "Harbour Physio")]
    pub clinic_name: String,
    /// One DNS label: 1–63 letters, digits or hyphens, not starting or ending with a hyphen, not
    /// a reserved name. Stored lowercase; unique regardless of case.
    #[schema(example = "harbour-physio")]
    pub subdomain: String,
    /// The owner's e-mail address (their login name).
    #[schema(example = "owner@harbourphysio.com.au")]
    pub email: String,
    /// The owner's password: 12 to 1024 characters, not a common password.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// The clinic just created.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignupOut {
    /// The clinic's id.
    pub id: Uuid,
    /// Display name.
    #[schema(example = "Harbour Physio")]
    pub name: String,
    /// Its subdomain, lowercase.
    #[schema(example = "harbour-physio")]
    pub subdomain: String,
    /// The clinic's own address.
    #[schema(example = "https://harbour-physio.clinicgate.example.com")]
    pub url: String,
    /// Where the owner logs in.
    #[schema(example = "https://harbour-physio.clinicgate.example.com/login")]
    pub login_url: String,
}

route_problems!(
    /// What `POST /api/signup` answers itself.
    SignUpProblems {
        409 => "The subdomain is taken (`subdomain_taken`), whatever its case",
        422 => "Invalid fields; `errors` says which and why; or JSON of the wrong shape (`invalid_body`)",
        429 => "Too many sign-ups from this address; see `Retry-After`",
    }
);

/// Signs a clinic up: creates the clinic and its owner in one transaction (on any failure,
/// neither exists). The owner then logs in at `login_url`.
#[utoipa::path(
    tag = "onboarding",
    request_body = SignupIn,
    responses(
        (status = 201, description = "Created; `Location` is the clinic's URL", body = SignupOut),
        JsonBodyErrors, StoreErrors,
        SignUpProblems,
    )
)]
#[post("/api/signup")]
pub async fn sign_up(
    req: HttpRequest,
    _root: RootHost,
    state: web::Data<AppState>,
    body: web::Json<SignupIn>,
) -> Result<HttpResponse, ApiError> {
    // Only clinics actually created count, so typos and taken names never lock anyone out; the
    // counter lives in the shared store, so the limit holds across instances.
    let ip = client_ip(&req, state.settings.http.trust_forwarded_for);
    let counter = format!("signup:ip:{ip}");
    let limiter = &state.shared.rate_limiter;
    if limiter.count(&counter).await? >= u64::from(state.settings.signup.max_per_ip_per_hour) {
        return Err(Error::RateLimited {
            retry_after: SIGNUP_WINDOW,
        }
        .into());
    }
    let body = body.into_inner();
    let (clinic, _owner) = state
        .signup
        .sign_up(SignupRequest {
            clinic_name: body.clinic_name,
            subdomain: body.subdomain,
            email: body.email,
            password: body.password,
        })
        .await?;
    limiter.increment(&counter, SIGNUP_WINDOW).await?;
    let urls = state
        .settings
        .public_url
        .clinic_urls(clinic.subdomain.as_str());
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, urls.url.clone()))
        .json(SignupOut {
            id: clinic.id.as_uuid(),
            name: clinic.name,
            subdomain: clinic.subdomain.as_str().to_owned(),
            login_url: format!("{}/login", urls.url),
            url: urls.url,
        }))
}
