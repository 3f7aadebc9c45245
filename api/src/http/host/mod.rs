//! Tenant routing by Host (middleware and extractors): every request is classified by its Host
//! before any route sees it. Named apart from `clinicgate_core::tenancy`, which is who a request
//! acts for, not where it arrived.
//!
//! - the public root host: marked [`RootHost`] (landing page, sign-up, public API);
//! - `{label}.{public host}` of an existing, active clinic: the clinic is attached as
//!   [`TenantHost`];
//! - an unknown or suspended clinic's host, or any other host: a 404 that is identical for every
//!   such host, so nothing reveals which clinics exist, and that points to the public URL. Only
//!   the operator endpoints (`/healthz`, `/readyz`, `/metrics`) answer on any host, because load
//!   balancers and the `healthcheck` command address instances by IP — and the static assets,
//!   which hold nothing of any clinic's and without which that 404 page would show unstyled.
//!
//! The resolved host is *where* a request arrived, not *who* sent it: a [`TenantHost`] grants
//! nothing. A `TenantContext` comes only from authentication (see [`crate::sessions`]).

mod classify;

use std::future::{Ready, ready};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, ResponseError as _, web};
use clinicgate_core::clinics::{Clinic, ClinicStatus};

pub use classify::{HostKind, classify};

use super::problem::ApiError;

use crate::state::AppState;

/// Paths served on every host (see the module docs).
const ANY_HOST_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// The prefix of the static assets, also served on every host.
const STATIC_PREFIX: &str = "/static/";

/// The request arrived on the public root host.
#[derive(Debug, Clone, Copy)]
pub struct RootHost;

/// The request arrived on this (active) clinic's host.
#[derive(Debug, Clone)]
pub struct TenantHost(pub Clinic);

/// The Host of `req`: the URI authority (HTTP/2) or the `Host` header (HTTP/1.1). Never
/// `X-Forwarded-Host` or `Forwarded`, which a client can set to anything.
pub fn request_host(req: &HttpRequest) -> Option<&str> {
    req.uri()
        .authority()
        .map(|authority| authority.as_str())
        .or_else(|| req.headers().get(header::HOST)?.to_str().ok())
}

/// The middleware: classifies the Host, attaches [`RootHost`] or [`TenantHost`], or answers 404.
pub async fn route_by_host(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError(
            "application state missing",
        ));
    };
    // Assets need no clinic: looking one up for each stylesheet would cost a query for nothing.
    if req.path().starts_with(STATIC_PREFIX) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let kind = classify(
        request_host(req.request()),
        state.settings.public_url.host(),
    );
    match kind {
        HostKind::Root => {
            req.extensions_mut().insert(RootHost);
        }
        HostKind::Tenant(subdomain) => match state.clinics.find_by_subdomain(&subdomain).await {
            Ok(Some(clinic)) if clinic.status == ClinicStatus::Active => {
                req.extensions_mut().insert(TenantHost(clinic));
            }
            Ok(_) => return Ok(nothing_here(req, &state)),
            Err(err) => {
                let response = ApiError::from(err).error_response();
                return Ok(req.into_response(response));
            }
        },
        HostKind::Other if ANY_HOST_PATHS.contains(&req.path()) => {}
        HostKind::Other => return Ok(nothing_here(req, &state)),
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// The one 404 every unknown host gets: an HTML page for browsers, a problem otherwise.
fn nothing_here(req: ServiceRequest, state: &AppState) -> ServiceResponse<BoxBody> {
    let response = super::html::no_clinic_here(req.request(), state.settings.public_url.as_str());
    req.into_response(response)
}

/// Extension lookup shared by the two extractors: a route used on the wrong kind of host does
/// not exist there (404), exactly like an unknown path.
fn from_extensions<T: Clone + 'static>(req: &HttpRequest) -> Ready<Result<T, ApiError>> {
    ready(
        req.extensions()
            .get::<T>()
            .cloned()
            .ok_or_else(ApiError::not_found),
    )
}

impl FromRequest for TenantHost {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        from_extensions(req)
    }
}

impl FromRequest for RootHost {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            from_extensions(req)
                .into_inner()
                .map_err(|_| not_on_root(req)),
        )
    }
}

/// A root-host route (the public API, tokens, docs) asked on a clinic's host: still a 404, but
/// one that names the root host, since developers often start from a clinic's URL. The clinic's
/// host already answered, so naming the root reveals nothing.
fn not_on_root(req: &HttpRequest) -> ApiError {
    let on_clinic = req.extensions().get::<TenantHost>().is_some();
    match req.app_data::<web::Data<AppState>>() {
        Some(state) if on_clinic => {
            let root = state.settings.public_url.as_str().trim_end_matches('/');
            ApiError::new(
                StatusCode::NOT_FOUND,
                "use_root_host",
                format!(
                    "this is served on the root host, not on a clinic's host: use {root}{}",
                    req.path()
                ),
            )
        }
        _ => ApiError::not_found(),
    }
}
