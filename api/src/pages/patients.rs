//! The custom patient button's target, `GET /patients?patient_id=…`, and the clinic home's
//! patient search (`POST /patients/search`: a name never goes into a URL) and "recently viewed"
//! list. Every patient shown is recorded in the access ledger before the page is sent.

use std::time::Instant;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, get, post, web};
use chrono::{NaiveDate, Utc};
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::ledger::Channel;
use clinicgate_core::patients::{PatientChart, PatientSummary, SearchTerms, Visit, age_on};
use clinicgate_core::{Error, UpstreamFailure};
use serde::Deserialize;

use super::clinic::home_page;
use super::login::{clinic_of, login_location, see_other};
use super::{Nav, Page, PageError, error_page, escape, not_found, render};
use crate::http::problem::ApiError;
use crate::patients::{PatientOut, phi_headers, request_meta, server_timing};
use crate::session::{Authenticated, authenticate, require_same_origin};
use crate::state::AppState;

const PATIENT: &str = include_str!("../../../frontend-static/pages/patient.html");

/// The `patient_id` of a query string: exactly one, a Cliniko id.
fn patient_id_of(query: &str) -> Option<ClinikoId> {
    let mut ids = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "patient_id")
        .map(|(_, value)| value.into_owned());
    match (ids.next(), ids.next()) {
        (Some(id), None) => ClinikoId::parse(&id),
        _ => None,
    }
}

/// The page a clinician lands on from Cliniko's patient button.
#[get("/patients")]
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let started = Instant::now();
    let (mut response, cliniko) = match patient_page(&req, &state).await {
        Ok(shown) => shown,
        Err(err) => (err.error_response(), None),
    };
    // Error pages too: a 404 names the id, and nothing here may be cached or framed.
    phi_headers(&mut response);
    server_timing(&mut response, &state, started, cliniko);
    response
}

async fn patient_page(
    req: &HttpRequest,
    state: &AppState,
) -> Result<(HttpResponse, Option<std::time::Duration>), PageError> {
    let Some(clinic) = clinic_of(req) else {
        return Ok((not_found(req), None));
    };
    let Some(auth) = authenticate(req, state, &clinic).await? else {
        let here = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        // `/` may stay as it is in a query value: `/login?next=/patients%3Fpatient_id%3D1`, the
        // address the clinic's staff see after clicking the button, reads as what it is.
        let location = login_location(here).replace("next=%2F", "next=/");
        return Ok((see_other(&location), None));
    };
    let Some(id) = patient_id_of(req.query_string()) else {
        return Ok((
            error_page(
                StatusCode::BAD_REQUEST,
                "No valid patient id",
                "This link does not name a patient. Open the patient in Cliniko and use the ClinicGate button again.",
            ),
            None,
        ));
    };
    let meta = request_meta(req, state);
    match state
        .patients
        .chart(auth.ctx(), &id, Channel::Page, &meta)
        .await
    {
        Ok(Some(chart)) => {
            let time = chart.cliniko_time;
            Ok((render_chart(&auth, &chart)?, Some(time)))
        }
        Ok(None) => Ok((not_connected_page(&auth)?, None)),
        Err(err) => Ok((chart_error(err, &auth), None)),
    }
}

/// A Cliniko or ledger failure as a page saying what happened, with the request id.
fn chart_error(err: Error, auth: &Authenticated) -> HttpResponse {
    let (title, message) = match &err {
        Error::NotFound { .. } => (
            "Patient not found",
            "Your clinic's Cliniko has no patient with this id. The patient may have been deleted, or the button was opened from another Cliniko account.",
        ),
        Error::Upstream {
            failure: UpstreamFailure::Timeout,
            ..
        } => (
            "Cliniko is taking too long",
            "Cliniko did not answer in time. Try again in a moment.",
        ),
        Error::Upstream {
            failure: UpstreamFailure::Unauthorized,
            ..
        } if auth.session.user.role.manages_clinic() => (
            "Cliniko refused the clinic's key",
            "Cliniko no longer accepts the API key ClinicGate uses. Connect a new key under Settings → Cliniko.",
        ),
        Error::Upstream {
            failure: UpstreamFailure::Unauthorized,
            ..
        } => (
            "Cliniko refused the clinic's key",
            "Cliniko no longer accepts the API key ClinicGate uses. Ask an owner or admin of your clinic to connect a new one.",
        ),
        Error::Upstream { .. } => (
            "Cliniko is not responding properly",
            "ClinicGate could not read this patient from Cliniko. Try again shortly; if it keeps happening, quote the request id below.",
        ),
        Error::RateLimited { .. } => (
            "Cliniko is busy",
            "Your clinic's Cliniko connection is at its limit right now. Try again in a moment.",
        ),
        Error::Unavailable { .. } => (
            "The patient cannot be shown right now",
            "ClinicGate could not record this view in the clinic's access ledger, so the patient is not shown. Try again shortly.",
        ),
        _ => (
            "Something went wrong",
            "ClinicGate could not show this patient. Try again shortly; if it keeps happening, quote the request id below.",
        ),
    };
    // The problem rendering logs a 5xx cause once and decides the status and Retry-After.
    let problem = ApiError::from(err).error_response();
    let mut page = error_page(problem.status(), title, message);
    if let Some(retry) = problem.headers().get(header::RETRY_AFTER) {
        page.headers_mut()
            .insert(header::RETRY_AFTER, retry.clone());
    }
    page
}

/// The clinic has not connected Cliniko: say so, and where to fix it for those who can.
fn not_connected_page(auth: &Authenticated) -> Result<HttpResponse, PageError> {
    let action = if auth.session.user.role.manages_clinic() {
        "<p><a class=\"button\" href=\"/settings/cliniko\">Connect Cliniko</a></p>"
    } else {
        "<p>Ask an owner or admin of your clinic to connect it.</p>"
    };
    let content = format!(
        "<section class=\"narrow card\"><p class=\"eyebrow\">Patient</p><h1>Cliniko is not connected</h1>\
         <p>{} has not connected its Cliniko account to ClinicGate yet, so patients cannot be shown.</p>{action}</section>",
        escape(&auth.clinic.name)
    );
    Ok(Page {
        title: "Cliniko is not connected",
        content,
        scripts: &[],
        nav: Nav::Patient {
            clinic: &auth.clinic,
            user: &auth.session.user,
        },
    }
    .respond(StatusCode::CONFLICT)?)
}

fn fact(label: &str, value: Option<&str>) -> String {
    match value.filter(|v| !v.trim().is_empty()) {
        Some(value) => format!("<dt>{}</dt><dd>{}</dd>", escape(label), escape(value)),
        None => String::new(),
    }
}

fn long_date(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

fn visits_table(visits: &[Visit], empty: &str) -> String {
    if visits.is_empty() {
        return format!("<p class=\"muted\">{}</p>", escape(empty));
    }
    let rows: String = visits
        .iter()
        .map(|visit| {
            let start = visit.local_start();
            let end = visit
                .local_end()
                .map(|end| format!("–{}", end.format("%H:%M")))
                .unwrap_or_default();
            let status = visit.status();
            let label = match status {
                "cancelled" => "Cancelled",
                "did_not_arrive" => "Did not arrive",
                "arrived" => "Arrived",
                _ => "Booked",
            };
            let reason = visit
                .appointment
                .cancellation_reason_description
                .as_deref()
                .filter(|_| status == "cancelled")
                .map(|r| format!(" <span class=\"muted small\">({})</span>", escape(r)))
                .unwrap_or_default();
            let name = |n: &Option<String>| escape(n.as_deref().unwrap_or("—"));
            format!(
                "<tr class=\"visit-{status}\"><td class=\"when\">{}<br>{}{} <span class=\"tz\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"pill pill-{status}\">{label}</span>{reason}</td></tr>",
                start.format("%a %-d %b %Y"),
                start.format("%H:%M"),
                end,
                escape(&start.format("%Z").to_string()),
                name(&visit.practitioner),
                name(&visit.business),
                name(&visit.appointment_type),
            )
        })
        .collect();
    format!(
        "<div class=\"table-wrap\"><table class=\"table\"><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Practitioner</th><th scope=\"col\">Location</th><th scope=\"col\">Type</th><th scope=\"col\">Status</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
}

/// The patient page for `chart`.
fn render_chart(auth: &Authenticated, chart: &PatientChart) -> Result<HttpResponse, PageError> {
    let out = PatientOut::from(chart);
    let p = &chart.patient;
    let full_name = [
        p.title.as_deref(),
        p.first_name.as_deref(),
        p.last_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let name = if full_name.is_empty() {
        "Unnamed patient".to_owned()
    } else {
        full_name
    };
    let born = p.date_of_birth.map(|dob| match out.age {
        Some(age) => format!("{} (age {age})", long_date(dob)),
        None => long_date(dob),
    });
    let mut subtitle = Vec::new();
    if let Some(preferred) = &p.preferred_first_name {
        subtitle.push(format!(
            "<span>Goes by <strong>{}</strong></span>",
            escape(preferred)
        ));
    }
    if let Some(pronouns) = &p.pronouns {
        subtitle.push(format!("<span>{}</span>", escape(pronouns)));
    }
    if let Some(born) = &born {
        subtitle.push(format!("<span>Born {}</span>", escape(born)));
    }
    let details = [
        fact("Preferred name", p.preferred_first_name.as_deref()),
        fact("Pronouns", p.pronouns.as_deref()),
        fact("Date of birth", born.as_deref()),
        fact("Sex", p.sex.as_deref()),
        fact("Gender identity", p.gender_identity.as_deref()),
        fact("Occupation", p.occupation.as_deref()),
    ]
    .concat();
    let phones: String = out
        .phones
        .iter()
        .map(|phone| {
            fact(
                phone.kind.as_deref().unwrap_or("Phone"),
                Some(&phone.number),
            )
        })
        .collect();
    let address = out.address.as_ref().map(|a| {
        let mut parts = a.lines.clone();
        let locality = [
            a.city.as_deref(),
            a.state.as_deref(),
            a.post_code.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        parts.extend([locality].into_iter().filter(|l| !l.is_empty()));
        parts.extend(a.country.clone());
        parts.join(", ")
    });
    let contact = [
        phones,
        fact("Email", p.email.as_deref()),
        fact("Address", address.as_deref()),
        fact("Emergency contact", p.emergency_contact.as_deref()),
    ]
    .concat();
    let contact = if contact.is_empty() {
        "<dt>Contact</dt><dd class=\"muted\">None recorded</dd>".to_owned()
    } else {
        contact
    };
    let details = if details.is_empty() {
        "<dt>Details</dt><dd class=\"muted\">None recorded</dd>".to_owned()
    } else {
        details
    };
    let alerts = if out.medical_alerts.is_empty() {
        "<p class=\"no-alerts\">No medical alerts recorded in Cliniko.</p>".to_owned()
    } else {
        let items: String = out
            .medical_alerts
            .iter()
            .map(|a| format!("<li>{}</li>", escape(&a.name)))
            .collect();
        format!(
            "<section class=\"alerts\" role=\"alert\" aria-labelledby=\"alerts-title\"><h2 id=\"alerts-title\">Medical alerts</h2><ul id=\"medical-alerts\">{items}</ul></section>"
        )
    };
    let archived = p
        .archived_at
        .map(|at| {
            format!(
                "<p class=\"banner banner-archived\" role=\"status\">Cliniko archived this patient on {}.</p>",
                long_date(at.date_naive())
            )
        })
        .unwrap_or_default();
    let cliniko_link = chart
        .cliniko_url
        .as_deref()
        .map(|url| {
            format!(
                "<a class=\"button\" href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">Open in Cliniko</a>",
                escape(url)
            )
        })
        .unwrap_or_default();
    let fetched_at = Utc::now().format("%-d %b %Y %H:%M").to_string();
    let content = render(
        PATIENT,
        &[
            ("patient_id", p.id.as_str()),
            ("name", &name),
            ("subtitle", &subtitle.join("")),
            ("cliniko_link", &cliniko_link),
            ("archived", &archived),
            ("alerts", &alerts),
            ("details", &details),
            ("contact", &contact),
            (
                "upcoming",
                &visits_table(&chart.upcoming, "No upcoming appointments."),
            ),
            (
                "recent",
                &visits_table(&chart.recent, "No past appointments."),
            ),
            ("fetched_at", &fetched_at),
            ("clinic_name", &auth.clinic.name),
            ("viewer", auth.session.user.email.as_str()),
        ],
    )?;
    Ok(Page {
        title: "Patient",
        content,
        scripts: &["patient.js"],
        nav: Nav::Patient {
            clinic: &auth.clinic,
            user: &auth.session.user,
        },
    }
    .respond(StatusCode::OK)?)
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
) -> Result<HttpResponse, PageError> {
    let Some(clinic) = clinic_of(&req) else {
        return Ok(not_found(&req));
    };
    require_same_origin(&req, &state.settings.public_url)?;
    let Some(auth) = authenticate(&req, &state, &clinic).await? else {
        return Ok(see_other(&login_location("/")));
    };
    home_page(&req, &state, &auth, Some(&form.q)).await
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
    let request_id = crate::http::observe::current_request_id().unwrap_or_default();
    format!(
        "<p class=\"notice notice-error\" role=\"alert\">{} <span class=\"small\">Request id: <code>{}</code></span></p>",
        escape(&message),
        escape(&request_id)
    )
}

/// The home page's patient card: the search form, the search's results (when `search` is
/// given), and the patients this user opened recently.
pub(super) async fn home_section(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_well_formed_patient_id_is_accepted() {
        assert_eq!(
            patient_id_of("patient_id=836447129235883061").map(|id| id.to_string()),
            Some("836447129235883061".to_owned())
        );
        for query in [
            "",
            "patient_id=",
            "patient_id=abc",
            "patient_id=-1",
            "patient_id=0",
            "patient_id=12345678901234567890",
            "patient_id=1&patient_id=2",
            "patient_id=1.5",
            "patient_id=%201",
        ] {
            assert_eq!(patient_id_of(query), None, "{query}");
        }
    }
}
