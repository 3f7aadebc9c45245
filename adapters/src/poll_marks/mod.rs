//! The `poll_marks` table: what the poller last sent per doctor (availability) and per doctor
//! and day (queue), written and read by the poller's store ([`crate::polling`]).

pub(crate) mod entity;
