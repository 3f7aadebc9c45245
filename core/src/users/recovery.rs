//! Password links by e-mail: "Forgot password?" on the clinic's login page, and a manager's
//! reset or invite link sent to the person instead of only shown.
//!
//! A request from the login page answers the same whether or not the address belongs to a
//! staff member of the clinic: the look-up, the link and the e-mail happen in a background task
//! after the answer, so neither the answer nor its timing says whether an account exists. Both
//! the address (clinic + e-mail, hashed) and the client's address are limited per window, so
//! nobody can flood a mailbox or probe many addresses; the counters are the shared rate-limit
//! store's, seen by every instance. Without an SMTP relay nothing is sent and the page tells the
//! person to ask the clinic's owner.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use minijinja::{AutoEscape, Environment, context};
use uuid::Uuid;

use super::{Email, IssuedLink, LinkPurpose, UserService};
use crate::ids::TenantId;
use crate::notifications::{MailOutcome, Mailer, OutgoingEmail, mask_email};
use crate::ports::RateLimiter;
use crate::sessions::ThrottleKeys;
use crate::{Error, Result};

/// Requests counted per window.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Requests per clinic + e-mail address in one window.
pub const MAX_PER_ACCOUNT: u64 = 3;
/// Requests per client address (an IPv6 /64) in one window, whatever the e-mail.
pub const MAX_PER_IP: u64 = 10;

const TEXT: &str = "Hello,

{% if invite %}You have been added to the staff of {{ clinic }} on ClinicGate. Choose your password here (the link works once, for 7 days):{% else %}Someone asked to reset your ClinicGate password for {{ clinic }}. Set a new password here (the link works once, for 24 hours):{% endif %}

{{ url }}

{% if not invite %}If you did not ask for this, ignore this message: your password stays as it is.
{% endif %}";

/// The HTML body. The URL is ClinicGate's own (the public URL and a base64url token), so it is
/// written as it is: escaped, its `/` would become `&#x2f;`.
const HTML: &str = "<p>Hello,</p>
<p>{% if invite %}You have been added to the staff of {{ clinic }} on ClinicGate. Choose your password here (the link works once, for 7 days):{% else %}Someone asked to reset your ClinicGate password for {{ clinic }}. Set a new password here (the link works once, for 24 hours):{% endif %}</p>
<p><a href=\"{{ url|safe }}\">{{ url|safe }}</a></p>
{% if not invite %}<p>If you did not ask for this, ignore this message: your password stays as it is.</p>{% endif %}";

/// A "Forgot password?" request as the login page received it.
#[derive(Debug, Clone)]
pub struct ResetRequest {
    /// The clinic of the host it arrived on.
    pub tenant: TenantId,
    /// The clinic's name, for the message.
    pub clinic_name: String,
    /// The address typed (not checked: an unknown or malformed one gets the same answer).
    pub email: String,
    /// The client's address, for the per-address limit.
    pub client_ip: IpAddr,
    /// The clinic's base URL (`https://harbour.example.com`) the link goes under.
    pub clinic_url: String,
}

/// Password links by e-mail.
#[derive(Debug, Clone)]
pub struct PasswordRecovery {
    staff: UserService,
    limiter: Arc<dyn RateLimiter>,
    mailer: Arc<dyn Mailer>,
    timeout: Duration,
}

impl PasswordRecovery {
    /// Links from `staff`, limits in `limiter`, mail through `mailer` (waiting at most `timeout`).
    pub fn new(
        staff: UserService,
        limiter: Arc<dyn RateLimiter>,
        mailer: Arc<dyn Mailer>,
        timeout: Duration,
    ) -> Self {
        Self {
            staff,
            limiter,
            mailer,
            timeout,
        }
    }

    /// Whether this deployment can send e-mail at all.
    pub fn mail_configured(&self) -> bool {
        self.mailer.is_configured()
    }

    /// Takes a "Forgot password?" request: counts it, then (with a relay) looks the address up
    /// and e-mails a reset link in the background. The answer never depends on the address.
    ///
    /// # Errors
    /// `RateLimited` when the address or the client asked too often (whether or not the address
    /// exists); `Unavailable` when the rate-limit store cannot count.
    pub async fn request(&self, request: ResetRequest) -> Result<()> {
        let keys = ThrottleKeys::password_reset(request.tenant, &request.email, request.client_ip);
        let per_ip = self.limiter.increment(keys.ip_key(), WINDOW).await?;
        let per_account = self.limiter.increment(keys.account_key(), WINDOW).await?;
        if per_account > MAX_PER_ACCOUNT || per_ip > MAX_PER_IP {
            return Err(Error::RateLimited {
                retry_after: WINDOW,
            });
        }
        if !self.mail_configured() {
            return Ok(());
        }
        let this = self.clone();
        // After the answer: the look-up, the argon2-free link and the SMTP exchange take time
        // only when the account exists, so doing them here would tell who has one.
        tokio::spawn(async move { this.send_requested(request).await });
        Ok(())
    }

    async fn send_requested(&self, request: ResetRequest) {
        match self
            .staff
            .request_reset_link(request.tenant, &request.email)
            .await
        {
            Ok(Some((user, issued))) => {
                let outcome = self
                    .mail_link(
                        &user.email,
                        &request.clinic_name,
                        &request.clinic_url,
                        &issued,
                    )
                    .await;
                log_outcome(request.tenant, &user.email, &outcome);
            }
            Ok(None) => {
                tracing::info!(tenant_id = %request.tenant, "password reset asked for an address with no active account; nothing sent");
            }
            Err(err) => {
                tracing::warn!(tenant_id = %request.tenant, error = %err, "a requested password reset link could not be made");
            }
        }
    }

    /// E-mails `issued` (a reset or invite link of the clinic at `clinic_url`) to `to`.
    pub async fn mail_link(
        &self,
        to: &Email,
        clinic_name: &str,
        clinic_url: &str,
        issued: &IssuedLink,
    ) -> MailOutcome {
        let email = match link_email(to, clinic_name, &issued.url(clinic_url), issued.purpose) {
            Ok(email) => email,
            Err(err) => return MailOutcome::Unsendable(err.to_string()),
        };
        self.mailer.send(&email, self.timeout).await
    }
}

/// Logs what the relay made of a link's e-mail (the address masked).
pub fn log_outcome(tenant: TenantId, to: &Email, outcome: &MailOutcome) {
    let to = mask_email(to.as_str());
    match outcome {
        MailOutcome::Accepted { .. } => {
            tracing::info!(tenant_id = %tenant, to = %to, "password link e-mailed");
        }
        // The relay's reply may quote the address: only the kind of failure is logged.
        MailOutcome::Refused { code, .. } => {
            tracing::warn!(tenant_id = %tenant, to = %to, code, "the relay refused a password link e-mail");
        }
        MailOutcome::Unreachable(failure) => {
            tracing::warn!(tenant_id = %tenant, to = %to, failure = ?failure, "the relay could not be reached for a password link e-mail");
        }
        MailOutcome::NotConfigured | MailOutcome::Unsendable(_) => {
            tracing::warn!(tenant_id = %tenant, to = %to, "a password link e-mail could not be sent");
        }
    }
}

/// The message carrying `url` to `to`.
fn link_email(
    to: &Email,
    clinic_name: &str,
    url: &str,
    purpose: LinkPurpose,
) -> Result<OutgoingEmail> {
    let invite = purpose == LinkPurpose::Invite;
    let ctx = context! { clinic => clinic_name, url => url, invite => invite };
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name == "html" {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let mut rendered = |name: &'static str, source: &'static str| {
        env.add_template(name, source)
            .and_then(|()| env.get_template(name))
            .and_then(|template| template.render(&ctx))
            .map_err(|e| Error::internal(format!("password link e-mail template: {e}")))
    };
    let text = rendered("text", TEXT)?;
    let html = rendered("html", HTML)?;
    // One line, whatever the clinic's name holds.
    let clinic: String = clinic_name.chars().filter(|c| !c.is_control()).collect();
    let subject = if invite {
        format!("You're invited to {clinic} on ClinicGate")
    } else {
        format!("Reset your ClinicGate password for {clinic}")
    };
    Ok(OutgoingEmail {
        to: to.as_str().to_owned(),
        subject,
        text,
        html,
        attachments: Vec::new(),
        // Staff account e-mails are not a list anyone subscribed to.
        list_unsubscribe: None,
        message_id: format!("{}@clinicgate", Uuid::now_v7()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::PasswordLinkToken;

    fn issued(purpose: LinkPurpose) -> IssuedLink {
        IssuedLink {
            token: PasswordLinkToken::generate(),
            purpose,
            expires_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn the_message_holds_the_link_and_escapes_the_clinic_name_in_html_only() {
        let to = Email::parse("sam@harbour.example").unwrap();
        let link = issued(LinkPurpose::Reset);
        let url = link.url("https://harbour.example.com");
        let email = link_email(&to, "Bo & <Co>", &url, LinkPurpose::Reset).unwrap();
        assert!(url.starts_with("https://harbour.example.com/reset-password?token=cgpw_"));
        assert!(email.text.contains(&url));
        assert!(email.html.contains(&url));
        assert!(email.text.contains("Bo & <Co>"));
        assert!(email.html.contains("Bo &amp; &lt;Co&gt;"));
        assert_eq!(
            email.subject,
            "Reset your ClinicGate password for Bo & <Co>"
        );
        let invite = link_email(&to, "Harbour\r\nBcc: x", &url, LinkPurpose::Invite).unwrap();
        assert_eq!(
            invite.subject,
            "You're invited to HarbourBcc: x on ClinicGate"
        );
        assert!(invite.text.contains("7 days"));
    }
}
