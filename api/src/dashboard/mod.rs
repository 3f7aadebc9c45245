//! `GET /api/tenant/dashboard`: the clinic's dashboard as JSON (any staff member) — the
//! Cliniko connection's health, Cliniko calls by lane and by client, each client's requests,
//! errors and 429s over time, the webhook and patient-sync deliveries, and the change detector's
//! lag (`clinicgate_core::dashboard`). The clinic home page shows the same numbers as charts.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use clinicgate_core::dashboard::{ClientSeries, Dashboard, DashboardRange, DeliverySummary};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::problem::ApiError;
use crate::http::responses::{QueryErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// Which span to show.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    /// `1h` (by minute), `24h` (by 15 minutes, the default) or `7d` (by 2 hours).
    #[param(example = "24h")]
    pub range: Option<String>,
}

/// The Cliniko connection's health.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClinikoHealthOut {
    /// A Cliniko key is connected.
    pub connected: bool,
    /// When Cliniko last accepted the key when it was checked.
    pub verified_at: Option<DateTime<Utc>>,
    /// The last error: when Cliniko last refused the key, if it has not accepted it since.
    pub rejected_at: Option<DateTime<Utc>>,
    /// The start of the latest minute in the range in which ClinicGate called Cliniko.
    pub last_call_at: Option<DateTime<Utc>>,
}

/// Cliniko calls by lane, one value per step.
#[derive(Debug, Serialize, ToSchema)]
pub struct LaneSeriesOut {
    /// For clinicians' pages.
    pub interactive: Vec<u64>,
    /// For API clients' requests.
    pub api: Vec<u64>,
    /// For background work (change detection, deliveries).
    pub background: Vec<u64>,
}

/// One API client's numbers, one value per step.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientSeriesOut {
    /// The client; `null` for the clinic's own Cliniko calls (pages, change detection).
    #[schema(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: Option<String>,
    /// Its name; `null` for the clinic's own calls or a deleted client.
    pub name: Option<String>,
    /// Cliniko calls it caused, every lane.
    pub cliniko_calls: Vec<u64>,
    /// API requests answered.
    pub requests: Vec<u64>,
    /// Of which answered 4xx or 5xx.
    pub errors: Vec<u64>,
    /// Of which answered 429.
    pub rate_limited: Vec<u64>,
}

impl From<ClientSeries> for ClientSeriesOut {
    fn from(series: ClientSeries) -> Self {
        Self {
            client_id: series.client_id.map(|id| id.to_string()),
            name: series.name,
            cliniko_calls: series.cliniko_calls,
            requests: series.requests,
            errors: series.errors,
            rate_limited: series.rate_limited,
        }
    }
}

/// Deliveries of one kind created in the range.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliverySummaryOut {
    /// Delivered.
    pub delivered: u64,
    /// Given up.
    pub failed: u64,
    /// Not delivered yet.
    pub pending: u64,
    /// Delivered out of those finished, 0 to 1; `null` when none finished.
    pub success_rate: Option<f64>,
    /// When the oldest delivery still pending (of any age) was created; `null` when none is.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// Its age in seconds.
    pub oldest_pending_age_seconds: Option<i64>,
}

impl DeliverySummaryOut {
    fn new(summary: DeliverySummary, now: DateTime<Utc>) -> Self {
        Self {
            delivered: summary.counts.delivered,
            failed: summary.counts.failed,
            pending: summary.counts.pending,
            success_rate: summary.success_rate,
            oldest_pending_at: summary.oldest_pending_at,
            oldest_pending_age_seconds: summary
                .oldest_pending_at
                .map(|at| (now - at).num_seconds().max(0)),
        }
    }
}

/// Webhook deliveries and endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSummaryOut {
    /// Deliveries created in the range.
    #[serde(flatten)]
    pub deliveries: DeliverySummaryOut,
    /// Endpoints switched off (by the clinic, the partner, or for failing).
    pub disabled_endpoints: u64,
}

/// How far the change detector has read one Cliniko resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetectionOut {
    /// `appointments`, `patients` or `hours`.
    #[schema(example = "appointments")]
    pub resource: String,
    /// When it was last read.
    pub read_at: DateTime<Utc>,
    /// Seconds since: a change made in Cliniko since is not yet an event.
    pub lag_seconds: i64,
}

/// The clinic's dashboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardOut {
    /// The range shown: `1h`, `24h` or `7d`.
    pub range: String,
    /// The first step's start.
    pub from: DateTime<Utc>,
    /// When it was read.
    pub to: DateTime<Utc>,
    /// Seconds per step (60, 900 or 7200).
    pub step_seconds: i64,
    /// Each step's start, oldest first; every series has one value per step.
    pub steps: Vec<DateTime<Utc>>,
    /// The Cliniko connection.
    pub cliniko: ClinikoHealthOut,
    /// Cliniko calls by lane (the budget's use).
    pub lanes: LaneSeriesOut,
    /// Each API client with any activity in the range (and the clinic's own Cliniko calls).
    pub clients: Vec<ClientSeriesOut>,
    /// Webhook deliveries created in the range, and disabled endpoints.
    pub webhooks: WebhookSummaryOut,
    /// Partner patient-sync deliveries created in the range.
    pub patient_syncs: DeliverySummaryOut,
    /// FHIR push deliveries (to the clinic's FHIR destinations) created in the range.
    pub fhir_push: DeliverySummaryOut,
    /// The change detector's lag per Cliniko resource (empty before Cliniko is first polled).
    pub detection: Vec<DetectionOut>,
}

impl From<Dashboard> for DashboardOut {
    fn from(dashboard: Dashboard) -> Self {
        let now = dashboard.to;
        Self {
            range: dashboard.range.as_str().to_owned(),
            from: dashboard.from,
            to: dashboard.to,
            step_seconds: dashboard.range.step().num_seconds(),
            steps: dashboard.steps,
            cliniko: ClinikoHealthOut {
                connected: dashboard.cliniko.connected,
                verified_at: dashboard.cliniko.verified_at,
                rejected_at: dashboard.cliniko.rejected_at,
                last_call_at: dashboard.cliniko.last_call_at,
            },
            lanes: LaneSeriesOut {
                interactive: dashboard.lanes.interactive,
                api: dashboard.lanes.api,
                background: dashboard.lanes.background,
            },
            clients: dashboard
                .clients
                .into_iter()
                .map(ClientSeriesOut::from)
                .collect(),
            webhooks: WebhookSummaryOut {
                deliveries: DeliverySummaryOut::new(dashboard.webhooks, now),
                disabled_endpoints: dashboard.disabled_endpoints,
            },
            patient_syncs: DeliverySummaryOut::new(dashboard.patient_syncs, now),
            fhir_push: DeliverySummaryOut::new(dashboard.fhir_push, now),
            detection: dashboard
                .detection
                .into_iter()
                .map(|d| DetectionOut {
                    resource: d.resource.as_str().to_owned(),
                    read_at: d.read_at,
                    lag_seconds: (now - d.read_at).num_seconds().max(0),
                })
                .collect(),
        }
    }
}

route_problems!(
    /// What `GET /api/tenant/dashboard` answers itself.
    DashboardProblems {
        422 => "`range` is not `1h`, `24h` or `7d`",
    }
);

/// The clinic's dashboard (any staff member): Cliniko connection health, Cliniko calls by lane
/// and by client, each client's requests, errors and 429s, webhook and patient-sync deliveries,
/// and how long ago the change detector last read each Cliniko resource.
/// Numbers come from counters every instance writes within seconds.
#[utoipa::path(
    tag = "clinic",
    params(DashboardQuery),
    responses(
        (status = 200, description = "The dashboard", body = DashboardOut),
        SessionErrors, QueryErrors,
        DashboardProblems,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/dashboard")]
pub async fn get_dashboard(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<DashboardQuery>,
) -> Result<HttpResponse, ApiError> {
    let range = DashboardRange::parse(query.range.as_deref().unwrap_or("24h"))?;
    let dashboard = state.dashboard.read(auth.ctx(), range).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(DashboardOut::from(dashboard)))
}
