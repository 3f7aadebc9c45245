//! The OpenAPI 3.1 document, generated from the route annotations. `clinicgate openapi` prints
//! it; `openapi/openapi.json` is the committed copy, checked for drift by the test suite and CI.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::dev::HttpServiceFactory;
use actix_web::http::header::ContentType;
use actix_web::{App, HttpResponse, web};
use utoipa::OpenApi;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa_actix_web::{AppExt as _, OpenApiFactory};

use crate::auth::oauth::{SecuritySchemes, offer_client_credentials};
use crate::events::WebhookMessages;
use crate::http::problem::{FieldProblem, Problem};
use crate::http::responses::SharedResponses;
use crate::public::{DoctorAvailabilityOut, DoctorQueueOut, PatientEventOut};
use crate::routes::Routes;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ClinicGate",
        description = "Multi-tenant integration gateway between clinics' Cliniko accounts, third-party apps and HL7 FHIR.\n\nEvery JSON error is `application/problem+json` (RFC 9457) with a stable `code`.",
        license(name = "AGPL-3.0-only", identifier = "AGPL-3.0-only"),
    ),
    tags(
        (name = "operations", description = "Health, readiness and metrics for operators"),
        (name = "onboarding", description = "Signing a clinic up (on the root host)"),
        (name = "session", description = "Staff login sessions, on the clinic's own host `{subdomain}.{host}`. Writes must come from the same origin (`Origin` or `Referer`), or they are refused with 403 `csrf_origin_mismatch`."),
        (name = "clinic", description = "The clinic's settings, staff, Cliniko key and API clients, on the clinic's own host with a staff session. Another clinic's resources are 404; clinicians get 403 on everything but `GET /api/tenant` and reading `/api/tenant/webhooks` (an endpoint's deliveries included)."),
        (name = "auth", description = "OAuth 2.0 for API clients, on the root host: client-credentials tokens (RFC 6749 §4.4), introspection (RFC 7662 shape), revocation (RFC 7009 style) and the JWKS that verifies tokens offline. Tokens are EdDSA-signed JWTs with `iss` (the public URL), `aud` (`clinicgate-api`), `sub` (client id), `tid` (clinic id), `scope`, `iat`, `nbf`, `exp` (15 minutes) and `jti`."),
        (name = "patients", description = "Patients from the clinic's Cliniko, on the clinic's own host with a staff session. Patient responses carry `Cache-Control: no-store`, a strict CSP and `Referrer-Policy: no-referrer`; every one is recorded in the clinic's access ledger first, and not served if that fails."),
        (name = "audit", description = "The clinic's PHI access ledger, for owners and admins (clinicians get 403): who was shown which patient's data, what, how, when and from where. Entries are immutable: no route changes or deletes them."),
        (name = "webhooks", description = "Webhooks for third parties, on the root host with `Authorization: Bearer {access token}` carrying `webhooks:manage` (the event-type catalogue needs no token). A client registers endpoints for its clinic's events; an endpoint is sent only events whose data the client's scopes may read (appointment events need `appointments:read`, patient events `patients:read`, doctor events `doctors:read`). Messages follow Standard Webhooks: `POST` with `webhook-id` (the event's id, the same on every retry), `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of id.timestamp.body>` under the endpoint's secret; two signatures for 24 hours after a rotation), body `{\"type\", \"timestamp\", \"data\"}`. A 2xx answer delivers; timeouts, connection failures, 408, 409, 425, 429 and 5xx are retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (±20 %, honouring `Retry-After`); other answers fail at once. Delivery is at least once and per-endpoint order is not promised: de-duplicate on `webhook-id`. An endpoint failing every delivery for five days is disabled. Another client's or clinic's endpoint is 404. The document's top-level `webhooks` section describes each message an endpoint receives."),
        (name = "public", description = "The public API for third parties, on the root host, with `Authorization: Bearer {access token}`. Each route needs a scope (403 `insufficient_scope` names it). Every response carries `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers); beyond the client's limit, 429 with `Retry-After`."),
    ),
    components(schemas(Problem, FieldProblem, PatientEventOut, DoctorAvailabilityOut, DoctorQueueOut)),
    modifiers(&SessionCookie, &SecuritySchemes, &SharedResponses, &WebhookMessages)
)]
struct ApiDoc;

/// Declares the `session` security scheme: the session cookie set by `POST /api/session`.
struct SessionCookie;

impl utoipa::Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "cg_session",
                "The staff session cookie of a clinic host (`__Host-cg_session` over https), set by `POST /api/session` or the login page.",
            ))),
        );
    }
}

/// The full document: the base above plus every annotated route registered by
/// [`crate::routes::configure`].
pub fn spec() -> utoipa::openapi::OpenApi {
    let mut doc = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(|cfg| crate::routes::configure(cfg))
        .split_for_parts()
        .1;
    offer_client_credentials(&mut doc);
    doc
}

/// The document as pretty JSON with a trailing newline, exactly as committed.
pub fn spec_json() -> Result<String, serde_json::Error> {
    spec().to_pretty_json().map(|json| json + "\n")
}

/// `GET /openapi.json`: the document serialised at start-up (see [`AppState::openapi_json`]).
pub async fn serve_document(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(state.openapi_json.clone())
}

/// Every component schema the documented routes register, in order and with repeats. utoipa
/// keeps one schema per name in the document, so two Rust types registering the same name
/// silently replace each other there (a client generated from the document then expects the
/// wrong shape); the registrations, taken before that merge, are where the clash shows.
#[derive(Default)]
pub struct SchemaRegistrations(Vec<(String, RefOr<Schema>)>);

impl std::fmt::Debug for SchemaRegistrations {
    // utoipa's schemas implement `Debug` only with its `debug` feature: the names say enough.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

impl SchemaRegistrations {
    /// The registrations of the base document and of every route in [`crate::routes::configure`].
    pub fn of_all_routes() -> Self {
        let base = ApiDoc::openapi().components.unwrap_or_default().schemas;
        let mut registrations = Self(base.into_iter().collect());
        crate::routes::configure(&mut registrations);
        registrations
    }

    /// Names registered with two different schemas (so by two types), sorted.
    pub fn clashes(&self) -> Vec<String> {
        let mut seen: BTreeMap<&str, &RefOr<Schema>> = BTreeMap::new();
        let mut clashes = BTreeSet::new();
        for (name, schema) in &self.0 {
            match seen.get(name.as_str()) {
                Some(first) if *first != schema => {
                    clashes.insert(name.clone());
                }
                Some(_) => {}
                None => {
                    seen.insert(name, schema);
                }
            }
        }
        clashes.into_iter().collect()
    }
}

impl Routes for SchemaRegistrations {
    fn route<F: HttpServiceFactory + OpenApiFactory + 'static>(&mut self, factory: F) -> &mut Self {
        factory.schemas(&mut self.0);
        self
    }

    fn unlisted<F: HttpServiceFactory + 'static>(&mut self, _: F) -> &mut Self {
        self
    }

    fn pages(&mut self) -> &mut Self {
        self
    }

    fn fhir(&mut self) -> &mut Self {
        self
    }
}

#[cfg(test)]
mod tests {
    use utoipa::ToSchema;

    use super::*;

    #[test]
    fn the_document_is_openapi_3_1() {
        let json: serde_json::Value = serde_json::from_str(&super::spec_json().unwrap()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(json["paths"]["/readyz"]["get"].is_object());
    }

    #[test]
    fn every_reference_names_a_component_and_every_event_type_has_a_webhook_entry() {
        let text = super::spec_json().unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let components = json["components"]["schemas"].as_object().unwrap();
        for (at, _) in text.match_indices("\"#/components/schemas/") {
            let name: String = text[at + 22..].chars().take_while(|c| *c != '"').collect();
            assert!(
                components.contains_key(&name),
                "{name} is referenced but not defined"
            );
        }
        for event_type in clinicgate_core::events::EventType::ALL {
            let entry = &json["webhooks"][event_type.as_str()]["post"];
            assert!(entry["requestBody"].is_object(), "{event_type}");
        }
    }

    #[test]
    fn no_two_types_register_the_same_component_name() {
        let registrations = SchemaRegistrations::of_all_routes();
        assert!(
            registrations.0.len() > 50,
            "the routes' schemas were not collected"
        );
        assert_eq!(registrations.clashes(), Vec::<String>::new());
    }

    /// The statuses the shared machinery in front of handlers answers, by what the operation
    /// declares: a JSON body, a session, query parameters.
    #[test]
    fn every_operation_documents_what_its_extractors_and_doors_can_answer() {
        let json: serde_json::Value = serde_json::from_str(&super::spec_json().unwrap()).unwrap();
        let mut missing = Vec::new();
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let documented = op["responses"].as_object().unwrap();
                let mut expected = Vec::new();
                let json_body = op["requestBody"]["content"]["application/json"].is_object();
                // The OAuth endpoints read their own bodies and answer in RFC 6749's shape.
                if json_body && !path.starts_with("/api/auth/") {
                    expected.extend(["400", "413", "415", "422"]);
                }
                if op["security"].to_string().contains("\"session\"") {
                    expected.extend(["401", "403"]);
                }
                let has_query = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
                if has_query {
                    expected.extend(["400", "422"]);
                }
                for status in expected {
                    if !documented.contains_key(status) {
                        missing.push(format!("{method} {path}: {status}"));
                    }
                }
            }
        }
        assert_eq!(missing, Vec::<String>::new());
    }

    /// Two types that both call themselves `Twin`, as `ClinicOut` once did.
    #[derive(ToSchema)]
    #[schema(as = Twin)]
    #[expect(dead_code, reason = "only the schema matters")]
    struct StaffTwin {
        subdomain: String,
    }

    #[derive(ToSchema)]
    #[schema(as = Twin)]
    #[expect(dead_code, reason = "only the schema matters")]
    struct PublicTwin {
        address: String,
    }

    fn registration<T: ToSchema>() -> (String, RefOr<Schema>) {
        (T::name().into_owned(), T::schema())
    }

    #[test]
    fn a_name_registered_by_two_types_is_reported_once() {
        let registrations = SchemaRegistrations(vec![
            registration::<StaffTwin>(),
            registration::<PublicTwin>(),
            registration::<StaffTwin>(),
            registration::<Problem>(),
            registration::<Problem>(),
        ]);
        assert_eq!(registrations.clashes(), vec!["Twin".to_owned()]);
    }
}
