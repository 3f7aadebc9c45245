//! Sends Cliniko patients to partners' patient APIs, the contract of `docs/partner-sync.md`:
//!
//! - a patient the client has no link for: `POST {base}/patients` with
//!   `{cliniko_id, first_name, last_name, date_of_birth, sex, email, phone}`; the partner answers
//!   201 `{id}`, or 409 naming the patient it already has (body `id`, or `Location`): either way
//!   the link is stored in `partner_links`, so later changes are `PATCH`ed;
//! - a linked patient's `patient.updated`: `PATCH {base}/patients/{partner_id}` with the same body;
//! - a linked patient's `patient.created` (the partner created it itself, through
//!   `POST /api/public/patients`): nothing is sent, and the attempt log says so.
//!
//! Every request carries `Idempotency-Key` (the delivery's id, the same on every retry) and the
//! partner's credential, goes through the [`OutboundClient`] (SSRF guard, no redirects) and waits
//! at most the request timeout. The sender judges the answer under this contract: 2xx (and a
//! create's 409) delivered; 408, 429 and 5xx retried; any other status failed for good. Patient
//! data and partner ids are never logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::delivery::{
    AttemptResult, Delivery, EventMessage, SendOutcome, Sender, Sent, Verdict, response_excerpt,
};
use clinicgate_core::events::EventType;
use clinicgate_core::partner_links::{PartnerId, PartnerLinks};
use clinicgate_core::patient_sync::{
    PartnerCredential, PatientSyncId, PatientSyncService, SyncDelivery, SyncDestination,
};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, LOCATION};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};

use crate::outbound::{Exchanged, OutboundClient, SendError, UrlRefusal};
use crate::retry_after::retry_after;
use crate::webhooks::{HOLD_PAUSED, HOLD_UNREADABLE, REQUEST_TIMEOUT};

/// The header that makes a retried request safe for the partner to repeat.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Prometheus: partner sync attempts by outcome (`delivered`, `retry`, `failed`, `nothing_to_send`).
const ATTEMPTS_TOTAL: &str = "partner_sync_attempts_total";

/// A patient as `patient.*` events carry it (the public API's shape): the fields the contract
/// sends.
#[derive(Deserialize)]
struct EventPatient {
    id: String,
    first_name: Option<String>,
    last_name: Option<String>,
    date_of_birth: Option<String>,
    sex: Option<String>,
    email: Option<String>,
    #[serde(default)]
    phones: Vec<EventPhone>,
}

#[derive(Deserialize)]
struct EventPhone {
    number: String,
}

/// A patient as the partner receives it.
#[derive(Serialize)]
struct PartnerPatient {
    cliniko_id: String,
    first_name: Option<String>,
    last_name: Option<String>,
    date_of_birth: Option<String>,
    sex: Option<String>,
    email: Option<String>,
    /// The first of the patient's phone numbers.
    phone: Option<String>,
}

impl From<EventPatient> for PartnerPatient {
    fn from(p: EventPatient) -> Self {
        Self {
            cliniko_id: p.id,
            first_name: p.first_name,
            last_name: p.last_name,
            date_of_birth: p.date_of_birth,
            sex: p.sex,
            email: p.email,
            phone: p.phones.into_iter().next().map(|phone| phone.number),
        }
    }
}

/// What a delivery asks of the partner.
enum Call {
    /// Create the patient (no link yet).
    Create,
    /// Change the patient the partner knows by this id.
    Update(PartnerId),
}

/// The partner's id in an answer to a create: the body's `id` (a string or a number), else the
/// last segment of `Location`.
fn partner_id_in(answer: &Exchanged) -> Option<PartnerId> {
    let from_body = serde_json::from_slice::<serde_json::Value>(&answer.body_start)
        .ok()
        .and_then(|body| match &body["id"] {
            serde_json::Value::String(id) => Some(id.clone()),
            serde_json::Value::Number(id) => Some(id.to_string()),
            _ => None,
        });
    let from_location = || {
        let location = answer.headers.get(LOCATION)?.to_str().ok()?;
        let path = location.split(['?', '#']).next()?;
        let last = path.trim_end_matches('/').rsplit('/').next()?;
        percent_encoding::percent_decode_str(last)
            .decode_utf8()
            .ok()
            .map(|id| id.into_owned())
    };
    from_body
        .or_else(from_location)
        .and_then(|id| PartnerId::parse("id", &id).ok())
}

/// The request for `call` at `destination`; `None` when the stored URL or the credential cannot
/// be used.
fn request(
    destination: &SyncDestination,
    call: &Call,
    idempotency_key: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Option<reqwest::Request> {
    let mut url = reqwest::Url::parse(&destination.base_url).ok()?;
    let method = {
        let mut segments = url.path_segments_mut().ok()?;
        segments.pop_if_empty().push("patients");
        match call {
            Call::Create => reqwest::Method::POST,
            Call::Update(partner_id) => {
                // Pushed as a segment: a partner id holding `/`, `?` or `#` is escaped, never
                // read as more path, a query or a fragment.
                segments.push(partner_id.as_str());
                reqwest::Method::PATCH
            }
        }
    };
    let mut request = reqwest::Request::new(method, url);
    *request.timeout_mut() = Some(timeout);
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        HeaderName::from_static(IDEMPOTENCY_KEY),
        HeaderValue::from_str(idempotency_key).ok()?,
    );
    match &destination.credential {
        PartnerCredential::Bearer(token) => {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).ok()?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        PartnerCredential::Header { name, value } => {
            let mut value = HeaderValue::from_str(value.expose_secret()).ok()?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_bytes(name.as_bytes()).ok()?, value);
        }
    }
    *request.body_mut() = Some(body.into());
    Some(request)
}

/// The verdict on a partner's `status` under the contract (the create's 409 is judged by the
/// caller, which must find the partner's id in it first).
fn judged(status: u16, retry_after: Option<Duration>) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry { retry_after },
        _ => Verdict::Fail,
    }
}

/// Delivers `patient.*` events to partners' patient APIs and stores the links they answer with.
#[derive(Debug, Clone)]
pub struct PartnerSyncSender {
    outbound: OutboundClient,
    syncs: PatientSyncService,
    links: Arc<dyn PartnerLinks>,
    timeout: Duration,
}

impl PartnerSyncSender {
    /// Sends through `outbound` to the partners `syncs` names, keeping links in `links`, waiting
    /// [`REQUEST_TIMEOUT`] for each answer.
    pub fn new(
        outbound: OutboundClient,
        syncs: PatientSyncService,
        links: Arc<dyn PartnerLinks>,
    ) -> Self {
        Self {
            outbound,
            syncs,
            links,
            timeout: REQUEST_TIMEOUT,
        }
    }

    /// Waits `timeout` for each answer instead.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The verdict on a create's answer, storing the link it names. A 2xx or 409 without a
    /// usable id breaks the contract: failed, with the answer in the log.
    async fn settle_create(
        &self,
        delivery: &Delivery,
        destination: &SyncDestination,
        patient: &ClinikoId,
        answer: &Exchanged,
    ) -> Verdict {
        let verdict = match answer.status {
            409 => Verdict::Delivered,
            status => judged(status, retry_after(&answer.headers)),
        };
        if verdict != Verdict::Delivered {
            return verdict;
        }
        let Some(partner_id) = partner_id_in(answer) else {
            tracing::warn!(delivery_id = %delivery.id, status = answer.status, "a partner's answer to a patient create named no id");
            return Verdict::Fail;
        };
        match self
            .links
            .link(
                delivery.tenant_id,
                &destination.client_id,
                &partner_id,
                patient,
            )
            .await
        {
            Ok(()) => Verdict::Delivered,
            // The partner has the patient; the next attempt's create is answered 409 with its id.
            Err(err) => {
                tracing::warn!(error = %err, delivery_id = %delivery.id, "a partner's patient link could not be stored; the delivery is retried");
                Verdict::Retry { retry_after: None }
            }
        }
    }
}

fn count(outcome: &'static str) {
    metrics::counter!(ATTEMPTS_TOTAL, "outcome" => outcome).increment(1);
}

#[async_trait]
impl Sender for PartnerSyncSender {
    async fn send(&self, delivery: &Delivery, event: &EventMessage) -> SendOutcome {
        let id = PatientSyncId::from_uuid(delivery.target.id);
        let unreadable = || SendOutcome::Held {
            until: Utc::now() + HOLD_UNREADABLE,
        };
        let destination = match self.syncs.deliverable(delivery.tenant_id, id).await {
            Ok(SyncDelivery::Send(destination)) => destination,
            Ok(SyncDelivery::Held) => {
                return SendOutcome::Held {
                    until: Utc::now() + HOLD_PAUSED,
                };
            }
            Ok(SyncDelivery::Gone) => return SendOutcome::Gone,
            Err(err) => {
                tracing::warn!(error = %err, patient_sync_id = %id, "a patient sync could not be read; the delivery waits");
                return unreadable();
            }
        };
        let parsed = serde_json::from_str::<EventPatient>(event.data.expose_secret())
            .ok()
            .and_then(|patient| Some((ClinikoId::parse(&patient.id)?, patient)));
        let Some((patient_id, patient)) = parsed else {
            // Not a patient: an event this kind does not carry (it subscribes to patients only).
            tracing::error!(delivery_id = %delivery.id, "a patient sync delivery carries no patient");
            return SendOutcome::Gone;
        };
        let linked = match self
            .links
            .partner_id_of(delivery.tenant_id, &destination.client_id, &patient_id)
            .await
        {
            Ok(linked) => linked,
            Err(err) => {
                tracing::warn!(error = %err, delivery_id = %delivery.id, "a partner link could not be read; the delivery waits");
                return unreadable();
            }
        };
        let call = match (linked, event.event_type) {
            // The partner has this patient already (it created it, or a backfill or an earlier
            // create linked it): announcing it as new would make a duplicate.
            (Some(_), EventType::PatientCreated) => {
                count("nothing_to_send");
                return SendOutcome::Attempted(Sent {
                    result: AttemptResult::NothingToSend,
                    verdict: Verdict::Delivered,
                    latency: Duration::ZERO,
                    response_excerpt: Some(
                        "nothing sent: the partner already has this patient (linked)".to_owned(),
                    ),
                });
            }
            (Some(partner_id), _) => Call::Update(partner_id),
            (None, _) => Call::Create,
        };
        let body = match serde_json::to_vec(&PartnerPatient::from(patient)) {
            Ok(body) => body,
            Err(err) => {
                tracing::error!(error = %err, delivery_id = %delivery.id, "a patient could not be serialised for its partner");
                return SendOutcome::Gone;
            }
        };
        let started = Instant::now();
        let answer = match request(
            &destination,
            &call,
            &delivery.id.to_string(),
            body,
            self.timeout,
        ) {
            Some(request) => self.outbound.exchange(request).await,
            // A stored URL or credential that no longer fits a request (both were checked when
            // stored) cannot be used.
            None => Err(SendError::Refused(UrlRefusal::InvalidUrl)),
        };
        let (result, verdict) = match &answer {
            Err(err) => {
                let result = AttemptResult::Failed(err.failure());
                (result, result.verdict())
            }
            Ok(answer) => {
                let result = AttemptResult::Answered {
                    status: answer.status,
                    retry_after: retry_after(&answer.headers),
                };
                let verdict = match call {
                    Call::Create => {
                        self.settle_create(delivery, &destination, &patient_id, answer)
                            .await
                    }
                    Call::Update(_) => judged(answer.status, retry_after(&answer.headers)),
                };
                (result, verdict)
            }
        };
        count(match verdict {
            Verdict::Delivered => "delivered",
            Verdict::Retry { .. } => "retry",
            Verdict::Fail => "failed",
        });
        SendOutcome::Attempted(Sent {
            result,
            verdict,
            latency: started.elapsed(),
            response_excerpt: answer
                .ok()
                .filter(|answer| !answer.body_start.is_empty())
                .map(|answer| response_excerpt(&answer.body_start)),
        })
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderMap;

    use super::*;

    fn answer(body: &str, location: Option<&str>) -> Exchanged {
        let mut headers = HeaderMap::new();
        if let Some(location) = location {
            headers.insert(LOCATION, HeaderValue::from_str(location).unwrap());
        }
        Exchanged {
            status: 409,
            headers,
            body_start: body.as_bytes().to_vec(),
        }
    }

    fn id_of(answer: &Exchanged) -> Option<String> {
        partner_id_in(answer).map(|id| id.as_str().to_owned())
    }

    #[test]
    fn the_partner_id_comes_from_the_body_or_else_the_location() {
        assert_eq!(
            id_of(&answer(r#"{"id":"p-1"}"#, None)).as_deref(),
            Some("p-1")
        );
        assert_eq!(id_of(&answer(r#"{"id":42}"#, None)).as_deref(), Some("42"));
        assert_eq!(
            id_of(&answer(
                "conflict",
                Some("https://partner.example/v1/patients/p%2F7?x=1")
            ))
            .as_deref(),
            Some("p/7")
        );
        assert_eq!(
            id_of(&answer(r#"{"id":"body"}"#, Some("/patients/loc"))).as_deref(),
            Some("body")
        );
        assert_eq!(id_of(&answer(r#"{"error":"exists"}"#, None)), None);
        assert_eq!(id_of(&answer(r#"{"id":""}"#, None)), None);
    }

    #[test]
    fn statuses_are_judged_by_the_partner_contract() {
        assert_eq!(judged(201, None), Verdict::Delivered);
        assert_eq!(judged(204, None), Verdict::Delivered);
        for retried in [408, 429, 500, 503] {
            assert!(
                matches!(judged(retried, None), Verdict::Retry { .. }),
                "{retried}"
            );
        }
        for failed in [301, 400, 401, 403, 404, 409, 422] {
            assert_eq!(judged(failed, None), Verdict::Fail, "{failed}");
        }
    }

    #[test]
    fn an_update_escapes_the_partner_id_and_every_call_carries_the_key_and_credential() {
        let destination = SyncDestination {
            client_id: clinicgate_core::tokens::ClientId::parse("cgcl_Q2xpbmljR2F0ZUNsaWVudA")
                .unwrap(),
            base_url: "https://partner.example/api/".to_owned(),
            credential: PartnerCredential::Header {
                name: "x-api-key".to_owned(),
                value: secrecy::SecretString::from("k-1"),
            },
        };
        let partner_id = PartnerId::parse("id", "a/b?c").unwrap();
        let update = request(
            &destination,
            &Call::Update(partner_id),
            "key-1",
            Vec::new(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(update.method(), reqwest::Method::PATCH);
        assert_eq!(
            update.url().as_str(),
            "https://partner.example/api/patients/a%2Fb%3Fc"
        );
        assert_eq!(update.headers()[IDEMPOTENCY_KEY], "key-1");
        assert_eq!(update.headers()["x-api-key"], "k-1");
        let create = request(
            &destination,
            &Call::Create,
            "key-2",
            Vec::new(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(create.method(), reqwest::Method::POST);
        assert_eq!(
            create.url().as_str(),
            "https://partner.example/api/patients"
        );
    }
}
