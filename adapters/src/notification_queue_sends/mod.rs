//! The `notification_queue_sends` table: one row per queue message sent (clinic × rule ×
//! appointment × progress), naming the delivery that sent it. Read and written by
//! [`crate::notifications`], whose repository it belongs to.

pub(crate) mod entity;
