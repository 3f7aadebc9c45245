//! `/reset-password` on clinic hosts: where a reset or invite link leads. The link's token is
//! in the query string of the landing `GET` only; the form then posts it back in its body, so
//! the address of the page that sets the password holds no token. Request logs carry the route
//! template, never the URL (as for calendar feeds), and the page is sent with
//! `Referrer-Policy: same-origin` so the token never leaves in a `Referer` (a stricter
//! `no-referrer` would make browsers send `Origin: null`, which the CSRF check refuses).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, get, post, web};
use clinicgate_core::Error;
use clinicgate_core::clinics::Clinic;
use clinicgate_core::users::LinkPurpose;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Nav, Page};
use crate::http::host::TenantHost;
use crate::http::html::{PageError, escape, no_clinic_here, render, see_other};
use crate::sessions::require_same_origin;
use crate::state::AppState;

const RESET: &str = include_str!("../../../frontend-static/pages/reset-password.html");
const FORM: &str = include_str!("../../../frontend-static/pages/reset-password-form.html");

/// What every unusable link is told: nobody learns whether it ever existed.
const UNUSABLE: &str = "This link has expired or has already been used. Ask an owner or admin of your clinic for a new one.";

/// Query of the landing `GET`.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
}

/// The form the page posts.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    token: String,
    password: SecretString,
}

/// What the page shows: the form (for a usable link) and/or an error.
struct View<'a> {
    purpose: Option<LinkPurpose>,
    token: &'a str,
    error: Option<&'a str>,
}

fn page(clinic: &Clinic, view: &View<'_>, status: StatusCode) -> Result<HttpResponse, PageError> {
    let (heading, lead) = match view.purpose {
        Some(LinkPurpose::Invite) => (
            "Choose your password",
            format!(
                "Welcome to {}. Choose the password you will log in with.",
                clinic.name
            ),
        ),
        _ => (
            "Set a new password",
            "Choose a new password. You will be logged out everywhere and can then log in with it."
                .to_owned(),
        ),
    };
    let form = match view.purpose {
        Some(_) => render(FORM, &[("lead", &lead), ("token", view.token)])?,
        None => "<p><a class=\"button\" href=\"/login\">Go to the login page</a></p>".to_owned(),
    };
    let error = view
        .error
        .map(|e| {
            format!(
                "<p class=\"notice notice-error\" role=\"alert\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default();
    let content = render(
        RESET,
        &[
            ("clinic_name", &clinic.name),
            ("heading", heading),
            ("error", &error),
            ("form", &form),
        ],
    )?;
    let mut response = Page {
        title: heading,
        content,
        scripts: &[],
        nav: Nav::ClinicGuest(clinic),
    }
    .respond(status)?;
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    Ok(response)
}

fn clinic_of(req: &HttpRequest) -> Option<Clinic> {
    req.extensions()
        .get::<TenantHost>()
        .map(|host| host.0.clone())
}

/// The page a link leads to: the form when the link can still be used.
#[get("/reset-password")]
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, PageError> {
    let Some(clinic) = clinic_of(&req) else {
        return Ok(no_clinic_here(&req, state.settings.public_url.as_str()));
    };
    let token = query.token.as_deref().unwrap_or_default();
    match state.staff.usable_link(clinic.id, token).await {
        Ok(link) => page(
            &clinic,
            &View {
                purpose: Some(link.purpose),
                token,
                error: None,
            },
            StatusCode::OK,
        ),
        Err(Error::NotFound { .. }) => page(
            &clinic,
            &View {
                purpose: None,
                token: "",
                error: Some(UNUSABLE),
            },
            StatusCode::NOT_FOUND,
        ),
        Err(other) => Err(other.into()),
    }
}

/// Sets the password; then on to the login page.
#[post("/reset-password")]
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let Some(clinic) = clinic_of(&req) else {
        return Ok(no_clinic_here(&req, state.settings.public_url.as_str()));
    };
    require_same_origin(&req, &state.settings.public_url)?;
    let PasswordForm { token, password } = form.into_inner();
    match state.staff.redeem_link(clinic.id, &token, password).await {
        Ok(_) => Ok(see_other("/login?password_set=1")),
        Err(Error::Validation(errors)) => {
            let purpose = state.staff.usable_link(clinic.id, &token).await?.purpose;
            let message = errors
                .first()
                .map_or("Choose another password.", |e| e.message.as_str());
            page(
                &clinic,
                &View {
                    purpose: Some(purpose),
                    token: &token,
                    error: Some(message),
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(Error::NotFound { .. }) => page(
            &clinic,
            &View {
                purpose: None,
                token: "",
                error: Some(UNUSABLE),
            },
            StatusCode::NOT_FOUND,
        ),
        Err(other) => Err(other.into()),
    }
}
