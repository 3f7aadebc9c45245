//! `/api/tenant/fhir-destinations`: the clinic's own FHIR servers, which its patients and
//! appointments are pushed to (owners and admins, on the clinic's host); "test connection";
//! each destination's deliveries and "retry now"; and the public JWKS of a SMART destination's
//! key pair (`GET /fhir-destinations/{destination_id}/jwks.json`, no session: the FHIR server
//! fetches it); and "send existing records" (`…/backfill`). Secrets and private keys are
//! write-only or never leave the server.

mod dto;

use actix_web::{HttpResponse, delete, get, post, put, web};
use clinicgate_core::delivery::DeliveryId;
use clinicgate_core::fhir_push::FhirDestinationId;

pub use dto::{
    BackfillCountOut, ConnectionReportOut, DestinationAuthIn, DestinationAuthOut, FhirBackfillOut,
    FhirBackfillStartOut, FhirBackfillStatusOut, FhirDestinationIn, FhirDestinationOut,
    FhirDestinationsOut,
};

use crate::http::host::TenantHost;
use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, QueryErrors, SessionErrors, route_problems};
use crate::http::webhooks::{
    ResendOut, WebhookDeliveriesOut, WebhookDeliveriesQuery, deliveries_answer, resend_answer,
};
use crate::sessions::Authenticated;
use crate::state::AppState;

route_problems!(
    /// What creating or changing a FHIR destination answers itself.
    PutDestinationProblems {
        404 => "No such FHIR destination in this clinic",
        422 => "Invalid name, base URL or token URL (refused by the outbound guard, e.g. `address_not_allowed`), client id, secret, scope, signing algorithm or resources, each named in `errors`; or JSON of the wrong shape (`invalid_body`)",
    }
);

route_problems!(
    /// What the routes of one FHIR destination answer themselves.
    DestinationProblems {
        404 => "No such FHIR destination in this clinic",
    }
);

route_problems!(
    /// What starting a destination's backfill answers itself.
    BackfillProblems {
        404 => "No such FHIR destination in this clinic",
        409 => "The destination is switched off (`fhir_destination_disabled`)",
    }
);

route_problems!(
    /// What a destination's delivery history and "retry now" answer themselves.
    DestinationActivityProblems {
        404 => "No such FHIR destination in this clinic, or no such delivery to it",
        422 => "The event is older than the retention (`beyond_retention`)",
    }
);

/// The clinic's own URL (where its destinations' JWKS are published).
fn clinic_url(host: &TenantHost, state: &AppState) -> String {
    state
        .settings
        .public_url
        .tenant_url(host.0.subdomain.as_str())
}

fn ok_json(body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(body)
}

/// The clinic's FHIR destinations, oldest first (never a secret or private key).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "The destinations", body = FhirDestinationsOut),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/fhir-destinations")]
pub async fn list_fhir_destinations(
    auth: Authenticated,
    host: TenantHost,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let destinations = state.fhir_destinations.list(auth.ctx()).await?;
    let data = destinations
        .into_iter()
        .map(|d| FhirDestinationOut::new(d, &clinic_url(&host, &state)))
        .collect();
    Ok(ok_json(&FhirDestinationsOut { data }))
}

/// Adds a FHIR destination. From then on the clinic's patient and appointment events are pushed
/// there as conditional updates (see `docs/fhir.md`). A client secret is stored encrypted and
/// never shown again; for SMART Backend Services ClinicGate makes a key pair and publishes its
/// public key at `jwks_url`.
#[utoipa::path(
    tag = "clinic",
    request_body = FhirDestinationIn,
    responses(
        (status = 201, description = "Created", body = FhirDestinationOut),
        SessionErrors, JsonBodyErrors,
        PutDestinationProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/fhir-destinations")]
pub async fn create_fhir_destination(
    auth: Authenticated,
    host: TenantHost,
    state: web::Data<AppState>,
    body: web::Json<FhirDestinationIn>,
) -> Result<HttpResponse, ApiError> {
    let destination = state
        .fhir_destinations
        .create(auth.ctx(), body.into_inner().into())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(FhirDestinationOut::new(
            destination,
            &clinic_url(&host, &state),
        )))
}

/// One FHIR destination.
#[utoipa::path(
    tag = "clinic",
    params(("destination_id" = Uuid, Path, description = "The destination")),
    responses(
        (status = 200, description = "The destination", body = FhirDestinationOut),
        SessionErrors,
        DestinationProblems,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/fhir-destinations/{destination_id}")]
pub async fn get_fhir_destination(
    auth: Authenticated,
    host: TenantHost,
    state: web::Data<AppState>,
    id: web::Path<FhirDestinationId>,
) -> Result<HttpResponse, ApiError> {
    let destination = state.fhir_destinations.get(auth.ctx(), *id).await?;
    Ok(ok_json(&FhirDestinationOut::new(
        destination,
        &clinic_url(&host, &state),
    )))
}

/// Reconfigures a FHIR destination (all fields, as when created). Omit `client_secret` to keep
/// the stored one; a SMART destination keeps its key pair.
#[utoipa::path(
    tag = "clinic",
    params(("destination_id" = Uuid, Path, description = "The destination")),
    request_body = FhirDestinationIn,
    responses(
        (status = 200, description = "Stored", body = FhirDestinationOut),
        SessionErrors, JsonBodyErrors,
        PutDestinationProblems,
    ),
    security(("session" = []))
)]
#[put("/api/tenant/fhir-destinations/{destination_id}")]
pub async fn update_fhir_destination(
    auth: Authenticated,
    host: TenantHost,
    state: web::Data<AppState>,
    id: web::Path<FhirDestinationId>,
    body: web::Json<FhirDestinationIn>,
) -> Result<HttpResponse, ApiError> {
    let destination = state
        .fhir_destinations
        .update(auth.ctx(), *id, body.into_inner().into())
        .await?;
    Ok(ok_json(&FhirDestinationOut::new(
        destination,
        &clinic_url(&host, &state),
    )))
}

/// Removes a FHIR destination: nothing more is pushed there, and deliveries still queued fail
/// without an attempt.
#[utoipa::path(
    tag = "clinic",
    params(("destination_id" = Uuid, Path, description = "The destination")),
    responses(
        (status = 204, description = "Removed"),
        SessionErrors,
        DestinationProblems,
    ),
    security(("session" = []))
)]
#[delete("/api/tenant/fhir-destinations/{destination_id}")]
pub async fn delete_fhir_destination(
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<FhirDestinationId>,
) -> Result<HttpResponse, ApiError> {
    state.fhir_destinations.delete(auth.ctx(), *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// "Test connection": `GET {base_url}/metadata` and, with OAuth, a new token from the token
/// endpoint. Always 200 with what each check found (a failing server is a result, not an error).
#[utoipa::path(
    tag = "clinic",
    params(("destination_id" = Uuid, Path, description = "The destination")),
    responses(
        (status = 200, description = "What the checks found", body = ConnectionReportOut),
        SessionErrors,
        DestinationProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/fhir-destinations/{destination_id}/test")]
pub async fn test_fhir_destination(
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<FhirDestinationId>,
) -> Result<HttpResponse, ApiError> {
    let target = state.fhir_destinations.connection(auth.ctx(), *id).await?;
    let report = state.fhir_push.test_connection(&target).await;
    Ok(ok_json(&ConnectionReportOut::from(report)))
}

/// The pushes to a FHIR destination, newest first, each with its attempts (the server's status
/// code and the first KiB of its answer), paged and filtered like a webhook endpoint's.
#[utoipa::path(
    tag = "clinic",
    params(("destination_id" = Uuid, Path, description = "The destination"), WebhookDeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = WebhookDeliveriesOut),
        SessionErrors, QueryErrors,
        DestinationActivityProblems,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/fhir-destinations/{destination_id}/deliveries")]
pub async fn list_fhir_destination_deliveries(
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<FhirDestinationId>,
    query: web::Query<WebhookDeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, limit) = query.filter()?;
    let page = state
        .fhir_destinations
        .deliveries(auth.ctx(), *id, filter, limit)
        .await?;
    Ok(deliveries_answer(page))
}

/// "Retry now": pushes a delivery's record to the destination again, due now (a new delivery).
#[utoipa::path(
    tag = "clinic",
    params(
        ("destination_id" = Uuid, Path, description = "The destination"),
        ("delivery_id" = Uuid, Path, description = "The delivery to send again"),
    ),
    responses(
        (status = 202, description = "Queued", body = ResendOut),
        SessionErrors,
        DestinationActivityProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/fhir-destinations/{destination_id}/deliveries/{delivery_id}/retry")]
pub async fn retry_fhir_destination_delivery(
    auth: Authenticated,
    state: web::Data<AppState>,
    path: web::Path<(FhirDestinationId, DeliveryId)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let resent = state
        .fhir_destinations
        .retry(auth.ctx(), id, delivery)
        .await?;
    Ok(resend_answer(&state, resent))
}

/// The public key of a SMART Backend Services destination's key pair, as a JWKS, for the FHIR
/// server to register (by URL or by copying it). No session: public keys are public. Another
/// clinic's destination, or one without a key pair: 404.
#[utoipa::path(
    tag = "clinic",
    params(("destination_id" = Uuid, Path, description = "The destination")),
    responses(
        (status = 200, description = "The JWKS (one key: ES384 EC P-384 or RS384 RSA)", body = Object),
        DestinationProblems,
    ),
)]
#[get("/fhir-destinations/{destination_id}/jwks.json")]
pub async fn fhir_destination_jwks(
    host: TenantHost,
    state: web::Data<AppState>,
    id: web::Path<FhirDestinationId>,
) -> Result<HttpResponse, ApiError> {
    let TenantHost(clinic) = host;
    let jwks = state.fhir_destinations.jwks(clinic.id, *id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=300"))
        .content_type("application/jwk-set+json")
        .body(jwks.to_string()))
}

/// "Send existing records": queues the clinic's current Cliniko patients (and, when the
/// destination takes appointments, those starting from 30 days ago to 90 days ahead) to the
/// destination, through the same deliveries as new records. Cliniko is read in the background
/// within the clinic's budget; progress is kept in the database, so a run survives a restart and
/// any instance resumes it. Pressed while a run goes, nothing new starts (`started: false`); a
/// finished run can be started again.
#[utoipa::path(
    tag = "clinic",
    params(("destination_id" = Uuid, Path, description = "The destination")),
    responses(
        (status = 202, description = "Started, or already running", body = FhirBackfillStartOut),
        SessionErrors,
        BackfillProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/fhir-destinations/{destination_id}/backfill")]
pub async fn start_fhir_destination_backfill(
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<FhirDestinationId>,
) -> Result<HttpResponse, ApiError> {
    let (backfill, started) = state.fhir_backfill.start(auth.ctx(), *id).await?;
    if started {
        let (runner, tenant, id) = (state.fhir_backfill.clone(), auth.ctx().tenant_id(), *id);
        // The request answers at once; the run pages through Cliniko at the background lane's
        // pace. Should this instance stop, the upkeep of any instance resumes it.
        actix_web::rt::spawn(async move {
            if let Err(err) = runner.run(tenant, id).await {
                tracing::warn!(error = %err, fhir_destination_id = %id, "a FHIR backfill stopped; the upkeep resumes it");
            }
        });
    }
    Ok(HttpResponse::Accepted()
        .insert_header(("cache-control", "no-store"))
        .json(FhirBackfillStartOut {
            started,
            backfill: backfill.into(),
        }))
}

/// Where the destination's latest "send existing records" run stands (`backfill` is `null`
/// when there was none).
#[utoipa::path(
    tag = "clinic",
    params(("destination_id" = Uuid, Path, description = "The destination")),
    responses(
        (status = 200, description = "The latest run", body = FhirBackfillStatusOut),
        SessionErrors,
        DestinationProblems,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/fhir-destinations/{destination_id}/backfill")]
pub async fn get_fhir_destination_backfill(
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<FhirDestinationId>,
) -> Result<HttpResponse, ApiError> {
    let backfill = state.fhir_backfill.status(auth.ctx(), *id).await?;
    Ok(ok_json(&FhirBackfillStatusOut {
        backfill: backfill.map(Into::into),
    }))
}
