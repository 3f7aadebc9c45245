//! The `notification_templates` table: a clinic's own templates per trigger and channel. Read
//! and written by [`crate::notifications`], whose repository it belongs to.

pub(crate) mod entity;
