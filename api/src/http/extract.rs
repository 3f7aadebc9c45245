//! Extractor configuration: body-size limits, and extractor failures as problems instead of
//! actix's plain-text defaults.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};

use super::problem::ApiError;

/// JSON bodies: syntax errors are 400, well-formed JSON of the wrong shape is 422, too big is 413,
/// another content type is 415.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req: &HttpRequest| json_error(&err).into())
}

fn json_error(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => invalid_body(e),
        JsonPayloadError::Deserialize(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        ),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            "the request body could not be read",
        ),
    }
}

/// 422 `invalid_body`: well-formed JSON of the wrong shape (also for bodies a handler reads as
/// JSON first and converts itself).
pub fn invalid_body(err: &serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        format!("the JSON body does not match the expected shape: {err}"),
    )
}

/// Form bodies (`application/x-www-form-urlencoded`).
pub fn form_config(limit: usize) -> web::FormConfig {
    web::FormConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            let problem = match err {
                UrlencodedError::Overflow { limit, .. } => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the body is larger than {limit} bytes"),
                ),
                UrlencodedError::ContentType => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/x-www-form-urlencoded",
                ),
                other => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_form",
                    format!("the form body is invalid: {other}"),
                ),
            };
            problem.into()
        })
}

/// Query strings.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let QueryPayloadError::Deserialize(e) = &err else {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "the query string is invalid",
            )
            .into();
        };
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("the query string is invalid: {e}"),
        )
        .into()
    })
}

/// For `#[serde(default, deserialize_with = "explicit_null")]` on an `Option<Option<T>>` field:
/// tells an absent field (`None`, left as it is) from an explicit `null` (`Some(None)`, cleared).
///
/// # Errors
/// The deserializer's, for a value that is not a `T` or `null`.
pub fn explicit_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// Path parameters that do not parse (an id of the wrong shape) name nothing: 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err: PathError, _req| ApiError::not_found().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, HttpResponse, test};

    #[derive(serde::Deserialize)]
    struct Body {
        #[allow(dead_code, reason = "only the shape matters to the extractor")]
        count: u32,
    }

    async fn call(
        body: &'static str,
        content_type: &'static str,
    ) -> (StatusCode, serde_json::Value) {
        let app = test::init_service(App::new().app_data(json_config(64)).route(
            "/echo",
            web::post().to(|_: web::Json<Body>| async { HttpResponse::NoContent().finish() }),
        ))
        .await;
        let req = test::TestRequest::post()
            .uri("/echo")
            .insert_header(("content-type", content_type))
            .set_payload(body)
            .to_request();
        let res = test::call_service(&app, req).await;
        let status = res.status();
        let content = res
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content, "application/problem+json");
        (status, test::read_body_json(res).await)
    }

    #[actix_web::test]
    async fn malformed_json_is_a_400_problem() {
        let (status, body) = call("{\"count\": ", "application/json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "malformed_json");
    }

    #[actix_web::test]
    async fn json_of_the_wrong_shape_is_a_422_problem() {
        let (status, body) = call("{\"count\": \"many\"}", "application/json").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["code"], "invalid_body");
    }

    #[actix_web::test]
    async fn oversized_and_mistyped_bodies_are_refused_with_their_own_codes() {
        let (status, body) = call(
            "{\"count\": 1, \"padding\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
            "application/json",
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
        );
        let (status, body) = call("count=1", "text/plain").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("unsupported_media_type")
            )
        );
    }
}
