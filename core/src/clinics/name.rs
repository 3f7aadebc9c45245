//! A clinic's display name, as shown on its pages, to partners and in e-mails.
//!
//! Names are text people read, so what matters is that what they see is what was stored: a name
//! is normalised to NFC (one encoding per visible text: "é" is always U+00E9), every run of
//! whitespace becomes one space, and characters that change how text *looks* without being
//! seen are refused — direction controls (a right-to-left override turns "Harbour \u{202E}oisyhP"
//! into what reads as "Harbour Physio") and invisible characters (zero-width spaces and joiners,
//! other format characters, fillers that render as nothing). Zero-width joiners are refused as
//! well, although some scripts and emoji sequences use them: a display name reads fine without
//! them, and accepting them would let two names that look the same differ.

use std::fmt;

use unicode_normalization::UnicodeNormalization as _;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

use crate::FieldError;

/// The longest clinic name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// Characters that render as nothing although they are not format characters (Unicode's
/// `Default_Ignorable_Code_Point` members outside category `Cf`, plus the blank braille pattern).
const INVISIBLE: &[char] = &[
    '\u{034F}', // combining grapheme joiner
    '\u{115F}', // Hangul choseong filler
    '\u{1160}', // Hangul jungseong filler
    '\u{17B4}', // Khmer vowel inherent aq
    '\u{17B5}', // Khmer vowel inherent aa
    '\u{2800}', // braille pattern blank
    '\u{3164}', // Hangul filler
    '\u{FFA0}', // halfwidth Hangul filler
];

/// A clinic's display name: NFC, single-spaced, trimmed, 1–200 characters, no control, direction
/// or invisible characters.
#[derive(Clone, PartialEq, Eq)]
pub struct ClinicName(String);

impl ClinicName {
    /// Validates and normalises a name as typed.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = |code, message: &str| FieldError::new("clinic_name", code, message);
        let normalised: String = raw.nfc().collect();
        if normalised.chars().any(is_line_break_or_control) {
            return Err(invalid(
                "invalid_characters",
                "a clinic name cannot contain line breaks or control characters",
            ));
        }
        if normalised.chars().any(is_invisible) {
            return Err(invalid(
                "invisible_characters",
                "a clinic name cannot contain invisible characters or text-direction controls \
                 (such as zero-width spaces or right-to-left overrides); type the name again",
            ));
        }
        let name = normalised.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            return Err(invalid("required", "enter the clinic's name"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(invalid(
                "too_long",
                "a clinic name is at most 200 characters",
            ));
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClinicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClinicName({})", self.0)
    }
}

/// Controls (`Cc`) and the Unicode line and paragraph separators.
fn is_line_break_or_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator
        )
}

/// Format characters (`Cf`: direction marks, embeddings, overrides and isolates, zero-width
/// space and joiners, the byte-order mark, tags…) and the other characters that show nothing.
fn is_invisible(c: char) -> bool {
    c.general_category() == GeneralCategory::Format || INVISIBLE.contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(raw: &str) -> &'static str {
        ClinicName::parse(raw).unwrap_err().code
    }

    #[test]
    fn clinic_names_are_trimmed_and_bounded() {
        assert_eq!(
            ClinicName::parse("  Harbour Physio ").unwrap().as_str(),
            "Harbour Physio"
        );
        assert_eq!(code("   "), "required");
        assert_eq!(code(&"x".repeat(201)), "too_long");
        assert!(ClinicName::parse(&"é".repeat(200)).is_ok());
        assert_eq!(code("Line\nbreak"), "invalid_characters");
        assert_eq!(code("Line\u{2028}break"), "invalid_characters");
    }

    #[test]
    fn names_are_stored_in_nfc_with_single_spaces() {
        let name = ClinicName::parse("Cafe\u{301}\u{A0}\u{3000} Physio").unwrap();
        assert_eq!(name.as_str(), "Caf\u{E9} Physio");
        // 200 decomposed characters are 200 once composed.
        assert!(ClinicName::parse(&"e\u{301}".repeat(200)).is_ok());
        assert_eq!(
            ClinicName::parse("Zürich Ōsaka 東京 مطب").unwrap().as_str(),
            "Zürich Ōsaka 東京 مطب"
        );
    }

    #[test]
    fn direction_controls_and_invisible_characters_are_refused() {
        for c in [
            '\u{061C}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2060}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0041}',
            '\u{3164}',
            '\u{115F}',
            '\u{034F}',
            '\u{2800}',
        ] {
            assert_eq!(
                code(&format!("Harbour{c}Physio")),
                "invisible_characters",
                "U+{:04X}",
                c as u32
            );
        }
    }

    proptest! {
        #[test]
        fn an_accepted_name_is_nfc_trimmed_single_spaced_and_visible(raw in "\\PC{0,60}") {
            if let Ok(name) = ClinicName::parse(&raw) {
                let name = name.as_str();
                prop_assert_eq!(name.nfc().collect::<String>(), name);
                prop_assert_eq!(name.trim(), name);
                prop_assert!(!name.contains("  "));
                prop_assert!(!name.chars().any(|c| is_invisible(c) || is_line_break_or_control(c)));
                prop_assert_eq!(ClinicName::parse(name).map(|n| n.0), Ok(name.to_owned()));
            }
        }
    }
}
