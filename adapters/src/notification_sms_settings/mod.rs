//! The `notification_sms_settings` table: a clinic's SMS provider account (its auth token
//! sealed) and staff phone. Read and written by [`crate::notifications`], whose repository it
//! belongs to.

pub(crate) mod entity;
