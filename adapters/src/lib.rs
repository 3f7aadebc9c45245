//! ClinicGate's adapters: implementations of `clinicgate-core`'s ports over real infrastructure.
//!
//! - [`db`]: sea-orm over SQLite (the embedded default) and PostgreSQL, and the repositories.
//! - [`stores`]: the shared-state ports over Redis, or in-process when no Redis is configured.
//! - [`users`], [`secrets`], [`cliniko_key`]: staff accounts, clinics' wrapped data keys and their
//!   sealed Cliniko keys.
//! - [`api_clients`], [`service_keys`], [`revocations`]: third-party API clients, the
//!   deployment's sealed keys (client-secret hashing, token signing) and revoked tokens.
//! - [`ledger`]: the append-only PHI access ledger.
//! - [`booking_claims`], [`idempotency`]: the public API's slot claims and idempotency records.
//! - [`cliniko`]: the Cliniko client (shared per-key budget, cache). The Cliniko sandbox the
//!   tests run against is the `clinicgate-cliniko-sandbox` crate.
//! - [`outbound`]: the SSRF guard, the one way to call a URL a user gave (webhooks and the like).
//! - [`deliveries`], [`webhooks`], [`webhook_endpoints`]: the event engine's durable delivery
//!   queue, how a webhook message is signed and sent, and partners' webhook endpoints.
//! - [`polling`]: the Cliniko poller's state (schedule and leases, cursors, snapshots, marks).
//!
//! sea-orm entities are private to this crate: repositories convert them to core types, so the
//! api never sees a database row.

pub mod api_clients;
pub mod assertion_jtis;
pub mod booking_claims;
pub(crate) mod calendar_feed_settings;
pub mod calendar_feeds;
pub mod client_jwks;
pub mod clinic_settings;
pub mod clinics;
pub mod cliniko;
pub mod cliniko_key;
pub mod db;
pub mod deliveries;
pub(crate) mod delivery_attempts;
pub(crate) mod events;
pub mod fhir_backfills;
pub mod fhir_destinations;
pub mod fhir_push;
pub mod idempotency;
pub mod ledger;
pub mod mfa;
pub(crate) mod mfa_recovery_codes;
pub(crate) mod mfa_resets;
pub(crate) mod notification_opt_outs;
pub(crate) mod notification_queue_sends;
pub(crate) mod notification_reminder_sends;
pub(crate) mod notification_settings;
pub(crate) mod notification_sms_settings;
pub(crate) mod notification_templates;
pub mod notifications;
pub mod outbound;
pub mod partner_links;
pub mod partner_sync;
pub mod password_links;
pub mod patient_syncs;
pub(crate) mod poll_clinics;
pub(crate) mod poll_cursors;
pub(crate) mod poll_marks;
pub(crate) mod poll_phone_keys;
pub mod polling;
pub(crate) mod retry_after;
pub mod revocations;
pub mod secrets;
pub mod service_keys;
pub mod sso;
pub mod stores;
pub mod suspensions;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod usage;
pub mod users;
pub mod webhook_endpoints;
pub mod webhooks;
