//! The clinic-wide MFA requirement at the session door: when a clinic requires two-step login,
//! a staff member who has not set it up can use only what setting it up needs — the account page
//! and its MFA forms, their own MFA and password JSON routes, their session, and logging out.
//! Everything else answers `mfa_enrolment_required` (JSON, 403) or sends the browser to the
//! account page, which comes back to the page asked for once two-step login is on.
//!
//! The requirement and the staff member's MFA are read on each request, so switching the
//! setting on applies to sessions that already exist, on every instance.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;

use super::Authenticated;
use crate::http::problem::ApiError;
use crate::state::AppState;

/// Paths a staff member may use before setting up the two-step login their clinic requires.
fn open_while_enrolling(path: &str) -> bool {
    path == "/account"
        || path.starts_with("/account/")
        || path == "/api/tenant/me/mfa"
        || path.starts_with("/api/tenant/me/mfa/")
        || path == "/api/tenant/me/password"
        || path == "/api/session"
        || path == "/logout"
}

/// Whether the session's clinic requires MFA that its staff member has not set up yet.
///
/// # Errors
/// When the database fails.
pub async fn enrolment_pending(state: &AppState, auth: &Authenticated) -> Result<bool, ApiError> {
    if !state
        .clinic_settings
        .of_clinic(auth.clinic.id)
        .await?
        .mfa_required
    {
        return Ok(false);
    }
    Ok(!state
        .mfa
        .is_enabled(auth.clinic.id, auth.session.user.id)
        .await?)
}

/// Whether this request must wait until the staff member has set up two-step login.
///
/// # Errors
/// When the database fails.
pub async fn held_for_enrolment(
    req: &HttpRequest,
    state: &AppState,
    auth: &Authenticated,
) -> Result<bool, ApiError> {
    if open_while_enrolling(req.path()) {
        return Ok(false);
    }
    enrolment_pending(state, auth).await
}

/// The 403 JSON routes answer while the staff member's required MFA is not set up.
pub fn mfa_enrolment_required() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "mfa_enrolment_required",
        "this clinic requires two-step login: set it up first (POST /api/tenant/me/mfa/enrolment, \
         then …/enrolment/confirm) or on the account page",
    )
}

/// Where a page sends a staff member who must set up two-step login first: the account page,
/// which comes back to `next` afterwards.
pub fn enrolment_location(next: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("/account?next={encoded}#mfa")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_setting_up_mfa_needs_is_open_before_it_is_set_up() {
        for open in [
            "/account",
            "/account/mfa/enrolment",
            "/account/mfa/confirm",
            "/api/tenant/me/mfa/enrolment",
            "/api/tenant/me/mfa/enrolment/confirm",
            "/api/session",
            "/logout",
        ] {
            assert!(open_while_enrolling(open), "{open}");
        }
        for held in [
            "/",
            "/patients",
            "/settings/users",
            "/api/tenant",
            "/api/tenant/users",
            "/api/tenant/me/mfa-other",
            "/accounting",
        ] {
            assert!(!open_while_enrolling(held), "{held}");
        }
    }

    #[test]
    fn the_enrolment_page_comes_back_to_the_patient_asked_for() {
        assert_eq!(
            enrolment_location("/patients?patient_id=12"),
            "/account?next=%2Fpatients%3Fpatient_id%3D12#mfa"
        );
    }
}
