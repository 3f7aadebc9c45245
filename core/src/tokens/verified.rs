//! Tokens this instance has already verified. A partner presents the same token on every request
//! for its whole lifetime, and checking an Ed25519 signature costs far more than the rest of a
//! request, so a verified token's claims are remembered (keyed by the *whole* token, so a changed
//! byte anywhere is a different, unverified token). Times are still checked on every use, and so
//! is the key: a token whose key left the ring is verified (and refused) again.
//!
//! Only successful verifications are remembered; revocation and the client's state are never
//! cached here (they are checked on every request, see `access`).

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::jwt::{AccessClaims, KeyId, KeyRing, TokenError};

/// Most tokens remembered; beyond it the memory starts over (cheap, and rare: it takes this
/// many distinct live tokens within one token lifetime).
const CAPACITY: usize = 20_000;

/// Verified tokens and their claims.
#[derive(Debug, Default)]
pub(super) struct VerifiedTokens {
    entries: RwLock<HashMap<Box<str>, (AccessClaims, KeyId)>>,
}

impl VerifiedTokens {
    /// The remembered claims of `token`, checked against `now` (with `leeway`) and `ring`:
    /// `None` when the token was not verified here or its key is no longer published.
    pub(super) fn get(
        &self,
        token: &str,
        ring: &KeyRing,
        now: DateTime<Utc>,
        leeway: Duration,
    ) -> Option<Result<AccessClaims, TokenError>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let (claims, kid) = entries.get(token)?;
        if !ring.contains(kid) {
            return None;
        }
        let leeway = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
        let now = now.timestamp();
        Some(if claims.exp < now.saturating_sub(leeway) {
            Err(TokenError::Expired)
        } else if claims.nbf > now.saturating_add(leeway) {
            Err(TokenError::NotYetValid)
        } else {
            Ok(claims.clone())
        })
    }

    /// Remembers a token that verified with the key `kid`.
    pub(super) fn insert(&self, token: &str, claims: &AccessClaims, kid: KeyId) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(token.into(), (claims.clone(), kid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::tokens::{Scope, SigningKey, TokenIssuer};

    #[test]
    fn a_remembered_token_still_expires_and_needs_its_key_published() {
        let key = SigningKey::generate().unwrap();
        let ring = KeyRing::new([(key.kid().clone(), key.public_key())]);
        let issuer = TokenIssuer::new("https://gw.example.com", "aud", Duration::from_secs(60));
        let now = Utc::now();
        let issued = issuer
            .issue(
                &key,
                "c",
                TenantId::new(),
                &[Scope::DoctorsRead].into_iter().collect(),
                now,
            )
            .unwrap();
        let memory = VerifiedTokens::default();
        let leeway = Duration::from_secs(30);
        assert!(memory.get(&issued.token, &ring, now, leeway).is_none());
        memory.insert(&issued.token, &issued.claims, key.kid().clone());
        assert_eq!(
            memory.get(&issued.token, &ring, now, leeway),
            Some(Ok(issued.claims.clone()))
        );
        let later = now + chrono::Duration::seconds(91);
        assert_eq!(
            memory.get(&issued.token, &ring, later, leeway),
            Some(Err(TokenError::Expired))
        );
        let other = SigningKey::generate().unwrap();
        let rotated = KeyRing::new([(other.kid().clone(), other.public_key())]);
        assert!(memory.get(&issued.token, &rotated, now, leeway).is_none());
        let mut changed = issued.token.clone();
        changed.push('x');
        assert!(memory.get(&changed, &ring, now, leeway).is_none());
    }
}
