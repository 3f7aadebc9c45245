//! One-time password links: a reset link an owner or admin makes for a staff member who lost
//! their password, and the invite link of a staff member added without one. Either sets the
//! person's password once: single use, expiring, stored only as the digest of the token (see
//! [`LinkToken`]). The link is shown to the manager who made it, to pass on, and can be e-mailed
//! (see [`super::recovery`]); using it ends every session of the person.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PasswordHash;
use crate::Result;
use crate::ids::{TenantId, UserId, uuid_id};
use crate::link_tokens::{LinkToken, LinkTokenKind};

uuid_id!(
    /// A password link.
    PasswordLinkId
);

/// The password link kind of link token.
#[derive(Debug)]
pub struct PasswordLinkKind;

impl LinkTokenKind for PasswordLinkKind {
    const PREFIX: &'static str = "cgpw_";
    const NAME: &'static str = "PasswordLinkToken";
}

/// The secret in a password link (`/reset-password?token=…`).
pub type PasswordLinkToken = LinkToken<PasswordLinkKind>;

/// What a link is for; it decides how long the link lives and what its page says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// A staff member's lost password: 24 hours.
    Reset,
    /// A new staff member's first password: 7 days (the person may not read it at once).
    Invite,
}

impl LinkPurpose {
    /// The value stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Invite => "invite",
        }
    }

    /// Parses a stored value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "reset" => Some(Self::Reset),
            "invite" => Some(Self::Invite),
            _ => None,
        }
    }

    /// How long a link of this purpose can be used.
    pub fn lifetime(self) -> chrono::Duration {
        match self {
            Self::Reset => chrono::Duration::hours(24),
            Self::Invite => chrono::Duration::days(7),
        }
    }
}

/// A link about to be stored.
#[derive(Debug, Clone)]
pub struct NewPasswordLink {
    /// Its id.
    pub id: PasswordLinkId,
    /// Whose password it sets.
    pub user_id: UserId,
    /// Reset or invite.
    pub purpose: LinkPurpose,
    /// The SHA-256 of the token (hex).
    pub token_digest: String,
    /// The manager who made it.
    pub created_by: Option<UserId>,
    /// When it stops working unused.
    pub expires_at: DateTime<Utc>,
}

/// A link made, with its token: shown once, to the manager who made it.
#[derive(Debug)]
pub struct IssuedLink {
    /// The token to put in the link.
    pub token: PasswordLinkToken,
    /// Reset or invite.
    pub purpose: LinkPurpose,
    /// When it stops working unused.
    pub expires_at: DateTime<Utc>,
}

impl IssuedLink {
    /// The link on the host of the clinic whose base URL is `clinic_url`.
    pub fn url(&self, clinic_url: &str) -> String {
        format!("{clinic_url}/reset-password?token={}", self.token.expose())
    }
}

/// A usable link, as its page needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsableLink {
    /// Whose password it sets.
    pub user_id: UserId,
    /// Reset or invite.
    pub purpose: LinkPurpose,
}

/// Storage of password links; every method is scoped to one clinic.
#[async_trait]
pub trait PasswordLinkRepository: Send + Sync + std::fmt::Debug {
    /// Stores `link`, and spends every unused link of the same person: only the newest works.
    async fn insert_in_tenant(&self, tenant: TenantId, link: NewPasswordLink) -> Result<()>;
    /// The unused, unexpired link with this digest; `None` otherwise (or another clinic's).
    async fn find_usable_in_tenant(
        &self,
        tenant: TenantId,
        token_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UsableLink>>;
    /// In one transaction: spends the unused, unexpired link with this digest and sets its
    /// person's password to `hash`. Of two concurrent uses, one wins; the other, like a used,
    /// expired or unknown link, is `None`.
    async fn redeem_in_tenant(
        &self,
        tenant: TenantId,
        token_digest: &str,
        now: DateTime<Utc>,
        hash: PasswordHash,
    ) -> Result<Option<UsableLink>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_round_trip_and_invites_outlive_resets() {
        for purpose in [LinkPurpose::Reset, LinkPurpose::Invite] {
            assert_eq!(LinkPurpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(LinkPurpose::Reset.lifetime(), chrono::Duration::hours(24));
        assert!(LinkPurpose::Invite.lifetime() > LinkPurpose::Reset.lifetime());
    }

    #[test]
    fn a_link_token_is_not_a_feed_token_and_never_shows_in_debug_output() {
        let token = PasswordLinkToken::generate();
        assert!(token.expose().starts_with("cgpw_"));
        assert!(crate::calendar_feeds::FeedToken::parse(token.expose()).is_none());
        assert_eq!(format!("{token:?}"), "PasswordLinkToken([REDACTED])");
    }
}
