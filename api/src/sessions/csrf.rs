//! Cross-site request forgery protection for cookie-authenticated writes.
//!
//! A state-changing request (anything but GET, HEAD, OPTIONS) on a clinic host is accepted only
//! when its `Origin` header — or, when a browser sent none, its `Referer` — names exactly the
//! origin the request was sent to: the configured scheme, the clinic's host and the same port.
//! Browsers always send `Origin` on cross-origin writes and cannot be made to forge it; the
//! global `Referrer-Policy: same-origin` keeps `Referer` available for same-origin form posts.
//! Requests with neither header are refused: a browser always sends one of them.

use actix_web::HttpRequest;
use actix_web::http::{Method, StatusCode, header};
use url::Url;

use crate::config::PublicUrl;
use crate::http::host::request_host;
use crate::http::html::PageError;
use crate::http::problem::ApiError;

/// Whether `method` can change state (and so needs the origin check).
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A write refused by the origin check; it becomes the 403 problem `csrf_origin_mismatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrossOrigin;

impl From<CrossOrigin> for ApiError {
    fn from(_: CrossOrigin) -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_origin_mismatch",
            "this request did not come from a page of this clinic's site; reload the page and try again",
        )
    }
}

impl From<CrossOrigin> for PageError {
    fn from(err: CrossOrigin) -> Self {
        ApiError::from(err).into()
    }
}

/// Scheme, lowercase host without trailing dot, and port (explicit or the scheme's default).
fn origin_of(url: &Url) -> Option<(String, String, u16)> {
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    Some((url.scheme().to_owned(), host, url.port_or_known_default()?))
}

/// Refuses an unsafe request whose Origin/Referer is not the origin it was sent to.
///
/// # Errors
/// [`CrossOrigin`] (403 `csrf_origin_mismatch`).
pub fn require_same_origin(req: &HttpRequest, public_url: &PublicUrl) -> Result<(), CrossOrigin> {
    if !is_unsafe(req.method()) {
        return Ok(());
    }
    let scheme = if public_url.is_https() {
        "https"
    } else {
        "http"
    };
    let expected = request_host(req)
        .and_then(|host| Url::parse(&format!("{scheme}://{host}/")).ok())
        .as_ref()
        .and_then(origin_of)
        .ok_or(CrossOrigin)?;
    let header_value = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let claimed = match header_value(header::ORIGIN) {
        Some(origin) => origin,
        None => header_value(header::REFERER).ok_or(CrossOrigin)?,
    };
    // `Origin: null` (sandboxed frames, some redirects) does not parse as a URL with a host.
    let claimed = Url::parse(claimed).ok();
    match claimed.as_ref().and_then(origin_of) {
        Some(origin) if origin == expected => Ok(()),
        _ => Err(CrossOrigin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn public() -> PublicUrl {
        PublicUrl::parse("http://localhost:8080").unwrap()
    }

    fn check(method: Method, headers: &[(&str, &str)]) -> Result<(), CrossOrigin> {
        let mut req = TestRequest::default()
            .method(method)
            .insert_header(("host", "clinic-a.localhost:8080"));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        require_same_origin(&req.to_http_request(), &public())
    }

    #[test]
    fn reads_need_no_origin() {
        assert!(check(Method::GET, &[]).is_ok());
        assert!(check(Method::HEAD, &[("origin", "https://evil.example")]).is_ok());
    }

    #[test]
    fn a_write_from_the_same_clinic_origin_is_accepted() {
        assert!(
            check(
                Method::POST,
                &[("origin", "http://clinic-a.localhost:8080")]
            )
            .is_ok()
        );
        assert!(check(Method::PUT, &[("origin", "http://Clinic-A.localhost:8080")]).is_ok());
        assert!(
            check(
                Method::DELETE,
                &[("referer", "http://clinic-a.localhost:8080/settings/users")]
            )
            .is_ok()
        );
    }

    #[test]
    fn a_write_without_or_with_a_foreign_origin_is_refused() {
        for headers in [
            &[][..],
            &[("origin", "http://clinic-b.localhost:8080")][..],
            &[("origin", "http://clinic-a.localhost:9999")][..],
            &[("origin", "https://clinic-a.localhost:8080")][..],
            &[("origin", "http://localhost:8080")][..],
            &[("origin", "null")][..],
            &[("referer", "http://evil.example/")][..],
            // A same-origin Referer does not rescue a foreign Origin.
            &[
                ("origin", "http://evil.example"),
                ("referer", "http://clinic-a.localhost:8080/"),
            ][..],
        ] {
            assert!(check(Method::POST, headers).is_err(), "{headers:?}");
        }
    }
}
