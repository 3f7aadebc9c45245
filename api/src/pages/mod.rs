//! The HTML pages: the landing page with sign-up on the root host; login, logout, the clinic home
//! and the settings pages on clinic hosts; error pages; and the embedded static assets.
//!
//! Pages are server-rendered from templates in `frontend-static/pages/`; the settings pages load
//! their data from the JSON API with small scripts in `frontend-static/js/` (no inline script:
//! the CSP is `default-src 'self'`). Pages are not part of the OpenAPI document.

mod assets;
mod audit;
mod clinic;
mod landing;
mod login;
mod patients;
mod render;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, ResponseError, get, web};
use clinicgate_core::clinics::Clinic;
use clinicgate_core::users::{Role, User};

pub use render::{escape, render};

use crate::http::observe::current_request_id;
use crate::http::problem::ApiError;
use crate::state::AppState;
use crate::tenancy::{RootHost, TenantHost};

const LAYOUT: &str = include_str!("../../../frontend-static/pages/layout.html");
const ERROR: &str = include_str!("../../../frontend-static/pages/error.html");

/// Registers every page and the static assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(assets::static_asset)
        .service(index)
        .service(login::show)
        .service(login::submit)
        .service(login::confirm_logout)
        .service(login::logout)
        .service(clinic::settings)
        .service(clinic::cliniko_settings)
        .service(clinic::users_settings)
        .service(clinic::clients_settings)
        .service(patients::show)
        .service(patients::search_patients)
        .service(audit::ledger);
}

/// The navigation a page shows.
#[derive(Debug, Clone, Copy)]
pub enum Nav<'a> {
    /// The root host: API docs and sign-up.
    Root,
    /// A clinic host before login: the clinic's name only.
    ClinicGuest(&'a Clinic),
    /// A clinic host, logged in; `active` is the current section (`home`, `settings`).
    Clinic {
        /// The clinic.
        clinic: &'a Clinic,
        /// Who is logged in.
        user: &'a User,
        /// The highlighted section.
        active: &'a str,
    },
    /// A page showing one patient: like `Clinic`, but logging out goes through the confirmation
    /// page, because the page's `Referrer-Policy: no-referrer` makes browsers send `Origin: null`
    /// on form posts, which the CSRF check refuses.
    Patient {
        /// The clinic.
        clinic: &'a Clinic,
        /// Who is logged in.
        user: &'a User,
    },
    /// An error page: the brand only.
    Bare,
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Owner => "Owner",
        Role::Admin => "Admin",
        Role::Clinician => "Clinician",
    }
}

impl Nav<'_> {
    fn brand_suffix(self) -> String {
        match self {
            Self::ClinicGuest(clinic)
            | Self::Clinic { clinic, .. }
            | Self::Patient { clinic, .. } => {
                format!(
                    "<span class=\"brand-clinic\">{}</span>",
                    escape(&clinic.name)
                )
            }
            Self::Root | Self::Bare => String::new(),
        }
    }

    fn html(self) -> String {
        let link = |href: &str, label: &str, current: bool| {
            let aria = if current {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"{href}\"{aria}>{label}</a>")
        };
        match self {
            Self::Root => format!(
                "<nav class=\"nav\" aria-label=\"Main\">{}<a class=\"button button-small\" href=\"#signup\">Sign up</a></nav>",
                link("/docs/", "API docs", false)
            ),
            Self::ClinicGuest(_) | Self::Bare => String::new(),
            Self::Patient { user, .. } => format!(
                "<nav class=\"nav\" aria-label=\"Main\">{}\
                 <span class=\"who\"><span class=\"who-email\">{}</span> <span class=\"badge\">{}</span></span>\
                 <a href=\"/logout\">Log out</a></nav>",
                link("/", "Home", false),
                escape(user.email.as_str()),
                role_label(user.role),
            ),
            Self::Clinic { user, active, .. } => {
                let settings = if user.role.manages_clinic() {
                    link("/settings/cliniko", "Settings", active == "settings")
                } else {
                    String::new()
                };
                format!(
                    "<nav class=\"nav\" aria-label=\"Main\">{}{settings}\
                     <span class=\"who\"><span class=\"who-email\">{}</span> <span class=\"badge\">{}</span></span>\
                     <form class=\"inline-form\" method=\"post\" action=\"/logout\"><button class=\"link-button\" type=\"submit\">Log out</button></form></nav>",
                    link("/", "Home", active == "home"),
                    escape(user.email.as_str()),
                    role_label(user.role),
                )
            }
        }
    }
}

/// A whole page: the layout around `content`.
#[derive(Debug)]
pub struct Page<'a> {
    /// The `<title>` (the product name is appended).
    pub title: &'a str,
    /// The page body, already rendered.
    pub content: String,
    /// Scripts to load, in order, from `/static/`.
    pub scripts: &'a [&'a str],
    /// The navigation.
    pub nav: Nav<'a>,
}

impl Page<'_> {
    /// Renders the page as an HTML response with `status`. Pages are never cached: they show
    /// who is logged in and clinic data.
    pub fn respond(self, status: StatusCode) -> Result<HttpResponse, clinicgate_core::Error> {
        let scripts: String = self
            .scripts
            .iter()
            .map(|name| format!("<script src=\"/static/{name}\" defer></script>"))
            .collect();
        let html = render(
            LAYOUT,
            &[
                ("title", self.title),
                ("scripts", &scripts),
                ("brand_suffix", &self.nav.brand_suffix()),
                ("nav", &self.nav.html()),
                ("content", &self.content),
            ],
        )?;
        Ok(HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html))
    }
}

/// A page explaining an error, with the request id to quote.
fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let request_id = current_request_id().unwrap_or_default();
    let content = render(
        ERROR,
        &[
            ("title", title),
            ("message", message),
            ("status", status.as_str()),
            ("request_id", &request_id),
        ],
    );
    let page = content.and_then(|content| {
        Page {
            title,
            content,
            scripts: &[],
            nav: Nav::Bare,
        }
        .respond(status)
    });
    // The templates are embedded and tested; a plain-text answer is the last resort.
    page.unwrap_or_else(|_| {
        HttpResponse::build(status).body(format!("{title}. Request id: {request_id}"))
    })
}

/// Whether the client asked for HTML (a browser navigating) rather than JSON.
fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// The 404 for paths and hosts that do not exist: identical for every such case.
pub fn not_found(req: &HttpRequest) -> HttpResponse {
    if wants_html(req) {
        error_page(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address. Check the link, or ask your clinic for its ClinicGate address.",
        )
    } else {
        ApiError::not_found().error_response()
    }
}

/// An error while rendering a page: shown as an HTML page carrying the request id.
#[derive(Debug)]
pub struct PageError(Box<ApiError>);

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        Self(Box::new(err))
    }
}

impl From<clinicgate_core::Error> for PageError {
    fn from(err: clinicgate_core::Error) -> Self {
        Self(Box::new(err.into()))
    }
}

impl From<crate::session::CrossOrigin> for PageError {
    fn from(err: crate::session::CrossOrigin) -> Self {
        Self(Box::new(err.into()))
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        // Rendering the problem logs a 5xx cause exactly once; the HTML replaces its body.
        let problem = self.0.error_response();
        let status = problem.status();
        let (title, message) = match status {
            StatusCode::NOT_FOUND => ("Page not found", "There is nothing at this address."),
            StatusCode::FORBIDDEN => (
                "Not allowed",
                "Your role in this clinic does not allow this. Ask an owner or admin of your clinic.",
            ),
            StatusCode::TOO_MANY_REQUESTS => {
                ("Too many requests", "Please wait a moment and try again.")
            }
            s if s.is_server_error() => (
                "Something went wrong",
                "ClinicGate could not complete this request. Try again shortly; if it keeps happening, quote the request id below.",
            ),
            _ => (
                "This request could not be completed",
                "Go back and try again.",
            ),
        };
        let mut page = error_page(status, title, message);
        if let Some(retry) = problem.headers().get(header::RETRY_AFTER) {
            page.headers_mut()
                .insert(header::RETRY_AFTER, retry.clone());
        }
        page
    }
}

/// `/`: the landing page on the root host, the clinic home on a clinic host.
#[get("/")]
async fn index(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    if req.extensions().get::<RootHost>().is_some() {
        return landing::landing(&state);
    }
    let tenant = req.extensions().get::<TenantHost>().cloned();
    match tenant {
        Some(TenantHost(clinic)) => clinic::home(&req, &state, &clinic).await,
        None => Ok(not_found(&req)),
    }
}
