//! E-mail over SMTP with `lettre` (tokio, rustls): the [`Mailer`] of the deployment's relay.
//!
//! The relay, its TLS mode and credentials are the operator's configuration (`[notifications]`
//! in the api's config). Without a relay, [`SmtpMailer::not_configured`] answers every message
//! with [`MailOutcome::NotConfigured`], so the e-mail channel reports it rather than failing
//! start-up or a request. DKIM is left to the relay.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use clinicgate_core::delivery::TransportFailure;
use clinicgate_core::notifications::{MailOutcome, Mailer, OutgoingEmail};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::{ExposeSecret as _, SecretString};

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
    /// Plain text upgraded with `STARTTLS`, which is required (usually port 587).
    StartTls,
    /// No TLS at all: a relay on the same host or a test sink only.
    None,
}

impl SmtpTls {
    /// Reads `implicit`, `starttls` or `none`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "implicit" => Some(Self::Implicit),
            "starttls" => Some(Self::StartTls),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// Where and how to reach the relay.
pub struct SmtpConfig {
    /// The relay's host name.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The TLS mode.
    pub tls: SmtpTls,
    /// User name and password, when the relay wants them.
    pub credentials: Option<(String, SecretString)>,
    /// The `From` address of every message.
    pub from: String,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[redacted]"),
            )
            .field("from", &self.from)
            .finish()
    }
}

/// Sends through one relay (or reports that none is configured).
#[derive(Clone)]
pub struct SmtpMailer {
    relay: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("configured", &self.relay.is_some())
            .finish()
    }
}

impl SmtpMailer {
    /// A mailer for `config`.
    ///
    /// # Errors
    /// A message when the `from` address or the relay's host cannot be used.
    pub fn new(config: &SmtpConfig) -> Result<Self, String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|err| format!("the from address is not usable: {err}"))?;
        let builder = match config.tls {
            SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host),
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host),
            SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                &config.host,
            )),
        }
        .map_err(|err| format!("the relay cannot be used: {err}"))?;
        let mut builder = builder.port(config.port);
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Self {
            relay: Some((builder.build(), from)),
        })
    }

    /// A mailer for a deployment without a relay.
    pub fn not_configured() -> Self {
        Self { relay: None }
    }
}

/// `email` as a MIME message: text and HTML alternatives, then the attachments.
fn message(from: &Mailbox, email: &OutgoingEmail) -> Result<Message, String> {
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|_| "the recipient's address is not valid".to_owned())?;
    let mut body = MultiPart::mixed().multipart(MultiPart::alternative_plain_html(
        email.text.clone(),
        email.html.clone(),
    ));
    for attachment in &email.attachments {
        let content_type = ContentType::parse(&attachment.content_type)
            .map_err(|_| "an attachment has an invalid content type".to_owned())?;
        body = body.singlepart(
            Attachment::new(attachment.file_name.clone())
                .body(attachment.content.clone(), content_type),
        );
    }
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .message_id(Some(format!("<{}>", email.message_id)));
    if let Some(url) = &email.list_unsubscribe {
        // RFC 8058 one-click: mail clients show "Unsubscribe" and POST to the URL. The URL is
        // ours (the clinic's host and a base64url token), so it holds no `>` or line break.
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    builder
        .multipart(body)
        .map_err(|_| "the message could not be built".to_owned())
}

/// The relay's reply text on one line.
fn reply_text<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    lines.collect::<Vec<_>>().join(" ")
}

#[async_trait]
impl Mailer for SmtpMailer {
    fn is_configured(&self) -> bool {
        self.relay.is_some()
    }

    async fn send(&self, email: &OutgoingEmail, timeout: Duration) -> MailOutcome {
        let Some((transport, from)) = &self.relay else {
            return MailOutcome::NotConfigured;
        };
        let message = match message(from, email) {
            Ok(message) => message,
            Err(why) => return MailOutcome::Unsendable(why),
        };
        match tokio::time::timeout(timeout, transport.send(message)).await {
            Err(_) => MailOutcome::Unreachable(TransportFailure::Timeout),
            Ok(Ok(response)) => MailOutcome::Accepted {
                code: u16::from(response.code()),
                reply: reply_text(response.message()),
            },
            Ok(Err(err)) => match err.status() {
                Some(code) if err.is_permanent() || err.is_transient() => MailOutcome::Refused {
                    code: u16::from(code),
                    // The relay's reply (the sender masks any address in it before it is kept).
                    reply: err.to_string(),
                },
                _ if err.is_timeout() => MailOutcome::Unreachable(TransportFailure::Timeout),
                _ if err.is_tls() => MailOutcome::Unreachable(TransportFailure::Tls),
                _ => MailOutcome::Unreachable(TransportFailure::Connection),
            },
        }
    }
}
