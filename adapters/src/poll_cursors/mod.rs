//! The `poll_cursors` table: per clinic and resource, how far the poller has read, written and
//! read by the poller's store ([`crate::polling`]).

pub(crate) mod entity;
