//! The HTML pages: the landing page with sign-up on the root host; login, logout, the clinic home
//! and the settings pages on clinic hosts; error pages; and the embedded static assets.
//!
//! Pages are server-rendered from templates in `frontend-static/pages/`; the settings pages load
//! their data from the JSON API with small scripts in `frontend-static/js/` (no inline script:
//! the CSP is `default-src 'self'`). Pages are not part of the OpenAPI document.
//!
//! Pages depend only on core, `http` (templates, error pages, PHI headers), `sessions`
//! ([`PageSession`](crate::sessions::PageSession) is their login preamble) and the app state —
//! never on the JSON route modules. The checker in `crate::layering` holds them to that.

mod account;
mod account_mfa;
mod assets;
mod charts;
mod dashboard;
mod error_chrome;
mod forgot_password;
mod home;
mod landing;
mod login;
mod password_link;
mod patients;
mod root_login;
mod settings;
mod sso_login;
mod unsubscribe;

use actix_web::http::StatusCode;
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, ResponseError as _, get, web};
use chrono::NaiveDate;
use clinicgate_core::clinics::Clinic;
use clinicgate_core::users::{Role, User};

pub use error_chrome::error_chrome;

use crate::http::host::RootHost;
use crate::http::html::{Layout, PageError, escape};
use crate::sessions::{BackHome, PageRefusal, PageSession};
use crate::state::AppState;

/// Registers every page and the static assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(assets::static_asset)
        .service(index)
        .service(login::show)
        .service(login::submit)
        .service(login::submit_mfa)
        .service(sso_login::start)
        .service(sso_login::callback)
        .service(login::confirm_logout)
        .service(login::logout)
        .service(forgot_password::show)
        .service(forgot_password::submit)
        .service(password_link::show)
        .service(password_link::submit)
        .service(unsubscribe::show)
        .service(unsubscribe::submit)
        .service(account::show)
        .service(account::change_password)
        .service(account_mfa::start_enrolment)
        .service(account_mfa::confirm_enrolment)
        .service(account_mfa::disable)
        .service(settings::settings)
        .service(settings::cliniko::cliniko_settings)
        .service(settings::users::users_settings)
        .service(settings::clients::clients_settings)
        .service(settings::partners::partners_settings)
        .service(settings::fhir::fhir_settings)
        .service(settings::webhooks::webhooks_settings)
        .service(settings::calendars::calendars_settings)
        .service(settings::notifications::notifications_settings)
        .service(settings::sign_in::sign_in_settings)
        .service(settings::audit::ledger)
        .service(patients::show)
        .service(home::search_patients);
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
                "<nav class=\"nav\" aria-label=\"Main\">{}{}<a class=\"button button-small\" href=\"/#signup\">Sign up</a></nav>",
                link("/docs/", "API docs", false),
                link("/login", "Log in", false)
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
                // Clinicians have no settings but may look at the webhooks tab.
                let settings = if user.role.manages_clinic() {
                    link("/settings/cliniko", "Settings", active == "settings")
                } else {
                    link("/settings/webhooks", "Webhooks", active == "settings")
                };
                format!(
                    "<nav class=\"nav\" aria-label=\"Main\">{}{settings}\
                     <span class=\"who\"><a class=\"who-email\" href=\"/account\" title=\"Your password\">{}</a> <span class=\"badge\">{}</span></span>\
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
    /// Renders the page in the layout as an HTML response with `status` (never cached).
    pub fn respond(self, status: StatusCode) -> Result<HttpResponse, clinicgate_core::Error> {
        Layout {
            title: self.title,
            scripts: self.scripts,
            brand_suffix: &self.nav.brand_suffix(),
            nav: &self.nav.html(),
            content: &self.content,
        }
        .respond(status)
    }
}

/// A date as pages write it, e.g. `21 November 2026`.
fn long_date(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

/// What the clinic home's address may say.
#[derive(Debug, serde::Deserialize)]
struct HomeQuery {
    /// The dashboard's range (`1h`, `24h`, `7d`).
    range: Option<String>,
}

/// `/`: the landing page on the root host, the clinic home on a clinic host.
#[get("/")]
async fn index(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<HomeQuery>,
    session: Result<PageSession<BackHome>, PageRefusal>,
) -> Result<HttpResponse, PageError> {
    if req.extensions().get::<RootHost>().is_some() {
        return landing::landing(&state);
    }
    let range = dashboard::range_or_default(query.range.as_deref());
    match session {
        Ok(session) => home::home_page(&req, &state, &session, None, range).await,
        Err(refusal) => Ok(refusal.error_response()),
    }
}
