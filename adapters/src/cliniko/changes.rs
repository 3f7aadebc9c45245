//! Incremental reads for the change detector (`ClinikoClient::changes`): a list sorted by
//! `updated_at`, read page by page from the last `updated_at` seen.
//!
//! Why not follow `links.next` through the whole list: pages are numbered, and a record changed
//! while the list is read moves to its end, shifting every later record one place back — the
//! record at the next page's boundary would then never be read, and a cursor advanced past it
//! would lose its change. Asking again from the last `updated_at` seen (records of that second
//! come again and are dropped as already read) cannot skip one. Only when a whole page shares
//! one second (a bulk import) is its `links.next` followed, since asking again would return the
//! same page.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use clinicgate_core::Result;
use clinicgate_core::cliniko::{ChangeQuery, Direction, Feed, Filter, FilterOp, ListQuery};
use serde_json::Value;
use url::Url;

use super::transport::{Call, Transport, with_page_size};

/// The most pages one read follows whatever `max_records` says: a guard against a page loop.
const MAX_PAGES: usize = 200;

/// Where a feed lives and its envelope.
pub(super) fn feed_path(feed: Feed) -> (&'static str, &'static str) {
    match feed {
        Feed::Appointments => ("/individual_appointments", "individual_appointments"),
        Feed::Patients => ("/patients", "patients"),
        Feed::DailyAvailabilities => ("/daily_availabilities", "daily_availabilities"),
    }
}

/// The list query for `query` from `since`: everything Cliniko would hide included, oldest
/// change first (ties by id, so pages are stable).
fn list_query(query: &ChangeQuery, since: Option<DateTime<Utc>>) -> ListQuery {
    let mut list = ListQuery::new();
    if let Some(since) = since {
        list = list.filter(Filter::new("updated_at", FilterOp::Ge, &since));
    }
    match query.feed {
        Feed::Appointments => {
            list = list
                .filter(Filter::any("cancelled_at"))
                .filter(Filter::any("archived_at"));
            if let Some(from) = query.starting_from {
                list = list.filter(Filter::new("starts_at", FilterOp::Ge, &from));
            }
        }
        Feed::Patients => list = list.filter(Filter::any("archived_at")),
        Feed::DailyAvailabilities => {}
    }
    list.sort_by("updated_at", Direction::Asc)
        .sort_by("id", Direction::Asc)
}

/// The raw records of `query`, each once, oldest change first, and whether all were read.
pub(super) async fn read(
    transport: &Transport,
    call: &Call<'_>,
    base: Url,
    query: &ChangeQuery,
) -> Result<(Vec<Value>, bool)> {
    let (_, envelope) = feed_path(query.feed);
    let mut since = query.since;
    let mut follow: Option<Url> = None;
    let mut seen = HashSet::new();
    let mut records = Vec::new();
    for _ in 0..MAX_PAGES {
        let url = match follow.take() {
            Some(next) => next,
            None => {
                let mut url = base.clone();
                url.query_pairs_mut()
                    .extend_pairs(list_query(query, since).params());
                with_page_size(url)
            }
        };
        let (items, next) = transport.page(call, url, envelope).await?;
        let last = items.last().and_then(updated_at);
        for item in items {
            let id = item.get("id").map(Value::to_string).unwrap_or_default();
            if seen.insert(id) {
                records.push(item);
            }
        }
        let Some(next) = next else {
            return Ok((records, true));
        };
        if records.len() >= query.max_records {
            return Ok((records, false));
        }
        match (last, since) {
            (Some(last), Some(from)) if last <= from => follow = Some(next),
            (Some(last), _) => since = Some(last),
            (None, _) => follow = Some(next),
        }
    }
    Ok((records, false))
}

fn updated_at(record: &Value) -> Option<DateTime<Utc>> {
    record
        .get("updated_at")?
        .as_str()?
        .parse::<DateTime<Utc>>()
        .ok()
}
