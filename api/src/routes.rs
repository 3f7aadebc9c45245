//! Every JSON route, registered in one place so the server and the OpenAPI document can never
//! disagree about what exists.

use utoipa_actix_web::service_config::ServiceConfig;

use crate::ops;

/// Registers the documented routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics);
}
