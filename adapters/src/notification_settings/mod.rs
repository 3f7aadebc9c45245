//! The `notification_settings` table: one row per clinic that saved its notification settings.
//! Read and written by [`crate::notifications`], whose repository it belongs to.

pub(crate) mod entity;
