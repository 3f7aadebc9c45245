//! `/healthz` (the process is alive) and `/readyz` (it can serve: database and shared store answer).

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// How long a readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Readiness, with each dependency's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every check is `ok`, else `not_ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// The database.
    pub database: Check,
    /// The shared-state store (Redis, or in-process).
    pub shared_store: Check,
}

/// One dependency check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// `ok` or `unavailable`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Which backend: `sqlite`, `postgres`, `redis`, `in-process`.
    #[schema(example = "sqlite")]
    pub backend: &'static str,
}

/// Liveness: answers 200 while the process can serve HTTP at all.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The process is alive", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Readiness: 200 when the database and the shared store answer, 503 naming the one that does not.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "A dependency is unreachable; the body says which", body = Readiness),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = async {
        tokio::time::timeout(CHECK_TIMEOUT, clinicgate_adapters::db::ping(&state.db))
            .await
            .is_ok_and(|r| r.is_ok())
    };
    let store = async {
        tokio::time::timeout(CHECK_TIMEOUT, state.store_probe.ping())
            .await
            .is_ok_and(|r| r.is_ok())
    };
    let (database_ok, store_ok) = futures::join!(database, store);
    let status = |ok: bool| if ok { "ok" } else { "unavailable" };
    let database_backend = clinicgate_adapters::db::backend_of(&state.db).name();
    let body = Readiness {
        status: if database_ok && store_ok {
            "ready"
        } else {
            "not_ready"
        },
        database: Check {
            status: status(database_ok),
            backend: database_backend,
        },
        shared_store: Check {
            status: status(store_ok),
            backend: state.store_probe.backend(),
        },
    };
    let mut response = if database_ok && store_ok {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .insert_header(("cache-control", "no-store"))
        .json(body)
}
