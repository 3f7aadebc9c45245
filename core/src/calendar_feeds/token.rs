//! The secret in a calendar feed's URL: a [`LinkToken`] with the `cgcf_` prefix.

use crate::link_tokens::{LinkToken, LinkTokenKind};

/// Prefix of every feed token, so a leaked one is recognisable by secret scanners and people.
pub const FEED_TOKEN_PREFIX: &str = "cgcf_";

/// The calendar feed kind of link token.
#[derive(Debug)]
pub struct Feed;

impl LinkTokenKind for Feed {
    const PREFIX: &'static str = FEED_TOKEN_PREFIX;
    const NAME: &'static str = "FeedToken";
}

/// A feed token as it appears in the feed's URL (`?token=…`).
pub type FeedToken = LinkToken<Feed>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_is_stored_only_as_its_digest() {
        let token = FeedToken::generate();
        assert!(token.expose().starts_with(FEED_TOKEN_PREFIX));
        let again = FeedToken::parse(token.expose()).unwrap();
        assert_eq!(again.digest(), token.digest());
        assert_eq!(token.digest().len(), 64);
        assert!(!token.digest().contains(&token.expose()[5..]));
        assert_ne!(FeedToken::generate().digest(), token.digest());
    }

    #[test]
    fn values_that_cannot_be_tokens_are_refused() {
        let good = FeedToken::generate();
        for bad in [
            String::new(),
            "cgcf_short".to_owned(),
            good.expose()[FEED_TOKEN_PREFIX.len()..].to_owned(),
            format!("cgsk_{}", &good.expose()[FEED_TOKEN_PREFIX.len()..]),
            format!("{}=", &good.expose()[..good.expose().len() - 1]),
        ] {
            assert!(FeedToken::parse(&bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        assert_eq!(
            format!("{:?}", FeedToken::generate()),
            "FeedToken([REDACTED])"
        );
    }
}
