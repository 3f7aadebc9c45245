//! `/login` and `/logout` on clinic hosts: the HTML form flow (the JSON flow is
//! `/api/session`). After logging in, the browser goes to `next` only when it is a path on this
//! host.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, get, post, web};
use clinicgate_core::Error;
use clinicgate_core::clinics::Clinic;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Nav, Page};
use crate::http::host::TenantHost;
use crate::http::html::{PageError, escape, not_found, render, see_other};
use crate::sessions::{
    NoReturn, PageSession, authenticate, expired_cookie, log_in, require_same_origin, safe_next,
    session_cookie, token_from,
};
use crate::state::AppState;

const LOGIN: &str = include_str!("../../../frontend-static/pages/login.html");
const LOGOUT: &str = include_str!("../../../frontend-static/pages/logout.html");

/// The clinic of the request's host, for the login pages (which answer an HTML 404 elsewhere).
fn clinic_of(req: &HttpRequest) -> Option<Clinic> {
    req.extensions()
        .get::<TenantHost>()
        .map(|host| host.0.clone())
}

/// Query of `GET /login`.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    welcome: Option<String>,
    logged_out: Option<String>,
}

/// The form `POST /login` receives.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: SecretString,
    next: Option<String>,
}

/// What the login page shows besides the form.
struct LoginView<'a> {
    email: &'a str,
    next: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

fn login_page(
    clinic: &Clinic,
    view: &LoginView<'_>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
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
        return Ok(not_found(&req));
    };
    let next = safe_next(query.next.as_deref());
    if authenticate(&req, &state, &clinic).await?.is_some() {
        return Ok(see_other(&next));
    }
    let notice = if query.welcome.is_some() {
        Some("Your clinic is ready. Log in with the e-mail address and password you just chose.")
    } else if query.logged_out.is_some() {
        Some("You have logged out.")
    } else {
        None
    };
    login_page(
        &clinic,
        &LoginView {
            email: "",
            next: &next,
            notice,
            error: None,
        },
        StatusCode::OK,
    )
}

/// Checks the credentials; on success sets the session cookie and goes to `next`.
#[post("/login")]
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let Some(clinic) = clinic_of(&req) else {
        return Ok(not_found(&req));
    };
    require_same_origin(&req, &state.settings.public_url)?;
    let LoginForm {
        email,
        password,
        next,
    } = form.into_inner();
    let next = safe_next(next.as_deref());
    let failed = |message: &str, status| {
        login_page(
            &clinic,
            &LoginView {
                email: &email,
                next: &next,
                notice: None,
                error: Some(message),
            },
            status,
        )
    };
    match log_in(&req, &state, &clinic, email.clone(), password).await {
        Ok(created) => Ok(HttpResponse::SeeOther()
            .cookie(session_cookie(&created.token, &state.settings.public_url))
            .insert_header((header::LOCATION, next.as_str()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()),
        Err(Error::Unauthenticated) => failed(
            "The e-mail address or password is incorrect.",
            StatusCode::UNAUTHORIZED,
        ),
        Err(Error::RateLimited { retry_after }) => {
            let minutes = retry_after.as_secs().div_ceil(60).max(1);
            let mut response = failed(
                &format!(
                    "Too many failed attempts. For your security, try again in {minutes} minutes."
                ),
                StatusCode::TOO_MANY_REQUESTS,
            )?;
            if let Ok(value) =
                header::HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Ok(response)
        }
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
        return Ok(not_found(&req));
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
