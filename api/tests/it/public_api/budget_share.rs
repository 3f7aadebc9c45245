//! A clinic caps one partner's share of its Cliniko budget: under load from two clients (on two
//! instances when they share the budget through Redis), the capped one is answered 429 with
//! `Retry-After` by ClinicGate once it has used its share, the other keeps the rest, and Cliniko
//! never answers 429.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Days;
use figment::Figment;
use figment::providers::Serialized;
use reqwest::Method;
use serde_json::{Value, json};

use super::{admin_key, app_on, bookable, cliniko_settings, connect_cliniko, sandbox};
use crate::common::TestApp;
use crate::tokens::{Clinic, clinic, create_client, token};

/// `PATCH`es the client `client_id` of `owner`'s clinic with `body`; the status and JSON.
async fn patch_client(app: &TestApp, owner: &Clinic, client_id: &str, body: Value) -> (u16, Value) {
    let response = app
        .on(
            Method::PATCH,
            owner.sub(),
            &format!("/api/tenant/clients/{client_id}"),
            Some(&owner.cookie),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_capped_client_is_refused_beyond_its_share_while_the_other_keeps_the_rest() {
    let sandbox = sandbox();
    // 120 calls a minute (one every 0.5 s), a burst of 5; the capped client's fifth of it is
    // 24 a minute and a burst of 1.
    let budget = |f: Figment| {
        f.merge(Serialized::default("cliniko.budget_per_minute", 120))
            .merge(Serialized::default("cliniko.budget_burst", 5))
    };
    let app = app_on(&sandbox, budget).await;
    let owner = clinic(&app, "harbour").await;
    connect_cliniko(&app, &owner, &admin_key(&sandbox, "au1").key).await;
    let scopes = ["doctors:read", "slots:read"];
    let capped = create_client(&app, &owner, &scopes, None).await;
    let other = create_client(&app, &owner, &scopes, None).await;

    for invalid in [json!(0), json!(101)] {
        let (status, problem) = patch_client(
            &app,
            &owner,
            &capped.id,
            json!({"cliniko_budget_share": invalid}),
        )
        .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "cliniko_budget_share");
    }
    let (status, changed) = patch_client(
        &app,
        &owner,
        &capped.id,
        json!({"cliniko_budget_share": 20}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["cliniko_budget_share"], 20);

    let tokens = [token(&app, &capped).await, token(&app, &other).await];
    let target = bookable(&app, &tokens[1], "Eleanor").await;
    // One week: one Cliniko call per search.
    let from = target.tomorrow();
    let path = target.slots_path(from, from.checked_add_days(Days::new(6)).unwrap(), 1);
    let base = sandbox.base_url();
    let sibling = match app.state.settings.redis_url.is_some() {
        true => Some(
            app.spawn_sibling(move |f| budget(cliniko_settings(f, &base)))
                .await,
        ),
        false => None,
    };
    // Let the budget refill after the set-up's calls.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = sandbox.stats();

    let served = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    let refused = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    let started = Instant::now();
    let mut partners = tokio::task::JoinSet::new();
    for caller in 0..8 {
        let who = caller % 2;
        let instance = match &sibling {
            Some(sibling) if caller / 2 % 2 == 1 => sibling,
            _ => &app,
        };
        let url = format!("{}{path}", instance.address);
        let (client, access_token) = (instance.client.clone(), tokens[who].clone());
        let (served, refused) = (served[who].clone(), refused[who].clone());
        partners.spawn(async move {
            while started.elapsed() < Duration::from_secs(6) {
                let response = client
                    .get(&url)
                    .bearer_auth(&access_token)
                    .send()
                    .await
                    .unwrap();
                match response.status().as_u16() {
                    200 => served.fetch_add(1, Ordering::SeqCst),
                    429 => {
                        assert!(response.headers().contains_key("retry-after"));
                        refused.fetch_add(1, Ordering::SeqCst)
                    }
                    other => panic!("a slot search answered {other}"),
                };
            }
        });
    }
    while let Some(finished) = partners.join_next().await {
        finished.unwrap();
    }
    let [capped_served, other_served] = served.map(|n| n.load(Ordering::SeqCst));
    let capped_refused = refused[0].load(Ordering::SeqCst);
    eprintln!(
        "capped: {capped_served} answered, {capped_refused} refused; other: {other_served} answered, {} refused",
        refused[1].load(Ordering::SeqCst)
    );
    let after = sandbox.stats();
    for (account, stats) in &after {
        let earlier = before.get(account).map_or(0, |s| s.rate_limited);
        assert_eq!(
            stats.rate_limited, earlier,
            "Cliniko answered 429: {stats:?}"
        );
    }
    assert!(capped_refused > 0, "the capped client was never refused");
    // Its share over 6 s (and the 3 s a booking may wait): 1 + 0.4 × 9 s, rounded up.
    assert!(capped_served <= 5, "the capped client got {capped_served}");
    assert!(
        other_served >= 3 * capped_served.max(1),
        "the other client got {other_served} to the capped one's {capped_served}"
    );
}
