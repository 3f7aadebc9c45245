//! [`OutboundClient`]: the HTTP client for URLs users give (webhooks, partner sync, FHIR push,
//! partners' JWKS). The Cliniko client does not use it: Cliniko's hosts are fixed by ClinicGate.

use std::fmt;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use clinicgate_core::delivery::RESPONSE_EXCERPT_BYTES;
use clinicgate_core::outbound::{UrlCheck, UrlRefused};
use clinicgate_core::{Error, Result};
use ipnet::IpNet;
use reqwest::dns::{Name, Resolve};
use url::Url;

use super::address::AddressPolicy;
use super::resolver::{GuardedResolver, SystemResolver};
use super::send_error::SendError;
use super::url_policy::{Target, UrlPolicy, UrlRefusal};

/// How an [`OutboundClient`] is built. Each use (webhooks, partner sync, …) may build its own with
/// its own timeouts; the guard's settings come from the operator's `[outbound]` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundConfig {
    /// Networks that may be reached although they are not public (`outbound.allowed_networks`).
    pub allowed_networks: Vec<IpNet>,
    /// Accept `http://` URLs (`outbound.allow_http`).
    pub allow_http: bool,
    /// How long establishing a connection (TCP and TLS) may take.
    pub connect_timeout: Duration,
    /// How long a whole request may take, connection to last byte of the answer.
    pub timeout: Duration,
}

impl OutboundConfig {
    /// The guard's settings with the webhook timeouts: 5 s to connect, 15 s in all.
    pub fn new(allowed_networks: Vec<IpNet>, allow_http: bool) -> Self {
        Self {
            allowed_networks,
            allow_http,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
        }
    }
}

/// The one way ClinicGate calls a URL a user gave, behind the SSRF guard.
///
/// - Every address a connection could use is checked: names through a resolver that drops every
///   address that is not public (unless in an allowed network), IP literals before sending
///   (reqwest does not ask the resolver for them).
/// - Redirects are never followed (a 3xx is returned as it is): a public URL redirecting to
///   `http://169.254.169.254/` must not be a way round the guard.
/// - Proxies from the environment (`HTTP_PROXY`, …) are ignored: through a proxy, the proxy would
///   resolve the host, and the guard would only ever see the proxy's address.
///
/// Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct OutboundClient {
    http: reqwest::Client,
    policy: Arc<AddressPolicy>,
    urls: UrlPolicy,
    /// The unguarded resolver, for the create-time check (which wants to know *why* a host is
    /// refused: unresolvable or not public).
    lookup: Arc<dyn Resolve>,
    connect_timeout: Duration,
}

impl fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundClient")
            .field("policy", &self.policy)
            .field("urls", &self.urls)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// The create-time check, as core asks for it: the URL normalised (`https://Hooks.example.com`
/// becomes `https://hooks.example.com/`), or the refusal's stable code and sentence.
#[async_trait::async_trait]
impl UrlCheck for OutboundClient {
    async fn check(&self, url: &str) -> std::result::Result<String, UrlRefused> {
        self.check_url(url)
            .await
            .map(String::from)
            .map_err(|refusal| UrlRefused {
                code: refusal.code(),
                message: refusal.to_string(),
            })
    }
}

impl OutboundClient {
    /// A client resolving names with the system resolver.
    ///
    /// # Errors
    /// [`Error::Internal`] when the HTTP client cannot be built (no TLS roots).
    pub fn new(config: &OutboundConfig) -> Result<Self> {
        Self::with_resolver(config, Arc::new(SystemResolver))
    }

    /// A client resolving names with `resolver` (another DNS implementation, or a test's
    /// scripted answers); the guard applies to whatever it returns.
    ///
    /// # Errors
    /// [`Error::Internal`] when the HTTP client cannot be built (no TLS roots).
    pub fn with_resolver(config: &OutboundConfig, resolver: Arc<dyn Resolve>) -> Result<Self> {
        let policy = Arc::new(AddressPolicy::new(config.allowed_networks.clone()));
        let http = reqwest::Client::builder()
            .user_agent(concat!("ClinicGate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(GuardedResolver::new(resolver.clone(), policy.clone()))
            .build()
            .map_err(Error::internal)?;
        Ok(Self {
            http,
            policy,
            urls: UrlPolicy {
                allow_http: config.allow_http,
            },
            lookup: resolver,
            connect_timeout: config.connect_timeout,
        })
    }

    /// The operator's networks the guard lets through.
    pub fn allowed_networks(&self) -> &[IpNet] {
        self.policy.allowed_networks()
    }

    /// Checks a URL a user wants stored (a webhook endpoint, a FHIR server): its shape, and that
    /// its host resolves *now* to at least one address the guard permits. Returns the parsed URL.
    ///
    /// Passing says nothing about later: the host may change addresses, so every send is guarded
    /// again at connection time.
    ///
    /// # Errors
    /// The [`UrlRefusal`] to show the user.
    pub async fn check_url(&self, raw: &str) -> std::result::Result<Url, UrlRefusal> {
        let url = Url::parse(raw).map_err(|_| UrlRefusal::InvalidUrl)?;
        let host = match self.urls.check(&url)? {
            Target::Address(ip) if self.policy.permits(ip) => return Ok(url),
            Target::Address(_) => return Err(UrlRefusal::AddressNotAllowed),
            Target::Domain(host) => host,
        };
        let name = Name::from_str(&host).map_err(|_| UrlRefusal::InvalidUrl)?;
        let resolved: Vec<_> =
            match tokio::time::timeout(self.connect_timeout, self.lookup.resolve(name)).await {
                Ok(Ok(addrs)) => addrs.collect(),
                Ok(Err(_)) | Err(_) => return Err(UrlRefusal::Unresolvable),
            };
        if resolved.is_empty() {
            Err(UrlRefusal::Unresolvable)
        } else if resolved.iter().any(|addr| self.policy.permits(addr.ip())) {
            Ok(url)
        } else {
            Err(UrlRefusal::AddressNotAllowed)
        }
    }

    /// Sends `request` behind the guard and returns the answer whatever its status (a 3xx
    /// included: redirects are not followed); the delivery machinery judges the status. The
    /// client's timeout applies unless the request sets its own
    /// ([`reqwest::Request::timeout_mut`]).
    ///
    /// # Errors
    /// [`SendError`], classified for retry decisions.
    pub async fn send(
        &self,
        request: reqwest::Request,
    ) -> std::result::Result<reqwest::Response, SendError> {
        match self.urls.check(request.url()).map_err(SendError::Refused)? {
            // reqwest connects to an IP literal without asking the resolver: judge it here.
            Target::Address(ip) if !self.policy.permits(ip) => {
                tracing::warn!("outbound guard refused a request to a blocked IP address");
                return Err(SendError::Refused(UrlRefusal::AddressNotAllowed));
            }
            Target::Address(_) | Target::Domain(_) => {}
        }
        self.http
            .execute(request)
            .await
            .map_err(SendError::from_reqwest)
    }
}

/// An answer as the delivery machinery keeps it: the status, the headers, and at most the first
/// [`RESPONSE_EXCERPT_BYTES`] of the body.
#[derive(Debug)]
pub struct Exchanged {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The start of the body (the whole body when it is short).
    pub body_start: Vec<u8>,
}

impl OutboundClient {
    /// Sends `request` as [`Self::send`] does and reads only the first
    /// [`RESPONSE_EXCERPT_BYTES`] of the answer's body, so a receiver answering with a large body
    /// holds no memory here.
    ///
    /// # Errors
    /// [`SendError`], classified for retry decisions.
    pub async fn exchange(
        &self,
        request: reqwest::Request,
    ) -> std::result::Result<Exchanged, SendError> {
        let mut response = self.send(request).await?;
        let mut body_start = Vec::new();
        while body_start.len() < RESPONSE_EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => body_start.extend_from_slice(&chunk),
                // The status is the answer; a body cut short changes nothing about it.
                Ok(None) | Err(_) => break,
            }
        }
        Ok(Exchanged {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body_start,
        })
    }
}
