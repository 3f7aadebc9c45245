//! [`JwksFetcher`] over the outbound SSRF guard: `GET` a client's `jwks_uri` with
//! [`JWKS_FETCH_TIMEOUT`] for the whole exchange, no redirects (the guard follows none), and at
//! most [`MAX_JWKS_BYTES`] of body read.

use async_trait::async_trait;
use clinicgate_core::tokens::{JWKS_FETCH_TIMEOUT, JwksFetcher, MAX_JWKS_BYTES};
use serde_json::Value;

use crate::outbound::OutboundClient;

/// Fetches JWKS documents through an [`OutboundClient`].
#[derive(Debug, Clone)]
pub struct OutboundJwksFetcher {
    outbound: OutboundClient,
}

impl OutboundJwksFetcher {
    /// Uses `outbound` (and its guard).
    pub fn new(outbound: OutboundClient) -> Self {
        Self { outbound }
    }

    async fn get(&self, url: &str) -> Result<Value, String> {
        let url = url::Url::parse(url).map_err(|_| "not a URL".to_owned())?;
        let mut request = reqwest::Request::new(reqwest::Method::GET, url);
        request.headers_mut().insert(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("application/jwk-set+json, application/json"),
        );
        let mut response = self
            .outbound
            .send(request)
            .await
            .map_err(|err| err.to_string())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the server answered {}", status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_JWKS_BYTES as u64)
        {
            return Err(format!(
                "the document is larger than {MAX_JWKS_BYTES} bytes"
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| "the body could not be read".to_owned())?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(format!(
                    "the document is larger than {MAX_JWKS_BYTES} bytes"
                ));
            }
        }
        serde_json::from_slice(&body).map_err(|_| "the document is not JSON".to_owned())
    }
}

#[async_trait]
impl JwksFetcher for OutboundJwksFetcher {
    async fn fetch(&self, url: &str) -> Result<Value, String> {
        // The deadline covers the body too: a server trickling bytes cannot hold a token
        // request for longer.
        tokio::time::timeout(JWKS_FETCH_TIMEOUT, self.get(url))
            .await
            .map_err(|_| format!("no answer within {} s", JWKS_FETCH_TIMEOUT.as_secs()))?
    }
}
