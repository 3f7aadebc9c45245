//! The `events` table: written and read by the delivery queue ([`crate::deliveries`]), which
//! stores an event and its deliveries in one transaction.

pub(crate) mod entity;
