//! The OpenAPI 3.1 document, generated from the route annotations. `clinicgate openapi` prints
//! it; `openapi/openapi.json` is the committed copy, checked for drift by the test suite and CI.

use actix_web::App;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt as _;

use crate::http::problem::{FieldProblem, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ClinicGate",
        description = "Multi-tenant integration gateway between clinics' Cliniko accounts, third-party apps and HL7 FHIR.\n\nEvery JSON error is `application/problem+json` (RFC 9457) with a stable `code`.",
        license(name = "AGPL-3.0-only", identifier = "AGPL-3.0-only"),
    ),
    tags((name = "operations", description = "Health, readiness and metrics for operators")),
    components(schemas(Problem, FieldProblem))
)]
struct ApiDoc;

/// The full document: the base above plus every annotated route registered by
/// [`crate::routes::configure`].
pub fn spec() -> utoipa::openapi::OpenApi {
    App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts()
        .1
}

/// The document as pretty JSON with a trailing newline, exactly as committed.
pub fn spec_json() -> Result<String, serde_json::Error> {
    spec().to_pretty_json().map(|json| json + "\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_openapi_3_1() {
        let json: serde_json::Value = serde_json::from_str(&super::spec_json().unwrap()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(json["paths"]["/readyz"]["get"].is_object());
    }
}
