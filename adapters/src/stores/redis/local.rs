//! One Redis connection per single-threaded runtime, next to the shared one.
//!
//! A [`ConnectionManager`] is driven by a task on the runtime that created it. actix-web runs
//! each HTTP worker on its own single-threaded runtime, so with one shared connection every
//! Redis command of a request hops to another thread and its reply hops back: two cross-thread
//! wake-ups per command, which dominated the profile of an authenticated API call. So a store
//! used on a current-thread runtime opens that runtime its own connection (in the background,
//! using the shared one meanwhile) and uses it from then on; everything else (the main
//! multi-threaded runtime, start-up, jobs) uses the shared connection.
//!
//! A runtime can end while its thread lives on (tests run one runtime after another on a
//! thread), taking the connection's driver task with it. Each local connection therefore comes
//! with a keeper task on the same runtime that holds an `Arc`; when the runtime drops its tasks
//! the `Weak` we keep stops upgrading and the connection is forgotten.

use std::cell::RefCell;
use std::future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::runtime::{Handle, RuntimeFlavor};

/// What this thread has for one store.
enum Slot {
    /// A connection is being opened.
    Opening,
    /// A connection driven by this thread's runtime, usable while `alive` upgrades.
    Ready {
        connection: ConnectionManager,
        alive: Weak<()>,
    },
}

thread_local! {
    /// This thread's connections, by store id. A handful of stores at most (tests make more,
    /// one per app), so a vector beats a map.
    static LOCAL: RefCell<Vec<(u64, Slot)>> = const { RefCell::new(Vec::new()) };
}

/// Tells stores apart in the per-thread connection table.
static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// Opens per-runtime connections for one store.
pub(super) struct LocalConnections {
    id: u64,
    client: redis::Client,
    config: ConnectionManagerConfig,
}

impl LocalConnections {
    /// For a store connecting with `client` and `config`.
    pub(super) fn new(client: redis::Client, config: ConnectionManagerConfig) -> Self {
        Self {
            id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
            client,
            config,
        }
    }

    /// This runtime's own connection, if it has one ready; otherwise starts opening one (on a
    /// current-thread runtime only) and returns `None`, so the caller uses the shared connection
    /// for now.
    pub(super) fn get(&self) -> Option<ConnectionManager> {
        connection(self.id, &self.client, &self.config)
    }
}

fn connection(
    id: u64,
    client: &redis::Client,
    config: &ConnectionManagerConfig,
) -> Option<ConnectionManager> {
    let handle = Handle::try_current().ok()?;
    if handle.runtime_flavor() != RuntimeFlavor::CurrentThread {
        return None;
    }
    LOCAL.with_borrow_mut(|slots| {
        let position = slots.iter().position(|(slot_id, _)| *slot_id == id);
        if let Some(position) = position {
            match &slots[position].1 {
                Slot::Opening => return None,
                Slot::Ready { connection, alive } if alive.strong_count() > 0 => {
                    return Some(connection.clone());
                }
                // The runtime that drove it has ended: open a new one below.
                Slot::Ready { .. } => {
                    slots.swap_remove(position);
                }
            }
        }
        slots.push((id, Slot::Opening));
        handle.spawn(open(id, client.clone(), config.clone()));
        None
    })
}

/// Opens the connection for store `id` on the current runtime and records it; on failure
/// forgets the attempt, so a later call tries again (the shared connection serves meanwhile).
async fn open(id: u64, client: redis::Client, config: ConnectionManagerConfig) {
    let opened = ConnectionManager::new_with_config(client, config).await;
    LOCAL.with_borrow_mut(|slots| {
        slots.retain(|(slot_id, _)| *slot_id != id);
        match opened {
            Ok(connection) => {
                let keeper = Arc::new(());
                let alive = Arc::downgrade(&keeper);
                // Lives exactly as long as this runtime's tasks do.
                tokio::spawn(async move {
                    let _keeper = keeper;
                    future::pending::<()>().await;
                });
                slots.push((id, Slot::Ready { connection, alive }));
            }
            Err(err) => {
                tracing::debug!(error = %err, "could not open a per-worker Redis connection");
            }
        }
    });
}
