//! The access ledger tab, `/settings/audit`: the access ledger for owners and admins — who was shown which patient's
//! data, filtered by patient, staff member and date, page by page, with a CSV export. Rendered on
//! the server from the same filters as `GET /api/tenant/audit`.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use clinicgate_core::Error;
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::ledger::{LedgerActor, LedgerPage};

use super::settings_tabs;
use crate::http::html::{PageError, escape, render};
use crate::http::ledger::{AuditQuery, entry_out, staff_emails};
use crate::pages::{Nav, Page};
use crate::sessions::PageSession;
use crate::state::AppState;

const AUDIT: &str = include_str!("../../../../frontend-static/pages/audit.html");

/// Entries per page.
const PAGE_SIZE: u32 = 50;

/// The query string of `pairs`, for links that keep the current filters.
fn query_string(pairs: &[(&str, &Option<String>)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        if let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) {
            query.append_pair(name, value);
        }
    }
    query.finish()
}

/// An e-mail address that breaks only before its `@` (never mid-word) when the column is narrow.
fn email_html(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}<wbr>@{}", escape(local), escape(domain)),
        None => escape(email),
    }
}

/// The names of the patients on `page`, by Cliniko id. Names are a convenience for the clinic's
/// own staff: when Cliniko is not connected or does not answer, the ledger lists the ids alone.
async fn patient_names(
    state: &AppState,
    auth: &PageSession,
    page: Option<&LedgerPage>,
) -> HashMap<ClinikoId, String> {
    let Some(page) = page.filter(|page| !page.entries.is_empty()) else {
        return HashMap::new();
    };
    let ids: Vec<ClinikoId> = page.entries.iter().map(|e| e.patient_id.clone()).collect();
    match state.patients.ledger_names(auth.ctx(), &ids).await {
        Ok(found) => found
            .unwrap_or_default()
            .into_iter()
            .map(|patient| (patient.id, patient.name))
            .collect(),
        Err(err) => {
            tracing::warn!(error = %err, "the access ledger is shown without patient names");
            HashMap::new()
        }
    }
}

/// The ledger page.
#[get("/settings/audit")]
pub async fn ledger(
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
    auth: PageSession,
) -> Result<HttpResponse, PageError> {
    auth.require_manager()?;
    let ctx = auth.ctx();
    let emails = staff_emails(&state, ctx).await?;
    let (page, error) = match query.filter() {
        Ok(filter) => (
            Some(state.ledger.list(ctx, &filter, PAGE_SIZE).await?),
            String::new(),
        ),
        Err(Error::Validation(errors)) => {
            let message = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            (
                None,
                format!(
                    "<p class=\"notice notice-error\" role=\"alert\">{}</p>",
                    escape(&message)
                ),
            )
        }
        Err(other) => return Err(other.into()),
    };
    let names = patient_names(&state, &auth, page.as_ref()).await;
    let rows: String = match &page {
        Some(page) if page.entries.is_empty() => {
            "<tr><td colspan=\"7\" class=\"muted\">No entries match.</td></tr>".to_owned()
        }
        Some(page) => page
            .entries
            .iter()
            .map(|entry| {
                let out = entry_out(entry, &emails);
                let who = match (&out.actor.email, out.actor.kind) {
                    (Some(email), _) => match &out.actor.display_name {
                        Some(name) => format!("{} <span class=\"muted\">{}</span>", escape(name), email_html(email)),
                        None => email_html(email),
                    },
                    (None, "api_client") => format!("API client <code>{}</code>", escape(&out.actor.id)),
                    (None, "calendar_feed") => format!("Calendar feed <code>{}</code>", escape(&out.actor.id)),
                    (None, _) => format!("<code>{}</code>", escape(&out.actor.id)),
                };
                let patient = match names.get(&entry.patient_id) {
                    Some(name) => format!(
                        "<a href=\"/settings/audit?patient_id={id}\">{}</a> <span class=\"mono muted small\">{id}</span>",
                        escape(name),
                        id = out.patient_id,
                    ),
                    None => format!(
                        "<a class=\"mono\" href=\"/settings/audit?patient_id={id}\">{id}</a>",
                        id = out.patient_id,
                    ),
                };
                format!(
                    "<tr><td class=\"when\">{}</td><td class=\"email\">{who}</td><td>{patient}</td><td>{}</td><td>{}</td><td class=\"mono small\">{}</td><td class=\"mono small\">{}</td></tr>",
                    out.at.format("%Y-%m-%d %H:%M:%S"),
                    escape(&out.categories.join(", ")),
                    out.channel,
                    escape(out.ip.as_deref().unwrap_or("")),
                    escape(out.request_id.as_deref().unwrap_or("")),
                )
            })
            .collect(),
        None => String::new(),
    };
    let filters = [
        ("patient_id", &query.patient_id),
        ("actor", &query.actor),
        ("from", &query.from),
        ("to", &query.to),
    ];
    let pager = match page.as_ref().and_then(|p| p.next) {
        Some(next) => {
            let cursor = Some(next.encode());
            let mut pairs = filters.to_vec();
            pairs.push(("cursor", &cursor));
            format!(
                "<a class=\"button button-secondary\" href=\"/settings/audit?{}\">Older entries</a>",
                escape(&query_string(&pairs))
            )
        }
        None => String::new(),
    };
    let selected_actor = query
        .actor
        .as_deref()
        .and_then(LedgerActor::parse)
        .map(|actor| actor.id());
    let mut staff: Vec<_> = emails.iter().collect();
    staff.sort_by(|a, b| a.1.email.cmp(&b.1.email));
    let mut actor_options = String::from("<option value=\"\">Anyone</option>");
    for (id, label) in staff {
        let id = id.to_string();
        let selected = if selected_actor.as_deref() == Some(id.as_str()) {
            " selected"
        } else {
            ""
        };
        actor_options.push_str(&format!(
            "<option value=\"{}\"{selected}>{}</option>",
            escape(&id),
            escape(&label.display_name.as_ref().map_or_else(
                || label.email.clone(),
                |name| format!("{name} ({})", label.email)
            ))
        ));
    }
    let export_url = format!("/api/tenant/audit/export?{}", query_string(&filters));
    // Only owners and admins reach this page.
    let tabs = settings_tabs("audit", true);
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let content = render(
        AUDIT,
        &[
            ("tabs", &tabs),
            ("patient_id", &value(&query.patient_id)),
            ("actor_options", &actor_options),
            ("from", &value(&query.from)),
            ("to", &value(&query.to)),
            ("export_url", &export_url),
            ("error", &error),
            ("rows", &rows),
            ("pager", &pager),
        ],
    )?;
    let status = if page.is_some() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(Page {
        title: "Access ledger",
        content,
        scripts: &[],
        nav: Nav::Clinic {
            clinic: &auth.clinic,
            user: &auth.session.user,
            active: "settings",
        },
    }
    .respond(status)?)
}
