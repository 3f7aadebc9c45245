//! [`PageSession`]: the session of an HTML page request, or the response a browser needs
//! instead — the one login preamble every page shares.
//!
//! Off clinic hosts the answer is the 404 every unknown address gets; a cross-origin write is
//! the 403 page; without a valid session, a 303 to the login page that comes back where the
//! route's [`LoginReturn`] says; when the clinic requires MFA the user has not set up, a 303 to
//! the account page that comes back there too (see [`super::required_mfa`]). Where to come back is part of the handler's type, like the
//! scope of a public API route.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError, web};
use clinicgate_core::Error;
use clinicgate_core::users::User;

use super::required_mfa::{enrolment_location, held_for_enrolment};
use super::{Authenticated, authenticate, require_same_origin};
use crate::http::host::TenantHost;
use crate::http::html::{PageError, see_other, unknown_host, wants_html};
use crate::http::problem::ApiError;
use crate::state::AppState;

/// `/login?next=…`: where to go back to after logging in.
pub fn login_location(next: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("/login?next={encoded}")
}

/// Where a browser that had no session (or must first set up the MFA its clinic requires) comes
/// back to afterwards.
pub trait LoginReturn {
    /// The path (and query) to come back to.
    fn comes_back_to(req: &HttpRequest) -> String;

    /// The `Location` of the redirect to the login page.
    fn login_location(req: &HttpRequest) -> String {
        login_location(&Self::comes_back_to(req))
    }
}

/// Back to the page asked for, query included.
#[derive(Debug)]
pub struct BackHere;

impl LoginReturn for BackHere {
    fn comes_back_to(req: &HttpRequest) -> String {
        req.uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned()
    }
}

/// To the clinic home: for `/` itself and for form posts, which cannot be replayed.
#[derive(Debug)]
pub struct BackHome;

impl LoginReturn for BackHome {
    fn comes_back_to(_: &HttpRequest) -> String {
        "/".to_owned()
    }
}

/// Back to the patient Cliniko's button named.
#[derive(Debug)]
pub struct BackToPatient;

impl LoginReturn for BackToPatient {
    fn comes_back_to(req: &HttpRequest) -> String {
        BackHere::comes_back_to(req)
    }

    fn login_location(req: &HttpRequest) -> String {
        // `/` may stay as it is in a query value: `/login?next=/patients%3Fpatient_id%3D1`, the
        // address the clinic's staff see after clicking the button, reads as what it is.
        BackHere::login_location(req).replace("next=%2F", "next=/")
    }
}

/// To the login page alone: asking to log out without a session has nothing to come back to.
#[derive(Debug)]
pub struct NoReturn;

impl LoginReturn for NoReturn {
    fn comes_back_to(_: &HttpRequest) -> String {
        "/".to_owned()
    }

    fn login_location(_: &HttpRequest) -> String {
        "/login".to_owned()
    }
}

/// Who a page request's session belongs to, in the request's extensions once the session is
/// resumed (error pages show the clinic's navigation with it).
#[derive(Debug, Clone)]
pub struct PageUser(pub User);

/// A page request with a session of the clinic whose host it arrived on.
#[derive(Debug)]
pub struct PageSession<R: LoginReturn = BackHere> {
    auth: Authenticated,
    back: PhantomData<R>,
}

impl<R: LoginReturn> PageSession<R> {
    /// Resumes the request's session (see the module docs for what answers instead).
    ///
    /// # Errors
    /// The [`PageRefusal`] to answer with.
    pub async fn of(req: &HttpRequest) -> Result<Self, PageRefusal> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .ok_or_else(|| PageError::from(Error::internal("application state missing")))?;
        let host = req.extensions().get::<TenantHost>().cloned();
        let Some(TenantHost(clinic)) = host else {
            return Err(PageRefusal::NotHere {
                html: wants_html(req),
                public_url: state.settings.public_url.as_str().to_owned(),
            });
        };
        require_same_origin(req, &state.settings.public_url).map_err(ApiError::from)?;
        let Some(auth) = authenticate(req, state, &clinic).await? else {
            return Err(PageRefusal::LogIn(R::login_location(req)));
        };
        if held_for_enrolment(req, state, &auth).await? {
            return Err(PageRefusal::SetUpMfa(enrolment_location(
                &R::comes_back_to(req),
            )));
        }
        // For an error page later in this request: it shows who is logged in.
        req.extensions_mut()
            .insert(PageUser(auth.session.user.clone()));
        Ok(Self {
            auth,
            back: PhantomData,
        })
    }

    /// Refuses clinicians: settings are for owners and admins (a 403 page).
    ///
    /// # Errors
    /// `Forbidden` for a clinician.
    pub fn require_manager(&self) -> Result<(), PageError> {
        Ok(self.auth.ctx().require_manager()?)
    }
}

impl<R: LoginReturn> Deref for PageSession<R> {
    type Target = Authenticated;

    fn deref(&self) -> &Authenticated {
        &self.auth
    }
}

impl<R: LoginReturn + 'static> FromRequest for PageSession<R> {
    type Error = PageRefusal;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageRefusal>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Self::of(&req).await })
    }
}

/// What a page answers instead of itself when there is no session to show it with.
#[derive(Debug)]
pub enum PageRefusal {
    /// Not a clinic host: the 404 every unknown address gets (HTML for browsers).
    NotHere {
        /// Whether the client asked for HTML.
        html: bool,
        /// Where the page sends the reader: the public root URL.
        public_url: String,
    },
    /// No valid session: a 303 to this login page address.
    LogIn(String),
    /// The clinic requires MFA the user has not set up: a 303 to this account page address.
    SetUpMfa(String),
    /// A cross-origin write, or the session store failed: an error page.
    Failed(PageError),
}

impl From<PageError> for PageRefusal {
    fn from(err: PageError) -> Self {
        Self::Failed(err)
    }
}

impl From<ApiError> for PageRefusal {
    fn from(err: ApiError) -> Self {
        Self::Failed(err.into())
    }
}

impl fmt::Display for PageRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotHere { .. } => f.write_str("not a clinic host"),
            Self::LogIn(_) => f.write_str("not logged in"),
            Self::SetUpMfa(_) => f.write_str("two-step login required first"),
            Self::Failed(err) => err.fmt(f),
        }
    }
}

impl ResponseError for PageRefusal {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotHere { .. } => StatusCode::NOT_FOUND,
            Self::LogIn(_) | Self::SetUpMfa(_) => StatusCode::SEE_OTHER,
            Self::Failed(err) => err.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::NotHere { html, public_url } => unknown_host(*html, public_url),
            Self::LogIn(location) | Self::SetUpMfa(location) => see_other(location),
            Self::Failed(err) => err.error_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn each_page_kind_comes_back_where_it_should_after_logging_in() {
        let req = TestRequest::get()
            .uri("/patients?patient_id=12")
            .to_http_request();
        assert_eq!(
            BackHere::login_location(&req),
            "/login?next=%2Fpatients%3Fpatient_id%3D12"
        );
        assert_eq!(
            BackToPatient::login_location(&req),
            "/login?next=/patients%3Fpatient_id%3D12"
        );
        assert_eq!(BackHome::login_location(&req), "/login?next=%2F");
        assert_eq!(NoReturn::login_location(&req), "/login");
    }
}
