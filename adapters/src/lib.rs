//! ClinicGate's adapters: implementations of `clinicgate-core`'s ports over real infrastructure.
//!
//! - [`db`]: sea-orm over SQLite (the embedded default) and PostgreSQL, and the repositories.
//! - [`stores`]: the shared-state ports over Redis, or in-process when no Redis is configured.
//!
//! sea-orm entities are private to this crate: repositories convert them to core types, so the
//! api never sees a database row.

pub mod clinics;
pub mod db;
pub mod stores;
#[cfg(feature = "test-support")]
pub mod testing;
