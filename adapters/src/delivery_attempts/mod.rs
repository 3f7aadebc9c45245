//! The `delivery_attempts` table: written and read by the delivery queue
//! ([`crate::deliveries`]), which records an attempt and its delivery's new state in one
//! transaction.

pub(crate) mod entity;
