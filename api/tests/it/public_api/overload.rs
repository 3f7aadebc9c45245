//! Under overload, partners' slot searches turn the clinic's Cliniko budget into answered
//! searches: a search books all of its 7-day windows before its first call, so the searches
//! refused for want of budget cost nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Days;
use figment::Figment;
use figment::providers::Serialized;

use super::{app_on, bookable, cliniko_settings, get_json, partner_of, sandbox};

/// Accepted sandbox calls across accounts.
fn cliniko_calls(sandbox: &clinicgate_cliniko_sandbox::Sandbox) -> u64 {
    sandbox.stats().values().map(|stats| stats.accepted).sum()
}

#[tokio::test]
async fn under_overload_every_cliniko_call_goes_into_a_slot_search_that_is_answered() {
    let sandbox = sandbox();
    // 120 calls a minute (one every 0.5 s), a burst of 5.
    let budget = |f: Figment| {
        f.merge(Serialized::default("cliniko.budget_per_minute", 120))
            .merge(Serialized::default("cliniko.budget_burst", 5))
    };
    let app = app_on(&sandbox, budget).await;
    let token = partner_of(
        &app,
        &sandbox,
        "harbour",
        "au1",
        &["doctors:read", "slots:read"],
    )
    .await;
    let target = bookable(&app, &token, "Eleanor").await;
    // Three weeks: three windows, each one call when a week has at most 100 free times.
    let from = target.tomorrow();
    let path = target.slots_path(from, from.checked_add_days(Days::new(20)).unwrap(), 1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = cliniko_calls(&sandbox);
    assert_eq!(get_json(&app, &path, &token).await.0, 200);
    let per_search = cliniko_calls(&sandbox) - before;
    assert!(per_search >= 3, "{per_search} calls for three windows");
    // Partners on two instances when they share the budget through Redis.
    let base = sandbox.base_url();
    let sibling = match app.state.settings.redis_url.is_some() {
        true => Some(
            app.spawn_sibling(move |f| budget(cliniko_settings(f, &base)))
                .await,
        ),
        false => None,
    };
    tokio::time::sleep(Duration::from_secs(3)).await;

    let before = cliniko_calls(&sandbox);
    let served = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut partners = tokio::task::JoinSet::new();
    for partner in 0..10 {
        let instance = match &sibling {
            Some(sibling) if partner % 2 == 1 => sibling,
            _ => &app,
        };
        let url = format!("{}{path}", instance.address);
        let (client, token) = (instance.client.clone(), token.clone());
        let (served, refused) = (served.clone(), refused.clone());
        // Anything but an answer or a refusal ends this partner and is reported with the
        // counts and the problem's body, so a failure says what happened.
        partners.spawn(async move {
            while started.elapsed() < Duration::from_secs(6) {
                let response = client
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .map_err(|err| format!("a slot search failed: {err}"))?;
                match response.status().as_u16() {
                    200 => served.fetch_add(1, Ordering::SeqCst),
                    429 => refused.fetch_add(1, Ordering::SeqCst),
                    other => {
                        let body = response.text().await.unwrap_or_default();
                        return Err(format!("a slot search answered {other}: {body}"));
                    }
                };
            }
            Ok(())
        });
    }
    let mut unexpected = Vec::new();
    while let Some(finished) = partners.join_next().await {
        if let Err(answer) = finished.unwrap() {
            unexpected.push(answer);
        }
    }
    let calls = cliniko_calls(&sandbox) - before;
    let (served, refused) = (
        served.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst),
    );
    eprintln!(
        "slot searches under overload over {:?}: {served} answered, {refused} refused, {calls} Cliniko calls ({per_search} per search)",
        started.elapsed()
    );
    assert!(
        unexpected.is_empty(),
        "{served} answered, {refused} refused, {calls} Cliniko calls; other answers: {unexpected:?}"
    );
    assert!(refused > 0, "the test did not overload the budget");
    assert!(served > 0, "no search was answered");
    assert_eq!(
        calls,
        served * per_search,
        "Cliniko calls spent on refused searches"
    );
}
