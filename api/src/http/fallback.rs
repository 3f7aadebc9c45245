//! What answers when no route does: 405 (with `Allow`) for a known path asked with the wrong
//! method, else 404 — both as problem+json.

use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::openapi::OpenApi;

use super::problem::ApiError;
use crate::state::AppState;

/// The default service.
pub async fn fallback(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // A registered resource matched the path, so only its method guards refused the request.
    Err(match req.match_pattern() {
        Some(pattern) => ApiError::method_not_allowed(allowed_methods(&state.openapi, &pattern)),
        None => ApiError::not_found(),
    })
}

/// The methods the spec documents for `pattern`, e.g. `GET, POST`.
fn allowed_methods(spec: &OpenApi, pattern: &str) -> String {
    let Some(item) = spec.paths.paths.get(pattern) else {
        return "GET".to_owned();
    };
    let methods = [
        ("GET", item.get.is_some()),
        ("PUT", item.put.is_some()),
        ("POST", item.post.is_some()),
        ("DELETE", item.delete.is_some()),
        ("PATCH", item.patch.is_some()),
    ];
    let allowed: Vec<_> = methods
        .iter()
        .filter(|(_, present)| *present)
        .map(|(m, _)| *m)
        .collect();
    if allowed.is_empty() {
        "GET".to_owned()
    } else {
        allowed.join(", ")
    }
}
