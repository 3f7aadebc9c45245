//! The settings pages, for owners and admins only (a clinician gets 403 and never sees a link to
//! them) except the webhooks tab, which every staff member may look at (clinicians see that tab
//! alone): one module per tab, sharing the tabs and the page shape here. The Cliniko, staff, API
//! client, partner, FHIR, webhook and calendar tabs load their data from the JSON API with scripts; the access ledger is
//! rendered on the server.

pub mod audit;
pub mod calendars;
pub mod clients;
pub mod cliniko;
pub mod fhir;
pub mod notifications;
pub mod partners;
pub mod sign_in;
pub mod users;
pub mod webhooks;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get};

use crate::http::html::{PageError, render, see_other};
use crate::pages::{Nav, Page};
use crate::sessions::{Authenticated, PageSession};
use crate::state::AppState;

/// The tabs of the settings pages: every tab for owners and admins (`manager`), the webhooks tab
/// alone for clinicians.
fn settings_tabs(active: &str, manager: bool) -> String {
    [
        ("cliniko", "/settings/cliniko", "Cliniko"),
        ("users", "/settings/users", "Staff"),
        ("sign-in", "/settings/sign-in", "Sign-in"),
        ("clients", "/settings/clients", "API clients"),
        ("partners", "/settings/partners", "Partners"),
        ("fhir", "/settings/fhir", "FHIR"),
        ("webhooks", "/settings/webhooks", "Webhooks"),
        ("calendars", "/settings/calendars", "Calendars"),
        ("notifications", "/settings/notifications", "Notifications"),
        ("audit", "/settings/audit", "Access ledger"),
    ]
    .iter()
    .filter(|(id, _, _)| manager || *id == "webhooks")
    .map(|(id, href, label)| {
        let current = if *id == active {
            " aria-current=\"page\""
        } else {
            ""
        };
        format!("<a href=\"{href}\"{current}>{label}</a>")
    })
    .collect::<Vec<_>>()
    .join("")
}

/// A settings page: `template` rendered with the tabs, the clinic's URLs and `extra` values.
pub(super) fn settings_page(
    state: &AppState,
    auth: &Authenticated,
    (title, tab): (&str, &str),
    template: &str,
    script: &'static str,
    extra: &[(&str, &str)],
) -> Result<HttpResponse, PageError> {
    let urls = state
        .settings
        .public_url
        .clinic_urls(auth.clinic.subdomain.as_str());
    let tabs = settings_tabs(tab, auth.session.user.role.manages_clinic());
    let mut values = vec![
        ("tabs", tabs.as_str()),
        ("button_url", urls.button_url.as_str()),
        ("wildcard_button_url", urls.wildcard_button_url.as_str()),
        ("role", auth.session.user.role.as_str()),
    ];
    values.extend_from_slice(extra);
    let content = render(template, &values)?;
    Ok(Page {
        title,
        content,
        scripts: &["common.js", script],
        nav: Nav::Clinic {
            clinic: &auth.clinic,
            user: &auth.session.user,
            active: "settings",
        },
    }
    .respond(StatusCode::OK)?)
}

/// A tab whose page is only its template and script: its data is loaded from the JSON API, so
/// the page needs no values beyond those every settings page has.
pub(super) struct ScriptedTab {
    /// The page title.
    pub(super) title: &'static str,
    /// The tab's id in [`settings_tabs`].
    pub(super) tab: &'static str,
    /// The page's HTML template.
    pub(super) template: &'static str,
    /// The script that loads and edits the tab's data.
    pub(super) script: &'static str,
}

impl ScriptedTab {
    /// The tab's page, for owners and admins only.
    pub(super) fn page(
        &self,
        state: &AppState,
        session: &PageSession,
    ) -> Result<HttpResponse, PageError> {
        session.require_manager()?;
        settings_page(
            state,
            session,
            (self.title, self.tab),
            self.template,
            self.script,
            &[],
        )
    }
}

/// `/settings` → the first settings page.
#[get("/settings")]
pub async fn settings(session: PageSession) -> Result<HttpResponse, PageError> {
    session.require_manager()?;
    Ok(see_other("/settings/cliniko"))
}
