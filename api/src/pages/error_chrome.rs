//! Error pages on a clinic's host keep the clinic's name and, for a logged-in user, the clinic's
//! navigation: a 403 or 404 inside the clinic should not look like a page of another site.
//! Errors render without knowing the request ([`ErrorPageBody`] on the response), so this
//! middleware, inside host routing, puts the body back into the layout with the clinic's nav.

use actix_web::HttpMessage as _;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use super::{Nav, Page};
use crate::http::host::TenantHost;
use crate::http::html::ErrorPageBody;
use crate::sessions::PageUser;

/// Re-renders an error page answered on a clinic's host with the clinic's navigation.
///
/// # Errors
/// What the inner service returns.
pub async fn error_chrome(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let Some(body) = res.response().extensions().get::<ErrorPageBody>().cloned() else {
        return Ok(res);
    };
    let (host, user) = {
        let extensions = res.request().extensions();
        (
            extensions.get::<TenantHost>().cloned(),
            extensions.get::<PageUser>().cloned(),
        )
    };
    let Some(TenantHost(clinic)) = host else {
        return Ok(res);
    };
    let nav = match &user {
        Some(PageUser(user)) => Nav::Clinic {
            clinic: &clinic,
            user,
            active: "",
        },
        None => Nav::ClinicGuest(&clinic),
    };
    let page = Page {
        title: &body.title,
        content: body.content,
        scripts: &[],
        nav,
    }
    .respond(res.status());
    // The plain error page stays when the layout cannot render (a bug, tested against).
    let Ok(page) = page else {
        return Ok(res);
    };
    // Only the body changes: the error's status and headers (Retry-After, a patient page's
    // Referrer-Policy and CSP) stay as the route set them.
    let (req, response) = res.into_parts();
    let response = response.set_body(page.into_body());
    Ok(ServiceResponse::new(req, response))
}
