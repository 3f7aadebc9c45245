use std::fmt;

/// A Cliniko record id: a positive int64 that Cliniko sends as a JSON string.
///
/// Cliniko ids exceed 2^53, so they must never pass through a float; this type keeps the digits as
/// a string end to end and accepts JSON strings or JSON integers (never floats).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ClinikoId(String);

impl ClinikoId {
    /// Parses a positive integer of at most 19 digits that fits an int64.
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = (1..=19).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_digit())
            && raw.parse::<i64>().is_ok_and(|n| n > 0);
        // Normalise leading zeros away so "007" and "7" are one id.
        valid.then(|| Self(raw.trim_start_matches('0').to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClinikoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ClinikoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClinikoId({})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ClinikoId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ClinikoId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a positive int64 id as a string or an integer")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ClinikoId, E> {
                ClinikoId::parse(v).ok_or_else(|| E::custom(format!("{v:?} is not a Cliniko id")))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ClinikoId, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ClinikoId, E> {
                self.visit_str(&v.to_string())
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_above_two_to_the_53_keep_every_digit() {
        let id: ClinikoId = serde_json::from_str("\"836447129235883061\"").unwrap();
        assert_eq!(id.as_str(), "836447129235883061");
        let from_number: ClinikoId = serde_json::from_str("836447129235883061").unwrap();
        assert_eq!(from_number, id);
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"836447129235883061\""
        );
    }

    #[test]
    fn non_ids_are_refused() {
        for bad in [
            "",
            "0",
            "-5",
            "1.5",
            "12a",
            "99999999999999999999",
            "9223372036854775808",
            " 1",
        ] {
            assert!(ClinikoId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(serde_json::from_str::<ClinikoId>("1.665207670417664e18").is_err());
    }

    proptest! {
        #[test]
        fn every_positive_int64_round_trips(n in 1i64..=i64::MAX) {
            let id = ClinikoId::parse(&n.to_string()).unwrap();
            prop_assert_eq!(id.as_str().parse::<i64>().unwrap(), n);
        }
    }
}
