//! Pushes Cliniko patients and appointments to clinics' FHIR servers, as `docs/fhir.md` says:
//!
//! - each delivery is a conditional update, `PUT {base}/{Type}?identifier={system}|{cliniko id}`
//!   with the resource as `application/fhir+json`: the server creates the resource the first time
//!   and updates the same one after, whichever instance or retry sends it;
//! - with OAuth (client credentials or SMART Backend Services) the request carries a bearer
//!   token from [`token`]; a 401 drops the token and the request is sent once more with a new one;
//! - the answer is judged: 2xx delivered; 408, 429 and 5xx retried (with `Retry-After`); any
//!   other status failed for good, the start of the server's answer kept in the attempt log.
//!
//! Every request goes through the [`OutboundClient`] (SSRF guard, no redirects) and waits at
//! most the request timeout. Resources, tokens and secrets are never logged.

mod token;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::delivery::{
    AttemptResult, Delivery, EventMessage, SendOutcome, Sender, Sent, Verdict, response_excerpt,
};
use clinicgate_core::fhir_push::{
    FhirDestinationId, FhirDestinationService, PushDelivery, PushResource, PushTarget, resource_of,
};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;

use self::token::{TokenCache, TokenError};
use crate::outbound::{Exchanged, OutboundClient, SendError, UrlRefusal};
use crate::retry_after::retry_after;
use crate::webhooks::{HOLD_PAUSED, HOLD_UNREADABLE, REQUEST_TIMEOUT};

/// FHIR's JSON media type, for R4.
const FHIR_JSON: &str = "application/fhir+json; fhirVersion=4.0";

/// Prometheus: FHIR push attempts by outcome (`delivered`, `retry`, `failed`, `nothing_to_send`).
const ATTEMPTS_TOTAL: &str = "fhir_push_attempts_total";

/// The conditional update of `resource` at `base_url`; `None` when the stored URL no longer
/// makes one.
fn conditional_put(
    base_url: &str,
    resource: &PushResource,
    token: Option<&SecretString>,
    timeout: Duration,
) -> Option<reqwest::Request> {
    let mut url = reqwest::Url::parse(base_url).ok()?;
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .push(resource.resource.as_str());
    url.query_pairs_mut().append_pair(
        "identifier",
        &format!("{}|{}", resource.system, resource.cliniko_id.as_str()),
    );
    let mut request = reqwest::Request::new(reqwest::Method::PUT, url);
    *request.timeout_mut() = Some(timeout);
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    headers.insert(ACCEPT, HeaderValue::from_static(FHIR_JSON));
    bearer(headers, token)?;
    *request.body_mut() = Some(serde_json::to_vec(&resource.body).ok()?.into());
    Some(request)
}

/// Adds `Authorization: Bearer {token}` (marked sensitive) when there is a token.
fn bearer(headers: &mut reqwest::header::HeaderMap, token: Option<&SecretString>) -> Option<()> {
    if let Some(token) = token {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).ok()?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    Some(())
}

/// The verdict on a FHIR server's status.
fn judged(status: u16, retry_after: Option<Duration>) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry { retry_after },
        _ => Verdict::Fail,
    }
}

fn count(outcome: &'static str) {
    metrics::counter!(ATTEMPTS_TOTAL, "outcome" => outcome).increment(1);
}

/// What "test connection" found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConnectionReport {
    /// Whether both checks passed.
    pub ok: bool,
    /// `GET {base}/metadata`: the status, or the transport failure's name.
    pub metadata: CheckReport,
    /// The token request (absent without authentication).
    pub token: Option<CheckReport>,
    /// The `fhirVersion` the CapabilityStatement declares.
    pub fhir_version: Option<String>,
}

/// One check of "test connection".
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckReport {
    /// Whether it passed.
    pub ok: bool,
    /// The HTTP status answered, if any.
    pub status: Option<u16>,
    /// What went wrong, in a few words (never a secret).
    pub detail: Option<String>,
}

impl CheckReport {
    fn failed(status: Option<u16>, detail: String) -> Self {
        Self {
            ok: false,
            status,
            detail: Some(detail),
        }
    }
}

/// Delivers `patient.*` and `appointment.*` events to FHIR destinations, and tests connections.
#[derive(Debug, Clone)]
pub struct FhirPushSender {
    outbound: OutboundClient,
    destinations: FhirDestinationService,
    tokens: TokenCache,
    timeout: Duration,
}

impl FhirPushSender {
    /// Sends through `outbound` to the destinations `destinations` names, waiting
    /// [`REQUEST_TIMEOUT`] for each answer.
    pub fn new(outbound: OutboundClient, destinations: FhirDestinationService) -> Self {
        Self {
            outbound,
            destinations,
            tokens: TokenCache::default(),
            timeout: REQUEST_TIMEOUT,
        }
    }

    /// Waits `timeout` for each answer instead.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// "Test connection": `GET {base}/metadata` and, with OAuth, a fresh token (the cached one
    /// is not used, so a changed secret shows at once).
    pub async fn test_connection(&self, target: &PushTarget) -> ConnectionReport {
        self.tokens.forget(target.id);
        let token = match self
            .tokens
            .token(&self.outbound, target, self.timeout)
            .await
        {
            Ok(token) => Ok(token),
            Err(err) => Err(match err {
                TokenError::Transport(failure) => {
                    CheckReport::failed(None, failure.as_str().to_owned())
                }
                TokenError::Refused {
                    status, excerpt, ..
                } => CheckReport::failed(Some(status), excerpt),
                TokenError::Internal => CheckReport::failed(None, "internal".to_owned()),
            }),
        };
        let token_report = match (&token, &target.credential) {
            (_, clinicgate_core::fhir_push::DestinationCredential::None) => None,
            (Ok(_), _) => Some(CheckReport {
                ok: true,
                status: Some(200),
                detail: None,
            }),
            (Err(report), _) => Some(report.clone()),
        };
        let (metadata, fhir_version) = self.metadata(target, token.ok().flatten().as_ref()).await;
        ConnectionReport {
            ok: metadata.ok && token_report.as_ref().is_none_or(|t| t.ok),
            metadata,
            token: token_report,
            fhir_version,
        }
    }

    async fn metadata(
        &self,
        target: &PushTarget,
        token: Option<&SecretString>,
    ) -> (CheckReport, Option<String>) {
        let request = reqwest::Url::parse(&target.base_url)
            .ok()
            .and_then(|mut url| {
                url.path_segments_mut()
                    .ok()?
                    .pop_if_empty()
                    .push("metadata");
                let mut request = reqwest::Request::new(reqwest::Method::GET, url);
                *request.timeout_mut() = Some(self.timeout);
                request
                    .headers_mut()
                    .insert(ACCEPT, HeaderValue::from_static(FHIR_JSON));
                bearer(request.headers_mut(), token)?;
                Some(request)
            });
        let Some(request) = request else {
            return (CheckReport::failed(None, "invalid_url".to_owned()), None);
        };
        match self.outbound.exchange(request).await {
            Err(err) => (
                CheckReport::failed(None, err.failure().as_str().to_owned()),
                None,
            ),
            Ok(answer) => {
                let body = serde_json::from_slice::<serde_json::Value>(&answer.body_start).ok();
                let capability = body
                    .as_ref()
                    .filter(|b| b["resourceType"] == "CapabilityStatement");
                let version = capability
                    .and_then(|b| b["fhirVersion"].as_str())
                    .map(str::to_owned);
                if (200..300).contains(&answer.status) && capability.is_some() {
                    (
                        CheckReport {
                            ok: true,
                            status: Some(answer.status),
                            detail: None,
                        },
                        version,
                    )
                } else {
                    (
                        CheckReport::failed(
                            Some(answer.status),
                            "the answer is not a CapabilityStatement".to_owned(),
                        ),
                        version,
                    )
                }
            }
        }
    }

    /// One `PUT` with the current token; the token is dropped when the server refuses it.
    async fn put(
        &self,
        target: &PushTarget,
        resource: &PushResource,
    ) -> Result<Result<Exchanged, SendError>, TokenError> {
        let token = self
            .tokens
            .token(&self.outbound, target, self.timeout)
            .await?;
        let answer = match conditional_put(&target.base_url, resource, token.as_ref(), self.timeout)
        {
            Some(request) => self.outbound.exchange(request).await,
            // A stored URL that no longer makes a request (it was checked when stored).
            None => Err(SendError::Refused(UrlRefusal::InvalidUrl)),
        };
        if matches!(&answer, Ok(a) if a.status == 401) {
            self.tokens.forget(target.id);
        }
        Ok(answer)
    }
}

#[async_trait]
impl Sender for FhirPushSender {
    async fn send(&self, delivery: &Delivery, event: &EventMessage) -> SendOutcome {
        let id = FhirDestinationId::from_uuid(delivery.target.id);
        let target = match self.destinations.deliverable(delivery.tenant_id, id).await {
            Ok(PushDelivery::Send(target)) => target,
            Ok(PushDelivery::Held) => {
                return SendOutcome::Held {
                    until: Utc::now() + HOLD_PAUSED,
                };
            }
            Ok(PushDelivery::Gone) => return SendOutcome::Gone,
            Err(err) => {
                tracing::warn!(error = %err, fhir_destination_id = %id, "a FHIR destination could not be read; the delivery waits");
                return SendOutcome::Held {
                    until: Utc::now() + HOLD_UNREADABLE,
                };
            }
        };
        let Some(resource) = resource_of(event.event_type, event.data.expose_secret()) else {
            tracing::error!(delivery_id = %delivery.id, "a FHIR push delivery carries no patient or appointment");
            return SendOutcome::Gone;
        };
        if !target.resources.contains(&resource.resource) {
            // The clinic stopped pushing this type after the event was queued.
            count("nothing_to_send");
            return SendOutcome::Attempted(Sent {
                result: AttemptResult::NothingToSend,
                verdict: Verdict::Delivered,
                latency: Duration::ZERO,
                response_excerpt: Some(format!(
                    "nothing sent: the destination no longer takes {}",
                    resource.resource.as_str()
                )),
            });
        }
        let started = Instant::now();
        let mut answer = self.put(&target, &resource).await;
        // A 401 may be a token the server revoked or forgot before its expiry: one more try with
        // a new one settles it.
        if matches!(&answer, Ok(Ok(a)) if a.status == 401) {
            answer = self.put(&target, &resource).await;
        }
        let (result, verdict, excerpt) = match answer {
            Err(TokenError::Transport(failure)) => {
                let result = AttemptResult::Failed(failure);
                (result, result.verdict(), None)
            }
            Err(TokenError::Refused {
                status,
                verdict,
                excerpt,
            }) => (
                AttemptResult::Answered {
                    status,
                    retry_after: None,
                },
                verdict,
                Some(excerpt),
            ),
            Err(TokenError::Internal) => {
                return SendOutcome::Held {
                    until: Utc::now() + HOLD_UNREADABLE,
                };
            }
            Ok(Err(err)) => {
                let result = AttemptResult::Failed(err.failure());
                (result, result.verdict(), None)
            }
            Ok(Ok(answer)) => {
                let wait = retry_after(&answer.headers);
                (
                    AttemptResult::Answered {
                        status: answer.status,
                        retry_after: wait,
                    },
                    judged(answer.status, wait),
                    (!answer.body_start.is_empty()).then(|| response_excerpt(&answer.body_start)),
                )
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
            response_excerpt: excerpt,
        })
    }
}

#[cfg(test)]
mod tests {
    use clinicgate_core::cliniko::ClinikoId;
    use clinicgate_core::fhir_push::FhirResource;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_push_is_a_conditional_update_on_our_identifier() {
        let resource = PushResource {
            resource: FhirResource::Patient,
            cliniko_id: ClinikoId::parse("77").unwrap(),
            system: "https://clinicgate.dev/fhir/sid/cliniko-patient-id".to_owned(),
            body: json!({"resourceType": "Patient"}),
        };
        let token = SecretString::from("tok");
        let request = conditional_put(
            "https://ehr.example/fhir/r4/",
            &resource,
            Some(&token),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(request.method(), reqwest::Method::PUT);
        assert_eq!(
            request.url().as_str(),
            "https://ehr.example/fhir/r4/Patient?identifier=https%3A%2F%2Fclinicgate.dev%2Ffhir%2Fsid%2Fcliniko-patient-id%7C77"
        );
        assert_eq!(request.headers()[AUTHORIZATION], "Bearer tok");
        assert!(
            request.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/fhir+json")
        );
    }

    #[test]
    fn statuses_are_judged_with_408_and_429_retried_and_other_4xx_failed() {
        assert_eq!(judged(200, None), Verdict::Delivered);
        assert_eq!(judged(201, None), Verdict::Delivered);
        for retried in [408, 429, 500, 503] {
            assert!(
                matches!(judged(retried, None), Verdict::Retry { .. }),
                "{retried}"
            );
        }
        for failed in [301, 400, 401, 403, 404, 409, 412, 422] {
            assert_eq!(judged(failed, None), Verdict::Fail, "{failed}");
        }
    }
}
