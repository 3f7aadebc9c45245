//! The `poll_clinics` table: each clinic's polling schedule and the lease of the instance polling
//! it, written and read by the poller's store ([`crate::polling`]).

pub(crate) mod entity;
