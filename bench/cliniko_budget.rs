//! Load generator and micro-benchmark for the shared Cliniko budget (run by
//! `bench/cliniko_budget.sh`, not a test).
//!
//! - `load`: one ClinicGate instance's Cliniko client (its own Redis connection) offering calls at
//!   a fixed rate for a while, on a mix of lanes; prints what it got as one JSON line.
//! - `micro`: the cost of one budget check (the pause lookup in the cache plus the GCRA
//!   acquisition, exactly what the client does before each call), in-process and on Redis.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark binary"
)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clinicgate_adapters::cliniko::{ClinikoClientConfig, HttpClinikoClient};
use clinicgate_adapters::stores::{StoreConfig, build_shared_state};
use clinicgate_core::Error;
use clinicgate_core::cliniko::{ClinikoAccount, ClinikoApiKey, ClinikoClient, Lane};
use clinicgate_core::ids::TenantId;
use clinicgate_core::ports::Quota;

fn args() -> (String, HashMap<String, String>) {
    let mut raw = std::env::args().skip(1);
    let mode = raw.next().unwrap_or_default();
    let mut named = HashMap::new();
    while let Some(name) = raw.next() {
        let value = raw.next().unwrap_or_else(|| panic!("{name} needs a value"));
        named.insert(name.trim_start_matches("--").to_owned(), value);
    }
    (mode, named)
}

#[tokio::main]
async fn main() {
    let (mode, args) = args();
    let arg = |name: &str| {
        args.get(name)
            .cloned()
            .unwrap_or_else(|| panic!("--{name} is required"))
    };
    match mode.as_str() {
        "load" => {
            load(
                &arg("base-url"),
                &arg("key"),
                &arg("redis"),
                &arg("prefix"),
                arg("per-minute").parse().unwrap(),
                arg("seconds").parse().unwrap(),
                &arg("tenant"),
            )
            .await
        }
        "micro" => micro(&arg("redis"), arg("iterations").parse().unwrap()).await,
        other => panic!("unknown mode {other:?}: use `load` or `micro`"),
    }
}

/// Per lane: granted, refused by our budget, other errors.
#[derive(Default)]
struct Counts([AtomicU64; 9]);

impl Counts {
    fn add(&self, lane: usize, outcome: usize) {
        self.0[lane * 3 + outcome].fetch_add(1, Ordering::Relaxed);
    }
    fn get(&self, lane: usize, outcome: usize) -> u64 {
        self.0[lane * 3 + outcome].load(Ordering::Relaxed)
    }
}

async fn load(
    base_url: &str,
    key: &str,
    redis: &str,
    prefix: &str,
    per_minute: f64,
    seconds: u64,
    tenant: &str,
) {
    let stores = build_shared_state(&StoreConfig {
        redis_url: Some(redis.to_owned().into()),
        key_prefix: prefix.to_owned(),
    })
    .await
    .expect("Redis");
    let config = ClinikoClientConfig::new(base_url, "ClinicGate benchmark (bench@clinicgate.dev)");
    let client = Arc::new(HttpClinikoClient::new(config, stores.state).unwrap());
    let account = ClinikoAccount {
        tenant_id: TenantId::from_uuid(tenant.parse().unwrap()),
        key: ClinikoApiKey::parse(key).unwrap(),
        caller: None,
    };
    let counts = Arc::new(Counts::default());
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(60.0 / per_minute));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    let mut offered = 0_u64;
    while Instant::now() < deadline {
        ticker.tick().await;
        // 20 % clinicians' pages, 50 % third-party API calls, 30 % background work.
        let lane = match offered % 10 {
            0 | 1 => 0,
            2..=6 => 1,
            _ => 2,
        };
        offered += 1;
        let (client, account, counts) = (Arc::clone(&client), account.clone(), Arc::clone(&counts));
        tasks.spawn(async move {
            match client.current_user(&account, Lane::ALL[lane]).await {
                Ok(_) => counts.add(lane, 0),
                Err(Error::RateLimited { .. }) => counts.add(lane, 1),
                Err(other) => {
                    eprintln!("unexpected: {other}");
                    counts.add(lane, 2);
                }
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    // Background calls still queued for budget at the end are abandoned, not counted.
    tasks.abort_all();
    let elapsed = started.elapsed().as_secs_f64();
    let lanes: Vec<String> = Lane::ALL
        .iter()
        .enumerate()
        .map(|(i, lane)| {
            format!(
                "\"{}\":{{\"granted\":{},\"refused\":{},\"errors\":{}}}",
                lane.as_str(),
                counts.get(i, 0),
                counts.get(i, 1),
                counts.get(i, 2)
            )
        })
        .collect();
    println!(
        "{{\"offered\":{offered},\"seconds\":{elapsed:.1},{}}}",
        lanes.join(",")
    );
}

async fn micro(redis: &str, iterations: usize) {
    for (name, url) in [("in-process", None), ("redis", Some(redis.to_owned()))] {
        let stores = build_shared_state(&StoreConfig {
            redis_url: url.map(Into::into),
            key_prefix: format!("bench:{}", uuid::Uuid::now_v7()),
        })
        .await
        .expect("store");
        let (cache, limiter) = (stores.state.cache, stores.state.rate_limiter);
        // A quota no loop can exhaust, so every check does the full work of a granted call.
        let quota = Quota {
            limit: 1_000_000,
            period: Duration::from_secs(1),
        };
        let mut samples = Vec::with_capacity(iterations);
        for i in 0..iterations + 1000 {
            let started = Instant::now();
            let paused = cache.get("cliniko:pause:bench").await.unwrap();
            let decision = limiter
                .acquire("cliniko:budget:bench", quota, 1, 0)
                .await
                .unwrap();
            let took = started.elapsed();
            assert!(paused.is_none() && decision.allowed);
            if i >= 1000 {
                samples.push(took);
            }
        }
        samples.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let mean = samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len() as f64;
        println!(
            "{{\"backend\":\"{name}\",\"iterations\":{iterations},\"mean_us\":{mean:.1},\"p50_us\":{:.1},\"p99_us\":{:.1}}}",
            us(samples[samples.len() / 2]),
            us(samples[samples.len() * 99 / 100])
        );
        let _ = limiter.reset("cliniko:budget:bench").await;
    }
}
