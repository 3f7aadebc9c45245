//! The clinic's side (`/api/tenant/webhooks` and Settings → Webhooks): every client's endpoints
//! with their status and last 24 hours, a failing endpoint's disabling shown, deliveries in the
//! partner's shape; owners and admins disable, enable and resend, clinicians only look; another
//! clinic's endpoint is 404 and cross-origin writes are refused.

use chrono::{TimeDelta, Utc};
use clinicgate_core::events::EventType;
use clinicgate_core::ids::TenantId;
use clinicgate_core::webhooks::{DeliveryEndpoints as _, WebhookEndpointId};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Partner, status_and_json};
use crate::common::PASSWORD;
use crate::common::deliveries::Events;

const SCOPES: &[&str] = &["appointments:read", "webhooks:manage"];

impl Partner {
    /// `method path` on the clinic's host as the holder of `cookie`; status and JSON.
    async fn as_staff(&self, cookie: &str, method: Method, path: &str) -> (u16, Value) {
        let response = self
            .app
            .on(method, self.clinic.sub(), path, Some(cookie))
            .send()
            .await
            .unwrap();
        status_and_json(response).await
    }

    /// As the clinic's owner.
    async fn as_owner(&self, method: Method, path: &str) -> (u16, Value) {
        let cookie = self.clinic.cookie.clone();
        self.as_staff(&cookie, method, path).await
    }
}

#[tokio::test]
async fn the_clinic_sees_every_clients_endpoints_and_disables_enables_and_resends() {
    let partner = Partner::new(SCOPES).await;
    let mine = partner
        .create("http://127.0.0.1:9999/hooks", &["appointment.created"])
        .await;
    let sibling = partner.sibling_token(SCOPES).await;
    let (status, theirs) = status_and_json(
        partner
            .call_as(
                &sibling,
                Method::POST,
                "/api/public/webhooks",
                Some(json!({"url": "http://127.0.0.1:9998/in", "event_types": ["appointment.cancelled"]})),
            )
            .await,
    )
    .await;
    assert_eq!(status, 201);
    let id = mine["id"].as_str().unwrap().to_owned();
    // Disabled while the test writes its deliveries, so no worker sends them meanwhile.
    let (status, _) = partner
        .as_owner(Method::POST, &format!("/api/tenant/webhooks/{id}/disable"))
        .await;
    assert_eq!(status, 200);
    let events = Events::of(&partner.app, &partner.clinic.clinic.id);
    let deliveries = [
        events
            .publish(EventType::AppointmentCreated, Utc::now(), &[&id])
            .await[0],
        events
            .publish(EventType::AppointmentCreated, Utc::now(), &[&id])
            .await[0],
    ];
    events.fail(deliveries[0], 410).await;

    let (status, listed) = partner.as_owner(Method::GET, "/api/tenant/webhooks").await;
    assert_eq!(status, 200, "{listed}");
    let all = listed["data"].as_array().unwrap();
    assert_eq!(all.len(), 2, "every client's endpoints");
    let first = &all[0];
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["client_id"], partner.client.id.as_str());
    assert_eq!(first["client_name"], "Partner app");
    assert_eq!(first["url"], "http://127.0.0.1:9999/hooks");
    assert_eq!(first["event_types"], json!(["appointment.created"]));
    assert_eq!(first["status"], "disabled");
    assert_eq!(first["disabled_reason"], "manual");
    assert_eq!(
        first["recent_deliveries"],
        json!({"pending": 1, "delivered": 0, "failed": 1})
    );
    assert_eq!(all[1]["id"], theirs["id"]);
    assert_eq!(all[1]["status"], "enabled");
    assert!(!listed.to_string().contains("whsec_"), "no secret, ever");

    // The partner sees the clinic's switch.
    let (_, seen) = partner
        .call(Method::GET, &format!("/api/public/webhooks/{id}"), None)
        .await;
    assert_eq!(
        (seen["enabled"].as_bool(), seen["disabled_reason"].as_str()),
        (Some(false), Some("manual"))
    );

    // Deliveries in the partner's shape.
    let (status, page) = partner
        .as_owner(
            Method::GET,
            &format!("/api/tenant/webhooks/{id}/deliveries"),
        )
        .await;
    assert_eq!(status, 200);
    let (_, partners_page) = partner
        .call(
            Method::GET,
            &format!("/api/public/webhooks/{id}/deliveries"),
            None,
        )
        .await;
    assert_eq!(page, partners_page);
    assert_eq!(page["data"][1]["attempts"][0]["status_code"], 410);

    let (status, resent) = partner
        .as_owner(
            Method::POST,
            &format!(
                "/api/tenant/webhooks/{id}/deliveries/{}/resend",
                deliveries[0]
            ),
        )
        .await;
    assert_eq!(status, 202, "{resent}");
    assert!(resent["delivery_id"].is_string());

    let (status, enabled) = partner
        .as_owner(Method::POST, &format!("/api/tenant/webhooks/{id}/enable"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(enabled["status"], "enabled");
    assert_eq!(enabled["disabled_reason"], Value::Null);
    assert_eq!(enabled["recent_deliveries"]["pending"], 2);
}

#[tokio::test]
async fn an_endpoint_disabled_for_failing_is_shown_as_such_with_its_streak() {
    let partner = Partner::new(SCOPES).await;
    let endpoint = partner
        .create("http://127.0.0.1:9999/hooks", &["appointment.created"])
        .await;
    // What the delivery worker reports after five days of failures.
    let tenant: TenantId = partner.clinic.clinic.id.parse().unwrap();
    let id: WebhookEndpointId = endpoint["id"].as_str().unwrap().parse().unwrap();
    let webhooks = &partner.app.state.webhooks;
    let started = Utc::now() - TimeDelta::days(6);
    webhooks
        .note_outcome(tenant, id, false, started)
        .await
        .unwrap();
    assert!(
        webhooks
            .note_outcome(tenant, id, false, Utc::now())
            .await
            .unwrap()
    );

    let (_, listed) = partner.as_owner(Method::GET, "/api/tenant/webhooks").await;
    let shown = &listed["data"][0];
    assert_eq!(shown["status"], "disabled");
    assert_eq!(shown["disabled_reason"], "failing");
    assert!(shown["failing_since"].is_string());
    let (_, seen) = partner
        .call(Method::GET, &Partner::path_of(&endpoint, ""), None)
        .await;
    assert_eq!(seen["disabled_reason"], "failing");

    // Enabled again: a clean slate.
    let (_, enabled) = partner
        .as_owner(Method::POST, &format!("/api/tenant/webhooks/{id}/enable"))
        .await;
    assert_eq!(enabled["status"], "enabled");
    assert_eq!(enabled["failing_since"], Value::Null);
}

#[tokio::test]
async fn a_clinician_sees_the_webhooks_but_may_not_control_them() {
    let partner = Partner::new(SCOPES).await;
    let endpoint = partner
        .create("http://127.0.0.1:9999/hooks", &["appointment.created"])
        .await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let sub = partner.clinic.sub().to_owned();
    let email = format!("sam@{sub}.example.com");
    partner
        .app
        .add_user(&sub, &partner.clinic.cookie, &email, "clinician")
        .await;
    let clinician = partner.app.log_in(&sub, &email, PASSWORD).await;

    let (status, listed) = partner
        .as_staff(&clinician, Method::GET, "/api/tenant/webhooks")
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"][0]["id"], id.as_str());
    let (status, _) = partner
        .as_staff(
            &clinician,
            Method::GET,
            &format!("/api/tenant/webhooks/{id}/deliveries"),
        )
        .await;
    assert_eq!(status, 200);
    let any = clinicgate_core::delivery::DeliveryId::new();
    for path in [
        format!("/api/tenant/webhooks/{id}/disable"),
        format!("/api/tenant/webhooks/{id}/enable"),
        format!("/api/tenant/webhooks/{id}/deliveries/{any}/resend"),
    ] {
        let (status, problem) = partner.as_staff(&clinician, Method::POST, &path).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (403, Some("forbidden")),
            "{path}"
        );
    }
    let (_, still) = partner
        .call(Method::GET, &format!("/api/public/webhooks/{id}"), None)
        .await;
    assert_eq!(still["enabled"], true);

    // The page: the webhooks tab alone, linked from the navigation instead of the settings.
    let response = partner
        .app
        .on(Method::GET, &sub, "/settings/webhooks", Some(&clinician))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("href=\"/settings/webhooks\""));
    assert!(html.contains("webhooks-settings.js"));
    assert!(html.contains("data-my-role=\"clinician\""));
    for managers_only in [
        "/settings/cliniko",
        "/settings/users",
        "/settings/clients",
        "/settings/audit",
    ] {
        assert!(
            !html.contains(managers_only),
            "{managers_only} is not offered"
        );
    }
}

#[tokio::test]
async fn another_clinics_endpoint_is_not_found_and_cross_origin_writes_are_refused() {
    let partner = Partner::new(SCOPES).await;
    let endpoint = partner
        .create("http://127.0.0.1:9999/hooks", &["appointment.created"])
        .await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let other = crate::tokens::clinic(&partner.app, "elsewhere").await;
    let any = clinicgate_core::delivery::DeliveryId::new();
    for (method, path) in [
        (Method::GET, format!("/api/tenant/webhooks/{id}/deliveries")),
        (Method::POST, format!("/api/tenant/webhooks/{id}/disable")),
        (Method::POST, format!("/api/tenant/webhooks/{id}/enable")),
        (
            Method::POST,
            format!("/api/tenant/webhooks/{id}/deliveries/{any}/resend"),
        ),
    ] {
        let response = partner
            .app
            .on(method.clone(), other.sub(), &path, Some(&other.cookie))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
    }
    let response = partner
        .app
        .on(
            Method::GET,
            other.sub(),
            "/api/tenant/webhooks",
            Some(&other.cookie),
        )
        .send()
        .await
        .unwrap();
    let (_, listed) = status_and_json(response).await;
    assert_eq!(listed["data"], json!([]));

    // A write from another origin, with the owner's own cookie.
    let response = partner
        .app
        .client
        .post(format!(
            "{}/api/tenant/webhooks/{id}/disable",
            partner.app.origin(partner.clinic.sub())
        ))
        .header("origin", "http://evil.example")
        .header("cookie", &partner.clinic.cookie)
        .send()
        .await
        .unwrap();
    let (status, problem) = status_and_json(response).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("csrf_origin_mismatch"))
    );
    let (_, still) = partner
        .call(Method::GET, &Partner::path_of(&endpoint, ""), None)
        .await;
    assert_eq!(still["enabled"], true);
}
