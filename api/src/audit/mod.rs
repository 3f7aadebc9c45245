//! `/api/tenant/audit`: the clinic's PHI access ledger for its owners and admins — a page of
//! entries as JSON (newest first, filtered by patient, actor and time) and the same filters as a
//! CSV download. There is no route that changes or deletes an entry.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, get, web};
use chrono::Utc;
use clinicgate_core::Error;
use clinicgate_core::ledger::{LedgerFilter, MAX_PAGE_SIZE};
use clinicgate_core::tenancy::TenantContext;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::ledger::{AuditEntryOut, AuditQuery, entry_out, staff_emails};
use crate::http::problem::ApiError;
use crate::http::responses::{QueryErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// Entries per page when `limit` is not given.
const DEFAULT_LIMIT: u32 = 50;
/// The most rows one CSV export holds.
const MAX_EXPORT_ROWS: usize = 100_000;

/// A page of the ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPageOut {
    /// Entries, newest first.
    pub entries: Vec<AuditEntryOut>,
    /// Pass as `cursor` to read the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
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
}
