//! Security headers on every response. Handlers may set stricter values (patient pages send
//! `Referrer-Policy: no-referrer` and `Cache-Control: no-store`); these are defaults only.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;

/// For every page and response: only our own origin, never framed, no plugins.
const CSP_DEFAULT: &str = "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'";
/// Swagger UI sets inline style attributes and data: images; it still loads no script from elsewhere.
const CSP_DOCS: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'";
/// Two years, per the HSTS preload guidance.
const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Adds the default security headers (not overriding any the handler set). `hsts` is true when
/// the public URL is https.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    hsts: bool,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let is_docs = req.path() == "/docs" || req.path().starts_with("/docs/");
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    let mut default = |name: HeaderName, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    default(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // `same-origin`, not `no-referrer`: with no-referrer browsers send `Origin: null` on form
    // posts, which would defeat the same-origin CSRF check.
    default(header::REFERRER_POLICY, "same-origin");
    default(header::X_FRAME_OPTIONS, "DENY");
    default(
        header::CONTENT_SECURITY_POLICY,
        if is_docs { CSP_DOCS } else { CSP_DEFAULT },
    );
    default(
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    if hsts {
        default(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    Ok(response)
}
