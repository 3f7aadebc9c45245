//! HTML responses: the layout every page shares, the error pages (including the one 404 of
//! hosts without a clinic) and a deliberately tiny template renderer. Here rather than in
//! `pages` because host routing answers with the 404 page and the session door with redirects
//! and error pages, and neither may depend on the pages.
//!
//! Templates: `{{name}}` inserts a value HTML-escaped, `{{{name}}}` inserts already-rendered
//! HTML. They live in `frontend-static/pages/` and are embedded in the binary; a name missing
//! from the values is a bug, reported as an internal error rather than silently rendered empty.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use clinicgate_core::Error;

use super::observe::current_request_id;
use super::problem::ApiError;

const LAYOUT: &str = include_str!("../../../frontend-static/pages/layout.html");
const ERROR: &str = include_str!("../../../frontend-static/pages/error.html");

/// What the layout puts around a page's content; every part but `title` is rendered HTML.
#[derive(Debug)]
pub struct Layout<'a> {
    /// The `<title>` (the product name is appended).
    pub title: &'a str,
    /// Scripts to load, in order, from `/static/`.
    pub scripts: &'a [&'a str],
    /// After the brand: the clinic's name, or nothing.
    pub brand_suffix: &'a str,
    /// The navigation.
    pub nav: &'a str,
    /// The page body.
    pub content: &'a str,
}

impl Layout<'_> {
    /// Renders the page as an HTML response with `status`. Pages are never cached: they show
    /// who is logged in and clinic data.
    ///
    /// # Errors
    /// `Internal` if the layout is missing a value (a bug).
    pub fn respond(&self, status: StatusCode) -> Result<HttpResponse, Error> {
        let scripts: String = self
            .scripts
            .iter()
            .map(|name| format!("<script src=\"/static/{name}\" defer></script>"))
            .collect();
        let html = render(
            LAYOUT,
            &[
                ("title", self.title),
                ("scripts", &scripts),
                ("brand_suffix", self.brand_suffix),
                ("nav", self.nav),
                ("content", self.content),
            ],
        )?;
        Ok(HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html))
    }
}

/// What an error page says, kept in its response's extensions: the error does not know the
/// request, so a clinic host's pages (`pages::error_chrome`) put it back in the layout with the
/// clinic's name and navigation.
#[derive(Debug, Clone)]
pub struct ErrorPageBody {
    /// The `<title>`.
    pub title: String,
    /// The rendered `error.html`.
    pub content: String,
}

/// A page explaining an error, with the request id to quote and a way back to this host's home.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    error_page_homed(status, title, message, "/")
}

/// [`error_page`] whose way back leads to `home` (an absolute URL when this host has no home).
fn error_page_homed(status: StatusCode, title: &str, message: &str, home: &str) -> HttpResponse {
    let request_id = current_request_id().unwrap_or_default();
    let content = render(
        ERROR,
        &[
            ("title", title),
            ("message", message),
            ("status", status.as_str()),
            ("request_id", &request_id),
            ("home", home),
        ],
    );
    let page = content.and_then(|content| {
        let mut page = Layout {
            title,
            scripts: &[],
            brand_suffix: "",
            nav: "",
            content: &content,
        }
        .respond(status)?;
        page.extensions_mut().insert(ErrorPageBody {
            title: title.to_owned(),
            content,
        });
        Ok(page)
    });
    // The templates are embedded and tested; a plain-text answer is the last resort.
    page.unwrap_or_else(|_| {
        HttpResponse::build(status).body(format!("{title}. Request id: {request_id}"))
    })
}

/// Whether the client asked for HTML (a browser navigating) rather than JSON.
pub fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// The 404 of a host that is neither the public host nor an active clinic's: identical for every
/// such host (it names no clinic), and pointing to the public root URL, because whoever typed
/// `127.0.0.1:8080` or a mistyped clinic address needs to learn where ClinicGate actually is.
/// Also what a page route answers on the root host, so that page looks the same on every host
/// without a clinic. `html`: whether the client asked for HTML ([`wants_html`]).
pub fn unknown_host(html: bool, public_url: &str) -> HttpResponse {
    if !html {
        return ApiError::not_found().error_response();
    }
    error_page_homed(
        StatusCode::NOT_FOUND,
        "No ClinicGate here",
        &format!(
            "This address is not a ClinicGate clinic. ClinicGate is at {public_url}; \
             a clinic's pages are on its own address, which the clinic can tell you."
        ),
        public_url,
    )
}

/// [`unknown_host`] for a page route that needs a clinic and finds none on this host.
pub fn no_clinic_here(req: &HttpRequest, public_url: &str) -> HttpResponse {
    unknown_host(wants_html(req), public_url)
}

/// A 303 to `location`, never cached.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// An error while answering with a page: shown as an HTML page carrying the request id.
#[derive(Debug)]
pub struct PageError(Box<ApiError>);

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        Self(Box::new(err))
    }
}

impl From<Error> for PageError {
    fn from(err: Error) -> Self {
        Self(Box::new(err.into()))
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        // Rendering the problem logs a 5xx cause exactly once; the HTML replaces its body.
        let problem = self.0.error_response();
        let status = problem.status();
        let (title, message) = match status {
            StatusCode::NOT_FOUND => ("Page not found", "There is nothing at this address."),
            StatusCode::FORBIDDEN => (
                "Not allowed",
                "Your role in this clinic does not allow this. Ask an owner or admin of your clinic.",
            ),
            StatusCode::TOO_MANY_REQUESTS => {
                ("Too many requests", "Please wait a moment and try again.")
            }
            s if s.is_server_error() => (
                "Something went wrong",
                "ClinicGate could not complete this request. Try again shortly; if it keeps happening, quote the request id below.",
            ),
            _ => (
                "This request could not be completed",
                "Go back and try again.",
            ),
        };
        let mut page = error_page(status, title, message);
        if let Some(retry) = problem.headers().get(header::RETRY_AFTER) {
            page.headers_mut()
                .insert(header::RETRY_AFTER, retry.clone());
        }
        page
    }
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Renders `template` with `values` (name, value) — text values are escaped unless the
/// placeholder has three braces.
pub fn render(template: &str, values: &[(&str, &str)]) -> Result<String, Error> {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let (raw, open, close) = if after.starts_with("{{{") {
            (true, 3, "}}}")
        } else {
            (false, 2, "}}")
        };
        let end = after[open..]
            .find(close)
            .ok_or_else(|| Error::internal("unterminated template placeholder"))?;
        let name = after[open..open + end].trim();
        let value = values
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
            .ok_or_else(|| Error::internal(format!("template value {name:?} missing")))?;
        if raw {
            out.push_str(value);
        } else {
            out.push_str(&escape(value));
        }
        rest = &after[open + end + close.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_html_is_inserted_as_is() {
        let page = render(
            "<h1>{{ title }}</h1>{{{body}}}<a title=\"{{title}}\">",
            &[("title", "<A&B \"x\" 'y'>"), ("body", "<p>ok</p>")],
        )
        .unwrap();
        assert_eq!(
            page,
            "<h1>&lt;A&amp;B &quot;x&quot; &#39;y&#39;&gt;</h1><p>ok</p><a title=\"&lt;A&amp;B &quot;x&quot; &#39;y&#39;&gt;\">"
        );
    }

    #[test]
    fn a_missing_value_or_a_broken_placeholder_is_an_error() {
        assert!(render("{{nope}}", &[]).is_err());
        assert!(render("{{open", &[("open", "")]).is_err());
        assert_eq!(render("no placeholders", &[]).unwrap(), "no placeholders");
    }
}
