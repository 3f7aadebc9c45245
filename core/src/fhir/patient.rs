//! `Patient` from a Cliniko patient.
//!
//! The resource is a struct borrowing from the Cliniko record and serialised straight to JSON:
//! a searchset page maps 50 of them, and building each as a `serde_json::Value` tree (a map per
//! object, then pruned into another) was most of the page's allocations. Empty parts are left
//! out by `skip_serializing_if`, as FHIR allows no empty strings, arrays or objects.

use serde::Serialize;
use serde_json::Value;

use super::{Identifier, Meta, Resource, trimmed};
use crate::cliniko::Patient;
use crate::{Error, Result};

/// FHIR's administrative gender from Cliniko's free-text sex.
fn gender(sex: Option<&str>) -> Option<&'static str> {
    match sex?.trim().to_ascii_lowercase().as_str() {
        "male" | "m" => Some("male"),
        "female" | "f" => Some("female"),
        "" => None,
        "unknown" => Some("unknown"),
        _ => Some("other"),
    }
}

/// FHIR's `ContactPoint.use` for Cliniko's phone types.
fn phone_use(kind: Option<&str>) -> Option<&'static str> {
    match kind?.to_ascii_lowercase().as_str() {
        "mobile" => Some("mobile"),
        "home" => Some("home"),
        "work" => Some("work"),
        _ => None,
    }
}

/// A Cliniko patient as a FHIR `Patient`, ready to serialise.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientResource<'a> {
    resource_type: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Meta>,
    identifier: [Identifier<'a>; 1],
    active: bool,
    name: Vec<HumanName<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    telecom: Vec<ContactPoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gender: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    birth_date: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    address: Vec<Address<'a>>,
}

#[derive(Debug, Serialize)]
struct HumanName<'a> {
    #[serde(rename = "use")]
    purpose: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given: Option<[&'a str; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<[&'a str; 1]>,
}

#[derive(Debug, Serialize)]
struct ContactPoint<'a> {
    system: &'static str,
    value: &'a str,
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    purpose: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Address<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    line: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
}

impl Address<'_> {
    fn is_empty(&self) -> bool {
        self.line.is_empty()
            && self.city.is_none()
            && self.state.is_none()
            && self.postal_code.is_none()
            && self.country.is_none()
    }
}

impl<'a> PatientResource<'a> {
    /// The resource of `p`.
    pub fn of(p: &'a Patient) -> Self {
        let family = trimmed(p.last_name.as_deref());
        let mut name = vec![HumanName {
            purpose: "official",
            family,
            given: trimmed(p.first_name.as_deref()).map(|given| [given]),
            prefix: trimmed(p.title.as_deref()).map(|title| [title]),
        }];
        if let Some(preferred) = trimmed(p.preferred_first_name.as_deref()) {
            name.push(HumanName {
                purpose: "usual",
                family,
                given: Some([preferred]),
                prefix: None,
            });
        }
        let mut telecom: Vec<ContactPoint<'a>> = p
            .phones()
            .iter()
            .filter_map(|phone| {
                trimmed(phone.number.as_deref()).map(|value| ContactPoint {
                    system: "phone",
                    value,
                    purpose: phone_use(phone.phone_type.as_deref()),
                })
            })
            .collect();
        if let Some(email) = trimmed(p.email.as_deref()) {
            telecom.push(ContactPoint {
                system: "email",
                value: email,
                purpose: None,
            });
        }
        let address = Address {
            line: [&p.address_1, &p.address_2, &p.address_3]
                .into_iter()
                .filter_map(|line| trimmed(line.as_deref()))
                .collect(),
            city: trimmed(p.city.as_deref()),
            state: trimmed(p.state.as_deref()),
            postal_code: trimmed(p.post_code.as_deref()),
            country: trimmed(p.country_code.as_deref()).or_else(|| trimmed(p.country.as_deref())),
        };
        Self {
            resource_type: "Patient",
            id: p.id.as_str(),
            meta: Meta::of(p.updated_at),
            identifier: [Identifier::of("patient", &p.id)],
            active: p.archived_at.is_none() && p.deleted_at.is_none(),
            name,
            telecom,
            gender: gender(p.sex.as_deref()),
            birth_date: p.date_of_birth.map(|d| d.format("%Y-%m-%d").to_string()),
            address: if address.is_empty() {
                Vec::new()
            } else {
                vec![address]
            },
        }
    }
}

impl Resource for PatientResource<'_> {
    fn resource_type(&self) -> &str {
        self.resource_type
    }

    fn id(&self) -> &str {
        self.id
    }
}

/// A Cliniko patient as a FHIR `Patient`, as JSON.
///
/// # Errors
/// None in practice (strings and booleans always serialise); `Internal` if serde ever refused.
pub fn patient(p: &Patient) -> Result<Value> {
    serde_json::to_value(PatientResource::of(p)).map_err(Error::internal)
}
