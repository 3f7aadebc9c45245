//! Filtering and paging the directory's lists.

use super::Doctor;
use crate::cliniko::ClinikoId;
use crate::{Error, Result};

/// The largest page a list serves.
pub const MAX_PER_PAGE: u32 = 100;

/// The page size when none is asked for.
pub const DEFAULT_PER_PAGE: u32 = 20;

/// A page of a list: 1-based number and size (at most [`MAX_PER_PAGE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    number: u32,
    size: u32,
}

impl Page {
    /// Validates `page` (≥ 1, default 1) and `per_page` (1..=100, default 20).
    ///
    /// # Errors
    /// [`Error::Validation`] naming `page` or `per_page`.
    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Result<Self> {
        let number = page.unwrap_or(1);
        let size = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if number == 0 {
            return Err(Error::invalid(
                "page",
                "out_of_range",
                "pages are numbered from 1",
            ));
        }
        if !(1..=MAX_PER_PAGE).contains(&size) {
            return Err(Error::invalid(
                "per_page",
                "out_of_range",
                format!("per_page must be between 1 and {MAX_PER_PAGE}"),
            ));
        }
        Ok(Self { number, size })
    }

    /// The page number.
    pub const fn number(self) -> u32 {
        self.number
    }

    /// The page size.
    pub const fn size(self) -> u32 {
        self.size
    }

    /// This page of `items`.
    pub fn of<T: Clone>(self, items: &[T]) -> Paged<T> {
        let start = usize::try_from(u64::from(self.number - 1) * u64::from(self.size))
            .unwrap_or(usize::MAX);
        let size = usize::try_from(self.size).unwrap_or(usize::MAX);
        Paged {
            items: items.iter().skip(start).take(size).cloned().collect(),
            total: items.len(),
            page: self,
        }
    }
}

/// One page of a list and the list's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many items the whole list has.
    pub total: usize,
    /// Which page this is.
    pub page: Page,
}

impl<T> Paged<T> {
    /// Whether a page follows this one.
    pub fn has_next(&self) -> bool {
        let shown = u64::from(self.page.number) * u64::from(self.page.size);
        shown < u64::try_from(self.total).unwrap_or(u64::MAX)
    }

    /// Whether a page precedes this one.
    pub fn has_prev(&self) -> bool {
        self.page.number > 1
    }
}

/// A specialty and how many public doctors have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specialty {
    /// The specialty, as Cliniko's `designation` spells it.
    pub name: String,
    /// Public doctors with it.
    pub doctors: usize,
}

/// Which doctors to list. Every condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoctorFilter {
    /// Specialty, compared without regard to case.
    pub specialty: Option<String>,
    /// Works at this clinic.
    pub clinic_id: Option<ClinikoId>,
    /// Offers this appointment type.
    pub appointment_type_id: Option<ClinikoId>,
    /// The name contains this text, without regard to case.
    pub q: Option<String>,
}

impl DoctorFilter {
    /// Whether `doctor` passes.
    pub fn matches(&self, doctor: &Doctor) -> bool {
        let specialty = self.specialty.as_deref().is_none_or(|wanted| {
            doctor
                .specialty
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(wanted.trim()))
        });
        let clinic = self
            .clinic_id
            .as_ref()
            .is_none_or(|c| doctor.clinic_ids.contains(c));
        let kind = self
            .appointment_type_id
            .as_ref()
            .is_none_or(|t| doctor.appointment_type_ids.contains(t));
        let name = self.q.as_deref().is_none_or(|q| {
            let q = q.trim().to_lowercase();
            [
                Some(doctor.display_name.as_str()),
                doctor.first_name.as_deref(),
                doctor.last_name.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|name| name.to_lowercase().contains(&q))
        });
        specialty && clinic && kind && name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_bounded_and_know_their_neighbours() {
        assert!(Page::new(Some(0), None).is_err());
        assert!(Page::new(None, Some(101)).is_err());
        assert!(Page::new(None, Some(0)).is_err());
        let items: Vec<u32> = (1..=5).collect();
        let first = Page::new(Some(1), Some(2)).unwrap().of(&items);
        assert_eq!((first.items.as_slice(), first.total), (&[1, 2][..], 5));
        assert!(first.has_next() && !first.has_prev());
        let last = Page::new(Some(3), Some(2)).unwrap().of(&items);
        assert_eq!(last.items, [5]);
        assert!(!last.has_next() && last.has_prev());
        let beyond = Page::new(Some(9), Some(2)).unwrap().of(&items);
        assert!(beyond.items.is_empty() && !beyond.has_next());
    }

    #[test]
    fn the_name_filter_matches_any_part_of_any_name_without_case() {
        let doctor = Doctor {
            id: ClinikoId::parse("1").unwrap(),
            display_name: "Eleanor Vance".into(),
            title: Some("Dr".into()),
            first_name: Some("Eleanor".into()),
            last_name: Some("Vance".into()),
            specialty: Some("Physiotherapist".into()),
            description: None,
            clinic_ids: vec![],
            appointment_type_ids: vec![],
        };
        let filter = |q: &str| DoctorFilter {
            q: Some(q.into()),
            ..DoctorFilter::default()
        };
        assert!(filter("vanc").matches(&doctor));
        assert!(!filter("marcus").matches(&doctor));
        let by_specialty = DoctorFilter {
            specialty: Some("physiotherapist".into()),
            ..DoctorFilter::default()
        };
        assert!(by_specialty.matches(&doctor));
    }
}
