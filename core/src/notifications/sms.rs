//! The SMS channel: the [`SmsSender`] port (Twilio's Messages API in the adapters), a clinic's
//! SMS account with its auth token sealed under [`SecretPurpose::SmsAuthToken`], and the
//! [`SmsSettingsService`] that owners and admins set it with. The token is never returned,
//! logged or kept in clear: the settings show whether it is set, and the account SID.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};

use super::NotificationRepository;
use crate::Result;
use crate::delivery::TransportFailure;
use crate::error::{Error, FieldError};
use crate::ids::TenantId;
use crate::secrets::{SealedSecret, SecretPurpose, Vault};
use crate::tenancy::TenantContext;

/// Who a clinic's text messages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsFrom {
    /// A phone number of the account, E.164 (`From`).
    Number(String),
    /// A messaging service of the account (`MessagingServiceSid`), which picks the number.
    MessagingService(String),
}

/// A clinic's SMS provider account, opened for one send.
#[derive(Clone)]
pub struct SmsAccount {
    /// The account SID (`AC…`): not a secret, shown in the settings.
    pub account_sid: String,
    /// The auth token.
    pub auth_token: SecretString,
    /// The sender.
    pub from: SmsFrom,
}

impl fmt::Debug for SmsAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsAccount")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[redacted]")
            .field("from", &self.from)
            .finish()
    }
}

/// A text message ready to send. PHI: no `Debug` of its number or body.
#[derive(Clone)]
pub struct OutgoingSms {
    /// The recipient, E.164 as far as it could be made so.
    pub to: String,
    /// The plain-text body.
    pub body: String,
}

impl fmt::Debug for OutgoingSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingSms").finish_non_exhaustive()
    }
}

/// What the SMS provider made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsOutcome {
    /// The provider took it (Twilio: 201), with its message id and status (`queued`).
    Accepted {
        /// The HTTP status.
        status: u16,
        /// The provider's message id (`SM…`).
        sid: String,
        /// The provider's status of the message.
        message_status: String,
    },
    /// The provider refused it: retried for 429 and 5xx, failed at once for a 4xx such as an
    /// invalid number (Twilio 400, code 21211 or 21614).
    Refused {
        /// The HTTP status.
        status: u16,
        /// The provider's error code, when it gave one.
        code: Option<u64>,
        /// The provider's message (with any phone number in it masked by the sender).
        message: String,
        /// The provider's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
    },
    /// No usable answer (connection, TLS, timeout, or the outbound guard refused the URL).
    Unreachable(TransportFailure),
}

/// Sends text messages (Twilio's Messages API in the adapters).
#[async_trait]
pub trait SmsSender: Send + Sync + fmt::Debug {
    /// Sends `sms` from `account`, waiting at most `timeout`.
    async fn send(&self, account: &SmsAccount, sms: &OutgoingSms, timeout: Duration) -> SmsOutcome;
}

/// A clinic's SMS settings as stored: the auth token sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSms {
    /// The account SID.
    pub account_sid: String,
    /// The auth token, sealed with the clinic's data key.
    pub auth_token: SealedSecret,
    /// The sender.
    pub from: SmsFrom,
    /// Where staff text messages go (E.164).
    pub staff_phone: Option<String>,
    /// When they were last saved.
    pub updated_at: DateTime<Utc>,
}

/// A clinic's SMS settings as shown: never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSettings {
    /// The account SID.
    pub account_sid: String,
    /// Whether an auth token is stored (always, once saved).
    pub auth_token_set: bool,
    /// The sender.
    pub from: SmsFrom,
    /// Where staff text messages go.
    pub staff_phone: Option<String>,
    /// When they were last saved.
    pub updated_at: DateTime<Utc>,
}

impl From<&StoredSms> for SmsSettings {
    fn from(stored: &StoredSms) -> Self {
        Self {
            account_sid: stored.account_sid.clone(),
            auth_token_set: !stored.auth_token.ciphertext.is_empty(),
            from: stored.from.clone(),
            staff_phone: stored.staff_phone.clone(),
            updated_at: stored.updated_at,
        }
    }
}

/// SMS settings as a clinic sends them, before they are read.
#[derive(Debug, Clone, Default)]
pub struct SmsSettingsInput {
    /// The account SID (`AC` and 32 hex digits).
    pub account_sid: String,
    /// The auth token; absent to keep the stored one.
    pub auth_token: Option<SecretString>,
    /// The sender's number (E.164); or
    pub from_number: Option<String>,
    /// the messaging service (`MG` and 32 hex digits).
    pub messaging_service_sid: Option<String>,
    /// Where staff text messages go (E.164); empty or absent for none.
    pub staff_phone: Option<String>,
}

/// The longest auth token taken.
const MAX_TOKEN: usize = 256;

/// `prefix` and 32 hex digits: Twilio's account and messaging-service SIDs.
fn is_sid(raw: &str, prefix: &str) -> bool {
    raw.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 32 && rest.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A number as it is sent: spaces, dashes, dots and brackets dropped; `00` and a number with no
/// leading zero taken as international (`61 412…` → `+61412…`, as Cliniko often stores them); a
/// national number (`0412…`) stays as written, since its country is unknown, and the provider
/// reports it if it cannot deliver. `None` when what is left is not a number.
pub fn normalise_phone(raw: &str) -> Option<String> {
    let kept: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let (plus, digits) = match kept.strip_prefix('+') {
        Some(rest) => (true, rest.to_owned()),
        None => match kept.strip_prefix("00") {
            Some(rest) => (true, rest.to_owned()),
            None => (!kept.starts_with('0'), kept.clone()),
        },
    };
    if !(6..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(if plus { format!("+{digits}") } else { digits })
}

/// An E.164 number typed into the settings (`+` and 8 to 15 digits, spaces allowed).
fn e164(raw: &str) -> Option<String> {
    normalise_phone(raw).filter(|n| n.starts_with('+') && n.len() >= 9)
}

/// A clinic's SMS account: set by owners and admins, opened by the sender.
#[derive(Debug, Clone)]
pub struct SmsSettingsService {
    repo: Arc<dyn NotificationRepository>,
    vault: Vault,
}

impl SmsSettingsService {
    /// Settings in `repo`, the token sealed by `vault`.
    pub fn new(repo: Arc<dyn NotificationRepository>, vault: Vault) -> Self {
        Self { repo, vault }
    }

    /// The clinic's SMS settings, without the token (owners and admins).
    ///
    /// # Errors
    /// `Forbidden` for anyone else; storage failures.
    pub async fn settings(&self, ctx: &TenantContext) -> Result<Option<SmsSettings>> {
        ctx.require_manager()?;
        Ok(self
            .repo
            .sms_settings(ctx.tenant_id())
            .await?
            .as_ref()
            .map(SmsSettings::from))
    }

    /// Replaces the clinic's SMS settings (owners and admins); the stored token is kept when
    /// none is given. Nothing is saved when any field is wrong.
    ///
    /// # Errors
    /// `Forbidden` for anyone else; `Validation` naming each wrong field; storage failures.
    pub async fn save(&self, ctx: &TenantContext, input: SmsSettingsInput) -> Result<SmsSettings> {
        ctx.require_manager()?;
        let tenant = ctx.tenant_id();
        let existing = self.repo.sms_settings(tenant).await?;
        let mut errors = Vec::new();
        let account_sid = input.account_sid.trim().to_owned();
        if !is_sid(&account_sid, "AC") {
            errors.push(FieldError::new(
                "account_sid",
                "invalid",
                "give the account SID: AC followed by 32 hexadecimal digits",
            ));
        }
        let blank = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let from = match (
            blank(&input.from_number),
            blank(&input.messaging_service_sid),
        ) {
            (Some(number), None) => match e164(&number) {
                Some(number) => Some(SmsFrom::Number(number)),
                None => {
                    errors.push(FieldError::new(
                        "from_number",
                        "invalid",
                        "give the sending number in international form, e.g. +61412345678",
                    ));
                    None
                }
            },
            (None, Some(service)) if is_sid(&service, "MG") => {
                Some(SmsFrom::MessagingService(service))
            }
            (None, Some(_)) => {
                errors.push(FieldError::new(
                    "messaging_service_sid",
                    "invalid",
                    "give the messaging service SID: MG followed by 32 hexadecimal digits",
                ));
                None
            }
            (Some(_), Some(_)) | (None, None) => {
                errors.push(FieldError::new(
                    "from_number",
                    "required",
                    "give either the sending number or a messaging service SID, not both",
                ));
                None
            }
        };
        let staff_phone = match blank(&input.staff_phone) {
            None => None,
            Some(raw) => {
                let parsed = e164(&raw);
                if parsed.is_none() {
                    errors.push(FieldError::new(
                        "staff_phone",
                        "invalid",
                        "give the staff mobile in international form, e.g. +61412345678",
                    ));
                }
                parsed
            }
        };
        let token = match (&input.auth_token, &existing) {
            (Some(token), _) if token.expose_secret().trim().is_empty() => {
                errors.push(FieldError::new(
                    "auth_token",
                    "required",
                    "this is required",
                ));
                None
            }
            (Some(token), _) if token.expose_secret().len() > MAX_TOKEN => {
                errors.push(FieldError::new(
                    "auth_token",
                    "too_long",
                    format!("use at most {MAX_TOKEN} characters"),
                ));
                None
            }
            (Some(token), _) => Some(token.clone()),
            (None, Some(_)) => None,
            (None, None) => {
                errors.push(FieldError::new(
                    "auth_token",
                    "required",
                    "give the account's auth token",
                ));
                None
            }
        };
        let (Some(from), true) = (from, errors.is_empty()) else {
            return Err(Error::Validation(errors));
        };
        let auth_token = match (token, existing) {
            (Some(token), _) => {
                self.vault
                    .seal(
                        tenant,
                        SecretPurpose::SmsAuthToken,
                        &SecretString::from(token.expose_secret().trim().to_owned()),
                    )
                    .await?
            }
            (None, Some(existing)) => existing.auth_token,
            (None, None) => return Err(Error::internal("an SMS token was neither given nor kept")),
        };
        let stored = StoredSms {
            account_sid,
            auth_token,
            from,
            staff_phone,
            updated_at: Utc::now(),
        };
        self.repo.save_sms(tenant, &stored).await?;
        tracing::info!(tenant_id = %tenant, "SMS notification settings saved");
        Ok(SmsSettings::from(&stored))
    }

    /// The clinic's account with its token opened, and its staff phone, for the sender; `None`
    /// when SMS is not set up.
    ///
    /// # Errors
    /// Storage or decryption failures.
    pub async fn account(&self, tenant: TenantId) -> Result<Option<(SmsAccount, Option<String>)>> {
        let Some(stored) = self.repo.sms_settings(tenant).await? else {
            return Ok(None);
        };
        let auth_token = self
            .vault
            .open(tenant, SecretPurpose::SmsAuthToken, &stored.auth_token)
            .await?;
        Ok(Some((
            SmsAccount {
                account_sid: stored.account_sid,
                auth_token,
                from: stored.from,
            },
            stored.staff_phone,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_made_international_where_that_is_certain() {
        assert_eq!(
            normalise_phone("+61 412 345 123").as_deref(),
            Some("+61412345123")
        );
        assert_eq!(
            normalise_phone("0061 (412) 345-123").as_deref(),
            Some("+61412345123")
        );
        assert_eq!(
            normalise_phone("61444444444").as_deref(),
            Some("+61444444444")
        );
        assert_eq!(
            normalise_phone("0412 345 123").as_deref(),
            Some("0412345123")
        );
        assert_eq!(normalise_phone("call me"), None);
        assert_eq!(e164("0412 345 123"), None);
    }

    #[test]
    fn an_account_never_prints_its_token() {
        let account = SmsAccount {
            account_sid: "AC1".to_owned(),
            auth_token: SecretString::from("hunter2".to_owned()),
            from: SmsFrom::Number("+61400000000".to_owned()),
        };
        let printed = format!("{account:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("AC1"));
    }

    #[test]
    fn a_patients_reminder_type_chooses_the_channels_they_take() {
        use crate::notifications::Channel;
        for (reminder_type, email, sms) in [
            (Some("SMS & Email"), true, true),
            (None, true, true),
            (Some("Email"), true, false),
            (Some("SMS"), false, true),
            (Some("None"), false, false),
        ] {
            assert_eq!(
                Channel::Email.accepted_by(reminder_type),
                email,
                "{reminder_type:?}"
            );
            assert_eq!(
                Channel::Sms.accepted_by(reminder_type),
                sms,
                "{reminder_type:?}"
            );
        }
    }

    #[test]
    fn sids_are_a_prefix_and_32_hex_digits() {
        assert!(is_sid("AC0123456789abcdef0123456789abcdef", "AC"));
        assert!(!is_sid("AC0123", "AC"));
        assert!(!is_sid("MG0123456789abcdef0123456789abcdef", "AC"));
    }
}
