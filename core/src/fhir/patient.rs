//! `Patient` from a Cliniko patient.

use serde_json::{Value, json};

use super::{identifier, meta, prune, text};
use crate::cliniko::Patient;

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

/// A Cliniko patient as a FHIR `Patient`.
pub fn patient(p: &Patient) -> Value {
    let mut names = vec![json!({
        "use": "official",
        "family": text(p.last_name.as_deref()),
        "given": text(p.first_name.as_deref()).into_iter().collect::<Vec<_>>(),
        "prefix": text(p.title.as_deref()).into_iter().collect::<Vec<_>>(),
    })];
    if let Some(preferred) = text(p.preferred_first_name.as_deref()) {
        names.push(
            json!({"use": "usual", "family": text(p.last_name.as_deref()), "given": [preferred]}),
        );
    }
    let mut telecom: Vec<Value> = p
        .phones()
        .iter()
        .filter_map(|phone| {
            text(phone.number.as_deref()).map(|number| {
                json!({"system": "phone", "value": number, "use": phone_use(phone.phone_type.as_deref())})
            })
        })
        .collect();
    if let Some(email) = text(p.email.as_deref()) {
        telecom.push(json!({"system": "email", "value": email}));
    }
    let lines: Vec<String> = [&p.address_1, &p.address_2, &p.address_3]
        .into_iter()
        .filter_map(|line| text(line.as_deref()))
        .collect();
    let address = json!({
        "line": lines,
        "city": text(p.city.as_deref()),
        "state": text(p.state.as_deref()),
        "postalCode": text(p.post_code.as_deref()),
        "country": text(p.country_code.as_deref()).or_else(|| text(p.country.as_deref())),
    });
    prune(json!({
        "resourceType": "Patient",
        "id": p.id.as_str(),
        "meta": meta(p.updated_at),
        "identifier": identifier("patient", &p.id),
        "active": p.archived_at.is_none() && p.deleted_at.is_none(),
        "name": names,
        "telecom": telecom,
        "gender": gender(p.sex.as_deref()),
        "birthDate": p.date_of_birth.map(|d| d.format("%Y-%m-%d").to_string()),
        "address": [address],
    }))
}
