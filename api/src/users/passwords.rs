//! Staff passwords on the clinic's host: a staff member changes their own
//! (`POST /api/tenant/me/password`), and an owner or admin makes a one-time reset link for a
//! staff member (`POST /api/tenant/users/{id}/password-reset`). The link is used on the
//! `/reset-password` page (`crate::pages::password_link`); its token appears in this one
//! response only, and, when the manager asks (`send_email`) and the deployment has an SMTP
//! relay, in an e-mail to the staff member.

use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use clinicgate_core::clinics::Clinic;
use clinicgate_core::ids::UserId;
use clinicgate_core::notifications::MailOutcome;
use clinicgate_core::users::recovery::log_outcome;
use clinicgate_core::users::{Email, IssuedLink};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::extract::invalid_body;
use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, SessionErrors, route_problems};
use crate::sessions::{Authenticated, session_cookie};
use crate::state::AppState;

/// A one-time link that lets a staff member set their password: shown this once, to pass on.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordLinkOut {
    /// The link, on the clinic's host. Anyone holding it can set the password until it is
    /// used or expires: pass it on privately.
    #[schema(
        example = "https://harbour.clinicgate.example.com/reset-password?token=cgpw_0aT3xq9Vb2Lm8Rk5Yw1Hc7Jp4Ns6Fd0Ge3Qu9Zi2Ox5"
    )]
    pub url: String,
    /// `reset` (24 hours) or `invite` (7 days).
    #[schema(example = "reset")]
    pub purpose: String,
    /// When it stops working unused.
    pub expires_at: DateTime<Utc>,
    /// Whether the link was also e-mailed to the staff member (asked with `send_email`, and
    /// accepted by the deployment's SMTP relay). False: pass it on yourself.
    pub emailed: bool,
}

impl PasswordLinkOut {
    /// The link of `issued` on `clinic`'s host, e-mailed to `to` first when `send_email` asks
    /// for it and the deployment has a relay.
    pub async fn new(
        state: &AppState,
        clinic: &Clinic,
        to: &Email,
        issued: &IssuedLink,
        send_email: bool,
    ) -> Self {
        let clinic_url = state
            .settings
            .public_url
            .tenant_url(clinic.subdomain.as_str());
        let emailed = send_email && state.recovery.mail_configured() && {
            let outcome = state
                .recovery
                .mail_link(to, &clinic.name, &clinic_url, issued)
                .await;
            log_outcome(clinic.id, to, &outcome);
            matches!(outcome, MailOutcome::Accepted { .. })
        };
        Self {
            url: issued.url(&clinic_url),
            purpose: issued.purpose.as_str().to_owned(),
            expires_at: issued.expires_at,
            emailed,
        }
    }
}

/// Options of a reset link.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetLinkIn {
    /// Also e-mail the link to the staff member (when the deployment has an SMTP relay; the
    /// answer says whether it went). Default false.
    #[serde(default)]
    pub send_email: bool,
}

/// A new password for oneself.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeIn {
    /// The current password.
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    /// The new password: 12 to 1024 characters, not a common password.
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
}

route_problems!(
    /// What `POST /api/tenant/me/password` answers itself.
    ChangePasswordProblems {
        422 => "A wrong current password (`current_password`), or a new one that breaks the rules (`new_password`); nothing changes",
    }
);

/// Changes the caller's password. Every session of theirs ends, on every device; this answer
/// carries a fresh session cookie so the browser it came from stays logged in.
#[utoipa::path(
    tag = "session",
    request_body = PasswordChangeIn,
    responses(
        (status = 204, description = "Changed; a new session cookie is set"),
        SessionErrors, JsonBodyErrors,
        ChangePasswordProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/me/password")]
pub async fn change_own_password(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: web::Json<PasswordChangeIn>,
) -> Result<HttpResponse, ApiError> {
    let PasswordChangeIn {
        current_password,
        new_password,
    } = body.into_inner();
    let user = state
        .staff
        .change_own_password(auth.ctx(), current_password, new_password)
        .await?;
    let fresh = state.sessions.start(auth.clinic.id, user).await?;
    Ok(HttpResponse::NoContent()
        .cookie(session_cookie(&fresh.token, &state.settings.public_url))
        .finish())
}

route_problems!(
    /// What `POST /api/tenant/users/{id}/password-reset` answers itself.
    CreateResetLinkProblems {
        404 => "No such user in this clinic",
        409 => "The staff member is deactivated (`user_inactive`)",
    }
);

/// Makes a one-time password reset link for a staff member (owners and admins; only owners for
/// owners). It works once, for 24 hours; an older unused link of theirs stops working. Setting
/// a password through it ends every session of theirs.
#[utoipa::path(
    tag = "clinic",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body(content = ResetLinkIn, description = "Optional: whether to e-mail the link too"),
    responses(
        (status = 201, description = "The link, shown this once", body = PasswordLinkOut),
        SessionErrors, JsonBodyErrors,
        CreateResetLinkProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/users/{id}/password-reset")]
pub async fn create_reset_link(
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // The body is optional (no body: the link is only shown), but a body that is there must be
    // right: a misspelt option must not be ignored silently.
    let send_email = if body.iter().all(u8::is_ascii_whitespace) {
        false
    } else {
        serde_json::from_slice::<ResetLinkIn>(&body)
            .map_err(|err| invalid_body(&err))?
            .send_email
    };
    let (user, issued) = state
        .staff
        .create_reset_link(auth.ctx(), UserId::from_uuid(id.into_inner()))
        .await?;
    let out = PasswordLinkOut::new(&state, &auth.clinic, &user.email, &issued, send_email).await;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(out))
}
