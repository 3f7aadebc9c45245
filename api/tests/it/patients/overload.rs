//! Under overload, the clinic's Cliniko budget turns into finished patient views: a view is
//! admitted only when the budget can cover all of its calls, so refused views cost nothing.
//!
//! Measured as a user would notice it: many clinicians' browsers opening patients at once on two
//! instances, counting the views served and the Cliniko calls spent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use figment::providers::Serialized;

use super::SandboxApp;

/// Cliniko calls of one warm view (patient, alerts, upcoming and recent appointments).
const CALLS_PER_VIEW: u64 = 4;

/// Accepted sandbox calls across accounts.
fn cliniko_calls(app: &SandboxApp) -> u64 {
    app.sandbox
        .stats()
        .values()
        .map(|stats| stats.accepted)
        .sum()
}

#[tokio::test]
async fn under_overload_served_views_use_the_budget_and_refused_ones_cost_nothing() {
    // 120 calls a minute (one every 0.5 s), a burst of 5: about 17 calls in the 6 s below.
    let budget = |f: figment::Figment| {
        f.merge(Serialized::default("cliniko.budget_per_minute", 120))
            .merge(Serialized::default("cliniko.budget_burst", 5))
    };
    let app = SandboxApp::start_with(budget).await;
    let cookie = app.clinic("harbour", Some(0)).await;
    let patient = app.patient_with_alert(0, 0).await;
    // Instances share sessions and the budget only through Redis; without it, one instance.
    let shared = app.app.state.settings.redis_url.is_some();
    let base = app.sandbox.base_url();
    let sibling = match shared {
        true => Some(
            app.app
                .spawn_sibling(move |f| {
                    budget(f.merge(Serialized::default("cliniko.base_url", base)))
                })
                .await,
        ),
        false => None,
    };
    let path = format!("/api/tenant/patients/{}", patient.id);
    // Warm the reference lists, then let the budget refill.
    assert_eq!(app.json("harbour", &path, &cookie).await.status(), 200);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let before = cliniko_calls(&app);
    let served = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let run_for = Duration::from_secs(6);
    let mut browsers = tokio::task::JoinSet::new();
    for browser in 0..12 {
        let instance = match &sibling {
            Some(sibling) if browser % 2 == 1 => sibling,
            _ => &app.app,
        };
        let request = instance
            .on(reqwest::Method::GET, "harbour", &path, Some(&cookie))
            .build()
            .unwrap();
        let client = instance.client.clone();
        let (served, refused) = (served.clone(), refused.clone());
        // Anything but a view or a refusal ends this browser and is reported with the counts,
        // so a failure says what the budget did.
        browsers.spawn(async move {
            while started.elapsed() < run_for {
                let response = client
                    .execute(request.try_clone().unwrap())
                    .await
                    .map_err(|err| format!("a view failed: {err}"))?;
                match response.status().as_u16() {
                    200 => served.fetch_add(1, Ordering::SeqCst),
                    429 => refused.fetch_add(1, Ordering::SeqCst),
                    other => {
                        let body = response.text().await.unwrap_or_default();
                        return Err(format!("a view answered {other}: {body}"));
                    }
                };
            }
            Ok(())
        });
    }
    let mut unexpected = Vec::new();
    while let Some(finished) = browsers.join_next().await {
        if let Err(answer) = finished.unwrap() {
            unexpected.push(answer);
        }
    }
    let elapsed = started.elapsed();
    let calls = cliniko_calls(&app) - before;
    let served = served.load(Ordering::SeqCst);
    let refused = refused.load(Ordering::SeqCst);
    let useful = served * CALLS_PER_VIEW;
    let counts = format!(
        "over {elapsed:?}: {served} views served, {refused} refused, {calls} Cliniko calls \
         ({useful} useful), other answers: {unexpected:?}"
    );
    eprintln!("overload {counts}");
    assert!(unexpected.is_empty(), "{counts}");
    assert!(refused > 0, "the test did not overload the budget {counts}");
    // Every call spent went into a view that was served.
    assert_eq!(
        calls, useful,
        "Cliniko calls spent on views that were then refused {counts}"
    );
    // And the budget was used: 5 + 2 per second while views were asked for, less a view's worth
    // at either end. The views still in flight when asking stopped may only add to it, so a
    // slow machine's long tail does not count as budget left unused.
    let possible = 5 + run_for.as_secs() * 2;
    assert!(
        useful + 2 * CALLS_PER_VIEW >= possible,
        "only {useful} of about {possible} calls were used {counts}"
    );
}
