//! The `notification_opt_outs` table: patients who unsubscribed from a channel of a clinic's
//! messages. Read and written by [`crate::notifications`], whose repository it belongs to.

pub(crate) mod entity;
