//! The clinic's dashboard: its Cliniko connection's health, the Cliniko budget spent by lane and
//! by API client, each client's requests, errors and 429s, and how its webhook deliveries and
//! partner patient syncs are going — over the last hour, day or week, for any staff member.
//!
//! The series come from the durable usage counters ([`crate::usage`]), which every instance
//! writes, summed into steps sized for the range so a chart has at most about a hundred points.
//! The change detector's lag is how long ago each Cliniko resource was last read: a change made
//! in Cliniko since then is not yet an event.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};

use crate::cliniko_key::ClinikoKeyService;
use crate::delivery::{DeliveryHistory, OutboundKind, StatusCounts};
use crate::polling::{PollStore, Resource};
use crate::tenancy::TenantContext;
use crate::tokens::{ClientId, ClientService};
use crate::usage::{UsageBucket, UsageCounts, UsageStore};
use crate::webhooks::WebhookEndpointService;
use crate::{Error, Result};

/// How far back the dashboard looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashboardRange {
    /// The last hour, by minute.
    Hour,
    /// The last 24 hours, by 15 minutes.
    Day,
    /// The last 7 days, by 2 hours.
    Week,
}

impl DashboardRange {
    /// Every range, shortest first.
    pub const ALL: [Self; 3] = [Self::Hour, Self::Day, Self::Week];

    /// Parses `1h`, `24h` or `7d`.
    ///
    /// # Errors
    /// `Validation` on the field `range` for anything else.
    pub fn parse(raw: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|range| range.as_str() == raw)
            .ok_or_else(|| Error::invalid("range", "invalid", "the range is 1h, 24h or 7d"))
    }

    /// The name used in URLs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "1h",
            Self::Day => "24h",
            Self::Week => "7d",
        }
    }

    /// How far back it reaches.
    pub const fn span(self) -> TimeDelta {
        match self {
            Self::Hour => TimeDelta::hours(1),
            Self::Day => TimeDelta::hours(24),
            Self::Week => TimeDelta::days(7),
        }
    }

    /// The width of one point of its series.
    pub const fn step(self) -> TimeDelta {
        match self {
            Self::Hour => TimeDelta::minutes(1),
            Self::Day => TimeDelta::minutes(15),
            Self::Week => TimeDelta::hours(2),
        }
    }
}

/// The Cliniko connection as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinikoHealth {
    /// A key is connected.
    pub connected: bool,
    /// When Cliniko last accepted the key when it was checked.
    pub verified_at: Option<DateTime<Utc>>,
    /// When Cliniko last refused the key, if it has not accepted it since.
    pub rejected_at: Option<DateTime<Utc>>,
    /// The start of the latest minute in the range in which ClinicGate called Cliniko.
    pub last_call_at: Option<DateTime<Utc>>,
}

/// One API client's numbers (or the clinic's own, for Cliniko calls no client caused), one
/// value per step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSeries {
    /// The client; `None` for the clinic's own Cliniko calls (pages, change detection).
    pub client_id: Option<ClientId>,
    /// Its name, when it still exists.
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

/// The Cliniko calls of every client by lane, one value per step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaneSeries {
    /// For clinicians' pages.
    pub interactive: Vec<u64>,
    /// For API clients' requests.
    pub api: Vec<u64>,
    /// For background work.
    pub background: Vec<u64>,
}

/// Deliveries of one kind created in the range, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DeliverySummary {
    /// By state.
    pub counts: StatusCounts,
    /// Delivered out of those finished (delivered or failed), 0 to 1; `None` when none finished.
    pub success_rate: Option<f64>,
    /// When the oldest delivery still pending (of any age) was created.
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

impl DeliverySummary {
    fn new(counts: StatusCounts, oldest_pending_at: Option<DateTime<Utc>>) -> Self {
        let finished = counts.delivered + counts.failed;
        Self {
            counts,
            // Counts stay far below 2^52, so the conversion is exact.
            success_rate: (finished > 0).then(|| counts.delivered as f64 / finished as f64),
            oldest_pending_at,
        }
    }
}

/// How far the change detector has read one Cliniko resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    /// The resource.
    pub resource: Resource,
    /// When it was last read: changes made since are not yet events.
    pub read_at: DateTime<Utc>,
}

/// Everything the dashboard shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    /// The range asked for.
    pub range: DashboardRange,
    /// The first step's start.
    pub from: DateTime<Utc>,
    /// When it was read.
    pub to: DateTime<Utc>,
    /// The start of each step, oldest first; every series has one value per step.
    pub steps: Vec<DateTime<Utc>>,
    /// The Cliniko connection.
    pub cliniko: ClinikoHealth,
    /// Cliniko calls by lane.
    pub lanes: LaneSeries,
    /// Each API client's numbers (and the clinic's own), clients with any activity only.
    pub clients: Vec<ClientSeries>,
    /// Webhook deliveries created in the range.
    pub webhooks: DeliverySummary,
    /// Webhook endpoints switched off (by the clinic, the partner or for failing).
    pub disabled_endpoints: u64,
    /// Partner patient-sync deliveries created in the range.
    pub patient_syncs: DeliverySummary,
    /// FHIR push deliveries (to the clinic's FHIR destinations) created in the range.
    pub fhir_push: DeliverySummary,
    /// Each resource the change detector reads (none before Cliniko is first polled).
    pub detection: Vec<Detection>,
}

/// Reads the dashboard.
#[derive(Debug, Clone)]
pub struct DashboardService {
    usage: Arc<dyn UsageStore>,
    history: Arc<dyn DeliveryHistory>,
    polls: Arc<dyn PollStore>,
    keys: ClinikoKeyService,
    clients: ClientService,
    webhooks: WebhookEndpointService,
}

impl DashboardService {
    /// A service over the usage counters, the delivery queue's history, the poll state and the
    /// services that know the key, the clients and the endpoints.
    pub fn new(
        usage: Arc<dyn UsageStore>,
        history: Arc<dyn DeliveryHistory>,
        polls: Arc<dyn PollStore>,
        keys: ClinikoKeyService,
        clients: ClientService,
        webhooks: WebhookEndpointService,
    ) -> Self {
        Self {
            usage,
            history,
            polls,
            keys,
            clients,
            webhooks,
        }
    }

    /// The clinic's dashboard over `range`, ending now. Any staff member may read it.
    ///
    /// # Errors
    /// `Forbidden` for API clients; `Unavailable` when a store cannot be read.
    pub async fn read(&self, ctx: &TenantContext, range: DashboardRange) -> Result<Dashboard> {
        if ctx.user_id().is_none() {
            return Err(Error::Forbidden(
                "only the clinic's staff can read its dashboard".to_owned(),
            ));
        }
        let tenant = ctx.tenant_id();
        let to = Utc::now();
        let from = (to - range.span())
            .duration_trunc(range.step())
            .unwrap_or(to - range.span());
        let buckets = self.usage.read(tenant, from, to, None).await?;
        let connection = self.keys.connection(ctx).await?;
        let names: BTreeMap<ClientId, String> =
            self.clients.names(ctx).await?.into_iter().collect();
        let endpoints = self.webhooks.list(ctx).await?;
        let webhooks = self.deliveries(ctx, OutboundKind::Webhook, from).await?;
        let patient_syncs = self
            .deliveries(ctx, OutboundKind::PatientSync, from)
            .await?;
        let fhir_push = self.deliveries(ctx, OutboundKind::FhirPush, from).await?;
        let detection = self
            .polls
            .cursors(tenant)
            .await?
            .into_iter()
            .map(|cursor| Detection {
                resource: cursor.resource,
                read_at: cursor.read_at,
            })
            .collect();
        let steps = steps(from, to, range.step());
        let (lanes, mut clients) = series(&steps, range.step(), &buckets);
        for client in &mut clients {
            client.name = client
                .client_id
                .as_ref()
                .and_then(|id| names.get(id).cloned());
        }
        Ok(Dashboard {
            range,
            from,
            to,
            cliniko: ClinikoHealth {
                connected: connection.is_some(),
                verified_at: connection.as_ref().map(|c| c.verified_at),
                rejected_at: connection.as_ref().and_then(|c| c.rejected_at),
                last_call_at: last_call(&buckets),
            },
            steps,
            lanes,
            clients,
            webhooks,
            disabled_endpoints: u64::try_from(
                endpoints.iter().filter(|e| e.disabled.is_some()).count(),
            )
            .unwrap_or(u64::MAX),
            patient_syncs,
            fhir_push,
            detection,
        })
    }

    async fn deliveries(
        &self,
        ctx: &TenantContext,
        kind: OutboundKind,
        since: DateTime<Utc>,
    ) -> Result<DeliverySummary> {
        let tenant = ctx.tenant_id();
        let mut counts = StatusCounts::default();
        for target in self
            .history
            .counts_since(tenant, kind, since)
            .await?
            .values()
        {
            counts.pending += target.pending;
            counts.delivered += target.delivered;
            counts.failed += target.failed;
        }
        let oldest = self.history.oldest_pending(tenant, kind).await?;
        Ok(DeliverySummary::new(counts, oldest))
    }
}

/// The start of every step from `from` until `to`.
fn steps(from: DateTime<Utc>, to: DateTime<Utc>, step: TimeDelta) -> Vec<DateTime<Utc>> {
    std::iter::successors(Some(from), |at| Some(*at + step))
        .take_while(|at| *at < to)
        .collect()
}

fn cliniko_calls(counts: &UsageCounts) -> u64 {
    counts.cliniko_interactive + counts.cliniko_api + counts.cliniko_background
}

/// The latest minute with a Cliniko call among `buckets`.
fn last_call(buckets: &[UsageBucket]) -> Option<DateTime<Utc>> {
    buckets
        .iter()
        .filter(|b| cliniko_calls(&b.counts) > 0)
        .map(|b| b.minute)
        .max()
}

/// Sums `buckets` into `steps` (each `step` wide): by lane, and per client (clients in the order
/// of their ids, the clinic's own calls first).
fn series(
    steps: &[DateTime<Utc>],
    step: TimeDelta,
    buckets: &[UsageBucket],
) -> (LaneSeries, Vec<ClientSeries>) {
    let zeros = vec![0; steps.len()];
    let mut lanes = LaneSeries {
        interactive: zeros.clone(),
        api: zeros.clone(),
        background: zeros.clone(),
    };
    let mut clients: BTreeMap<Option<ClientId>, ClientSeries> = BTreeMap::new();
    let Some(first) = steps.first() else {
        return (lanes, Vec::new());
    };
    let step_ms = step.num_milliseconds().max(1);
    for bucket in buckets {
        let offset = (bucket.minute - *first).num_milliseconds();
        let Some(index) = usize::try_from(offset / step_ms)
            .ok()
            .filter(|i| *i < steps.len())
        else {
            continue;
        };
        let counts = &bucket.counts;
        lanes.interactive[index] += counts.cliniko_interactive;
        lanes.api[index] += counts.cliniko_api;
        lanes.background[index] += counts.cliniko_background;
        let client = clients
            .entry(bucket.client_id.clone())
            .or_insert_with(|| ClientSeries {
                client_id: bucket.client_id.clone(),
                name: None,
                cliniko_calls: zeros.clone(),
                requests: zeros.clone(),
                errors: zeros.clone(),
                rate_limited: zeros.clone(),
            });
        client.cliniko_calls[index] += cliniko_calls(counts);
        client.requests[index] += counts.requests;
        client.errors[index] += counts.client_errors + counts.server_errors;
        client.rate_limited[index] += counts.rate_limited;
    }
    (lanes, clients.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::minutes(minute)
    }

    fn bucket(client: Option<ClientId>, minute: i64, counts: UsageCounts) -> UsageBucket {
        UsageBucket {
            tenant_id: TenantId::new(),
            client_id: client,
            minute: at(minute),
            counts,
        }
    }

    #[test]
    fn only_the_three_ranges_are_accepted() {
        for range in DashboardRange::ALL {
            assert_eq!(DashboardRange::parse(range.as_str()).unwrap(), range);
        }
        for raw in ["", "1d", "30d", "24H"] {
            assert!(matches!(
                DashboardRange::parse(raw),
                Err(Error::Validation(_))
            ));
        }
    }

    #[test]
    fn every_range_has_about_a_hundred_steps_at_most() {
        for range in DashboardRange::ALL {
            let count = steps(at(0), at(0) + range.span(), range.step()).len();
            assert!((60..=100).contains(&count), "{range:?}: {count}");
        }
    }

    #[test]
    fn minute_buckets_are_summed_into_their_steps_by_lane_and_by_client() {
        let steps = steps(at(0), at(60), TimeDelta::minutes(15));
        let partner = ClientId::generate();
        let buckets = [
            bucket(
                Some(partner.clone()),
                1,
                UsageCounts {
                    requests: 3,
                    client_errors: 2,
                    server_errors: 1,
                    rate_limited: 1,
                    cliniko_api: 2,
                    ..UsageCounts::default()
                },
            ),
            bucket(
                Some(partner.clone()),
                14,
                UsageCounts {
                    requests: 1,
                    cliniko_api: 1,
                    ..UsageCounts::default()
                },
            ),
            bucket(
                None,
                50,
                UsageCounts {
                    cliniko_background: 4,
                    ..UsageCounts::default()
                },
            ),
            // Outside the steps: left out.
            bucket(Some(partner.clone()), 75, UsageCounts::default()),
        ];
        let (lanes, clients) = series(&steps, TimeDelta::minutes(15), &buckets);
        assert_eq!(lanes.api, [3, 0, 0, 0]);
        assert_eq!(lanes.background, [0, 0, 0, 4]);
        assert_eq!(lanes.interactive, [0, 0, 0, 0]);
        assert_eq!(clients.len(), 2);
        assert_eq!(clients[0].client_id, None, "the clinic's own calls first");
        assert_eq!(clients[0].cliniko_calls, [0, 0, 0, 4]);
        let theirs = &clients[1];
        assert_eq!(theirs.requests, [4, 0, 0, 0]);
        assert_eq!(theirs.errors, [3, 0, 0, 0]);
        assert_eq!(theirs.rate_limited, [1, 0, 0, 0]);
        assert_eq!(last_call(&buckets), Some(at(50)));
    }

    #[test]
    fn the_success_rate_counts_finished_deliveries_only() {
        let none = DeliverySummary::new(
            StatusCounts {
                pending: 3,
                ..StatusCounts::default()
            },
            None,
        );
        assert_eq!(none.success_rate, None);
        let some = DeliverySummary::new(
            StatusCounts {
                pending: 5,
                delivered: 3,
                failed: 1,
            },
            None,
        );
        assert_eq!(some.success_rate, Some(0.75));
    }
}
