//! What every response carrying patient data shares, for the JSON routes and the pages alike:
//! the PHI headers, the request facts the access ledger records, and the optional
//! `Server-Timing`.

use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use clinicgate_core::ledger::RequestMeta;

use super::client_ip::client_ip;
use super::observe::current_request_id;
use crate::state::AppState;

/// The CSP of every patient response: nothing from another origin, no inline script, no
/// framing, no plugins.
pub const PHI_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

/// Adds the headers every response carrying patient data gets: never stored by a browser or a
/// proxy, a strict CSP, no `Referer` leaving with the patient's id, never framed.
pub fn phi_headers(response: &mut HttpResponse) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PHI_CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// Pages that list patients' names but hold forms (clinic home, search results): never stored,
/// and the default CSP (own origin only, never framed) already applies. They keep
/// `Referrer-Policy: same-origin`, because with `no-referrer` browsers send `Origin: null` on
/// form posts and the CSRF check would refuse every one.
pub fn phi_list_headers(response: &mut HttpResponse) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// What the ledger records about the request: client address, user agent, request id.
pub fn request_meta(req: &HttpRequest, state: &AppState) -> RequestMeta {
    RequestMeta {
        ip: Some(client_ip(req, state.settings.http.trust_forwarded_for))
            .filter(|ip| !ip.is_unspecified()),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        request_id: current_request_id(),
    }
}

/// Adds `Server-Timing` when configured: Cliniko's share and the whole handler's time.
pub fn server_timing(
    response: &mut HttpResponse,
    state: &AppState,
    started: Instant,
    cliniko: Option<Duration>,
) {
    if !state.settings.http.server_timing {
        return;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut value = format!("total;dur={:.3}", ms(started.elapsed()));
    if let Some(cliniko) = cliniko {
        value = format!("cliniko;dur={:.3}, {value}", ms(cliniko));
    }
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("server-timing"), value);
    }
}
