//! `/unsubscribe/{token}` on clinic hosts: where the link in a patient's e-mail leads.
//!
//! - `GET` shows what the link does and a button: link scanners and mail clients that fetch
//!   links in advance must not unsubscribe anyone, so a `GET` changes nothing;
//! - `POST` (the button, or a mail client's RFC 8058 one-click `List-Unsubscribe=One-Click`)
//!   records the opt-out; repeating it changes nothing more.
//!
//! The token is sealed for the clinic: one that is altered, malformed or another clinic's opens
//! nothing and is answered 400 with nothing changed. There is no session and no CSRF check: the
//! token is the patient's authority, a mail client posting it has no `Origin` of ours, and a
//! forged post could only do what the link's holder can do anyway. Request logs carry the route
//! template, never the token, and the page sends no `Referer`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, get, post, web};
use clinicgate_core::clinics::Clinic;
use clinicgate_core::notifications::{Unsubscribe, UnsubscribeTokens};

use super::{Nav, Page};
use crate::http::host::TenantHost;
use crate::http::html::{PageError, no_clinic_here, render};
use crate::state::AppState;

const UNSUBSCRIBE: &str = include_str!("../../../frontend-static/pages/unsubscribe.html");

/// What the page says.
struct View<'a> {
    heading: &'a str,
    message: String,
    /// Whether to show the confirm button.
    confirm: bool,
}

fn page(clinic: &Clinic, view: &View<'_>, status: StatusCode) -> Result<HttpResponse, PageError> {
    // The form posts to the page's own address (the token is in it, never in the HTML).
    let form = if view.confirm {
        "<form method=\"post\" class=\"stack\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\"><button class=\"button button-block\" type=\"submit\">Unsubscribe</button></form>"
    } else {
        ""
    };
    let content = render(
        UNSUBSCRIBE,
        &[
            ("clinic_name", &clinic.name),
            ("heading", view.heading),
            ("message", &view.message),
            ("form", form),
        ],
    )?;
    let mut response = Page {
        title: view.heading,
        content,
        scripts: &[],
        nav: Nav::ClinicGuest(clinic),
    }
    .respond(status)?;
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

/// The clinic of this host and what `token` asks of it; `Err` is the page to answer instead.
async fn opened(
    req: &HttpRequest,
    state: &AppState,
    token: &str,
) -> Result<(Clinic, Unsubscribe), Result<HttpResponse, PageError>> {
    let Some(clinic) = req
        .extensions()
        .get::<TenantHost>()
        .map(|host| host.0.clone())
    else {
        return Err(Ok(no_clinic_here(req, state.settings.public_url.as_str())));
    };
    match UnsubscribeTokens::new(state.vault.clone())
        .open(clinic.id, token)
        .await
    {
        Some(request) => Ok((clinic, request)),
        None => Err(page(
            &clinic,
            &View {
                heading: "This link does not work",
                message: "This unsubscribe link is not valid here: it may have been copied incompletely. Nothing was changed. Use the link in the e-mail as it is, or contact the clinic.".to_owned(),
                confirm: false,
            },
            StatusCode::BAD_REQUEST,
        )),
    }
}

/// What the link does, with the button that does it.
#[get("/unsubscribe/{token}")]
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let (clinic, request) = match opened(&req, &state, &token).await {
        Ok(opened) => opened,
        Err(answer) => return answer,
    };
    page(
        &clinic,
        &View {
            heading: "Unsubscribe",
            message: format!(
                "Stop {}’s {} messages about your appointments? Your appointments themselves stay as they are.",
                clinic.name,
                channel_words(&request)
            ),
            confirm: true,
        },
        StatusCode::OK,
    )
}

/// Unsubscribes (the button, or a mail client's one-click post).
#[post("/unsubscribe/{token}")]
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let (clinic, request) = match opened(&req, &state, &token).await {
        Ok(opened) => opened,
        Err(answer) => return answer,
    };
    state.notifications.unsubscribe(&request).await?;
    page(
        &clinic,
        &View {
            heading: "You are unsubscribed",
            message: format!(
                "{} will send you no more {} messages about your appointments. To hear from them again, contact the clinic.",
                clinic.name,
                channel_words(&request)
            ),
            confirm: false,
        },
        StatusCode::OK,
    )
}

/// The channel as the page names it.
fn channel_words(request: &Unsubscribe) -> &'static str {
    match request.channel().as_str() {
        "email" => "e-mail",
        other => other,
    }
}
