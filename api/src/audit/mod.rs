//! `/api/tenant/audit`: the clinic's PHI access ledger for its owners and admins — a page of
//! entries as JSON (newest first, filtered by patient, actor and time) and the same filters as a
//! CSV download. There is no route that changes or deletes an entry.

use std::collections::HashMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Days, NaiveDate, Utc};
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::ids::UserId;
use clinicgate_core::ledger::{
    LedgerActor, LedgerCursor, LedgerEntry, LedgerFilter, MAX_PAGE_SIZE,
};
use clinicgate_core::tenancy::TenantContext;
use clinicgate_core::{Error, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::problem::ApiError;
use crate::http::responses::{QueryErrors, SessionErrors, route_problems};
use crate::session::Authenticated;
use crate::state::AppState;

/// Entries per page when `limit` is not given.
const DEFAULT_LIMIT: u32 = 50;
/// The most rows one CSV export holds.
const MAX_EXPORT_ROWS: usize = 100_000;

/// Filters of the ledger (all optional, combined with AND).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this patient (Cliniko id).
    #[param(example = "836447129235883061")]
    pub patient_id: Option<String>,
    /// Only this actor: a staff member's id (UUID) or an API client's id (`cgcl_…`).
    pub actor: Option<String>,
    /// From this moment on: `YYYY-MM-DD` (start of that day, UTC) or an RFC 3339 timestamp.
    #[param(example = "2026-11-01")]
    pub from: Option<String>,
    /// Up to this moment: `YYYY-MM-DD` (that whole day included, UTC) or an RFC 3339 timestamp
    /// (excluded).
    #[param(example = "2026-11-30")]
    pub to: Option<String>,
    /// Entries per page, 1–500 (default 50).
    pub limit: Option<u32>,
    /// Continue from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl AuditQuery {
    /// The filter this query asks for, or the fields that are wrong.
    ///
    /// # Errors
    /// `Validation` naming each malformed field.
    pub fn filter(&self) -> Result<LedgerFilter, Error> {
        let mut errors = Vec::new();
        let present = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let patient_id = present(&self.patient_id).and_then(|raw| {
            ClinikoId::parse(&raw).or_else(|| {
                errors.push(FieldError::new(
                    "patient_id",
                    "invalid",
                    "a patient id is Cliniko's id: a positive integer of at most 19 digits",
                ));
                None
            })
        });
        let actor = present(&self.actor).and_then(|raw| {
            LedgerActor::parse(&raw).or_else(|| {
                errors.push(FieldError::new(
                    "actor",
                    "invalid",
                    "an actor is a staff member's id (a UUID) or an API client's id (cgcl_…)",
                ));
                None
            })
        });
        let mut instant = |field: &'static str, end_of_day: bool| {
            let raw = present(if field == "from" {
                &self.from
            } else {
                &self.to
            })?;
            match parse_instant(&raw, end_of_day) {
                Some(at) => Some(at),
                None => {
                    errors.push(FieldError::new(
                        field,
                        "invalid",
                        "give a date (YYYY-MM-DD) or an RFC 3339 timestamp (2026-11-21T09:30:00Z)",
                    ));
                    None
                }
            }
        };
        let from = instant("from", false);
        let to = instant("to", true);
        let before = present(&self.cursor).and_then(|raw| {
            LedgerCursor::parse(&raw).or_else(|| {
                errors.push(FieldError::new(
                    "cursor",
                    "invalid",
                    "use the next_cursor of a previous page",
                ));
                None
            })
        });
        if let Some(limit) = self.limit
            && !(1..=MAX_PAGE_SIZE).contains(&limit)
        {
            errors.push(FieldError::new(
                "limit",
                "out_of_range",
                format!("limit is between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        if errors.is_empty() {
            Ok(LedgerFilter {
                patient_id,
                actor,
                from,
                to,
                before,
            })
        } else {
            Err(Error::Validation(errors))
        }
    }
}

/// A date is a whole UTC day: `from` starts at its midnight, `to` ends at the next midnight.
fn parse_instant(raw: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Some(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    let day = if end_of_day {
        day.checked_add_days(Days::new(1))?
    } else {
        day
    };
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// Who was shown the data.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActorOut {
    /// `user` (a staff member) or `api_client`.
    #[schema(example = "user")]
    pub kind: &'static str,
    /// The staff member's id or the API client's id.
    pub id: String,
    /// The staff member's e-mail address.
    pub email: Option<String>,
}

/// One disclosure of a patient's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryOut {
    /// The entry's id.
    pub id: String,
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: AuditActorOut,
    /// Whose data: the patient's Cliniko id.
    #[schema(example = "836447129235883061")]
    pub patient_id: String,
    /// What was shown: `demographics`, `contact`, `alerts`, `appointments`.
    pub categories: Vec<&'static str>,
    /// How: `page`, `json`, `search`, `recent`, `api` or `fhir`.
    #[schema(example = "page")]
    pub channel: &'static str,
    /// The client's IP address.
    pub ip: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The request id (as in `X-Request-Id` and the logs).
    pub request_id: Option<String>,
}

/// A page of the ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPageOut {
    /// Entries, newest first.
    pub entries: Vec<AuditEntryOut>,
    /// Pass as `cursor` to read the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Staff e-mail addresses by id, to name actors (staff are deactivated, never deleted).
pub async fn staff_emails(
    state: &AppState,
    ctx: &TenantContext,
) -> Result<HashMap<UserId, String>, Error> {
    Ok(state
        .staff
        .list(ctx)
        .await?
        .into_iter()
        .map(|user| (user.id, user.email.as_str().to_owned()))
        .collect())
}

/// An entry for output, with its actor's e-mail address when it is a staff member.
pub fn entry_out(entry: &LedgerEntry, emails: &HashMap<UserId, String>) -> AuditEntryOut {
    let email = match &entry.actor {
        LedgerActor::User(id) => emails.get(id).cloned(),
        LedgerActor::ApiClient(_) => None,
    };
    AuditEntryOut {
        id: entry.id.to_string(),
        at: entry.at,
        actor: AuditActorOut {
            kind: entry.actor.kind(),
            id: entry.actor.id(),
            email,
        },
        patient_id: entry.patient_id.to_string(),
        categories: entry.categories.iter().map(|c| c.as_str()).collect(),
        channel: entry.channel.as_str(),
        ip: entry.ip.map(|ip| ip.to_string()),
        user_agent: entry.user_agent.clone(),
        request_id: entry.request_id.clone(),
    }
}

route_problems!(
    /// What `GET /api/tenant/audit` answers itself.
    ListAuditProblems {
        422 => "A filter is malformed (`errors[].field` names it)",
    }
);

/// The clinic's PHI access ledger, newest first (owners and admins). Each entry is one
/// disclosure of one patient's data: who, which patient, what, how, when and from where.
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditPageOut),
        SessionErrors, QueryErrors,
        ListAuditProblems,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/audit")]
pub async fn list_audit(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.ctx().require_manager()?;
    let filter = query.filter()?;
    let page = state
        .ledger
        .list(auth.ctx(), &filter, query.limit.unwrap_or(DEFAULT_LIMIT))
        .await?;
    let emails = staff_emails(&state, auth.ctx()).await?;
    let body = AuditPageOut {
        entries: page
            .entries
            .iter()
            .map(|entry| entry_out(entry, &emails))
            .collect(),
        next_cursor: page.next.map(|cursor| cursor.encode()),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// A CSV cell: quoted when needed, and a leading `=`, `+`, `-` or `@` defused so a spreadsheet
/// never runs a user agent as a formula.
fn csv_cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// The matching entries (every page, up to 100 000 rows) as CSV.
async fn export_csv(
    state: &AppState,
    ctx: &TenantContext,
    mut filter: LedgerFilter,
) -> Result<String, Error> {
    let emails = staff_emails(state, ctx).await?;
    let mut csv = String::from(
        "at,actor_kind,actor_id,actor_email,patient_id,categories,channel,ip,user_agent,request_id\r\n",
    );
    let mut rows = 0;
    loop {
        let page = state.ledger.list(ctx, &filter, MAX_PAGE_SIZE).await?;
        for entry in &page.entries {
            let out = entry_out(entry, &emails);
            let cells = [
                out.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                out.actor.kind.to_owned(),
                out.actor.id,
                out.actor.email.unwrap_or_default(),
                out.patient_id,
                out.categories.join(";"),
                out.channel.to_owned(),
                out.ip.unwrap_or_default(),
                out.user_agent.unwrap_or_default(),
                out.request_id.unwrap_or_default(),
            ];
            let line: Vec<String> = cells.iter().map(|cell| csv_cell(cell)).collect();
            csv.push_str(&line.join(","));
            csv.push_str("\r\n");
            rows += 1;
        }
        match page.next {
            Some(next) if rows < MAX_EXPORT_ROWS => filter.before = Some(next),
            _ => return Ok(csv),
        }
    }
}

route_problems!(
    /// What `GET /api/tenant/audit/export` answers itself.
    ExportAuditProblems {
        422 => "A filter is malformed",
    }
);

/// The clinic's PHI access ledger as CSV (owners and admins), with the same filters as
/// `GET /api/tenant/audit` (`limit` and `cursor` are ignored): every matching entry, newest
/// first, up to 100 000 rows.
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "CSV with a header row", content_type = "text/csv", body = String),
        SessionErrors, QueryErrors,
        ExportAuditProblems,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/audit/export")]
pub async fn export_audit(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.ctx().require_manager()?;
    let mut filter = query.filter()?;
    filter.before = None;
    let csv = export_csv(&state, auth.ctx(), filter).await?;
    let file = format!(
        "attachment; filename=\"phi-access-ledger-{}-{}.csv\"",
        auth.clinic.subdomain.as_str(),
        Utc::now().format("%Y%m%d")
    );
    let mut response = HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(csv);
    if let Ok(value) = HeaderValue::from_str(&file) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
    }

    #[test]
    fn dates_cover_whole_days_and_timestamps_are_exact() {
        assert_eq!(
            parse_instant("2026-11-21", false).unwrap().to_rfc3339(),
            "2026-11-21T00:00:00+00:00"
        );
        assert_eq!(
            parse_instant("2026-11-21", true).unwrap().to_rfc3339(),
            "2026-11-22T00:00:00+00:00"
        );
        assert_eq!(
            parse_instant("2026-11-21T09:30:00+01:00", true)
                .unwrap()
                .to_rfc3339(),
            "2026-11-21T08:30:00+00:00"
        );
        assert!(parse_instant("yesterday", false).is_none());
    }

    #[test]
    fn malformed_filters_name_their_fields() {
        let query = AuditQuery {
            patient_id: Some("12ab".into()),
            actor: Some("someone".into()),
            from: Some("2026-13-01".into()),
            to: Some(" ".into()),
            limit: Some(0),
            cursor: Some("zzz".into()),
        };
        let Err(Error::Validation(errors)) = query.filter() else {
            panic!("accepted");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["patient_id", "actor", "from", "cursor", "limit"]);
    }
}
