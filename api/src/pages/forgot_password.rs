//! `/forgot-password` on clinic hosts: asks for the e-mail address and e-mails a reset link
//! (see `clinicgate_core::users::recovery`). Every address gets the same page, so the page says
//! nothing about who has an account. Without an SMTP relay the page says to ask an owner or
//! admin of the clinic instead, as the login page did before.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, get, post, web};
use clinicgate_core::Error;
use clinicgate_core::clinics::Clinic;
use serde::Deserialize;

use super::{Nav, Page};
use crate::http::host::TenantHost;
use crate::http::html::{PageError, escape, no_clinic_here, render};
use crate::sessions::{forgot_password, require_same_origin};
use crate::state::AppState;

const PAGE: &str = include_str!("../../../frontend-static/pages/forgot-password.html");
const FORM: &str = include_str!("../../../frontend-static/pages/forgot-password-form.html");

/// The form `POST /forgot-password` receives.
#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// What the page shows.
struct View<'a> {
    /// The form (with this address in it), or none once a request is taken.
    form: Option<&'a str>,
    notice: Option<String>,
    error: Option<String>,
}

fn page(
    state: &AppState,
    clinic: &Clinic,
    view: &View<'_>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let notice = view
        .notice
        .as_deref()
        .map(|n| {
            format!(
                "<p class=\"notice notice-success\" role=\"status\" id=\"forgot-notice\">{}</p>",
                escape(n)
            )
        })
        .unwrap_or_default();
    let error = view
        .error
        .as_deref()
        .map(|e| {
            format!(
                "<p class=\"notice notice-error\" role=\"alert\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default();
    let form = match view.form {
        Some(email) if state.recovery.mail_configured() => {
            render(FORM, &[("clinic_name", &clinic.name), ("email", email)])?
        }
        _ => String::new(),
    };
    let content = render(
        PAGE,
        &[
            ("clinic_name", &clinic.name),
            ("notice", &notice),
            ("error", &error),
            ("form", &form),
        ],
    )?;
    let mut response = Page {
        title: "Forgot password",
        content,
        scripts: &[],
        nav: Nav::ClinicGuest(clinic),
    }
    .respond(status)?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// What a deployment without e-mail tells everyone.
fn ask_the_owner(clinic: &Clinic) -> String {
    format!(
        "Ask an owner or admin of {} for a password reset link (Settings → Staff). The link works once, for 24 hours.",
        clinic.name
    )
}

fn clinic_of(req: &HttpRequest) -> Option<Clinic> {
    req.extensions()
        .get::<TenantHost>()
        .map(|host| host.0.clone())
}

/// The form (or, without e-mail, who to ask).
#[get("/forgot-password")]
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let Some(clinic) = clinic_of(&req) else {
        return Ok(no_clinic_here(&req, state.settings.public_url.as_str()));
    };
    let notice = (!state.recovery.mail_configured()).then(|| ask_the_owner(&clinic));
    page(
        &state,
        &clinic,
        &View {
            form: Some(""),
            notice,
            error: None,
        },
        StatusCode::OK,
    )
}

/// Takes the request; the same page follows for every address.
#[post("/forgot-password")]
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ForgotForm>,
) -> Result<HttpResponse, PageError> {
    let Some(clinic) = clinic_of(&req) else {
        return Ok(no_clinic_here(&req, state.settings.public_url.as_str()));
    };
    require_same_origin(&req, &state.settings.public_url)?;
    let email = form.into_inner().email;
    match forgot_password(&req, &state, &clinic, email.clone()).await {
        Ok(true) => page(
            &state,
            &clinic,
            &View {
                form: None,
                notice: Some(format!(
                    "If that address belongs to a staff member of {}, a link to set a new password is on its way. It works once, for 24 hours. Nothing arrived? Check your spam folder, or ask an owner or admin of the clinic.",
                    clinic.name
                )),
                error: None,
            },
            StatusCode::OK,
        ),
        Ok(false) => page(
            &state,
            &clinic,
            &View {
                form: None,
                notice: Some(ask_the_owner(&clinic)),
                error: None,
            },
            StatusCode::OK,
        ),
        Err(Error::RateLimited { retry_after }) => {
            let minutes = retry_after.as_secs().div_ceil(60).max(1);
            let mut response = page(
                &state,
                &clinic,
                &View {
                    form: Some(&email),
                    notice: None,
                    error: Some(format!(
                        "Too many requests. Try again in {minutes} minutes, or ask an owner or admin of the clinic."
                    )),
                },
                StatusCode::TOO_MANY_REQUESTS,
            )?;
            if let Ok(value) = header::HeaderValue::from_str(&retry_after.as_secs().to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Ok(response)
        }
        Err(other) => Err(other.into()),
    }
}
