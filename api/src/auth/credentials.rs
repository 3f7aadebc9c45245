//! Reading credentials from requests: `Authorization: Bearer` tokens (RFC 6750 §2.1),
//! `Authorization: Basic` client credentials (RFC 6749 §2.3.1), and the parameters of an OAuth
//! request body, form-encoded (the standard) or JSON (accepted too).

use std::collections::HashMap;

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::future::LocalBoxFuture;

use super::oauth::OAuthError;
use crate::state::AppState;

/// What the `Authorization` header holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Authorization<'a> {
    /// None at all.
    Missing,
    /// `Bearer {token}`.
    Bearer(&'a str),
    /// `Basic {base64}`, not decoded yet.
    Basic(&'a str),
    /// Something else (another scheme, several headers, not text).
    Other,
}

/// The request's `Authorization` header, by scheme (case-insensitive, RFC 9110 §11.1).
pub fn authorization(req: &HttpRequest) -> Authorization<'_> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let (Some(value), None) = (values.next(), values.next()) else {
        return if req.headers().contains_key(header::AUTHORIZATION) {
            Authorization::Other
        } else {
            Authorization::Missing
        };
    };
    let Ok(value) = value.to_str() else {
        return Authorization::Other;
    };
    let Some((scheme, credentials)) = value.trim().split_once(' ') else {
        return Authorization::Other;
    };
    let credentials = credentials.trim();
    if credentials.is_empty() {
        Authorization::Other
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Authorization::Bearer(credentials)
    } else if scheme.eq_ignore_ascii_case("basic") {
        Authorization::Basic(credentials)
    } else {
        Authorization::Other
    }
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space), as the WHATWG
/// URL standard does: an escape that is not `%` and two hex digits stays as it is.
fn form_decode(component: &str) -> Option<String> {
    let spaced = component.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// The `(client_id, client_secret)` of a Basic header's credentials: base64 of the two
/// form-encoded values joined by `:` (RFC 6749 §2.3.1).
pub fn basic_credentials(encoded: &str) -> Option<(String, String)> {
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// The client's credentials, from exactly one authentication method (RFC 6749 §2.3).
pub fn client_credentials(
    req: &HttpRequest,
    params: &Params,
) -> Result<(String, String), OAuthError> {
    match authorization(req) {
        Authorization::Basic(encoded) => {
            let (id, secret) = basic_credentials(encoded).ok_or_else(OAuthError::invalid_client)?;
            if params.get("client_secret").is_some()
                || params.get("client_id").is_some_and(|body_id| body_id != id)
            {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method: HTTP Basic or client_id and client_secret in the body, not both",
                ));
            }
            Ok((id, secret))
        }
        Authorization::Missing => match (params.get("client_id"), params.get("client_secret")) {
            (Some(id), Some(secret)) => Ok((id.to_owned(), secret.to_owned())),
            _ => Err(OAuthError::invalid_client()),
        },
        Authorization::Bearer(_) | Authorization::Other => Err(OAuthError::invalid_client()),
    }
}

/// An OAuth request's parameters. Empty values count as absent (RFC 6749 §3.1); a parameter
/// given twice is an `invalid_request`. As an extractor it reads the body itself, so that even a
/// body over the limit is answered in the OAuth error shape (413 `invalid_request`), not with
/// actix's plain-text 413.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl FromRequest for Params {
    type Error = OAuthError;
    type Future = LocalBoxFuture<'static, Result<Self, OAuthError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body.await.map_err(|err| unreadable_body(&req, &err))?;
            Self::parse(&req, &body)
        })
    }
}

/// The OAuth error for a body that could not be read: too large (413), or cut off (400).
fn unreadable_body(req: &HttpRequest, err: &actix_web::Error) -> OAuthError {
    if err.as_response_error().status_code() != StatusCode::PAYLOAD_TOO_LARGE {
        return OAuthError::invalid_request("the request body could not be read");
    }
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.settings.http.body_limit_bytes);
    let description = match limit {
        Some(limit) => format!("the body is larger than {limit} bytes"),
        None => "the body is too large".to_owned(),
    };
    OAuthError::OAuth {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        error: "invalid_request",
        description: Some(description),
        challenge: None,
    }
}

impl Params {
    /// Parses `body` by the request's content type; an empty body has no parameters.
    pub fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, OAuthError> {
        if body.is_empty() {
            return Ok(Self::default());
        }
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let pairs: Vec<(String, String)> = match content_type.as_str() {
            "application/x-www-form-urlencoded" => serde_urlencoded::from_bytes(body)
                .map_err(|_| OAuthError::invalid_request("the form body could not be parsed"))?,
            "application/json" => {
                let object: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(body).map_err(|_| {
                        OAuthError::invalid_request("the body is not a JSON object")
                    })?;
                object
                    .into_iter()
                    .map(|(key, value)| match value {
                        serde_json::Value::String(text) => Ok((key, text)),
                        _ => Err(OAuthError::invalid_request(format!(
                            "parameter {key} must be a string"
                        ))),
                    })
                    .collect::<Result<_, _>>()?
            }
            _ => {
                return Err(OAuthError::invalid_request(
                    "send the parameters as application/x-www-form-urlencoded (or application/json)",
                ));
            }
        };
        let mut params = HashMap::new();
        for (key, value) in pairs {
            if params.insert(key.clone(), value).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {key} is given more than once"
                )));
            }
        }
        params.retain(|_, value| !value.is_empty());
        Ok(Self(params))
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn the_authorization_scheme_is_case_insensitive_and_must_carry_credentials() {
        let req = |value: &str| {
            TestRequest::default()
                .insert_header((header::AUTHORIZATION, value))
                .to_http_request()
        };
        assert_eq!(
            authorization(&req("bearer abc.def")),
            Authorization::Bearer("abc.def")
        );
        assert_eq!(
            authorization(&req("Basic eDp5")),
            Authorization::Basic("eDp5")
        );
        assert_eq!(authorization(&req("Bearer ")), Authorization::Other);
        assert_eq!(authorization(&req("Token abc")), Authorization::Other);
        assert_eq!(
            authorization(&TestRequest::default().to_http_request()),
            Authorization::Missing
        );
    }

    #[test]
    fn basic_credentials_are_form_decoded_after_base64() {
        let encoded = STANDARD.encode("my%20client:s%3Acret+x");
        assert_eq!(
            basic_credentials(&encoded),
            Some(("my client".to_owned(), "s:cret x".to_owned()))
        );
        assert_eq!(basic_credentials(&STANDARD.encode("no-colon")), None);
        assert_eq!(basic_credentials("%%%"), None);
        assert_eq!(
            basic_credentials(&STANDARD.encode("id:bad%zz")),
            Some(("id".to_owned(), "bad%zz".to_owned()))
        );
        assert_eq!(basic_credentials(&STANDARD.encode("id:%FF")), None);
    }

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        let form = TestRequest::default()
            .insert_header((
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            ))
            .to_http_request();
        let params = Params::parse(&form, b"grant_type=client_credentials&scope=").unwrap();
        assert_eq!(params.get("grant_type"), Some("client_credentials"));
        assert_eq!(params.get("scope"), None);
        assert!(Params::parse(&form, b"scope=a&scope=b").is_err());

        let json = TestRequest::default()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .to_http_request();
        assert_eq!(
            Params::parse(&json, br#"{"grant_type":"client_credentials"}"#)
                .unwrap()
                .get("grant_type"),
            Some("client_credentials")
        );
        assert!(Params::parse(&json, br#"{"scope":["a"]}"#).is_err());
        let text = TestRequest::default()
            .insert_header((header::CONTENT_TYPE, "text/plain"))
            .to_http_request();
        assert!(Params::parse(&text, b"grant_type=client_credentials").is_err());
    }
}
