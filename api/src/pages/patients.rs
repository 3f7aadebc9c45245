//! The custom patient button's target, `GET /patients?patient_id=…`: one patient's chart. Every
//! patient shown is recorded in the access ledger before the page is sent.

use std::time::Instant;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, get, web};
use chrono::Utc;
use clinicgate_core::cliniko::{ClinikoId, Patient};
use clinicgate_core::ledger::Channel;
use clinicgate_core::patients::{PatientChart, Visit, age_on};
use clinicgate_core::{Error, UpstreamFailure};

use super::{Nav, Page, long_date};
use crate::http::html::{PageError, error_page, escape, render};
use crate::http::phi::{phi_headers, request_meta, server_timing};
use crate::http::problem::ApiError;
use crate::sessions::{Authenticated, BackToPatient, PageRefusal, PageSession};
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

/// The page a clinician lands on from Cliniko's patient button. Logging in first comes back
/// here, to the same patient.
#[get("/patients")]
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Result<PageSession<BackToPatient>, PageRefusal>,
) -> HttpResponse {
    let started = Instant::now();
    let (mut response, cliniko) = match session {
        Ok(session) => match patient_page(&req, &state, &session).await {
            Ok(shown) => shown,
            Err(err) => (err.error_response(), None),
        },
        Err(refusal) => (refusal.error_response(), None),
    };
    // Every answer, the login redirect and error pages too: a 404 names the id, and nothing
    // here may be cached or framed.
    phi_headers(&mut response);
    server_timing(&mut response, &state, started, cliniko);
    response
}

async fn patient_page(
    req: &HttpRequest,
    state: &AppState,
    auth: &Authenticated,
) -> Result<(HttpResponse, Option<std::time::Duration>), PageError> {
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
            Ok((render_chart(auth, &chart)?, Some(time)))
        }
        Ok(None) => Ok((not_connected_page(auth)?, None)),
        Err(err) => Ok((chart_error(err, auth), None)),
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

/// The known parts, space-separated (a name from its parts, a locality from city, state and post
/// code).
fn join_known<const N: usize>(parts: [Option<&str>; N]) -> String {
    parts.into_iter().flatten().collect::<Vec<_>>().join(" ")
}

/// The postal address on one line, if any part of it is known.
fn address(p: &Patient) -> Option<String> {
    let locality = join_known([
        p.city.as_deref(),
        p.state.as_deref(),
        p.post_code.as_deref(),
    ]);
    let parts: Vec<&str> = [
        p.address_1.as_deref(),
        p.address_2.as_deref(),
        p.address_3.as_deref(),
    ]
    .into_iter()
    .flatten()
    .chain(Some(locality.as_str()).filter(|l| !l.is_empty()))
    .chain(p.country_code.as_deref().or(p.country.as_deref()))
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
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
                "<tr class=\"visit-{status}\"><td class=\"when\" data-label=\"When\"><span>{}<br>{}{} <span class=\"tz\">{}</span></span></td><td data-label=\"Practitioner\">{}</td><td data-label=\"Location\">{}</td><td data-label=\"Type\">{}</td><td data-label=\"Status\"><span><span class=\"pill pill-{status}\">{label}</span>{reason}</span></td></tr>",
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
        "<div class=\"table-wrap\"><table class=\"table table-stack\"><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Practitioner</th><th scope=\"col\">Location</th><th scope=\"col\">Type</th><th scope=\"col\">Status</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
}

/// The patient page for `chart`.
fn render_chart(auth: &Authenticated, chart: &PatientChart) -> Result<HttpResponse, PageError> {
    let p = &chart.patient;
    let full_name = join_known([
        p.title.as_deref(),
        p.first_name.as_deref(),
        p.last_name.as_deref(),
    ]);
    let name = if full_name.is_empty() {
        "Unnamed patient".to_owned()
    } else {
        full_name
    };
    let born = p
        .date_of_birth
        .map(|dob| match age_on(dob, Utc::now().date_naive()) {
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
    let phones: String = p
        .phones()
        .iter()
        .filter_map(|phone| {
            let number = phone.number.as_deref()?;
            Some(fact(
                phone.phone_type.as_deref().unwrap_or("Phone"),
                Some(number),
            ))
        })
        .collect();
    let address = address(p);
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
    let alerts = if chart.alerts.is_empty() {
        "<p class=\"no-alerts\">No medical alerts recorded in Cliniko.</p>".to_owned()
    } else {
        let items: String = chart
            .alerts
            .iter()
            .map(|a| format!("<li>{}</li>", escape(a.name.as_deref().unwrap_or(""))))
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
