//! How a call to a user-given URL failed, in the terms the delivery machinery decides on: retry
//! later (timeout, connection, TLS, a 5xx), or stop and tell the clinic (refused by the guard).

use std::error::Error as StdError;

use reqwest::StatusCode;

use super::resolver::RefusedByGuard;
use super::url_policy::UrlRefusal;

/// Why a send failed. `code()` is stable (it goes into delivery attempt logs).
///
/// The reqwest errors kept as sources have their URL removed ([`reqwest::Error::without_url`]),
/// so logging the whole chain never writes a user's URL (which may carry a token).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The guard refused the URL or every address its host resolved to.
    #[error("refused by the outbound guard: {0}")]
    Refused(UrlRefusal),
    /// No answer within the connect or request timeout.
    #[error("timed out")]
    Timeout(#[source] reqwest::Error),
    /// The name did not resolve, or the connection was refused or reset.
    #[error("connection failed")]
    Connect(#[source] reqwest::Error),
    /// The TLS handshake failed (certificate, protocol).
    #[error("TLS handshake failed")]
    Tls(#[source] reqwest::Error),
    /// The receiver answered with a status the caller treats as a failure.
    #[error("the receiver answered HTTP {0}")]
    Status(StatusCode),
    /// Anything else (reading the body, building the request).
    #[error("the request failed")]
    Other(#[source] reqwest::Error),
}

impl SendError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Refused(_) => "refused_by_guard",
            Self::Timeout(_) => "timeout",
            Self::Connect(_) => "connection_failed",
            Self::Tls(_) => "tls_failed",
            Self::Status(_) => "http_status",
            Self::Other(_) => "request_failed",
        }
    }

    /// [`SendError::Status`] unless `status` is a success (2xx). Redirects are not followed, so a
    /// 3xx is a failure too.
    pub fn for_status(status: StatusCode) -> Option<Self> {
        (!status.is_success()).then_some(Self::Status(status))
    }

    /// Classifies a reqwest failure, looking through its cause chain (the guard's refusal and
    /// TLS errors arrive wrapped in connection errors).
    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        let err = err.without_url();
        if chain_has::<RefusedByGuard>(&err) {
            Self::Refused(UrlRefusal::AddressNotAllowed)
        } else if chain_has::<rustls::Error>(&err) {
            Self::Tls(err)
        } else if err.is_timeout() {
            Self::Timeout(err)
        } else if err.is_connect() {
            Self::Connect(err)
        } else {
            Self::Other(err)
        }
    }
}

/// Whether `T` is anywhere in `err`'s cause chain, including inside `io::Error`s (whose `source`
/// skips the error they wrap, which is how tokio-rustls reports handshake failures).
fn chain_has<T: StdError + 'static>(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(current) = next {
        if current.is::<T>() {
            return true;
        }
        if let Some(inner) = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && chain_has::<T>(inner)
        {
            return true;
        }
        next = current.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_success_statuses_are_not_failures() {
        assert!(SendError::for_status(StatusCode::OK).is_none());
        assert!(SendError::for_status(StatusCode::NO_CONTENT).is_none());
        for failure in [
            StatusCode::FOUND,
            StatusCode::NOT_FOUND,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            let err = SendError::for_status(failure).unwrap();
            assert_eq!(err.code(), "http_status");
        }
    }

    #[test]
    fn a_cause_wrapped_in_an_io_error_is_found() {
        let wrapped = std::io::Error::other(RefusedByGuard);
        assert!(chain_has::<RefusedByGuard>(&wrapped));
        let unrelated = std::io::Error::other("connection reset");
        assert!(!chain_has::<RefusedByGuard>(&unrelated));
    }
}
