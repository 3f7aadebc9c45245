//! The access ledger as HTTP shows it, shared by the JSON routes (`crate::audit`) and the
//! settings page: the filters of a query string and an entry with its actor named.

use std::collections::HashMap;

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

use crate::state::AppState;

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
        let patient_id = parse_field(&self.patient_id, ClinikoId::parse, PATIENT_ID, &mut errors);
        let actor = parse_field(&self.actor, LedgerActor::parse, ACTOR, &mut errors);
        let from = parse_field(
            &self.from,
            |raw| parse_instant(raw, false),
            FROM,
            &mut errors,
        );
        let to = parse_field(&self.to, |raw| parse_instant(raw, true), TO, &mut errors);
        let before = parse_field(&self.cursor, LedgerCursor::parse, CURSOR, &mut errors);
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

/// Each filter read by [`parse_field`], with what to say where it is malformed.
const PATIENT_ID: (&str, &str) = (
    "patient_id",
    "a patient id is Cliniko's id: a positive integer of at most 19 digits",
);
const ACTOR: (&str, &str) = (
    "actor",
    "an actor is a staff member's id (a UUID) or an API client's id (cgcl_…)",
);
const INSTANT_FORMS: &str =
    "give a date (YYYY-MM-DD) or an RFC 3339 timestamp (2026-11-21T09:30:00Z)";
const FROM: (&str, &str) = ("from", INSTANT_FORMS);
const TO: (&str, &str) = ("to", INSTANT_FORMS);
const CURSOR: (&str, &str) = ("cursor", "use the next_cursor of a previous page");

/// A filter as `parse` reads it; one left out or blank is no filter. One `parse` cannot read is
/// noted in `errors` as `field` invalid, with `why`, so that every malformed filter is named at
/// once.
fn parse_field<T>(
    raw: &Option<String>,
    parse: impl FnOnce(&str) -> Option<T>,
    (field, why): (&'static str, &'static str),
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let raw = raw.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
    let parsed = parse(raw);
    if parsed.is_none() {
        errors.push(FieldError::new(field, "invalid", why));
    }
    parsed
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
    /// `user` (a staff member), `api_client` or `calendar_feed`.
    #[schema(example = "user")]
    pub kind: &'static str,
    /// The staff member's id, the API client's id or `calendar_feed:` and the feed's id.
    pub id: String,
    /// The staff member's e-mail address.
    pub email: Option<String>,
    /// The staff member's display name, if they have one.
    pub display_name: Option<String>,
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

/// Staff e-mail addresses and display names by id, to name actors (staff are deactivated,
/// never deleted).
pub async fn staff_emails(
    state: &AppState,
    ctx: &TenantContext,
) -> Result<HashMap<UserId, StaffLabel>, Error> {
    Ok(state
        .staff
        .list(ctx)
        .await?
        .into_iter()
        .map(|user| {
            let label = StaffLabel {
                email: user.email.as_str().to_owned(),
                display_name: user.display_name.map(|name| name.as_str().to_owned()),
            };
            (user.id, label)
        })
        .collect())
}

/// How the ledger names a staff member.
#[derive(Debug, Clone)]
pub struct StaffLabel {
    /// Their e-mail address.
    pub email: String,
    /// Their display name, if any.
    pub display_name: Option<String>,
}

/// An entry for output, with its actor's e-mail address when it is a staff member.
pub fn entry_out(entry: &LedgerEntry, emails: &HashMap<UserId, StaffLabel>) -> AuditEntryOut {
    let label = match &entry.actor {
        LedgerActor::User(id) => emails.get(id).cloned(),
        LedgerActor::ApiClient(_) | LedgerActor::CalendarFeed(_) => None,
    };
    let (email, display_name) = label.map_or((None, None), |label| {
        (Some(label.email), label.display_name)
    });
    AuditEntryOut {
        id: entry.id.to_string(),
        at: entry.at,
        actor: AuditActorOut {
            kind: entry.actor.kind(),
            id: entry.actor.id(),
            email,
            display_name,
        },
        patient_id: entry.patient_id.to_string(),
        categories: entry.categories.iter().map(|c| c.as_str()).collect(),
        channel: entry.channel.as_str(),
        ip: entry.ip.map(|ip| ip.to_string()),
        user_agent: entry.user_agent.clone(),
        request_id: entry.request_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
