//! The `notification_reminder_sends` table: one row per reminder sent (clinic × rule ×
//! appointment × start), naming the delivery that sends it. Read and written by
//! [`crate::notifications`], whose repository it belongs to.

pub(crate) mod entity;
