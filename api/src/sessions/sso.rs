//! What single sign-on adds at the session door: the cookie that binds a login's sealed state
//! to the browser that started it, the callback address registered at the provider, and the
//! clinic's "SSO only" rule for password logins.
//!
//! The state cookie is host-only, `HttpOnly`, `SameSite=Lax` (the provider's redirect back is a
//! top-level `GET` from another site, which `Lax` lets through and `Strict` would not), `Secure`
//! with the `__Host-` prefix over https, and lives as long as a login may take.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time};
use clinicgate_core::clinics::Clinic;
use clinicgate_core::sso::login::LOGIN_LIFETIME;
use clinicgate_core::users::{Role, User};
use secrecy::{ExposeSecret as _, SecretString};

use crate::config::PublicUrl;
use crate::state::AppState;

/// The path the provider sends the browser back to.
pub const CALLBACK_PATH: &str = "/login/sso/callback";

const COOKIE: &str = "cg_sso";
const SECURE_COOKIE: &str = "__Host-cg_sso";

fn cookie_name(public: &PublicUrl) -> &'static str {
    if public.is_https() {
        SECURE_COOKIE
    } else {
        COOKIE
    }
}

fn cookie(public: &PublicUrl, value: String, max_age: time::Duration) -> Cookie<'static> {
    Cookie::build(cookie_name(public), value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(public.is_https())
        .max_age(max_age)
        .finish()
}

/// The cookie carrying a login's sealed state.
pub fn state_cookie(public: &PublicUrl, sealed: &SecretString) -> Cookie<'static> {
    cookie(
        public,
        sealed.expose_secret().to_owned(),
        time::Duration::seconds(LOGIN_LIFETIME.num_seconds()),
    )
}

/// A cookie that makes the browser forget the state (a login's state is used once).
pub fn expired_state_cookie(public: &PublicUrl) -> Cookie<'static> {
    cookie(public, String::new(), time::Duration::ZERO)
}

/// The sealed state the request's cookie carries.
pub fn state_from(req: &HttpRequest, public: &PublicUrl) -> Option<String> {
    req.cookie(cookie_name(public))
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The redirect (callback) URI of `clinic`, as registered at its provider.
pub fn redirect_uri(state: &AppState, clinic: &Clinic) -> String {
    format!(
        "{}{CALLBACK_PATH}",
        state
            .settings
            .public_url
            .tenant_url(clinic.subdomain.as_str())
    )
}

/// Whether `user` may log in with a password at `clinic`: not when the clinic is "SSO only",
/// except owners (their break-glass way in when the provider is down).
///
/// # Errors
/// When the database fails.
pub async fn password_allowed(
    state: &AppState,
    clinic: &Clinic,
    user: &User,
) -> Result<bool, clinicgate_core::Error> {
    if user.role == Role::Owner {
        return Ok(true);
    }
    Ok(!state
        .sso
        .of_clinic(clinic.id)
        .await?
        .is_some_and(|config| config.sso_only))
}
