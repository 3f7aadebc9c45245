//! Reads kept in this process until Redis says their key changed: server-assisted client-side
//! caching (RESP3 `CLIENT TRACKING`, default mode).
//!
//! Every API request checks its token's revocation and its client's state. Both change rarely,
//! but a change must reach every instance at once, so they cannot simply be cached for a while.
//! Asking Redis on every request cost a round trip per request, which dominated an authenticated
//! call. Instead, reads go through one connection with tracking on: Redis remembers the keys that
//! connection read and, when one of them is written, expires or is evicted, pushes an
//! `invalidate` message to that connection. The message is handled as the connection's driver
//! reads it (in order with the replies), and the key is dropped from the mirror, so the next
//! read asks Redis again.
//!
//! Written here rather than with redis-rs's `cache-aio` feature: that feature is experimental,
//! and it stores a reply when the *caller* receives it, so an invalidation read by the driver in
//! between is lost and the stale value stays until its TTL. Here every invalidation bumps an
//! epoch, and a reply is stored only if no invalidation arrived since its command was sent.
//!
//! What this guarantees:
//! - Writes made through this process's stores are seen by its next read (they drop the key
//!   locally as soon as Redis confirms them).
//! - A write made elsewhere is seen once Redis's invalidation message has arrived. Redis queues
//!   that message before it replies to the writer, so it is on its way before the writing
//!   instance can even answer its own caller.
//! - Whenever the tracking connection is lost (the driver reports a disconnection, or its task
//!   ends with its runtime), the mirror is emptied and reads go to Redis until a new connection
//!   tracks again: invalidations sent meanwhile would be lost.
//! - An entry never outlives its key's TTL in Redis, nor [`MAX_AGE`] (a safety net).
//! - Nothing is served from the mirror unless Redis answered on the tracking connection within
//!   [`MAX_SILENCE`]: a heartbeat `PING`s it every [`HEARTBEAT`]. Replies and invalidations
//!   arrive in order on that connection, so a reply to a command sent at `t` proves every
//!   invalidation up to `t` has arrived. A Redis that stops answering (paused, or cut off
//!   without the connection closing) therefore stops the mirror within a second, instead of
//!   leaving it to serve revocation checks that can no longer be invalidated.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use clinicgate_core::Result;
use redis::aio::{AsyncPushSender, MultiplexedConnection, SendError};
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, Value};
use tokio::runtime::Handle;

use super::{IO_TIMEOUT, run};
use crate::stores::unavailable;

/// The longest an entry is served without asking Redis, even if no invalidation came.
pub(super) const MAX_AGE: Duration = Duration::from_secs(60);

/// The longest the mirror answers after the last reply Redis sent on the tracking connection.
pub(super) const MAX_SILENCE: Duration = Duration::from_secs(1);

/// How often the tracking connection is `PING`ed to prove it still delivers invalidations.
const HEARTBEAT: Duration = Duration::from_millis(250);

/// Most entries kept; beyond it the mirror starts over (cheap, and rare: revocation checks and
/// client states are a few per live token).
const CAPACITY: usize = 50_000;

/// Larger values are read through but not kept: the mirror is for small, hot entries.
const MAX_VALUE_BYTES: usize = 16 * 1024;

/// The tracking connection's name in `CLIENT LIST`: `clinicgate-tracked:{key prefix}`, with
/// anything but ASCII letters, digits and `:-_.` in the prefix replaced by `_`.
pub fn connection_name(key_prefix: &str) -> String {
    let prefix: String = key_prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("clinicgate-tracked:{prefix}")
}

/// One key's mirrored value (`None`: the key does not exist).
#[derive(Debug)]
struct Entry {
    value: Option<Vec<u8>>,
    expires_at: Instant,
}

/// The mirror's state, behind one lock (held for a lookup or an update, never across I/O).
#[derive(Debug, Default)]
struct State {
    entries: HashMap<Box<[u8]>, Entry>,
    /// Bumped by every invalidation and every loss of tracking.
    epoch: u64,
    /// The generation of the connection tracking our reads, if one is.
    tracking: Option<u64>,
    /// When the latest command that Redis has since answered on that connection was sent.
    heard_at: Option<Instant>,
}

/// The mirrored entries, shared with the connection's push handler.
#[derive(Debug, Default)]
struct Mirror {
    state: Mutex<State>,
    /// Reads answered here, and reads that asked Redis.
    hits: AtomicU64,
    misses: AtomicU64,
}

/// How tracked reads were answered since the store was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackedReadStats {
    /// Answered from this process.
    pub local: u64,
    /// Answered by Redis.
    pub redis: u64,
}

impl Mirror {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The mirrored value of `key`, if tracked and fresh.
    fn lookup(&self, key: &[u8], now: Instant) -> Option<Option<Vec<u8>>> {
        let state = self.lock();
        state.tracking?;
        if now.saturating_duration_since(state.heard_at?) > MAX_SILENCE {
            return None;
        }
        let entry = state.entries.get(key)?;
        (entry.expires_at > now).then(|| entry.value.clone())
    }

    /// The epoch now, taken before a read is sent.
    fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Stores a read's reply, unless anything was invalidated since `epoch` or the connection
    /// that read it no longer tracks.
    fn install(&self, key: &[u8], entry: Entry, epoch: u64, generation: u64) {
        let mut state = self.lock();
        if state.epoch != epoch || state.tracking != Some(generation) {
            return;
        }
        if state.entries.len() >= CAPACITY {
            state.entries.clear();
        }
        state.entries.insert(key.into(), entry);
    }

    /// Drops `keys`, or everything for `None` (Redis sends a null after `FLUSHALL`/`FLUSHDB`).
    fn invalidate<'a>(&self, keys: Option<impl Iterator<Item = &'a [u8]>>) {
        let mut state = self.lock();
        state.epoch += 1;
        match keys {
            Some(keys) => {
                for key in keys {
                    state.entries.remove(key);
                }
            }
            None => state.entries.clear(),
        }
    }

    /// Connection `generation` tracks from now on (the mirror is empty: see `lost`).
    fn tracking(&self, generation: u64) {
        let mut state = self.lock();
        state.epoch += 1;
        state.entries.clear();
        state.tracking = Some(generation);
        state.heard_at = Some(Instant::now());
    }

    /// Redis answered a command sent at `sent_at` on connection `generation`.
    fn heard(&self, generation: u64, sent_at: Instant) {
        let mut state = self.lock();
        if state.tracking == Some(generation) {
            state.heard_at = Some(state.heard_at.map_or(sent_at, |heard| heard.max(sent_at)));
        }
    }

    /// Connection `generation` stopped tracking: forget everything it vouched for.
    fn lost(&self, generation: u64) {
        let mut state = self.lock();
        if state.tracking == Some(generation) {
            state.tracking = None;
            state.heard_at = None;
            state.epoch += 1;
            state.entries.clear();
        }
    }

    fn is_tracking(&self, generation: u64) -> bool {
        self.lock().tracking == Some(generation)
    }
}

/// Receives one connection's push messages, on its driver, in order with its replies. Dropped
/// with the driver (when the connection ends, however it ends), which stops its tracking.
struct PushHandler {
    mirror: Weak<Mirror>,
    generation: u64,
}

impl AsyncPushSender for PushHandler {
    fn send(&self, info: PushInfo) -> std::result::Result<(), SendError> {
        let Some(mirror) = self.mirror.upgrade() else {
            return Ok(());
        };
        match info.kind {
            PushKind::Invalidate => match info.data.first() {
                Some(Value::Array(keys)) => {
                    mirror.invalidate(Some(keys.iter().filter_map(|key| match key {
                        Value::BulkString(bytes) => Some(bytes.as_slice()),
                        _ => None,
                    })))
                }
                _ => mirror.invalidate(None::<std::iter::Empty<&[u8]>>),
            },
            PushKind::Disconnection => mirror.lost(self.generation),
            _ => {}
        }
        Ok(())
    }
}

impl Drop for PushHandler {
    fn drop(&mut self) {
        if let Some(mirror) = self.mirror.upgrade() {
            mirror.lost(self.generation);
        }
    }
}

/// Tracked reads of string keys, over one dedicated RESP3 connection.
pub(super) struct TrackedReads {
    client: redis::Client,
    name: String,
    /// Drives the tracking connection: the runtime the store was made on, which lives as long
    /// as the application (an HTTP worker's runtime could end first).
    runtime: Handle,
    mirror: Arc<Mirror>,
    connection: tokio::sync::Mutex<Option<(MultiplexedConnection, u64)>>,
    next_generation: AtomicU64,
}

impl TrackedReads {
    /// Reads through a RESP3 connection of `client`'s server, opened on first use and named for
    /// `key_prefix`.
    pub(super) fn new(client: &redis::Client, key_prefix: &str) -> redis::RedisResult<Self> {
        let info = client.get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        Ok(Self {
            client: redis::Client::open(info.set_redis_settings(settings))?,
            name: connection_name(key_prefix),
            runtime: Handle::current(),
            mirror: Arc::default(),
            connection: tokio::sync::Mutex::new(None),
            next_generation: AtomicU64::new(1),
        })
    }

    /// `GET key`, from the mirror when it holds the key.
    ///
    /// # Errors
    /// `Unavailable` when Redis cannot be asked.
    pub(super) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        if let Some(value) = self.mirror.lookup(key.as_bytes(), Instant::now()) {
            self.mirror.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(value);
        }
        self.mirror.misses.fetch_add(1, Ordering::Relaxed);
        match self.read(key).await {
            // A connection that broke is noticed here first: one more try on a new one.
            Err(_) => self.read(key).await,
            read => read,
        }
    }

    /// `GET key` from Redis, kept in the mirror unless it changed meanwhile.
    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let (mut connection, generation) = self.connection().await?;
        let epoch = self.mirror.epoch();
        let sent_at = Instant::now();
        let mut pipeline = redis::pipe();
        pipeline.cmd("GET").arg(key).cmd("PTTL").arg(key);
        let read = pipeline.query_async(&mut connection);
        let (value, pttl): (Option<Vec<u8>>, i64) = match run("tracked.get", read).await {
            Ok(reply) => {
                self.mirror.heard(generation, sent_at);
                reply
            }
            Err(err) => {
                // Whether it still tracks is unknown: the next read opens a new connection.
                self.mirror.lost(generation);
                return Err(err);
            }
        };
        if value
            .as_ref()
            .is_none_or(|value| value.len() <= MAX_VALUE_BYTES)
        {
            // PTTL is -2 for a missing key and -1 for one without expiry.
            let ttl = u64::try_from(pttl)
                .ok()
                .map_or(MAX_AGE, |ms| Duration::from_millis(ms).min(MAX_AGE));
            let entry = Entry {
                value: value.clone(),
                expires_at: sent_at + ttl,
            };
            self.mirror
                .install(key.as_bytes(), entry, epoch, generation);
        }
        Ok(value)
    }

    /// How reads were answered so far.
    pub(super) fn stats(&self) -> TrackedReadStats {
        TrackedReadStats {
            local: self.mirror.hits.load(Ordering::Relaxed),
            redis: self.mirror.misses.load(Ordering::Relaxed),
        }
    }

    /// Drops `key` here, after this process wrote it (Redis's own message may come later).
    pub(super) fn forget(&self, key: &str) {
        self.mirror
            .invalidate(Some(std::iter::once(key.as_bytes())));
    }

    /// The tracking connection, opened (once at a time) when there is none that tracks.
    async fn connection(&self) -> Result<(MultiplexedConnection, u64)> {
        let mut slot = self.connection.lock().await;
        if let Some((connection, generation)) = slot.as_ref()
            && self.mirror.is_tracking(*generation)
        {
            return Ok((connection.clone(), *generation));
        }
        *slot = None;
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let handler = PushHandler {
            mirror: Arc::downgrade(&self.mirror),
            generation,
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(IO_TIMEOUT))
            .set_response_timeout(Some(IO_TIMEOUT))
            .set_push_sender(handler);
        let client = self.client.clone();
        let name = self.name.clone();
        let opening = self.runtime.spawn(async move {
            let mut connection = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            redis::pipe()
                .cmd("CLIENT")
                .arg("SETNAME")
                .arg(name)
                .ignore()
                .cmd("CLIENT")
                .arg("TRACKING")
                .arg("ON")
                .ignore()
                .exec_async(&mut connection)
                .await?;
            Ok::<_, redis::RedisError>(connection)
        });
        let connection = match opening.await {
            Ok(opened) => run("tracked.connect", async { opened }).await?,
            Err(_cancelled) => return Err(unavailable()),
        };
        self.mirror.tracking(generation);
        self.runtime.spawn(heartbeat(
            Arc::downgrade(&self.mirror),
            connection.clone(),
            generation,
        ));
        *slot = Some((connection.clone(), generation));
        Ok((connection, generation))
    }
}

/// `PING`s tracking connection `generation` every [`HEARTBEAT`] while it tracks, so the mirror
/// knows Redis still answers on it; a missing answer ends its tracking.
async fn heartbeat(mirror: Weak<Mirror>, mut connection: MultiplexedConnection, generation: u64) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let Some(tracking) = mirror.upgrade().filter(|m| m.is_tracking(generation)) else {
            return;
        };
        let sent_at = Instant::now();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(MAX_SILENCE, ping.query_async::<String>(&mut connection)).await {
            Ok(Ok(_)) => tracking.heard(generation, sent_at),
            _ => {
                tracking.lost(generation);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &str, ttl: Duration) -> Entry {
        Entry {
            value: Some(value.as_bytes().to_vec()),
            expires_at: Instant::now() + ttl,
        }
    }

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn nothing_is_served_unless_a_connection_tracks() {
        let mirror = Mirror::default();
        let epoch = mirror.epoch();
        mirror.install(b"k", entry("v", LONG), epoch, 1);
        assert_eq!(mirror.lookup(b"k", Instant::now()), None);
        mirror.tracking(1);
        let epoch = mirror.epoch();
        mirror.install(b"k", entry("v", LONG), epoch, 1);
        assert_eq!(
            mirror.lookup(b"k", Instant::now()),
            Some(Some(b"v".to_vec()))
        );
        // A reply read by another, older connection is not kept.
        mirror.install(b"j", entry("w", LONG), epoch, 0);
        assert_eq!(mirror.lookup(b"j", Instant::now()), None);
    }

    #[test]
    fn a_reply_is_not_kept_when_an_invalidation_came_while_it_was_in_flight() {
        let mirror = Mirror::default();
        mirror.tracking(7);
        let sent = mirror.epoch();
        // Redis invalidated the key (or any key) before the reply was stored.
        mirror.invalidate(Some(std::iter::once(&b"other"[..])));
        mirror.install(b"k", entry("stale", LONG), sent, 7);
        assert_eq!(mirror.lookup(b"k", Instant::now()), None);
        // Stored first, invalidated after: gone as well.
        let sent = mirror.epoch();
        mirror.install(b"k", entry("v", LONG), sent, 7);
        mirror.invalidate(Some(std::iter::once(&b"k"[..])));
        assert_eq!(mirror.lookup(b"k", Instant::now()), None);
    }

    #[test]
    fn losing_the_connection_or_a_flush_forgets_everything() {
        let mirror = Mirror::default();
        mirror.tracking(1);
        let epoch = mirror.epoch();
        mirror.install(b"a", entry("1", LONG), epoch, 1);
        mirror.install(b"b", entry("2", LONG), epoch, 1);
        mirror.invalidate(None::<std::iter::Empty<&[u8]>>);
        assert_eq!(mirror.lookup(b"a", Instant::now()), None);

        let epoch = mirror.epoch();
        mirror.install(b"a", entry("1", LONG), epoch, 1);
        // A stale generation's loss changes nothing; the current one's empties the mirror.
        mirror.lost(0);
        assert!(mirror.lookup(b"a", Instant::now()).is_some());
        mirror.lost(1);
        assert_eq!(mirror.lookup(b"a", Instant::now()), None);
        assert!(!mirror.is_tracking(1));
    }

    #[test]
    fn the_push_handler_applies_invalidations_and_disconnections() {
        let mirror = Arc::new(Mirror::default());
        mirror.tracking(3);
        let epoch = mirror.epoch();
        mirror.install(b"k", entry("v", LONG), epoch, 3);
        mirror.install(b"j", entry("w", LONG), epoch, 3);
        let handler = PushHandler {
            mirror: Arc::downgrade(&mirror),
            generation: 3,
        };
        handler
            .send(PushInfo {
                kind: PushKind::Invalidate,
                data: vec![Value::Array(vec![Value::BulkString(b"k".to_vec())])],
            })
            .unwrap();
        assert_eq!(mirror.lookup(b"k", Instant::now()), None);
        assert!(mirror.lookup(b"j", Instant::now()).is_some());
        // The driver ending (it drops its handler) stops tracking.
        drop(handler);
        assert!(!mirror.is_tracking(3));
        assert_eq!(mirror.lookup(b"j", Instant::now()), None);
    }

    #[test]
    fn nothing_is_served_once_redis_has_been_silent_for_too_long() {
        let mirror = Mirror::default();
        mirror.tracking(1);
        let epoch = mirror.epoch();
        mirror.install(b"k", entry("v", LONG), epoch, 1);
        let later = Instant::now() + MAX_SILENCE + Duration::from_millis(100);
        assert_eq!(mirror.lookup(b"k", later), None);
        // An answer to a command sent after the silence began vouches for the mirror again.
        mirror.heard(1, later);
        assert!(mirror.lookup(b"k", later).is_some());
        // An answer on an older connection does not.
        mirror.heard(0, later + MAX_SILENCE * 2);
        assert_eq!(mirror.lookup(b"k", later + MAX_SILENCE * 2), None);
    }

    #[test]
    fn entries_expire_with_their_key() {
        let mirror = Mirror::default();
        mirror.tracking(1);
        let epoch = mirror.epoch();
        mirror.install(b"k", entry("v", Duration::from_millis(5)), epoch, 1);
        assert!(mirror.lookup(b"k", Instant::now()).is_some());
        assert_eq!(
            mirror.lookup(b"k", Instant::now() + Duration::from_millis(6)),
            None
        );
    }
}
