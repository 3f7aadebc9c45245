//! What answers when no route does: 405 (with `Allow`) for a known path asked with the wrong
//! method, else 404 — both as problem+json.

use std::collections::HashMap;

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
        Some(pattern) => ApiError::method_not_allowed(
            state
                .allowed_methods
                .get(&pattern)
                .map_or("GET", String::as_str)
                .to_owned(),
        ),
        None => ApiError::not_found(),
    })
}

/// Each documented route's methods, e.g. `GET, POST`, for the `Allow` header of a 405 (routes
/// the spec leaves out, the pages, allow `GET`). Kept instead of the whole document, which is
/// large and needed for nothing else once served.
pub fn allowed_methods(spec: &OpenApi) -> HashMap<String, String> {
    spec.paths
        .paths
        .iter()
        .map(|(pattern, item)| {
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
            let allowed = if allowed.is_empty() {
                "GET".to_owned()
            } else {
                allowed.join(", ")
            };
            (pattern.clone(), allowed)
        })
        .collect()
}
