//! A suspended client's webhook deliveries are held — neither attempted nor counted as failures —
//! and go out in the order they were created once it is resumed; the same for the clinic-wide
//! switch.

use std::time::Duration;

use clinicgate_adapters::deliveries::SeaDeliveryQueue;
use clinicgate_core::delivery::{DeliveryQueue as _, DeliveryStatus, OutboundKind, Target};
use figment::providers::Serialized;
use reqwest::Method;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::delivery::{SCOPES, publish, received, webhook_id};
use super::{Partner, allow_loopback};
use crate::common::spawn_app_with;

/// A partner on an app that sends one delivery at a time, so arrival order is send order, with an
/// endpoint at a receiver answering 204.
async fn partner_with_receiver() -> (Partner, MockServer, serde_json::Value) {
    let app = spawn_app_with(|f| {
        allow_loopback(f)
            .merge(Serialized::default("events.delivery_batch", 1))
            .merge(Serialized::default("events.delivery_concurrency", 1))
    })
    .await;
    let partner = Partner::on(app, "harbour", SCOPES).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let endpoint = partner
        .create(&format!("{}/hook", server.uri()), &["appointment.created"])
        .await;
    (partner, server, endpoint)
}

/// `POST path` on the partner's clinic host as its owner; the status.
async fn owner_posts(partner: &Partner, path: &str) -> u16 {
    partner
        .app
        .on(
            Method::POST,
            partner.clinic.sub(),
            path,
            Some(&partner.clinic.cookie),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Publishes three events while the switch `paths` names (suspend, resume) is on, checks nothing
/// is sent or counted meanwhile, resumes, and checks all three arrive once, oldest first.
async fn held_then_delivered_in_order(paths: fn(&Partner) -> (String, String)) {
    let (partner, server, endpoint) = partner_with_receiver().await;
    let (suspend, resume) = paths(&partner);
    assert_eq!(owner_posts(&partner, &suspend).await, 200);

    let mut published = Vec::new();
    for id in [
        "836447129235990001",
        "836447129235990002",
        "836447129235990003",
    ] {
        published.push(publish(&partner, id).await);
        // Distinct creation times.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Several worker polls (every 100 ms) pass: nothing may be sent.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(server.received_requests().await.unwrap().is_empty());
    let queue = SeaDeliveryQueue::new(partner.app.state.db.clone());
    let target = Target {
        kind: OutboundKind::Webhook,
        id: endpoint["id"].as_str().unwrap().parse().unwrap(),
    };
    let tenant = partner.clinic.clinic.id.parse().unwrap();
    let held = queue.deliveries(tenant, target, 10).await.unwrap();
    assert_eq!(held.len(), 3);
    for delivery in &held {
        assert_eq!(delivery.status, DeliveryStatus::Pending);
        assert_eq!(delivery.attempts, 0, "a held delivery is not an attempt");
    }

    assert_eq!(owner_posts(&partner, &resume).await, 200);
    let arrived = received(&server, 3, Duration::from_secs(10)).await;
    let order: Vec<String> = arrived.iter().map(webhook_id).collect();
    assert_eq!(order, published, "sent in the order they were created");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_suspended_clients_deliveries_are_held_and_sent_in_creation_order_on_resume() {
    held_then_delivered_in_order(|partner| {
        let client = format!("/api/tenant/clients/{}", partner.client.id);
        (format!("{client}/suspend"), format!("{client}/resume"))
    })
    .await;
}

#[tokio::test]
async fn the_clinic_wide_switch_holds_every_delivery_and_resume_sends_them_in_order() {
    held_then_delivered_in_order(|_| {
        (
            "/api/tenant/integrations/suspend".to_owned(),
            "/api/tenant/integrations/resume".to_owned(),
        )
    })
    .await;
}
