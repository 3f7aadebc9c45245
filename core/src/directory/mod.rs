//! The public directory of a clinic: its doctors (Cliniko practitioners), clinics (businesses)
//! and bookable appointment types, as partners see them through the public API.
//!
//! [`Directory::build`] is pure: it maps what Cliniko returned, applying [`Visibility`] once, so
//! every endpoint and the booking guard agree on what is public and who offers what where.
//! [`DirectoryService`] fetches the inputs through the adapter's reference cache.

mod query;
mod service;
mod visibility;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono_tz::Tz;

use crate::cliniko::{AppointmentType, Business, ClinikoId, Practitioner};

pub use query::{DoctorFilter, Page, Paged, Specialty};
pub use service::{DirectoryService, not_connected};
pub use visibility::Visibility;

/// A doctor: a public Cliniko practitioner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doctor {
    /// Cliniko's practitioner id.
    pub id: ClinikoId,
    /// The name shown to patients.
    pub display_name: String,
    /// Title, e.g. `Dr`.
    pub title: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Specialty (Cliniko's `designation`).
    pub specialty: Option<String>,
    /// Free-text description.
    pub description: Option<String>,
    /// Public clinics the doctor works at.
    pub clinic_ids: Vec<ClinikoId>,
    /// Public appointment types the doctor offers.
    pub appointment_type_ids: Vec<ClinikoId>,
}

/// A clinic: a public Cliniko business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clinic {
    /// Cliniko's business id.
    pub id: ClinikoId,
    /// Name shown to patients.
    pub name: String,
    /// Street address lines.
    pub address_lines: Vec<String>,
    /// City.
    pub city: Option<String>,
    /// State or region.
    pub state: Option<String>,
    /// Post code.
    pub post_code: Option<String>,
    /// Country name.
    pub country: Option<String>,
    /// ISO 3166-1 country code.
    pub country_code: Option<String>,
    /// The clinic's time zone (the business's, else the account's, else UTC).
    pub time_zone: Tz,
    /// Contact details as Cliniko holds them (free text).
    pub contact: Option<String>,
    /// Website.
    pub website: Option<String>,
    /// Appointment types offered here; empty when Cliniko does not say (then all are).
    offered_types: Vec<ClinikoId>,
}

/// A bookable appointment type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentKind {
    /// Cliniko's appointment type id.
    pub id: ClinikoId,
    /// Name.
    pub name: String,
    /// Category.
    pub category: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Length in minutes.
    pub duration_minutes: u32,
    /// Whether it is held by video.
    pub telehealth: bool,
    /// Public doctors offering it.
    pub doctor_ids: Vec<ClinikoId>,
}

/// What Cliniko returned, as [`Directory::build`] needs it.
#[derive(Debug, Clone, Default)]
pub struct DirectorySource {
    /// Every active practitioner.
    pub practitioners: Vec<Practitioner>,
    /// Every business.
    pub businesses: Vec<Business>,
    /// Every appointment type.
    pub appointment_types: Vec<AppointmentType>,
    /// For each public business, the practitioners working there.
    pub works_at: Vec<(ClinikoId, Vec<ClinikoId>)>,
    /// For each public practitioner, the appointment types they offer.
    pub offers: Vec<(ClinikoId, Vec<ClinikoId>)>,
    /// The account's time zone, for businesses without one.
    pub account_zone: Option<Tz>,
}

/// A clinic's public directory. Lists are sorted (doctors and types by name, clinics by name) so
/// pages are stable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Directory {
    doctors: Vec<Doctor>,
    clinics: Vec<Clinic>,
    appointment_types: Vec<AppointmentKind>,
    time_zone: Option<Tz>,
}

impl Directory {
    /// Maps Cliniko's records into the public directory, applying `visibility`.
    pub fn build(source: DirectorySource, visibility: Visibility) -> Self {
        let types: Vec<&AppointmentType> = source
            .appointment_types
            .iter()
            .filter(|t| visibility.appointment_type(t))
            .collect();
        let public_types: HashSet<&ClinikoId> = types.iter().map(|t| &t.id).collect();
        let mut clinics: Vec<Clinic> = source
            .businesses
            .iter()
            .filter(|b| visibility.business(b))
            .map(|b| clinic(b, source.account_zone))
            .collect();
        clinics.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        let public_clinics: HashSet<&ClinikoId> = clinics.iter().map(|c| &c.id).collect();

        let mut clinics_of: HashMap<&ClinikoId, Vec<ClinikoId>> = HashMap::new();
        for (business, practitioners) in &source.works_at {
            if !public_clinics.contains(business) {
                continue;
            }
            for practitioner in practitioners {
                clinics_of
                    .entry(practitioner)
                    .or_default()
                    .push(business.clone());
            }
        }
        let types_of: HashMap<&ClinikoId, Vec<ClinikoId>> = source
            .offers
            .iter()
            .map(|(practitioner, offered)| {
                let mut offered: Vec<ClinikoId> = offered
                    .iter()
                    .filter(|t| public_types.contains(t))
                    .cloned()
                    .collect();
                offered.sort();
                offered.dedup();
                (practitioner, offered)
            })
            .collect();

        let mut doctors: Vec<Doctor> = source
            .practitioners
            .iter()
            .filter(|p| visibility.practitioner(p))
            .map(|p| {
                let mut clinic_ids = clinics_of.get(&p.id).cloned().unwrap_or_default();
                clinic_ids.sort();
                clinic_ids.dedup();
                Doctor {
                    id: p.id.clone(),
                    display_name: p.name(),
                    title: p.title.clone(),
                    first_name: p.first_name.clone(),
                    last_name: p.last_name.clone(),
                    specialty: p.designation.clone(),
                    description: p.description.clone(),
                    clinic_ids,
                    appointment_type_ids: types_of.get(&p.id).cloned().unwrap_or_default(),
                }
            })
            .collect();
        doctors.sort_by(|a, b| {
            a.display_name
                .cmp(&b.display_name)
                .then_with(|| a.id.cmp(&b.id))
        });

        let mut appointment_types: Vec<AppointmentKind> = types
            .into_iter()
            .map(|t| AppointmentKind {
                id: t.id.clone(),
                name: t.name.clone().unwrap_or_default(),
                category: t.category.clone(),
                description: t.description.clone(),
                duration_minutes: t.duration_in_minutes.unwrap_or_default(),
                telehealth: t.telehealth_enabled == Some(true),
                doctor_ids: doctors
                    .iter()
                    .filter(|d| d.appointment_type_ids.contains(&t.id))
                    .map(|d| d.id.clone())
                    .collect(),
            })
            .collect();
        appointment_types.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        // One zone when every public business shares it; else the Cliniko account's when it was
        // read (for a business without a zone).
        let mut zones = clinics.iter().map(|c| c.time_zone);
        let time_zone = match zones.next() {
            Some(first) if zones.all(|zone| zone == first) => Some(first),
            _ => source.account_zone,
        };
        Self {
            doctors,
            clinics,
            appointment_types,
            time_zone,
        }
    }

    /// The practice's time zone: its public businesses' when they all share one, else the
    /// Cliniko account's when known; `None` otherwise.
    pub fn time_zone(&self) -> Option<Tz> {
        self.time_zone
    }

    /// Every public doctor.
    pub fn doctors(&self) -> &[Doctor] {
        &self.doctors
    }

    /// One public doctor.
    pub fn doctor(&self, id: &ClinikoId) -> Option<&Doctor> {
        self.doctors.iter().find(|d| &d.id == id)
    }

    /// Every public clinic.
    pub fn clinics(&self) -> &[Clinic] {
        &self.clinics
    }

    /// One public clinic.
    pub fn clinic(&self, id: &ClinikoId) -> Option<&Clinic> {
        self.clinics.iter().find(|c| &c.id == id)
    }

    /// Every public appointment type.
    pub fn appointment_types(&self) -> &[AppointmentKind] {
        &self.appointment_types
    }

    /// One public appointment type.
    pub fn appointment_type(&self, id: &ClinikoId) -> Option<&AppointmentKind> {
        self.appointment_types.iter().find(|t| &t.id == id)
    }

    /// Distinct specialties with how many doctors have each, by name.
    pub fn specialties(&self) -> Vec<Specialty> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for specialty in self.doctors.iter().filter_map(|d| d.specialty.as_deref()) {
            *counts.entry(specialty).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(name, doctors)| Specialty {
                name: name.to_owned(),
                doctors,
            })
            .collect()
    }

    /// Whether `doctor` offers `appointment_type` at `clinic`, all three public: the first step
    /// of the booking guard and the precondition of a slot search. The errors name each field
    /// that fails, so a partner can tell which id is wrong.
    pub fn check_offer(
        &self,
        doctor: &ClinikoId,
        clinic: &ClinikoId,
        appointment_type: &ClinikoId,
    ) -> crate::Result<Offer<'_>> {
        use crate::error::FieldError;
        let mut errors = Vec::new();
        let found_doctor = self.doctor(doctor);
        let found_clinic = self.clinic(clinic);
        let found_type = self.appointment_type(appointment_type);
        if found_doctor.is_none() {
            errors.push(FieldError::new(
                "doctor_id",
                "unknown",
                "no public doctor has this id",
            ));
        }
        if found_clinic.is_none() {
            errors.push(FieldError::new(
                "clinic_id",
                "unknown",
                "no public clinic has this id",
            ));
        }
        if found_type.is_none() {
            errors.push(FieldError::new(
                "appointment_type_id",
                "unknown",
                "no public appointment type has this id",
            ));
        }
        let (Some(doctor), Some(clinic), Some(kind)) = (found_doctor, found_clinic, found_type)
        else {
            return Err(crate::Error::Validation(errors));
        };
        if !doctor.clinic_ids.contains(&clinic.id) {
            errors.push(FieldError::new(
                "clinic_id",
                "not_offered",
                "the doctor does not work at this clinic",
            ));
        }
        let offered_here =
            clinic.offered_types.is_empty() || clinic.offered_types.contains(&kind.id);
        if !doctor.appointment_type_ids.contains(&kind.id) || !offered_here {
            errors.push(FieldError::new(
                "appointment_type_id",
                "not_offered",
                "the doctor does not offer this appointment type at this clinic",
            ));
        }
        if errors.is_empty() {
            Ok(Offer {
                doctor,
                clinic,
                appointment_type: kind,
            })
        } else {
            Err(crate::Error::Validation(errors))
        }
    }
}

/// A doctor, clinic and appointment type that go together.
#[derive(Debug, Clone, Copy)]
pub struct Offer<'a> {
    /// The doctor.
    pub doctor: &'a Doctor,
    /// The clinic.
    pub clinic: &'a Clinic,
    /// The appointment type.
    pub appointment_type: &'a AppointmentKind,
}

fn clinic(business: &Business, account_zone: Option<Tz>) -> Clinic {
    let time_zone = business
        .iana_time_zone()
        .and_then(|name| name.parse::<Tz>().ok())
        .or(account_zone)
        .unwrap_or(Tz::UTC);
    Clinic {
        id: business.id.clone(),
        name: business.name().to_owned(),
        address_lines: [&business.address_1, &business.address_2]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        city: business.city.clone(),
        state: business.state.clone(),
        post_code: business.post_code.clone(),
        country: business.country.clone(),
        country_code: business.country_code.clone(),
        time_zone,
        contact: business.contact_information.clone(),
        website: business.website_address.clone(),
        offered_types: business.appointment_type_ids.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> ClinikoId {
        ClinikoId::parse(raw).unwrap()
    }

    /// Two public practitioners and a hidden one, two businesses (one hidden), two types (one
    /// archived). Ids above 2^53.
    fn source() -> DirectorySource {
        let p = |raw: &str, name: &str, designation: &str, shown: bool| Practitioner {
            first_name: Some(name.to_owned()),
            last_name: Some("Doe".to_owned()),
            designation: Some(designation.to_owned()),
            active: Some(true),
            show_in_online_bookings: Some(shown),
            ..Practitioner::new(id(raw))
        };
        DirectorySource {
            practitioners: vec![
                p("9007199254740993", "Zed", "Physiotherapist", true),
                p("9007199254740995", "Amy", "Physiotherapist", true),
                p("9007199254740997", "Hid", "Osteopath", false),
            ],
            businesses: vec![
                Business {
                    business_name: Some("North".to_owned()),
                    show_in_online_bookings: Some(true),
                    time_zone_identifier: Some("Europe/London".to_owned()),
                    appointment_type_ids: vec![id("21"), id("22")],
                    ..Business::new(id("11"))
                },
                Business {
                    business_name: Some("Hidden".to_owned()),
                    show_in_online_bookings: Some(false),
                    ..Business::new(id("12"))
                },
            ],
            appointment_types: vec![
                AppointmentType {
                    name: Some("Initial".to_owned()),
                    duration_in_minutes: Some(60),
                    show_in_online_bookings: Some(true),
                    ..AppointmentType::new(id("21"))
                },
                AppointmentType {
                    name: Some("Old".to_owned()),
                    show_in_online_bookings: Some(true),
                    archived_at: "2020-01-01T00:00:00Z".parse().ok(),
                    ..AppointmentType::new(id("22"))
                },
            ],
            works_at: vec![
                (
                    id("11"),
                    vec![id("9007199254740993"), id("9007199254740997")],
                ),
                (id("12"), vec![id("9007199254740995")]),
            ],
            offers: vec![
                (id("9007199254740993"), vec![id("21"), id("22")]),
                (id("9007199254740995"), vec![id("21")]),
            ],
            account_zone: None,
        }
    }

    #[test]
    fn only_public_records_are_listed_sorted_by_name_with_exact_ids() {
        let directory = Directory::build(source(), Visibility::online_bookings());
        let names: Vec<_> = directory
            .doctors()
            .iter()
            .map(|d| d.display_name.as_str())
            .collect();
        assert_eq!(names, ["Amy Doe", "Zed Doe"]);
        let zed = directory.doctor(&id("9007199254740993")).unwrap();
        assert_eq!(zed.id.as_str(), "9007199254740993");
        assert_eq!(zed.clinic_ids, [id("11")]);
        assert_eq!(zed.appointment_type_ids, [id("21")], "archived types drop");
        let amy = directory.doctor(&id("9007199254740995")).unwrap();
        assert!(amy.clinic_ids.is_empty(), "hidden clinics drop");
        assert_eq!(directory.clinics().len(), 1);
        assert_eq!(directory.clinics()[0].time_zone, chrono_tz::Europe::London);
        assert_eq!(directory.appointment_types().len(), 1);
        assert_eq!(
            directory.specialties(),
            [Specialty {
                name: "Physiotherapist".into(),
                doctors: 2
            }]
        );
    }

    #[test]
    fn the_offer_check_names_each_field_that_does_not_fit() {
        let directory = Directory::build(source(), Visibility::online_bookings());
        assert!(
            directory
                .check_offer(&id("9007199254740993"), &id("11"), &id("21"))
                .is_ok()
        );
        let Err(crate::Error::Validation(errors)) =
            directory.check_offer(&id("9007199254740995"), &id("11"), &id("21"))
        else {
            panic!("Amy does not work at North");
        };
        assert_eq!(errors[0].field, "clinic_id");
        assert_eq!(errors[0].code, "not_offered");
        let Err(crate::Error::Validation(errors)) =
            directory.check_offer(&id("9007199254740997"), &id("12"), &id("22"))
        else {
            panic!("nothing here is public");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["doctor_id", "clinic_id", "appointment_type_id"]);
    }
}
