//! Finding a patient by name with Cliniko's `q[]` filters. Cliniko ANDs conditions and has no
//! "first or last name" filter, so one search is a few queries run together and merged:
//! `smi` → first name contains `smi`, or last name contains `smi`; `jane smi` → first name
//! contains `jane` and last name contains `smi`, or the other way round, or either name contains
//! `jane smi` whole (names of several words).

use std::collections::HashSet;
use std::fmt;

use crate::cliniko::{Filter, FilterOp, ListQuery, Patient};
use crate::{Error, Result};

use super::PatientSummary;

/// The shortest search accepted (one letter would list half the clinic).
const MIN_CHARS: usize = 2;
/// The longest search accepted.
const MAX_CHARS: usize = 100;

/// What a clinician typed to find a patient: trimmed, 2–100 characters, no control characters.
/// Patient data: `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct SearchTerms {
    words: Vec<String>,
}

impl fmt::Debug for SearchTerms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchTerms").finish_non_exhaustive()
    }
}

impl SearchTerms {
    /// Parses a search box's content.
    ///
    /// # Errors
    /// `Validation` on field `q` when it is too short, too long or holds control characters.
    pub fn parse(raw: &str) -> Result<Self> {
        let text = raw.trim();
        let chars = text.chars().count();
        if chars < MIN_CHARS {
            return Err(Error::invalid(
                "q",
                "too_short",
                "type at least two letters of the patient's name",
            ));
        }
        if chars > MAX_CHARS {
            return Err(Error::invalid(
                "q",
                "too_long",
                "a name search is at most 100 characters",
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(Error::invalid(
                "q",
                "invalid_characters",
                "the search contains characters that cannot be part of a name",
            ));
        }
        Ok(Self {
            words: text.split_whitespace().map(str::to_owned).collect(),
        })
    }

    /// The Cliniko queries whose union is the search, each stopping at `limit` patients.
    pub(crate) fn queries(&self, limit: usize) -> Vec<ListQuery> {
        let contains = |field, value: &str| Filter::new(field, FilterOp::Contains, value);
        let query = |filters: Vec<Filter>| {
            filters
                .into_iter()
                .fold(ListQuery::new(), ListQuery::filter)
                .limit(limit)
        };
        match self.words.as_slice() {
            [word] => vec![
                query(vec![contains("first_name", word)]),
                query(vec![contains("last_name", word)]),
            ],
            [first, rest @ ..] => {
                let rest = rest.join(" ");
                let whole = self.words.join(" ");
                vec![
                    // Names of several words (`Te Rangi`, `Mary Ann`).
                    query(vec![contains("last_name", &whole)]),
                    query(vec![contains("first_name", &whole)]),
                    query(vec![
                        contains("first_name", first),
                        contains("last_name", &rest),
                    ]),
                    query(vec![
                        contains("last_name", first),
                        contains("first_name", &rest),
                    ]),
                ]
            }
            [] => Vec::new(),
        }
    }
}

/// The union of the queries' answers, without repeats, by last then first name, at most `limit`.
pub(crate) fn merge(lists: Vec<Vec<Patient>>, limit: usize) -> Vec<PatientSummary> {
    let mut seen = HashSet::new();
    let mut patients: Vec<Patient> = lists
        .into_iter()
        .flatten()
        .filter(|patient| seen.insert(patient.id.clone()))
        .collect();
    let key = |p: &Patient| {
        (
            p.last_name.as_deref().unwrap_or("").to_lowercase(),
            p.first_name.as_deref().unwrap_or("").to_lowercase(),
            p.id.clone(),
        )
    };
    patients.sort_by_cached_key(key);
    patients.truncate(limit);
    patients.iter().map(PatientSummary::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cliniko::ClinikoId;

    fn params(terms: &str) -> Vec<Vec<String>> {
        SearchTerms::parse(terms)
            .unwrap()
            .queries(25)
            .iter()
            .map(|q| q.params().into_iter().map(|(_, v)| v).collect())
            .collect()
    }

    #[test]
    fn one_word_matches_first_or_last_name_and_two_words_match_both_ways() {
        assert_eq!(
            params("  smi "),
            [vec!["first_name:~smi"], vec!["last_name:~smi"]]
        );
        assert_eq!(
            params("Jane van Dyk"),
            [
                vec!["last_name:~Jane van Dyk"],
                vec!["first_name:~Jane van Dyk"],
                vec!["first_name:~Jane", "last_name:~van Dyk"],
                vec!["last_name:~Jane", "first_name:~van Dyk"]
            ]
        );
    }

    #[test]
    fn searches_that_are_too_short_too_long_or_odd_are_refused() {
        for bad in ["", " a ", "\u{7}ab", &"x".repeat(101)] {
            assert!(
                matches!(SearchTerms::parse(bad), Err(Error::Validation(_))),
                "{bad:?}"
            );
        }
        assert!(!format!("{:?}", SearchTerms::parse("Jane").unwrap()).contains("Jane"));
    }

    #[test]
    fn answers_merge_without_repeats_in_name_order() {
        let patient = |id: &str, first: &str, last: &str| Patient {
            first_name: Some(first.to_owned()),
            last_name: Some(last.to_owned()),
            ..Patient::new(ClinikoId::parse(id).unwrap())
        };
        let merged = merge(
            vec![
                vec![
                    patient("1", "Zoe", "Smith"),
                    patient("2", "Amy", "Smithers"),
                ],
                vec![
                    patient("1", "Zoe", "Smith"),
                    patient("3", "Smitty", "Adams"),
                ],
            ],
            25,
        );
        let names: Vec<_> = merged.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Smitty Adams", "Zoe Smith", "Amy Smithers"]);
        assert_eq!(merge(vec![vec![patient("1", "A", "B")]], 0).len(), 0);
    }
}
