//! The `oauth2` crate's requests (token endpoints of FHIR servers, OpenID providers) sent
//! through the guard, with a cap on how much of an answer is read.

use std::time::Duration;

use super::client::OutboundClient;
use super::send_error::SendError;
use super::url_policy::UrlRefusal;

/// Sends `request` behind the guard with `timeout`, reading at most `max_answer` bytes of the
/// answer (a huge answer must not hold memory).
///
/// # Errors
/// [`SendError`] when it could not be sent or its body could not be read.
pub async fn send_oauth(
    outbound: &OutboundClient,
    request: oauth2::HttpRequest,
    timeout: Duration,
    max_answer: usize,
) -> Result<oauth2::HttpResponse, SendError> {
    let (parts, body) = request.into_parts();
    let url = reqwest::Url::parse(&parts.uri.to_string())
        .map_err(|_| SendError::Refused(UrlRefusal::InvalidUrl))?;
    let mut outgoing = reqwest::Request::new(parts.method, url);
    *outgoing.headers_mut() = parts.headers;
    *outgoing.body_mut() = Some(body.into());
    *outgoing.timeout_mut() = Some(timeout);
    let mut response = outbound.send(outgoing).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut bytes = Vec::new();
    while bytes.len() < max_answer {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(err) => return Err(SendError::from_reqwest(err)),
        }
    }
    let mut answer = http::Response::new(bytes);
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}
