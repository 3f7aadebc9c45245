//! What one delivery attempt's result means: delivered, try again later, or failed for good.

use std::time::Duration;

/// How an attempt that got no usable answer failed, as the attempt log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection could not be made or broke (refused, reset, DNS failure).
    Connection,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The outbound guard refused every address of the host (private, loopback, metadata…).
    AddressNotAllowed,
    /// The URL itself is no longer allowed (e.g. `http` after the operator turned
    /// `outbound.allow_http` off).
    UrlNotAllowed,
    /// The deployment has no way to send on this channel (no SMTP relay configured).
    NotConfigured,
}

impl TransportFailure {
    /// The stable name shown in the attempt log.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connection => "connection",
            Self::Tls => "tls",
            Self::AddressNotAllowed => "address_not_allowed",
            Self::UrlNotAllowed => "url_not_allowed",
            Self::NotConfigured => "not_configured",
        }
    }

    /// Reads the name the attempt log stores.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Timeout,
            Self::Connection,
            Self::Tls,
            Self::AddressNotAllowed,
            Self::UrlNotAllowed,
            Self::NotConfigured,
        ]
        .into_iter()
        .find(|f| f.as_str() == raw)
    }
}

/// The result of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered with this status (and, on 429/503, maybe a `Retry-After`).
    Answered {
        /// The HTTP status.
        status: u16,
        /// The receiver's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// No answer.
    Failed(TransportFailure),
    /// Nothing was sent because the receiver already has what the event would tell it (a
    /// partner's own patient, already linked): done, and recorded so the log says why.
    NothingToSend,
}

/// The stored name of [`AttemptResult::NothingToSend`] in the attempt log (beside the
/// [`TransportFailure`] names, which it cannot clash with).
pub const NOTHING_TO_SEND: &str = "nothing_to_send";

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx: the delivery is done.
    Delivered,
    /// Try again later, no sooner than `retry_after` if the receiver asked.
    Retry {
        /// The receiver's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Trying again would not help: the delivery has failed.
    Fail,
}

impl AttemptResult {
    /// The status the receiver answered, or the name of what came instead (a
    /// [`TransportFailure`]'s, or [`NOTHING_TO_SEND`]): the two columns of the attempt log, as
    /// stored and shown.
    pub const fn parts(self) -> (Option<u16>, Option<&'static str>) {
        match self {
            Self::Answered { status, .. } => (Some(status), None),
            Self::Failed(failure) => (None, Some(failure.as_str())),
            Self::NothingToSend => (None, Some(NOTHING_TO_SEND)),
        }
    }

    /// The verdict on this result, as webhooks judge it (a kind with its own contract, such as
    /// partner sync, judges in its sender). A 2xx or nothing to send is delivered; a timeout, a connection or TLS failure,
    /// 408, 409, 425, 429 and every 5xx are retried; any other status (redirects are not
    /// followed, so a 3xx too) and an address the outbound guard refuses fail at once.
    pub fn verdict(self) -> Verdict {
        match self {
            Self::Answered { status, .. } if (200..300).contains(&status) => Verdict::Delivered,
            Self::NothingToSend => Verdict::Delivered,
            Self::Answered {
                status: 408 | 409 | 425 | 429 | 500..=599,
                retry_after,
            } => Verdict::Retry { retry_after },
            Self::Answered { .. }
            | Self::Failed(
                TransportFailure::AddressNotAllowed
                | TransportFailure::UrlNotAllowed
                | TransportFailure::NotConfigured,
            ) => Verdict::Fail,
            Self::Failed(
                TransportFailure::Timeout | TransportFailure::Connection | TransportFailure::Tls,
            ) => Verdict::Retry { retry_after: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> Verdict {
        AttemptResult::Answered {
            status,
            retry_after: None,
        }
        .verdict()
    }

    #[test]
    fn statuses_are_judged_as_the_documented_retry_policy_says() {
        for delivered in [200, 201, 202, 204, 299] {
            assert_eq!(status(delivered), Verdict::Delivered, "{delivered}");
        }
        for retried in [408, 409, 425, 429, 500, 502, 503, 504, 599] {
            assert!(
                matches!(status(retried), Verdict::Retry { .. }),
                "{retried}"
            );
        }
        for failed in [100, 301, 302, 307, 400, 401, 403, 404, 410, 413, 422] {
            assert_eq!(status(failed), Verdict::Fail, "{failed}");
        }
    }

    #[test]
    fn transport_failures_are_retried_except_a_refusal_by_the_guard() {
        for retried in [
            TransportFailure::Timeout,
            TransportFailure::Connection,
            TransportFailure::Tls,
        ] {
            assert_eq!(
                AttemptResult::Failed(retried).verdict(),
                Verdict::Retry { retry_after: None }
            );
        }
        for failed in [
            TransportFailure::AddressNotAllowed,
            TransportFailure::UrlNotAllowed,
        ] {
            assert_eq!(AttemptResult::Failed(failed).verdict(), Verdict::Fail);
        }
    }

    #[test]
    fn nothing_to_send_is_delivered_and_named_apart_from_every_failure() {
        assert_eq!(AttemptResult::NothingToSend.verdict(), Verdict::Delivered);
        assert_eq!(
            AttemptResult::NothingToSend.parts(),
            (None, Some(NOTHING_TO_SEND))
        );
        assert_eq!(TransportFailure::parse(NOTHING_TO_SEND), None);
        assert_eq!(
            AttemptResult::Failed(TransportFailure::Timeout).parts(),
            (None, Some("timeout"))
        );
    }

    #[test]
    fn a_retry_after_is_passed_on() {
        let asked = Some(Duration::from_secs(30));
        assert_eq!(
            AttemptResult::Answered {
                status: 429,
                retry_after: asked
            }
            .verdict(),
            Verdict::Retry { retry_after: asked }
        );
    }
}
