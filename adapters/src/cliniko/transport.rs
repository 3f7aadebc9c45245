//! Sending Cliniko calls: the shared budget, authentication and identification headers, a timeout
//! on every call, retries of idempotent calls, error mapping and `links.next` pagination.
//!
//! The API key goes only into the `Authorization` header: never into a URL, a log line, a span,
//! an error or a metric label (the budget uses [`KeyId`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clinicgate_core::cliniko::{ClinikoAccount, Lane, Shard};
use clinicgate_core::{Error, Result, UpstreamFailure};
use rand::Rng as _;
use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use url::Url;

use super::budget::Budget;
use super::config::{ClinikoClientConfig, RetryConfig};
use super::key_id::KeyId;
use super::prepaid::Prepaid;
use super::responses::{self, Failure, upstream};
use super::telemetry::Telemetry;

/// Page size for lists: Cliniko's maximum, to spend as little budget as possible.
pub(crate) const PER_PAGE: &str = "100";

/// The largest answer read (a page of 100 patients is well under 1 MiB).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The most pages one list follows: a guard against a `links.next` loop, far above real lists
/// (100 000 records).
const MAX_PAGES: usize = 1000;

/// One logical call: whose key, which lane, and names for errors, logs and metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// The clinic and its key.
    pub account: &'a ClinikoAccount,
    /// Who is waiting.
    pub lane: Lane,
    /// A fixed name such as `patients.get` (never a path: paths carry ids).
    pub operation: &'static str,
    /// What a 404 did not find (`patient`).
    pub resource: &'static str,
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The body (empty for 204).
    pub body: Vec<u8>,
}

/// How long an idle kept-alive connection to Cliniko is kept for reuse: under the 5 s many
/// servers keep one open (actix-web's default, the sandbox's; Node's), so a connection is not
/// reused at the moment the server closes it. That race ended a call with a broken connection
/// when the budget spaced calls about 5 s apart (seen in CI's overload test). Busy clinics reuse
/// connections long before this; an idle one opens a new connection per call.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Sends calls to Cliniko; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    base_url: String,
    budget: Budget,
    retry: RetryConfig,
    telemetry: Telemetry,
    /// Units an operation booked up front, spent before asking the budget.
    prepaid: Option<Arc<Prepaid>>,
}

impl Transport {
    /// A transport for `config`, spending `budget` and reporting to `telemetry`.
    ///
    /// # Errors
    /// [`Error::Internal`] when the HTTP client cannot be built (no TLS roots).
    pub(crate) fn new(
        config: &ClinikoClientConfig,
        budget: Budget,
        telemetry: Telemetry,
    ) -> Result<Self> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirect would carry the key to wherever it points; Cliniko's sharded hosts do
            // not redirect, so one is treated as a bad answer instead.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .map_err(Error::internal)?;
        Ok(Self {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            budget,
            retry: config.retry.clone(),
            telemetry,
            prepaid: None,
        })
    }

    /// This transport, spending `prepaid` units before asking the budget.
    pub(crate) fn with_prepaid(&self, prepaid: Prepaid) -> Self {
        Self {
            prepaid: Some(Arc::new(prepaid)),
            ..self.clone()
        }
    }

    /// This transport, also counting its calls in the clinics' durable usage counters.
    pub(crate) fn with_usage(self, usage: clinicgate_core::usage::UsageRecorder) -> Self {
        Self {
            telemetry: self.telemetry.clone().with_usage(usage),
            ..self
        }
    }

    /// The budget this transport spends.
    pub(crate) fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The telemetry this transport reports to.
    pub(crate) fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// `{base for shard}{path}`; `path` starts with `/` and holds only ids we validated.
    pub(crate) fn url(&self, shard: &Shard, path: &str) -> Result<Url> {
        let base = self.base_url.replace("{shard}", shard.as_str());
        Url::parse(&format!("{base}{path}")).map_err(Error::internal)
    }

    /// `GET url`, parsed as `T`.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        call: &Call<'_>,
        url: Url,
    ) -> Result<T> {
        let answer = self.send(call, Method::GET, url, None).await?;
        responses::parse(&answer.body, call.operation)
    }

    /// Every record of a list, following `links.next` from `url` (with `per_page=100`) until it
    /// is absent or `limit` records are collected.
    pub(crate) async fn list(
        &self,
        call: &Call<'_>,
        url: Url,
        envelope: &'static str,
        limit: Option<usize>,
    ) -> Result<Vec<Value>> {
        let mut url = with_page_size(url);
        let mut records = Vec::new();
        for _ in 0..MAX_PAGES {
            let (items, next) = self.page(call, url.clone(), envelope).await?;
            records.extend(items);
            if let Some(limit) = limit
                && records.len() >= limit
            {
                records.truncate(limit);
                return Ok(records);
            }
            match next {
                None => return Ok(records),
                Some(next) => url = next,
            }
        }
        Err(upstream(UpstreamFailure::BadResponse(format!(
            "{}: more than {MAX_PAGES} pages",
            call.operation
        ))))
    }

    /// The page of a list `url` names (with its `page` and `per_page`): its records under
    /// `envelope`, parsed as `T`, and `total_entries`. The envelope is read with its values left
    /// as raw JSON text and the records are then parsed straight into `T`: no
    /// `serde_json::Value` tree of the page is built, which for a page of patients is thousands
    /// of small allocations (the FHIR benchmark's profile found a fifth of the server's time in
    /// the allocator).
    pub(crate) async fn counted_page<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
        url: Url,
        envelope: &'static str,
    ) -> Result<(Vec<T>, usize)> {
        let answer = self.send(call, Method::GET, url, None).await?;
        let page: HashMap<String, &RawValue> = serde_json::from_slice(&answer.body)
            .map_err(|err| responses::bad_json(call.operation, &err))?;
        let missing = |what: &str| {
            upstream(UpstreamFailure::BadResponse(format!(
                "{}: the answer has no `{what}`",
                call.operation
            )))
        };
        let items = page.get(envelope).ok_or_else(|| missing(envelope))?;
        let items: Vec<T> = serde_json::from_str(items.get())
            .map_err(|err| responses::bad_json(call.operation, &err))?;
        let total = page
            .get("total_entries")
            .and_then(|raw| serde_json::from_str::<u64>(raw.get()).ok())
            .and_then(|total| usize::try_from(total).ok())
            .ok_or_else(|| missing("total_entries"))?;
        Ok((items, total))
    }

    /// One page of a list at `url`: its records and the URL of the next page, if any (Cliniko's
    /// `links.next`, resolved against `url` and refused unless on the same host: the key goes
    /// wherever the link points).
    pub(crate) async fn page(
        &self,
        call: &Call<'_>,
        url: Url,
        envelope: &'static str,
    ) -> Result<(Vec<Value>, Option<Url>)> {
        let mut page: serde_json::Map<String, Value> = self.get_json(call, url.clone()).await?;
        let Some(Value::Array(items)) = page.remove(envelope) else {
            return Err(upstream(UpstreamFailure::BadResponse(format!(
                "{}: the answer has no `{envelope}` list",
                call.operation
            ))));
        };
        let Some(next) = next_link(&page) else {
            return Ok((items, None));
        };
        // Cliniko's links are absolute; a relative one is resolved, not refused.
        let next = url.join(next).map_err(|_| {
            upstream(UpstreamFailure::BadResponse(format!(
                "{}: links.next is not a URL",
                call.operation
            )))
        })?;
        if next.origin() != url.origin() {
            return Err(upstream(UpstreamFailure::BadResponse(format!(
                "{}: links.next points at another host",
                call.operation
            ))));
        }
        Ok((items, Some(next)))
    }

    /// Sends one request, spending budget for every attempt. Only `GET` is retried (on connection
    /// failures, 502/503/504 and 429): Cliniko has no idempotency keys, so a retried write could
    /// be applied twice.
    #[tracing::instrument(
        name = "cliniko",
        skip_all,
        fields(tenant_id = %call.account.tenant_id, lane = call.lane.as_str(), operation = call.operation)
    )]
    pub(crate) async fn send(
        &self,
        call: &Call<'_>,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Answer> {
        let key = KeyId::of(&call.account.key);
        let tenant = &call.account.tenant_id;
        let client = call.account.caller.as_ref().map(|caller| &caller.client_id);
        let idempotent = method == Method::GET;
        let mut attempt = 0_u32;
        loop {
            let started = Instant::now();
            let admitted = match &self.prepaid {
                Some(prepaid) if prepaid.take(&key) => self.budget.check_pause(&key).await,
                _ => {
                    self.budget
                        .admit(&key, call.lane, call.account.caller.as_ref())
                        .await
                }
            };
            if let Err(err) = admitted {
                if matches!(err, Error::RateLimited { .. }) {
                    self.telemetry.refused(tenant, call.lane);
                }
                return Err(err);
            }
            let failure = match self.attempt(call, method.clone(), url.clone(), body).await {
                Ok(answer) => {
                    self.telemetry
                        .sent(tenant, client, call.lane, "ok", started.elapsed());
                    return Ok(answer);
                }
                Err(failure) => failure,
            };
            self.telemetry.sent(
                tenant,
                client,
                call.lane,
                failure.outcome,
                started.elapsed(),
            );
            if let Some(until) = failure.pause_until {
                self.telemetry.paused(tenant);
                tracing::warn!("Cliniko answered 429: pausing this key on every instance");
                self.budget.pause_until(&key, until).await?;
            }
            let retry = idempotent && failure.retryable && attempt < self.retry.max_retries;
            if !retry {
                tracing::debug!(outcome = failure.outcome, attempt, "Cliniko call failed");
                return Err(failure.error);
            }
            attempt += 1;
            // A 429 waits in `admit` (for as long as the lane allows); others back off here.
            if failure.pause_until.is_none() {
                let delay = self.backoff(attempt, failure.retry_after);
                if delay > self.retry.max_delay {
                    return Err(failure.error);
                }
                tracing::debug!(
                    outcome = failure.outcome,
                    attempt,
                    ?delay,
                    "retrying a Cliniko call"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }

    /// One HTTP exchange.
    async fn attempt(
        &self,
        call: &Call<'_>,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> std::result::Result<Answer, Failure> {
        let mut request = self
            .http
            .request(method, url)
            .basic_auth(call.account.key.expose(), Some(""));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|err| responses::classify_transport(&err))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_body(response).await?;
        if status.is_success() {
            return Ok(Answer { body });
        }
        Err(responses::classify_status(
            status,
            &headers,
            &body,
            call.resource,
            self.budget.default_pause(),
        ))
    }

    /// Exponential backoff with equal jitter (half fixed, half random), at least as long as the
    /// server asked.
    fn backoff(&self, attempt: u32, server_asked: Option<Duration>) -> Duration {
        let exponential = self
            .retry
            .base_delay
            .saturating_mul(1_u32 << attempt.saturating_sub(1).min(16))
            .min(self.retry.max_delay);
        let half = exponential / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let jittered = half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms));
        server_asked.map_or(jittered, |asked| asked.max(jittered))
    }
}

/// Reads the body up to [`MAX_BODY_BYTES`].
async fn read_body(mut response: reqwest::Response) -> std::result::Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(err) => return Err(responses::classify_transport(&err)),
        }
    }
}

fn too_large() -> Failure {
    Failure::new(
        upstream(UpstreamFailure::BadResponse(format!(
            "the answer is larger than {MAX_BODY_BYTES} bytes"
        ))),
        "bad_response",
    )
}

/// `url` asking for Cliniko's largest page (unless it already names a size), to spend as little
/// budget as possible.
pub(crate) fn with_page_size(mut url: Url) -> Url {
    if !url.query_pairs().any(|(name, _)| name == "per_page") {
        url.query_pairs_mut().append_pair("per_page", PER_PAGE);
    }
    url
}

/// `links.next` of a list page, if there is a next page.
fn next_link(page: &serde_json::Map<String, Value>) -> Option<&str> {
    page.get("links")?
        .get("next")?
        .as_str()
        .filter(|link| !link.is_empty())
}
