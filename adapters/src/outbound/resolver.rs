//! Name resolution for outbound calls: the system resolver, and the guard that wraps whichever
//! resolver is used and drops every address the [`AddressPolicy`] does not permit.
//!
//! reqwest asks the resolver at every *new connection*, so the guard judges the addresses a
//! connection will really use: a host that resolved to a public address when its URL was stored
//! and to a private one later (DNS rebinding) is refused when it rebinds.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address::AddressPolicy;

/// The operating system's resolver (`getaddrinfo`, through `tokio::net::lookup_host`), so
/// `/etc/hosts`, search domains and the deployment's DNS apply as for any other program.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port (or the scheme's default) on each address.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The error a connection fails with when the guard refused every address of its host. The
/// send-time classification finds it in reqwest's error chain.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("refused by the outbound guard: no address of the host is allowed")]
pub(crate) struct RefusedByGuard;

/// Resolves with `inner`, then keeps only the addresses `policy` permits.
pub(crate) struct GuardedResolver {
    inner: Arc<dyn Resolve>,
    policy: Arc<AddressPolicy>,
}

impl GuardedResolver {
    pub(crate) fn new(inner: Arc<dyn Resolve>, policy: Arc<AddressPolicy>) -> Self {
        Self { inner, policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let lookup = self.inner.resolve(name);
        let policy = self.policy.clone();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = lookup.await?.collect();
            let permitted: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| policy.permits(addr.ip()))
                .collect();
            if permitted.is_empty() && !resolved.is_empty() {
                // The host is not logged: a user-given host name is theirs, and the caller's
                // delivery log says which subscription failed.
                tracing::warn!(
                    refused = resolved.len(),
                    "outbound guard refused a connection: every address of the host is blocked"
                );
                return Err(Box::new(RefusedByGuard) as _);
            }
            if permitted.len() < resolved.len() {
                tracing::debug!(
                    refused = resolved.len() - permitted.len(),
                    permitted = permitted.len(),
                    "outbound guard dropped some addresses of a host"
                );
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}
