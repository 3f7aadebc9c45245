//! Webhook deliveries written straight to a test app's queue, for tests of what reads them (the
//! partner's and the clinic's delivery lists, the Webhooks page).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use clinicgate_adapters::deliveries::SeaDeliveryQueue;
use clinicgate_core::delivery::{
    AttemptRecord, AttemptResult, DeliveryId, DeliveryQueue as _, EventId, Next, OutboundKind,
    StoredEvent, Target,
};
use clinicgate_core::events::EventType;
use clinicgate_core::ids::TenantId;
use clinicgate_core::secrets::SecretPurpose;
use secrecy::SecretString;

use super::TestApp;

/// The delivery queue of a test app, for one of its clinics: events stored and attempts recorded
/// as the publisher and the workers write them.
pub struct Events<'a> {
    app: &'a TestApp,
    queue: SeaDeliveryQueue,
    /// The clinic.
    pub tenant: TenantId,
}

impl<'a> Events<'a> {
    /// The queue of `app`, for the clinic `clinic_id` (as sign-up answered it).
    pub fn of(app: &'a TestApp, clinic_id: &str) -> Self {
        Self {
            queue: SeaDeliveryQueue::new(app.state.db.clone()),
            tenant: clinic_id.parse().expect("a clinic id"),
            app,
        }
    }

    /// Stores an event of `event_type` that occurred at `at` and is kept until `expires_at`,
    /// with a delivery to each of `endpoints`; the deliveries' ids.
    pub async fn publish_until(
        &self,
        event_type: EventType,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        endpoints: &[&str],
    ) -> Vec<DeliveryId> {
        let data = self
            .app
            .state
            .vault
            .seal(
                self.tenant,
                SecretPurpose::EventData,
                &SecretString::from(r#"{"id":"836447129235991234"}"#),
            )
            .await
            .unwrap();
        let event = StoredEvent {
            id: EventId::new(),
            tenant_id: self.tenant,
            event_type,
            occurred_at: at,
            data,
            expires_at,
        };
        let targets: Vec<Target> = endpoints
            .iter()
            .map(|id| Target {
                kind: OutboundKind::Webhook,
                id: id.parse().unwrap(),
            })
            .collect();
        let ids = self.queue.append(&event, &targets).await.unwrap();
        // Distinct creation times, so the listing's order is the order of publication.
        tokio::time::sleep(Duration::from_millis(5)).await;
        ids
    }

    /// As [`Self::publish_until`], kept for 30 days.
    pub async fn publish(
        &self,
        event_type: EventType,
        at: DateTime<Utc>,
        endpoints: &[&str],
    ) -> Vec<DeliveryId> {
        self.publish_until(event_type, at, at + TimeDelta::days(30), endpoints)
            .await
    }

    /// Records one attempt of `delivery` answered with `status`, after which it has failed.
    /// Claims as a worker does; a worker of the app may hold it for a moment (it is pending to
    /// a disabled endpoint), so this tries until it holds it.
    pub async fn fail(&self, delivery: DeliveryId, status: u16) {
        for _ in 0..200 {
            let later = Utc::now() + TimeDelta::days(1);
            for claimed in self
                .queue
                .claim(later, Duration::from_secs(30), 100)
                .await
                .unwrap()
            {
                if claimed.delivery.id != delivery {
                    let due = claimed.delivery.next_attempt_at;
                    self.queue
                        .release(&claimed, Next::RetryAt(due))
                        .await
                        .unwrap();
                    continue;
                }
                let attempt = AttemptRecord {
                    attempted_at: Utc::now(),
                    result: AttemptResult::Answered {
                        status,
                        retry_after: None,
                    },
                    latency: Duration::from_millis(12),
                    response_excerpt: Some("receiver said no".into()),
                };
                assert!(
                    self.queue
                        .record(&claimed, &attempt, Next::Failed)
                        .await
                        .unwrap()
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the delivery was never claimed");
    }
}
