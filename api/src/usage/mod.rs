//! `GET /api/tenant/usage`: the clinic's durable usage counters, per minute and API client, for
//! its dashboard (any staff member). Counts reach the database within a few seconds of the
//! requests (`clinicgate_core::usage`).

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, TimeDelta, Utc};
use clinicgate_core::Error;
use clinicgate_core::tokens::ClientId;
use clinicgate_core::usage::UsageBucket;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::problem::ApiError;
use crate::http::responses::{QueryErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// Which counters to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// From this moment (RFC 3339; its minute included); default an hour before `to`.
    #[param(example = "2026-12-07T09:00:00Z")]
    pub from: Option<DateTime<Utc>>,
    /// Up to this moment (RFC 3339, excluded); default now. At most a day after `from`.
    #[param(example = "2026-12-07T10:00:00Z")]
    pub to: Option<DateTime<Utc>>,
    /// Only this API client's counters.
    #[param(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: Option<String>,
}

/// Cliniko calls sent, by lane.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClinikoCallsOut {
    /// For clinicians' pages.
    pub interactive: u64,
    /// For API clients' requests.
    pub api: u64,
    /// For background work (change detection, deliveries).
    pub background: u64,
}

/// What one API client (or the clinic itself) did in one minute.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageBucketOut {
    /// The minute's start (UTC).
    pub minute: DateTime<Utc>,
    /// The API client; `null` for Cliniko calls no client caused.
    #[schema(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: Option<String>,
    /// API requests answered.
    pub requests: u64,
    /// Of which answered 4xx (429 included).
    pub client_errors: u64,
    /// Of which answered 5xx.
    pub server_errors: u64,
    /// Of which answered 429 (the client's rate limit, its budget share, or the clinic's Cliniko
    /// budget).
    pub rate_limited: u64,
    /// Calls sent to Cliniko.
    pub cliniko_calls: ClinikoCallsOut,
}

impl From<UsageBucket> for UsageBucketOut {
    fn from(bucket: UsageBucket) -> Self {
        let counts = bucket.counts;
        Self {
            minute: bucket.minute,
            client_id: bucket.client_id.map(|id| id.to_string()),
            requests: counts.requests,
            client_errors: counts.client_errors,
            server_errors: counts.server_errors,
            rate_limited: counts.rate_limited,
            cliniko_calls: ClinikoCallsOut {
                interactive: counts.cliniko_interactive,
                api: counts.cliniko_api,
                background: counts.cliniko_background,
            },
        }
    }
}

/// The counters of a span of time.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageOut {
    /// The span's start, as asked.
    pub from: DateTime<Utc>,
    /// The span's end (excluded).
    pub to: DateTime<Utc>,
    /// Minutes with anything to count, oldest first, then by client.
    pub buckets: Vec<UsageBucketOut>,
}

route_problems!(
    /// What `GET /api/tenant/usage` answers itself.
    UsageProblems {
        422 => "`to` is not after `from`, the span is longer than a day, or `client_id` is not a client id",
    }
);

/// The clinic's usage counters per minute: each API client's requests, errors and 429s, and the
/// Cliniko calls by lane (any staff member). Kept for 30 days.
#[utoipa::path(
    tag = "clinic",
    params(UsageQuery),
    responses(
        (status = 200, description = "The counters, oldest minute first", body = UsageOut),
        SessionErrors, QueryErrors,
        UsageProblems,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/usage")]
pub async fn get_usage(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<UsageQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let to = query.to.unwrap_or_else(Utc::now);
    let from = query.from.unwrap_or(to - TimeDelta::hours(1));
    let client = query
        .client_id
        .as_deref()
        .map(|raw| {
            ClientId::parse(raw)
                .ok_or_else(|| Error::invalid("client_id", "invalid", "not a client id (`cgcl_…`)"))
        })
        .transpose()?;
    let buckets = state
        .usage
        .read(auth.ctx(), from, to, client.as_ref())
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(UsageOut {
            from,
            to,
            buckets: buckets.into_iter().map(UsageBucketOut::from).collect(),
        }))
}
