//! The clinic home (every staff member): the dashboard (`super::dashboard`), the Cliniko
//! connection, the patient card — a search
//! by name (`POST /patients/search`: a name never goes into a URL) and the patients this user
//! opened recently — and, for owners and admins, links to the settings. It lists patients'
//! names, so it is sent never to be stored.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, post, web};
use chrono::Utc;
use clinicgate_core::Error;
use clinicgate_core::dashboard::DashboardRange;
use clinicgate_core::patients::{PatientSummary, SearchTerms, age_on};
use serde::Deserialize;

use super::{Nav, Page, dashboard, long_date};
use crate::http::html::{PageError, escape, render};
use crate::http::observe::current_request_id;
use crate::http::phi::{phi_list_headers, request_meta};
use crate::http::problem::ApiError;
use crate::sessions::{Authenticated, BackHome, PageRefusal, PageSession};
use crate::state::AppState;

const HOME: &str = include_str!("../../../frontend-static/pages/home.html");

/// The clinic home for `auth`, with the results of `search` when one was submitted. It lists
/// patients' names, so it is sent with the patient pages' CSP.
pub(super) async fn home_page(
    req: &HttpRequest,
    state: &AppState,
    auth: &Authenticated,
    search: Option<&str>,
    range: DashboardRange,
) -> Result<HttpResponse, PageError> {
    let clinic = &auth.clinic;
    let user = &auth.session.user;
    let manages = user.role.manages_clinic();
    let connection = state.cliniko_keys.connection(auth.ctx()).await?;
    let cliniko = match (&connection, manages) {
        (Some(connection), _) => format!(
            "<p class=\"status status-ok\">Connected</p><p>Key ending <code>{}</code> on shard <code>{}</code>, acting as {}.</p>",
            escape(&connection.last4),
            escape(connection.shard.as_str()),
            escape(&connection.owner.name),
        ),
        (None, true) => "<p class=\"status status-off\">Not connected</p><p>Connect your Cliniko account so staff can open patients from Cliniko.</p><p><a class=\"button\" href=\"/settings/cliniko\">Connect Cliniko</a></p>".to_owned(),
        (None, false) => "<p class=\"status status-off\">Not connected</p><p>Ask an owner or admin of your clinic to connect Cliniko.</p>".to_owned(),
    };
    let manage = if manages {
        "<article class=\"card\"><h2>Settings</h2><ul class=\"links\"><li><a href=\"/settings/cliniko\">Cliniko connection and patient button</a></li><li><a href=\"/settings/users\">Staff accounts</a></li><li><a href=\"/settings/clients\">API clients for partners</a></li><li><a href=\"/settings/audit\">Access ledger: who viewed which patient</a></li></ul></article>"
    } else {
        ""
    };
    let patients = patients_card(req, state, auth, search).await;
    let dashboard = dashboard::section(state, auth, range).await;
    let urls = state
        .settings
        .public_url
        .clinic_urls(clinic.subdomain.as_str());
    let content = render(
        HOME,
        &[
            ("clinic_name", &clinic.name),
            ("email", user.email.as_str()),
            ("dashboard", &dashboard),
            ("patients", &patients),
            ("cliniko", &cliniko),
            ("button_url", &urls.button_url),
            ("manage", manage),
        ],
    )?;
    let mut response = Page {
        title: &clinic.name,
        content,
        scripts: &[],
        nav: Nav::Clinic {
            clinic,
            user,
            active: "home",
        },
    }
    .respond(StatusCode::OK)?;
    phi_list_headers(&mut response);
    Ok(response)
}

/// The form `POST /patients/search` receives.
#[derive(Debug, Deserialize)]
pub struct SearchForm {
    q: String,
}

/// Searches the clinic's Cliniko by name and shows the clinic home with the results.
#[post("/patients/search")]
pub async fn search_patients(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SearchForm>,
    session: Result<PageSession<BackHome>, PageRefusal>,
) -> Result<HttpResponse, PageError> {
    // Taken as a `Result` so that a malformed form is refused as such whoever sends it, as it
    // was when the session was checked in here.
    match session {
        Ok(session) => home_page(&req, &state, &session, Some(&form.q), DashboardRange::Day).await,
        Err(refusal) => Ok(refusal.error_response()),
    }
}

fn born(summary: &PatientSummary) -> String {
    summary
        .date_of_birth
        .map(|dob| {
            let age = age_on(dob, Utc::now().date_naive())
                .map(|age| format!(", {age}"))
                .unwrap_or_default();
            format!("born {}{age}", long_date(dob))
        })
        .unwrap_or_default()
}

fn patient_list(id: &str, patients: &[PatientSummary], empty: &str) -> String {
    if patients.is_empty() {
        return format!("<p class=\"muted\" id=\"{id}\">{}</p>", escape(empty));
    }
    let items: String = patients
        .iter()
        .map(|p| {
            let archived = if p.archived {
                " <span class=\"pill pill-off\">archived</span>"
            } else {
                ""
            };
            format!(
                "<li><a href=\"/patients?patient_id={}\">{}</a>{archived}<span class=\"muted small\">{}</span></li>",
                p.id,
                escape(if p.name.is_empty() { "Unnamed patient" } else { &p.name }),
                escape(&born(p)),
            )
        })
        .collect();
    format!("<ul class=\"patient-list\" id=\"{id}\">{items}</ul>")
}

/// A failure shown inside the home page, with the request id (the cause is logged once).
fn inline_error(err: Error, what: &str) -> String {
    let problem = ApiError::from(err);
    let message = match problem.code() {
        "validation_failed" => {
            "Type at least two letters (and at most 100) of the patient's name.".to_owned()
        }
        "rate_limited" => format!(
            "Cliniko is busy right now, so {what} could not be loaded. Try again in a moment."
        ),
        "service_unavailable" => format!(
            "{what} could not be shown: the access ledger is unavailable. Try again shortly."
        ),
        _ => format!("{what} could not be loaded from Cliniko. Try again shortly."),
    };
    // Rendering the problem logs a server-side cause once; only its message is shown here.
    drop(problem.error_response());
    let request_id = current_request_id().unwrap_or_default();
    format!(
        "<p class=\"notice notice-error\" role=\"alert\">{} <span class=\"small\">Request id: <code>{}</code></span></p>",
        escape(&message),
        escape(&request_id)
    )
}

/// The home page's patient card: the search form, the search's results (when `search` is
/// given), and the patients this user opened recently.
async fn patients_card(
    req: &HttpRequest,
    state: &AppState,
    auth: &Authenticated,
    search: Option<&str>,
) -> String {
    let meta = request_meta(req, state);
    let ctx = auth.ctx();
    let results = match search.map(SearchTerms::parse) {
        None => String::new(),
        Some(Err(err)) => inline_error(err, "The search"),
        Some(Ok(terms)) => match state.patients.search(ctx, &terms, &meta).await {
            Ok(Some(found)) => format!(
                "<h3>Results</h3>{}",
                patient_list(
                    "search-results",
                    &found,
                    "No patient in Cliniko matches this name."
                )
            ),
            Ok(None) => String::new(),
            Err(err) => inline_error(err, "The search"),
        },
    };
    let recent = match state.patients.recently_viewed(ctx, &meta).await {
        Ok(Some(recent)) => format!(
            "<h3>Recently viewed</h3>{}",
            patient_list("recent-patients", &recent, "Patients you open appear here.")
        ),
        Ok(None) => {
            return "<article class=\"card card-span\"><h2>Patients</h2><p class=\"muted\">Once Cliniko is connected, you can find patients here.</p></article>".to_owned();
        }
        Err(err) => inline_error(err, "Recently viewed patients"),
    };
    format!(
        "<link rel=\"stylesheet\" href=\"/static/patients.css\">\
         <article class=\"card card-span\" aria-labelledby=\"patients-title\"><h2 id=\"patients-title\">Patients</h2>\
         <form method=\"post\" action=\"/patients/search\" role=\"search\">\
         <div class=\"field\"><label for=\"patient-search\">Find a patient</label>\
         <div class=\"search-row\"><input id=\"patient-search\" name=\"q\" type=\"search\" minlength=\"2\" maxlength=\"100\" autocomplete=\"off\" value=\"{}\">\
         <button class=\"button\" type=\"submit\">Search</button></div>\
         <p class=\"hint\">First name, last name or both, as in Cliniko.</p></div></form>{results}{recent}</article>",
        escape(search.unwrap_or(""))
    )
}
