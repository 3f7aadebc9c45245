//! Text messages through Twilio's Messages API: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`
//! with HTTP Basic auth (account SID : auth token) and a form body (`To`, `From` or
//! `MessagingServiceSid`, `Body`). A 201 is sent (its `sid` and `status` are the provider's
//! answer); 429 and 5xx are retried by the delivery worker; another 4xx (Twilio's `21211`
//! invalid number, `21614` not a mobile) fails at once.
//!
//! The base URL is the operator's (`notifications.twilio_base_url`, `https://api.twilio.com`
//! unless a test points it at a mock). Calls go through the [`OutboundClient`], so they get its
//! timeouts, no redirects, no proxies and the address guard. The auth token is only ever put in
//! the `Authorization` header, marked sensitive; it is never logged.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use clinicgate_core::delivery::TransportFailure;
use clinicgate_core::notifications::{OutgoingSms, SmsAccount, SmsFrom, SmsOutcome, SmsSender};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use url::Url;

use crate::outbound::OutboundClient;
use crate::retry_after::retry_after;

/// The answer to a created message.
#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
    status: Option<String>,
}

/// Twilio's error body (`{"code": 21211, "message": "…", "status": 400}`).
#[derive(Deserialize)]
struct Problem {
    code: Option<u64>,
    message: Option<String>,
}

/// The longest provider message kept for the history.
const MAX_MESSAGE: usize = 200;

/// Sends text messages to one Messages API base URL.
#[derive(Debug, Clone)]
pub struct TwilioSms {
    outbound: OutboundClient,
    base: Url,
}

impl TwilioSms {
    /// Sends through `outbound` to the API at `base_url` (`https://api.twilio.com`).
    ///
    /// # Errors
    /// A message when `base_url` is not an absolute `http(s)` URL.
    pub fn new(outbound: OutboundClient, base_url: &str) -> Result<Self, String> {
        let base = Url::parse(base_url.trim())
            .map_err(|err| format!("the Twilio base URL is not a URL: {err}"))?;
        if !matches!(base.scheme(), "https" | "http") || base.host_str().is_none() {
            return Err("the Twilio base URL must be an http(s) URL with a host".to_owned());
        }
        Ok(Self { outbound, base })
    }

    /// The Messages resource of `account_sid`.
    fn messages_url(&self, account_sid: &str) -> Option<Url> {
        let base = self.base.as_str().trim_end_matches('/');
        // The SID is checked (AC and hex digits) when saved; a path segment is encoded anyway.
        let sid: String = url::form_urlencoded::byte_serialize(account_sid.as_bytes()).collect();
        Url::parse(&format!("{base}/2010-04-01/Accounts/{sid}/Messages.json")).ok()
    }

    /// The request for `sms` from `account`.
    fn request(
        &self,
        account: &SmsAccount,
        sms: &OutgoingSms,
        timeout: Duration,
    ) -> Option<reqwest::Request> {
        let url = self.messages_url(&account.account_sid)?;
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", &sms.to);
        match &account.from {
            SmsFrom::Number(number) => form.append_pair("From", number),
            SmsFrom::MessagingService(service) => form.append_pair("MessagingServiceSid", service),
        };
        form.append_pair("Body", &sms.body);
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            account.account_sid,
            account.auth_token.expose_secret()
        ));
        let mut authorization = HeaderValue::from_str(&format!("Basic {credentials}")).ok()?;
        authorization.set_sensitive(true);
        let mut request = reqwest::Request::new(reqwest::Method::POST, url);
        *request.timeout_mut() = Some(timeout);
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, authorization);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        *request.body_mut() = Some(form.finish().into());
        Some(request)
    }
}

/// The provider's message, on one line and short.
fn short(message: &str) -> String {
    let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(MAX_MESSAGE).collect()
}

#[async_trait]
impl SmsSender for TwilioSms {
    async fn send(&self, account: &SmsAccount, sms: &OutgoingSms, timeout: Duration) -> SmsOutcome {
        let Some(request) = self.request(account, sms, timeout) else {
            return SmsOutcome::Unreachable(TransportFailure::UrlNotAllowed);
        };
        let answer = match self.outbound.exchange(request).await {
            Ok(answer) => answer,
            Err(err) => return SmsOutcome::Unreachable(err.failure()),
        };
        if (200..300).contains(&answer.status) {
            let created: Option<Created> = serde_json::from_slice(&answer.body_start).ok();
            let (sid, message_status) = created
                .map(|c| (c.sid.unwrap_or_default(), c.status.unwrap_or_default()))
                .unwrap_or_default();
            return SmsOutcome::Accepted {
                status: answer.status,
                sid,
                message_status,
            };
        }
        let problem: Option<Problem> = serde_json::from_slice(&answer.body_start).ok();
        let (code, message) = problem
            .map(|p| (p.code, p.message.as_deref().map(short).unwrap_or_default()))
            .unwrap_or_default();
        SmsOutcome::Refused {
            status: answer.status,
            code,
            message,
            retry_after: retry_after(&answer.headers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_url_is_under_the_account() {
        let outbound =
            OutboundClient::new(&crate::outbound::OutboundConfig::new(vec![], true)).unwrap();
        let twilio = TwilioSms::new(outbound, "http://127.0.0.1:9/").unwrap();
        assert_eq!(
            twilio.messages_url("AC0123").unwrap().as_str(),
            "http://127.0.0.1:9/2010-04-01/Accounts/AC0123/Messages.json"
        );
        assert!(TwilioSms::new(twilio.outbound.clone(), "ftp://x").is_err());
    }
}
