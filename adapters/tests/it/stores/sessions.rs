//! The session contract: idle expiry restarted by use, an absolute expiry no activity extends,
//! and ending one or all of a user's sessions.

use std::time::Duration;

use chrono::Utc;
use clinicgate_core::ids::{TenantId, UserId};
use clinicgate_core::ports::{SessionKey, SessionRecord};

use super::stores;

/// A random session key, shaped like the digest the api derives.
fn session_key() -> SessionKey {
    SessionKey::from_digest(uuid::Uuid::new_v4().simple().to_string())
}

/// A session of `user_id` that ends `lifetime` from now, however active.
fn record(user_id: UserId, lifetime: chrono::Duration) -> SessionRecord {
    let now = Utc::now();
    SessionRecord {
        tenant_id: TenantId::new(),
        user_id,
        created_at: now,
        expires_at: now + lifetime,
    }
}

const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_session_lapses_after_its_idle_ttl_without_use() {
    let stores = stores().await;
    let key = session_key();
    let session = record(UserId::new(), chrono::Duration::hours(8));
    stores
        .sessions
        .insert(&key, &session, Duration::from_millis(400))
        .await
        .unwrap();
    assert_eq!(
        stores
            .sessions
            .get_and_touch(&key, Duration::from_millis(400))
            .await
            .unwrap(),
        Some(session)
    );

    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        stores
            .sessions
            .get_and_touch(&key, Duration::from_millis(400))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn using_a_session_restarts_its_idle_timer() {
    let stores = stores().await;
    let key = session_key();
    let idle = Duration::from_millis(700);
    stores
        .sessions
        .insert(
            &key,
            &record(UserId::new(), chrono::Duration::hours(8)),
            idle,
        )
        .await
        .unwrap();

    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        stores
            .sessions
            .get_and_touch(&key, idle)
            .await
            .unwrap()
            .is_some()
    );
    // 800 ms after insertion, beyond the first idle window but only 400 ms after the touch.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        stores
            .sessions
            .get_and_touch(&key, idle)
            .await
            .unwrap()
            .is_some(),
        "the touch did not extend it"
    );

    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        stores.sessions.get_and_touch(&key, idle).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_session_never_outlives_its_absolute_expiry_however_active() {
    let stores = stores().await;
    let key = session_key();
    let session = record(UserId::new(), chrono::Duration::milliseconds(700));
    stores.sessions.insert(&key, &session, LONG).await.unwrap();
    assert!(
        stores
            .sessions
            .get_and_touch(&key, LONG)
            .await
            .unwrap()
            .is_some()
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        stores
            .sessions
            .get_and_touch(&key, LONG)
            .await
            .unwrap()
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        stores.sessions.get_and_touch(&key, LONG).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_session_already_past_its_absolute_expiry_is_not_stored() {
    let stores = stores().await;
    let key = session_key();
    let user_id = UserId::new();
    stores
        .sessions
        .insert(&key, &record(user_id, chrono::Duration::seconds(-1)), LONG)
        .await
        .unwrap();
    assert_eq!(
        stores.sessions.get_and_touch(&key, LONG).await.unwrap(),
        None
    );
    assert_eq!(
        stores.sessions.remove_all_for_user(user_id).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn removing_a_session_ends_it_and_only_it() {
    let stores = stores().await;
    let user_id = UserId::new();
    let (laptop, phone) = (session_key(), session_key());
    for key in [&laptop, &phone] {
        stores
            .sessions
            .insert(key, &record(user_id, chrono::Duration::hours(8)), LONG)
            .await
            .unwrap();
    }

    stores.sessions.remove(&laptop).await.unwrap();
    assert_eq!(
        stores.sessions.get_and_touch(&laptop, LONG).await.unwrap(),
        None
    );
    assert!(
        stores
            .sessions
            .get_and_touch(&phone, LONG)
            .await
            .unwrap()
            .is_some()
    );
    stores.sessions.remove(&session_key()).await.unwrap();
    // Only the phone is left for deactivation to end.
    assert_eq!(
        stores.sessions.remove_all_for_user(user_id).await.unwrap(),
        1
    );
}

#[tokio::test]
async fn remove_all_for_user_ends_every_live_session_of_that_user_only() {
    let stores = stores().await;
    let (alice, bob) = (UserId::new(), UserId::new());
    let alice_keys = [session_key(), session_key(), session_key()];
    for key in &alice_keys[..2] {
        stores
            .sessions
            .insert(key, &record(alice, chrono::Duration::hours(8)), LONG)
            .await
            .unwrap();
    }
    // A third session that lapses on its own before the user is deactivated.
    stores
        .sessions
        .insert(
            &alice_keys[2],
            &record(alice, chrono::Duration::hours(8)),
            Duration::from_millis(100),
        )
        .await
        .unwrap();
    let bob_key = session_key();
    stores
        .sessions
        .insert(&bob_key, &record(bob, chrono::Duration::hours(8)), LONG)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(stores.sessions.remove_all_for_user(alice).await.unwrap(), 2);
    for key in &alice_keys {
        assert_eq!(
            stores.sessions.get_and_touch(key, LONG).await.unwrap(),
            None
        );
    }
    assert!(
        stores
            .sessions
            .get_and_touch(&bob_key, LONG)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(stores.sessions.remove_all_for_user(alice).await.unwrap(), 0);
}
