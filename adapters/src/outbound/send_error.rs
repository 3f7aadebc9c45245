//! How a call to a user-given URL failed, in the terms the delivery machinery decides on
//! ([`TransportFailure`]): retry later (timeout, connection, TLS), or stop and tell the clinic
//! (refused by the guard). A status, whatever it is, is an answer, not a failure to send; the
//! delivery machinery judges it (`AttemptResult::verdict`).

use std::error::Error as StdError;

use clinicgate_core::delivery::TransportFailure;

use super::resolver::RefusedByGuard;
use super::url_policy::UrlRefusal;

/// Why a send failed; [`SendError::failure`] names it for the attempt log.
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
    /// Anything else (reading the body, building the request).
    #[error("the request failed")]
    Other(#[source] reqwest::Error),
}

impl SendError {
    /// The failure as the delivery machinery records and judges it. A body that could not be
    /// read, or a request that broke mid-way, is a broken connection: worth another attempt.
    pub fn failure(&self) -> TransportFailure {
        match self {
            Self::Refused(UrlRefusal::AddressNotAllowed) => TransportFailure::AddressNotAllowed,
            Self::Refused(_) => TransportFailure::UrlNotAllowed,
            Self::Timeout(_) => TransportFailure::Timeout,
            Self::Connect(_) | Self::Other(_) => TransportFailure::Connection,
            Self::Tls(_) => TransportFailure::Tls,
        }
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
    fn refusals_fail_for_good_and_name_what_was_refused() {
        assert_eq!(
            SendError::Refused(UrlRefusal::AddressNotAllowed).failure(),
            TransportFailure::AddressNotAllowed
        );
        assert_eq!(
            SendError::Refused(UrlRefusal::SchemeNotAllowed).failure(),
            TransportFailure::UrlNotAllowed
        );
    }

    #[test]
    fn a_cause_wrapped_in_an_io_error_is_found() {
        let wrapped = std::io::Error::other(RefusedByGuard);
        assert!(chain_has::<RefusedByGuard>(&wrapped));
        let unrelated = std::io::Error::other("connection reset");
        assert!(!chain_has::<RefusedByGuard>(&unrelated));
    }
}
