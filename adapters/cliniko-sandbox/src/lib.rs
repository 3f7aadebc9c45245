//! The Cliniko sandbox: an in-repo server that behaves like Cliniko for the parts ClinicGate uses
//! (`shared/reference/cliniko-api.md`), so tests, demos and partners run without a Cliniko account.
//!
//! - [`data`]: deterministic accounts (three shards, businesses in different time zones,
//!   practitioners with hours, appointment types, patients with phones and alerts, appointments
//!   around today);
//! - [`http`]: Cliniko's checks and routes; [`query`]: `q[]` filters, `sort`, pages and links;
//! - [`free_times`]: available times from practitioners' hours; [`availabilities`]: those hours
//!   as Cliniko's daily availabilities, which writes change; [`limits`]: the per-key
//!   sliding-window rate limit with 429 + `X-RateLimit-Reset`.
//!
//! Every record carries `created_at` and an `updated_at` that each write bumps (to the second,
//! as Cliniko's), so incremental sync (`q[]=updated_at:>=T`, `sort=updated_at`) can be tested:
//! patients (create, update, archive), appointments (create, update — including the arrival
//! flags — cancel, archive) and daily availabilities (update). `POST /__sandbox/accounts
//! {"count": n}` generates `n` small accounts and answers their keys, for scale tests.
//!
//! Writes are kept in memory for the life of the process. Where Cliniko's behaviour is not
//! documented the sandbox picks the stricter reading (unknown filter fields are a 400; cancelled
//! appointments are hidden from lists unless `cancelled_at` is filtered on) and says so here.
//! It binds loopback unless told otherwise: its keys are published at `/__sandbox/keys`.
//!
//! It depends on no other ClinicGate crate. Its records are JSON written from the reference,
//! not the adapter's types: a second implementation of Cliniko's format, so the tests check the
//! adapter's reading of Cliniko against a writer that shares none of its code. It is built into
//! the `clinicgate` binary only with the api's `cliniko-sandbox` feature.
//!
//! Beside it, [`PartnerStub`] plays the other side of outbound patient sync: a partner's patient
//! API in memory (`clinicgate partner-stub`), written from `docs/partner-sync.md`.

mod availabilities;
mod data;
mod free_times;
mod http;
mod limits;
mod partner_stub;
mod query;
mod records;
mod rng;

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
pub use partner_stub::{PartnerStub, StubCall, StubPatient};

pub use data::SandboxKey;
pub use limits::KeyStats;

use http::SandboxState;

/// How the sandbox behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Calls accepted per key per `window` (Cliniko: 200 per minute).
    pub rate_limit: u32,
    /// The sliding window of the rate limit.
    pub window: Duration,
    /// Seed of the generated data: the same seed gives the same accounts (on the same day).
    pub seed: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            rate_limit: 200,
            window: Duration::from_secs(60),
            seed: 1,
        }
    }
}

/// A running sandbox.
#[derive(Debug)]
pub struct Sandbox {
    address: SocketAddr,
    handle: ServerHandle,
    state: Arc<SandboxState>,
}

impl Sandbox {
    /// Builds the sandbox's server on `listener`; the caller runs (awaits or spawns) the returned
    /// [`Server`]. `signals` makes it stop on SIGINT/SIGTERM (for the command line).
    ///
    /// # Errors
    /// When the listener cannot be used.
    pub fn bind(
        listener: TcpListener,
        config: &SandboxConfig,
        signals: bool,
    ) -> std::io::Result<(Self, Server)> {
        let address = listener.local_addr()?;
        let accounts = data::generate(config.seed, chrono::Utc::now());
        let keys = accounts.iter().flat_map(|a| a.keys.clone()).collect();
        let state = Arc::new(SandboxState {
            accounts: Mutex::new(accounts),
            limits: Mutex::new(limits::SlidingWindows::new(
                config.rate_limit,
                config.window,
            )),
            keys,
            generated_keys: Mutex::new(Vec::new()),
            rate_limit: config.rate_limit,
            window_secs: config.window.as_secs(),
            seed: config.seed,
            faults: Mutex::new(Vec::new()),
        });
        let shared = Arc::clone(&state);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(Arc::clone(&shared)))
                .app_data(web::PayloadConfig::new(1024 * 1024))
                .route("/__sandbox/keys", web::get().to(http::keys))
                .route("/__sandbox/stats", web::get().to(http::stats))
                .route(
                    "/__sandbox/accounts",
                    web::post().to(http::generate_accounts),
                )
                .route("/__sandbox/faults", web::post().to(http::inject_faults))
                .default_service(web::to(http::dispatch))
        })
        .listen(listener)?
        .workers(1)
        .shutdown_timeout(1);
        if !signals {
            server = server.disable_signals();
        }
        let server = server.run();
        let sandbox = Self {
            address,
            handle: server.handle(),
            state,
        };
        Ok((sandbox, server))
    }

    /// Starts the sandbox on `listener` in the current Tokio runtime (for tests and `--demo`).
    ///
    /// # Errors
    /// When the listener cannot be used.
    pub fn start(listener: TcpListener, config: &SandboxConfig) -> std::io::Result<Self> {
        let (sandbox, server) = Self::bind(listener, config, false)?;
        tokio::spawn(server);
        Ok(sandbox)
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL to configure the Cliniko client with (`{shard}` is filled per key).
    pub fn base_url(&self) -> String {
        format!("http://{}/{{shard}}/v1", self.address)
    }

    /// The demo API keys (two per account: an administrator and a receptionist).
    pub fn keys(&self) -> &[SandboxKey] {
        &self.state.keys
    }

    /// Calls accepted and refused so far, by account.
    pub fn stats(&self) -> std::collections::HashMap<String, KeyStats> {
        self.state
            .limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats()
    }

    /// Makes the next `count` Cliniko calls (of any key) answer `status` (429 or 5xx), as
    /// `POST /__sandbox/faults` does.
    pub fn fail_next(&self, status: u16, count: usize) {
        self.state
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(std::iter::repeat_n(status, count));
    }

    /// Stops the server.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}
