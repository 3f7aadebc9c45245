//! `/login` and `/logout` on clinic hosts: the HTML form flow (the JSON flow is
//! `/api/session`). After logging in, the browser goes to `next` only when it is a path on this
//! host.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, get, post, web};
use clinicgate_core::Error;
use clinicgate_core::clinics::Clinic;
use clinicgate_core::sessions::NewSession;
use clinicgate_core::sso::SsoConfig;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::{Nav, Page};
use crate::http::host::{RootHost, TenantHost};
use crate::http::html::{PageError, escape, no_clinic_here, render, see_other};
use crate::sessions::{
    LoginStep, NoReturn, PageSession, authenticate, complete_mfa, expired_cookie, log_in,
    require_same_origin, safe_next, session_cookie, token_from,
};
use crate::state::AppState;

const LOGIN: &str = include_str!("../../../frontend-static/pages/login.html");
const LOGIN_MFA: &str = include_str!("../../../frontend-static/pages/login-mfa.html");
const LOGOUT: &str = include_str!("../../../frontend-static/pages/logout.html");

/// The clinic of the request's host, for the login pages (which answer an HTML 404 elsewhere).
pub(super) fn clinic_of(req: &HttpRequest) -> Option<Clinic> {
    req.extensions()
        .get::<TenantHost>()
        .map(|host| host.0.clone())
}

/// Query of `GET /login`.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// On the root host: the clinic whose login page to go to.
    clinic: Option<String>,
    next: Option<String>,
    welcome: Option<String>,
    logged_out: Option<String>,
    password_set: Option<String>,
}

/// The form `POST /login` receives.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: SecretString,
    next: Option<String>,
}

/// What the login page shows besides the form.
pub(super) struct LoginView<'a> {
    pub(super) email: &'a str,
    pub(super) next: &'a str,
    pub(super) notice: Option<&'a str>,
    pub(super) error: Option<&'a str>,
}

/// The single sign-on part of the login page: the provider's button and, at an "SSO only"
/// clinic, the password form folded away as the owners' break-glass login.
fn sso_parts(sso: Option<&SsoConfig>, next: &str) -> (String, &'static str, &'static str) {
    let Some(sso) = sso else {
        return (String::new(), "", "");
    };
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let button = format!(
        "<p><a class=\"button button-block\" id=\"sso-login\" href=\"/login/sso?next={}\">Sign in with {}</a></p>",
        escape(&next),
        escape(&sso.provider_name)
    );
    if sso.sso_only {
        (
            button,
            "<details class=\"break-glass\"><summary>Owner break-glass login (password)</summary><p class=\"muted small\">Staff sign in with the button above. Owners can still log in with their password when the identity provider is down.</p>",
            "</details>",
        )
    } else {
        (
            format!("{button}<p class=\"muted small\">or log in with your password</p>"),
            "",
            "",
        )
    }
}

/// The login page of `clinic` with `view`, and its single sign-on button when it has one.
pub(super) async fn login_page(
    state: &AppState,
    clinic: &Clinic,
    view: &LoginView<'_>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let sso = state.sso.of_clinic(clinic.id).await?;
    let (sso, password_open, password_close) = sso_parts(sso.as_ref(), view.next);
    let notice = view
        .notice
        .map(|n| {
            format!(
                "<p class=\"notice notice-success\" role=\"status\">{}</p>",
                escape(n)
            )
        })
        .unwrap_or_default();
    let error = view
        .error
        .map(|e| {
            format!(
                "<p class=\"notice notice-error\" role=\"alert\" id=\"login-error\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default();
    let content = render(
        LOGIN,
        &[
            ("clinic_name", &clinic.name),
            ("notice", &notice),
            ("error", &error),
            ("email", view.email),
            ("next", view.next),
            ("sso", &sso),
            ("password_open", password_open),
            ("password_close", password_close),
            // Focus the button when there is one to press first.
            ("autofocus", if sso.is_empty() { " autofocus" } else { "" }),
        ],
    )?;
    Ok(Page {
        title: "Log in",
        content,
        scripts: &[],
        nav: Nav::ClinicGuest(clinic),
    }
    .respond(status)?)
}

/// The login form (or straight on to `next` when already logged in).
#[get("/login")]
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let Some(clinic) = clinic_of(&req) else {
        if req.extensions().get::<RootHost>().is_some() {
            return super::root_login::root_login(&state, query.clinic.as_deref());
        }
        return Ok(no_clinic_here(&req, state.settings.public_url.as_str()));
    };
    let next = safe_next(query.next.as_deref());
    if authenticate(&req, &state, &clinic).await?.is_some() {
        return Ok(see_other(&next));
    }
    let notice = if query.welcome.is_some() {
        Some("Your clinic is ready. Log in with the e-mail address and password you just chose.")
    } else if query.logged_out.is_some() {
        Some("You have logged out.")
    } else if query.password_set.is_some() {
        Some("Your password is set. Log in with it.")
    } else {
        None
    };
    login_page(
        &state,
        &clinic,
        &LoginView {
            email: "",
            next: &next,
            notice,
            error: None,
        },
        StatusCode::OK,
    )
    .await
}

/// Checks the credentials; on success sets the session cookie and goes to `next`.
#[post("/login")]
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let Some(clinic) = clinic_of(&req) else {
        return Ok(no_clinic_here(&req, state.settings.public_url.as_str()));
    };
    require_same_origin(&req, &state.settings.public_url)?;
    let LoginForm {
        email,
        password,
        next,
    } = form.into_inner();
    let next = safe_next(next.as_deref());
    let failed = |message: String, status| {
        let (state, clinic, email, next) = (&state, &clinic, &email, &next);
        async move {
            login_page(
                state,
                clinic,
                &LoginView {
                    email,
                    next,
                    notice: None,
                    error: Some(&message),
                },
                status,
            )
            .await
        }
    };
    match log_in(&req, &state, &clinic, email.clone(), password).await {
        Ok(step) => match finish_login(&state, &clinic, step, &next)? {
            Ok(response) => Ok(response),
            Err(message) => failed(message, StatusCode::FORBIDDEN).await,
        },
        Err(Error::Unauthenticated) => {
            failed(
                "The e-mail address or password is incorrect.".to_owned(),
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
        Err(Error::RateLimited { retry_after }) => {
            let mut response =
                failed(too_many_message(retry_after), StatusCode::TOO_MANY_REQUESTS).await?;
            set_retry_after(&mut response, retry_after);
            Ok(response)
        }
        Err(other) => Err(other.into()),
    }
}

/// The answer to a first factor that passed: logged in (to `next`), or the code page; `Err`
/// holds the login page's message when the clinic wants single sign-on instead.
pub(super) fn finish_login(
    state: &AppState,
    clinic: &Clinic,
    step: LoginStep,
    next: &str,
) -> Result<Result<HttpResponse, String>, PageError> {
    match step {
        LoginStep::Session(created) => Ok(Ok(logged_in(state, &created, next))),
        LoginStep::MfaRequired(pending) => mfa_page(
            clinic,
            &MfaView {
                token: pending.token.expose_secret(),
                next,
                error: None,
            },
            StatusCode::OK,
        )
        .map(Ok),
        LoginStep::SsoRequired => Ok(Err(
            "Staff of this clinic sign in with single sign-on: use the button above.".to_owned(),
        )),
    }
}

/// The end of a successful login: the session cookie, then `next`.
pub(super) fn logged_in(state: &AppState, created: &NewSession, next: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .cookie(session_cookie(&created.token, &state.settings.public_url))
        .insert_header((header::LOCATION, next))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// What a 429 page says.
fn too_many_message(retry_after: std::time::Duration) -> String {
    let minutes = retry_after.as_secs().div_ceil(60).max(1);
    format!("Too many failed attempts. For your security, try again in {minutes} minutes.")
}

/// Sets `Retry-After` on a 429 page.
fn set_retry_after(response: &mut HttpResponse, retry_after: std::time::Duration) {
    if let Ok(value) = header::HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
}

/// A 429 page (rendered by `page` with its message) with `Retry-After`.
fn too_many(
    page: impl FnOnce(&str, StatusCode) -> Result<HttpResponse, PageError>,
    retry_after: std::time::Duration,
) -> Result<HttpResponse, PageError> {
    let mut response = page(
        &too_many_message(retry_after),
        StatusCode::TOO_MANY_REQUESTS,
    )?;
    set_retry_after(&mut response, retry_after);
    Ok(response)
}

/// What the code form carries.
struct MfaView<'a> {
    token: &'a str,
    next: &'a str,
    error: Option<&'a str>,
}

fn mfa_page(
    clinic: &Clinic,
    view: &MfaView<'_>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let error = view
        .error
        .map(|e| {
            format!(
                "<p class=\"notice notice-error\" role=\"alert\" id=\"login-error\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default();
    let content = render(
        LOGIN_MFA,
        &[
            ("clinic_name", &clinic.name),
            ("error", &error),
            ("mfa_token", view.token),
            ("next", view.next),
        ],
    )?;
    let mut response = Page {
        title: "Enter your code",
        content,
        scripts: &[],
        nav: Nav::ClinicGuest(clinic),
    }
    .respond(status)?;
    // The form holds the pending login: no cache may keep it.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// The form `POST /login/mfa` receives.
#[derive(Debug, Deserialize)]
pub struct MfaForm {
    mfa_token: String,
    code: String,
    next: Option<String>,
}

/// The code step of a login with MFA: on success sets the session cookie and goes to `next`.
#[post("/login/mfa")]
pub async fn submit_mfa(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<MfaForm>,
) -> Result<HttpResponse, PageError> {
    let Some(clinic) = clinic_of(&req) else {
        return Ok(no_clinic_here(&req, state.settings.public_url.as_str()));
    };
    require_same_origin(&req, &state.settings.public_url)?;
    let MfaForm {
        mfa_token,
        code,
        next,
    } = form.into_inner();
    let next = safe_next(next.as_deref());
    let failed = |message: &str, status| {
        mfa_page(
            &clinic,
            &MfaView {
                token: &mfa_token,
                next: &next,
                error: Some(message),
            },
            status,
        )
    };
    match complete_mfa(&req, &state, &clinic, &mfa_token, &code).await {
        Ok(created) => Ok(logged_in(&state, &created, &next)),
        Err(Error::Unauthenticated) => failed(
            "The code is incorrect or already used, or this step expired.",
            StatusCode::UNAUTHORIZED,
        ),
        Err(Error::RateLimited { retry_after }) => too_many(failed, retry_after),
        Err(other) => Err(other.into()),
    }
}

/// Asks to confirm logging out (a link cannot log anyone out: that takes a POST).
#[get("/logout")]
pub async fn confirm_logout(session: PageSession<NoReturn>) -> Result<HttpResponse, PageError> {
    let clinic = &session.clinic;
    let content = render(LOGOUT, &[("clinic_name", &clinic.name)])?;
    Ok(Page {
        title: "Log out",
        content,
        scripts: &[],
        nav: Nav::Clinic {
            clinic,
            user: &session.session.user,
            active: "",
        },
    }
    .respond(StatusCode::OK)?)
}

/// Ends the session on the server and clears the cookie.
#[post("/logout")]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    if clinic_of(&req).is_none() {
        return Ok(no_clinic_here(&req, state.settings.public_url.as_str()));
    }
    require_same_origin(&req, &state.settings.public_url)?;
    if let Some(token) = token_from(&req, &state.settings.public_url) {
        state.sessions.logout(&token).await?;
    }
    let mut response = see_other("/login?logged_out=1");
    response
        .add_cookie(&expired_cookie(&state.settings.public_url))
        .map_err(|e| Error::internal(format!("cannot clear the session cookie: {e}")))?;
    Ok(response)
}
