//! The `calendar_feed_settings` table: one row per clinic that chose how its calendar feeds
//! name patients. Read and written by [`crate::calendar_feeds`], whose repository it belongs to.

pub(crate) mod entity;
