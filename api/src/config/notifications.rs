//! The `[notifications]` settings: the SMTP relay notification e-mails go through, and the
//! base URL of the SMS provider's API (each clinic sets its own SMS account). Read and
//! validated with the rest of the configuration (`crate::config`); the mailer and the SMS
//! sender themselves are `clinicgate_adapters::notifications::{smtp, twilio}`.

use std::time::Duration;

use clinicgate_adapters::notifications::smtp::{SmtpConfig, SmtpTls};
use secrecy::SecretString;
use serde::Deserialize;

use super::ConfigProblem;

/// `[notifications]`.
#[derive(Debug, Clone, Deserialize)]
pub struct NotificationSettings {
    /// The relay's host; empty: e-mail is not configured (notifications report it).
    pub smtp_host: String,
    /// The relay's port.
    pub smtp_port: u16,
    /// `starttls`, `implicit` or `none`.
    pub smtp_tls: String,
    /// The relay's user name; empty: no authentication.
    pub smtp_username: String,
    /// The relay's password.
    pub smtp_password: Option<SecretString>,
    /// The `From` of every notification.
    pub from: String,
    /// Seconds one message may take to hand over.
    pub send_timeout_secs: u64,
    /// The base URL of Twilio's Messages API (`https://api.twilio.com`; a mock in tests).
    pub twilio_base_url: String,
}

impl NotificationSettings {
    /// The relay, or `None` when e-mail is not configured.
    pub fn smtp(&self) -> Option<SmtpConfig> {
        let host = self.smtp_host.trim();
        if host.is_empty() {
            return None;
        }
        let credentials = (!self.smtp_username.trim().is_empty()).then(|| {
            (
                self.smtp_username.trim().to_owned(),
                self.smtp_password
                    .clone()
                    .unwrap_or_else(|| SecretString::from(String::new())),
            )
        });
        Some(SmtpConfig {
            host: host.to_owned(),
            port: self.smtp_port,
            tls: SmtpTls::parse(self.smtp_tls.trim()).unwrap_or(SmtpTls::StartTls),
            credentials,
            from: self.from.trim().to_owned(),
        })
    }

    /// How long one message may take.
    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.send_timeout_secs)
    }

    /// What is wrong, each with how to fix it.
    pub(super) fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if SmtpTls::parse(self.smtp_tls.trim()).is_none() {
            problems.push(super::problem(
                "CLINICGATE_NOTIFICATIONS__SMTP_TLS",
                "must be starttls, implicit or none",
            ));
        }
        if self.send_timeout_secs == 0 {
            problems.push(super::problem(
                "CLINICGATE_NOTIFICATIONS__SEND_TIMEOUT_SECS",
                "must be at least 1",
            ));
        }
        if url::Url::parse(self.twilio_base_url.trim())
            .ok()
            .is_none_or(|url| !matches!(url.scheme(), "http" | "https") || !url.has_host())
        {
            problems.push(super::problem(
                "CLINICGATE_NOTIFICATIONS__TWILIO_BASE_URL",
                "must be an http(s) URL such as https://api.twilio.com",
            ));
        }
        if !self.smtp_host.trim().is_empty() && !self.from.contains('@') {
            problems.push(super::problem(
                "CLINICGATE_NOTIFICATIONS__FROM",
                "must be an address such as `Clinic <notifications@example.com>`",
            ));
        }
        problems
    }
}
