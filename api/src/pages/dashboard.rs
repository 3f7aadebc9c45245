//! The dashboard at the top of the clinic home (every staff member): Cliniko connection health,
//! the Cliniko budget's use by lane and by client, each client's requests, errors and 429s, and
//! the webhook and patient-sync deliveries, over the last hour, day or week, and the change
//! detector's lag. It only shows: the
//! kill-switches stay on the API clients page, for owners and admins.
//!
//! Times are written in the practice's time zone, which the page names: its businesses' zone in
//! Cliniko when they share one, else the Cliniko account's (see `Directory::time_zone`), read
//! from the clinic's directory (memoised, so Cliniko is asked once per reload period); UTC while
//! Cliniko is not connected or cannot be read.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use clinicgate_core::dashboard::{Dashboard, DashboardRange, DeliverySummary};

use super::charts::{Chart, Line};
use crate::http::html::escape;
use crate::sessions::Authenticated;
use crate::state::AppState;

/// The range `raw` names, or the last 24 hours when it names none (a hand-edited link shows the
/// default rather than an error page).
pub(super) fn range_or_default(raw: Option<&str>) -> DashboardRange {
    raw.and_then(|raw| DashboardRange::parse(raw).ok())
        .unwrap_or(DashboardRange::Day)
}

/// The dashboard's section of the home page for `auth`, over `range`.
pub(super) async fn section(
    state: &AppState,
    auth: &Authenticated,
    range: DashboardRange,
) -> String {
    let practice = practice_zone(state, auth).await;
    let zone = practice.zone();
    let body = match state.dashboard.read(auth.ctx(), range).await {
        Ok(dashboard) => cards(&dashboard, auth.session.user.role.manages_clinic(), zone),
        Err(err) => {
            tracing::warn!(error = %err, "the dashboard could not be read");
            "<p class=\"notice notice-error\" role=\"alert\">The dashboard could not be loaded. Try again shortly.</p>".to_owned()
        }
    };
    let ranges: String = DashboardRange::ALL
        .into_iter()
        .map(|option| {
            let current = if option == range {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!(
                "<a class=\"pill pill-off\" href=\"/?range={0}\"{current}>{0}</a>",
                option.as_str()
            )
        })
        .collect();
    format!(
        "<link rel=\"stylesheet\" href=\"/static/dashboard.css\">\
         <section class=\"dashboard card-span\" aria-labelledby=\"dashboard-title\">\
         <div class=\"dashboard-head\"><h2 id=\"dashboard-title\">Integrations at a glance</h2>\
         <nav class=\"dashboard-ranges\" aria-label=\"Dashboard range\">{ranges}</nav></div>\
         <p class=\"muted small\" id=\"dashboard-zone\">Times are in {}.</p>\
         <div class=\"grid\">{body}</div></section>",
        escape(&zone_note(&practice))
    )
}

/// The practice's time zone as far as it can be known now (the dashboard is shown either way).
enum PracticeZone {
    /// Its businesses share this zone (or the Cliniko account names it).
    Known(Tz),
    /// Its businesses are spread over several zones: no one zone is the practice's.
    Several,
    /// No directory: Cliniko is not connected or does not answer.
    Unknown,
}

impl PracticeZone {
    /// The zone the page writes times in.
    fn zone(&self) -> Option<Tz> {
        match self {
            Self::Known(zone) => Some(*zone),
            Self::Several | Self::Unknown => None,
        }
    }
}

async fn practice_zone(state: &AppState, auth: &Authenticated) -> PracticeZone {
    match state.directory.directory(auth.ctx()).await {
        Ok(directory) => directory
            .time_zone()
            .map_or(PracticeZone::Several, PracticeZone::Known),
        Err(err) => {
            tracing::debug!(error = %err, "the dashboard shows UTC: no practice time zone");
            PracticeZone::Unknown
        }
    }
}

/// What the page says about the time zone its times are in.
fn zone_note(zone: &PracticeZone) -> String {
    match zone {
        PracticeZone::Known(zone) => {
            format!("{} (the practice's time zone in Cliniko)", zone.name())
        }
        PracticeZone::Several => {
            "UTC (the practice's businesses are in several time zones)".to_owned()
        }
        PracticeZone::Unknown => {
            "UTC (the practice's time zone is shown once Cliniko is connected and answers)"
                .to_owned()
        }
    }
}

fn when(at: Option<DateTime<Utc>>, never: &str, zone: Tz) -> String {
    at.map_or_else(
        || never.to_owned(),
        |at| {
            at.with_timezone(&zone)
                .format("%-d %b %Y, %H:%M %Z")
                .to_string()
        },
    )
}

/// A duration as people say it: "3 min", "2 h 5 min", "4 days".
fn age(span: TimeDelta) -> String {
    let minutes = span.num_minutes().max(0);
    match minutes {
        0 => "under a minute".to_owned(),
        1..60 => format!("{minutes} min"),
        60..2880 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} days", minutes / 1440),
    }
}

fn cliniko_card(dashboard: &Dashboard, zone: Tz) -> String {
    let health = &dashboard.cliniko;
    let status = match (health.connected, health.rejected_at) {
        (false, _) => "<p class=\"status status-off\">Not connected</p>",
        (true, Some(_)) => "<p class=\"status status-bad\">Key refused by Cliniko</p>",
        (true, None) => "<p class=\"status status-ok\">Connected</p>",
    };
    format!(
        "<article class=\"card\" aria-labelledby=\"health-title\"><h3 id=\"health-title\">Cliniko connection</h3>{status}\
         <dl class=\"facts\"><dt>Last call to Cliniko</dt><dd>{}</dd>\
         <dt>Key last accepted</dt><dd>{}</dd><dt>Last error</dt><dd>{}</dd></dl></article>",
        escape(&when(health.last_call_at, "none in this range", zone)),
        escape(&when(health.verified_at, "never", zone)),
        escape(&when(
            health.rejected_at,
            "none since the key was last accepted",
            zone
        )),
    )
}

fn deliveries_card(
    id: &str,
    title: &str,
    summary: &DeliverySummary,
    now: DateTime<Utc>,
    extra: &str,
) -> String {
    let rate = summary.success_rate.map_or_else(
        || "nothing finished yet".to_owned(),
        |rate| format!("{:.0} %", rate * 100.0),
    );
    let oldest = summary
        .oldest_pending_at
        .map_or_else(|| "none pending".to_owned(), |at| age(now - at));
    let counts = summary.counts;
    format!(
        "<article class=\"card\" aria-labelledby=\"{id}-title\"><h3 id=\"{id}-title\">{title}</h3>\
         <dl class=\"facts\"><dt>Delivered</dt><dd>{}</dd><dt>Failed</dt><dd>{}</dd><dt>Pending</dt><dd>{}</dd>\
         <dt>Success rate</dt><dd>{}</dd><dt>Oldest pending</dt><dd>{}</dd>{extra}</dl></article>",
        counts.delivered,
        counts.failed,
        counts.pending,
        escape(&rate),
        escape(&oldest),
    )
}

fn cards(dashboard: &Dashboard, manages: bool, zone: Option<Tz>) -> String {
    let zone = zone.unwrap_or(Tz::UTC);
    let format = match dashboard.range {
        DashboardRange::Hour | DashboardRange::Day => "%H:%M",
        DashboardRange::Week => "%a %-d %b %H:%M",
    };
    let lanes = Chart {
        id: "chart-lanes",
        title: "Cliniko calls by lane",
        steps: &dashboard.steps,
        time_format: format,
        zone,
        lines: &[
            Line {
                label: "Clinicians",
                values: &dashboard.lanes.interactive,
            },
            Line {
                label: "API clients",
                values: &dashboard.lanes.api,
            },
            Line {
                label: "Background",
                values: &dashboard.lanes.background,
            },
        ],
    };
    let names: Vec<String> = dashboard
        .clients
        .iter()
        .map(|client| match (&client.name, &client.client_id) {
            (Some(name), _) => name.clone(),
            (None, Some(id)) => format!("Deleted client {id}"),
            (None, None) => "The clinic (pages, change detection)".to_owned(),
        })
        .collect();
    let by_client: Vec<Line> = dashboard
        .clients
        .iter()
        .zip(&names)
        .map(|(client, name)| Line {
            label: name,
            values: &client.cliniko_calls,
        })
        .collect();
    let by_client = Chart {
        id: "chart-clients",
        title: "Cliniko calls by client",
        steps: &dashboard.steps,
        time_format: format,
        zone,
        lines: &by_client,
    };
    let per_client: String = dashboard
        .clients
        .iter()
        .zip(&names)
        .enumerate()
        .filter(|(_, (client, _))| client.client_id.is_some())
        .map(|(n, (client, name))| {
            let title = format!("{name}: requests, errors and 429s");
            let chart = Chart {
                id: &format!("chart-client-{n}"),
                title: &title,
                steps: &dashboard.steps,
                time_format: format,
                zone,
                lines: &[
                    Line {
                        label: "Requests",
                        values: &client.requests,
                    },
                    Line {
                        label: "Errors",
                        values: &client.errors,
                    },
                    Line {
                        label: "429s",
                        values: &client.rate_limited,
                    },
                ],
            }
            .render();
            format!("<article class=\"card\">{chart}</article>")
        })
        .collect();
    let per_client = if per_client.is_empty() {
        "<article class=\"card\"><h3>API clients</h3><p class=\"muted\">No API client made a request in this range.</p></article>".to_owned()
    } else {
        per_client
    };
    let controls = if manages {
        "<p class=\"small\"><a href=\"/settings/clients\">Suspend or resume clients</a> on the API clients page.</p>"
    } else {
        ""
    };
    let endpoints = format!(
        "<dt>Disabled endpoints</dt><dd>{}</dd>",
        dashboard.disabled_endpoints
    );
    format!(
        "{}<article class=\"card\">{}</article><article class=\"card\">{}{controls}</article>{per_client}{}{}{}{}",
        cliniko_card(dashboard, zone),
        lanes.render(),
        by_client.render(),
        deliveries_card(
            "webhooks",
            "Webhook deliveries",
            &dashboard.webhooks,
            dashboard.to,
            &endpoints
        ),
        deliveries_card(
            "syncs",
            "Partner patient syncs",
            &dashboard.patient_syncs,
            dashboard.to,
            ""
        ),
        deliveries_card(
            "fhir",
            "FHIR pushes",
            &dashboard.fhir_push,
            dashboard.to,
            ""
        ),
        detection_card(dashboard),
    )
}

fn detection_card(dashboard: &Dashboard) -> String {
    let body = if dashboard.detection.is_empty() {
        "<p class=\"muted\">Cliniko has not been read for changes yet.</p>".to_owned()
    } else {
        let rows: String = dashboard
            .detection
            .iter()
            .map(|d| {
                format!(
                    "<dt>{}</dt><dd>read {} ago</dd>",
                    escape(d.resource.as_str()),
                    escape(&age(dashboard.to - d.read_at))
                )
            })
            .collect();
        format!("<dl class=\"facts\">{rows}</dl>")
    };
    format!(
        "<article class=\"card\" aria-labelledby=\"detection-title\"><h3 id=\"detection-title\">Change detection</h3>\
         <p class=\"muted small\">Changes made in Cliniko since a resource was last read are not yet sent to partners.</p>{body}</article>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_written_as_people_say_them() {
        assert_eq!(age(TimeDelta::seconds(20)), "under a minute");
        assert_eq!(age(TimeDelta::minutes(3)), "3 min");
        assert_eq!(age(TimeDelta::minutes(125)), "2 h 5 min");
        assert_eq!(age(TimeDelta::days(4)), "4 days");
    }

    #[test]
    fn times_are_written_in_the_practice_zone_which_is_named() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T00:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let melbourne: Tz = "Australia/Melbourne".parse().unwrap();
        assert_eq!(when(Some(at), "never", melbourne), "7 Dec 2026, 11:30 AEDT");
        assert_eq!(when(Some(at), "never", Tz::UTC), "7 Dec 2026, 00:30 UTC");
        assert!(zone_note(&PracticeZone::Known(melbourne)).starts_with("Australia/Melbourne"));
        assert!(zone_note(&PracticeZone::Several).contains("several time zones"));
        assert!(zone_note(&PracticeZone::Unknown).starts_with("UTC"));
    }

    #[test]
    fn an_unknown_range_shows_the_last_day() {
        assert_eq!(range_or_default(Some("1h")), DashboardRange::Hour);
        assert_eq!(range_or_default(Some("1y")), DashboardRange::Day);
        assert_eq!(range_or_default(None), DashboardRange::Day);
    }
}
