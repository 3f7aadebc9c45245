//! `GET /fhir/r4/metadata` (no authentication): the CapabilityStatement, listing exactly the
//! resources, interactions and search parameters this facade serves — built from the same
//! parameter lists the searches accept, so the two cannot drift apart.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use serde_json::{Value, json};

use super::{FHIR_JSON, appointment, flag, location, patient, practitioner, slot};
use crate::state::AppState;

/// The date this statement's content last changed (FHIR requires one).
const PUBLISHED: &str = "2026-12-07";

/// The FHIR type of each search parameter.
fn param_type(name: &str) -> &'static str {
    match name {
        "birthdate" | "date" | "start" | "_lastUpdated" => "date",
        "patient" | "practitioner" | "location" | "schedule" | "actor" => "reference",
        "family" | "given" | "name" => "string",
        _ => "token",
    }
}

/// One `rest.resource` entry.
fn resource(kind: &str, read: bool, search: &[&str], includes: &[&str], doc: &str) -> Value {
    let mut interactions = Vec::new();
    if read {
        interactions.push(json!({"code": "read"}));
    }
    interactions.push(json!({"code": "search-type"}));
    let params: Vec<Value> = search
        .iter()
        .map(|name| json!({"name": name, "type": param_type(name)}))
        .collect();
    let mut entry = json!({
        "type": kind,
        "interaction": interactions,
        "versioning": "no-version",
        "readHistory": false,
        "searchParam": params,
        "documentation": doc,
    });
    if !includes.is_empty() {
        entry["searchInclude"] = json!(includes);
    }
    entry
}

/// Adds `create` (conditional) and `update` to a resource entry.
fn writable(mut entry: Value) -> Value {
    if let Some(interactions) = entry["interaction"].as_array_mut() {
        interactions.extend([json!({"code": "create"}), json!({"code": "update"})]);
    }
    entry["conditionalCreate"] = json!(true);
    entry["updateCreate"] = json!(false);
    entry
}

/// The statement (without the server's own URL, added per request).
fn statement() -> &'static Value {
    static STATEMENT: OnceLock<Value> = OnceLock::new();
    STATEMENT.get_or_init(|| {
        json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": PUBLISHED,
            "publisher": "ClinicGate",
            "kind": "instance",
            "software": {"name": "ClinicGate", "version": env!("CARGO_PKG_VERSION")},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "description": "A read view of a clinic's Cliniko account as FHIR R4. The clinic is the one \
                the access token was issued for. Cliniko keeps medical alerts as free text (served as \
                Flag) and has no structured allergies or medications, so AllergyIntolerance and \
                MedicationStatement are not offered. SMART Backend Services: see \
                /.well-known/smart-configuration.",
            "rest": [{
                "mode": "server",
                "documentation": "Every search answers a searchset Bundle with total (left out for a Patient name search when not known exactly); _count (default 20, \
                    at most 100) and _summary=count are supported everywhere. next/previous links carry \
                    a sealed, expiring cursor. Unknown search parameters are ignored and reported in an \
                    OperationOutcome entry, or refused with Prefer: handling=strict.",
                "security": {
                    "cors": false,
                    "service": [{"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }], "text": "SMART Backend Services (OAuth 2.0 client credentials)"}],
                    "description": "Get a bearer token from POST /api/auth/token (OAuth 2.0 client \
                        credentials, client_secret_basic or private_key_jwt signed ES384 or RS384 with keys \
                        registered for the client; see /.well-known/smart-configuration). SMART v2 system \
                        scopes (system/Patient.rs, system/Appointment.cu, ...) are mapped onto these scopes: patients:read (Patient, Flag, \
                        _include=Appointment:patient), appointments:read (Appointment), appointments:write (Appointment create and update), doctors:read \
                        (Practitioner, PractitionerRole, Organization, Location, Schedule), slots:read (Slot).",
                },
                "resource": [
                    resource("Patient", true, patient::PARAMS, &[], "Cliniko patients. name matches patients whose last or first name contains the value (ignoring case); a name search's Bundle has a total only when it is known exactly, and its pages can hold fewer than _count. phone (Cliniko has no phone filter) finds candidates in an index ClinicGate's change detection keeps of keyed hashes of each patient's numbers and checks them on Cliniko's answer: digits compared, a trunk 0 or a country code in front ignored; a number added in Cliniko is found after the next poll, and the search answers 503 while a newly connected clinic is first read."),
                    resource("Practitioner", true, practitioner::PRACTITIONER_PARAMS, &[], "Cliniko's active practitioners."),
                    resource("PractitionerRole", true, practitioner::ROLE_PARAMS, &[], "One per practitioner: specialty from the designation, locations where they take online bookings, availableTime from Cliniko's weekly hours at those locations (each location's local clock)."),
                    resource("Organization", true, location::ORGANIZATION_PARAMS, &[], "The clinic (its Cliniko account)."),
                    resource("Location", true, location::LOCATION_PARAMS, &[], "Cliniko businesses."),
                    resource("Schedule", true, slot::SCHEDULE_PARAMS, &[], "One per practitioner and location taking online bookings; id {practitioner}-{location}."),
                    resource("Slot", true, slot::SLOT_PARAMS, &[], "Free slots from Cliniko's available times; schedule and service-type are required. A slot read by id is found while it is free."),
                    writable(resource("Appointment", true, appointment::PARAMS, appointment::INCLUDES, "Cliniko individual appointments. status searches take booked, arrived, noshow and cancelled (a comma list is OR); Cliniko cannot filter arrival, so booked and arrived are told apart on each page: those Bundles have no total and their pages can hold fewer than _count. \
                        create (appointments:write) books through ClinicGate's booking guard: status booked, a Patient participant, and \
                        one slot reference or start with Practitioner and Location participants and a serviceType; If-None-Exist and \
                        Idempotency-Key make retries safe. update cancels (status cancelled, cancelationReason coded with Cliniko's \
                        reason codes), moves (start) or annotates (comment); If-Match is honoured.")),
                    resource("Flag", true, flag::PARAMS, &[], "Cliniko medical alerts (free text); searches need a patient."),
                ],
            }],
        })
    })
}

/// `GET /fhir/r4/metadata`.
#[get("/metadata")]
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let mut body = statement().clone();
    body["implementation"] = json!({
        "description": "ClinicGate FHIR R4 facade",
        "url": format!("{}/fhir/r4", state.settings.public_url.as_str().trim_end_matches('/')),
    });
    HttpResponse::Ok()
        .content_type(FHIR_JSON)
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(body.to_string())
}
