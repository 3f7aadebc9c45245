//! The public API's door: [`ApiCaller`], the one extractor every `/api/public/*` (and later
//! `/fhir/*`) handler takes, and the request log of API clients.
//!
//! In order, for every request: the bearer token is authenticated (signature, `exp`/`nbf` with
//! leeway, `iss`, `aud`, revocation, client and clinic still active; 401 otherwise, 403
//! `client_suspended` while the clinic has suspended the client), the route's
//! scope is checked (403 `insufficient_scope` naming it), and one unit of the client's rate limit
//! is taken (429 with `Retry-After`, or 503 when the limiter's store is down: fail closed). Only
//! then is there a `TenantContext`, whose tenant is the token's clinic.

mod appointment_reads;
mod appointments;
mod directory;
mod event_data;
mod freebusy;
pub(crate) mod idempotent;
mod listing;
mod patients;
mod rate_limit;
mod slots;
mod webhooks;
mod whoami;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError, web};
use clinicgate_core::Error;
use clinicgate_core::tenancy::TenantContext;
use clinicgate_core::tokens::{ApiAccess, Refusal, Rejection, Scope};

pub use appointment_reads::{get_appointment, list_appointments};
pub use appointments::{
    AppointmentOut, MAX_NOTES, appointment_status, create_appointment, update_appointment,
};
pub use directory::{
    get_doctor, list_appointment_types, list_clinics, list_doctors, list_specialties,
};
pub use event_data::{
    DoctorAvailabilityOut, DoctorQueueOut, PatientAddressEventOut, PatientEventOut,
    PatientPhoneOut, QueueEntryOut, render_event,
};
pub use freebusy::{doctor_freebusy, doctor_freebusy_ics};
pub use patients::{PartnerPatientOut, create_patient, get_patient, list_patients, update_patient};
use rate_limit::ClientRate;
pub use slots::available_slots;
pub use webhooks::{
    create_webhook, delete_webhook, get_webhook, list_event_types, list_webhook_deliveries,
    list_webhooks, recover_webhook, resend_webhook_delivery, rotate_webhook_secret, test_webhook,
    update_webhook,
};
pub use whoami::{MeOut, me};

use crate::auth::bearer_token;
use crate::auth::oauth::bearer_challenge;
use crate::http::host::RootHost;
use crate::http::observe;
use crate::http::problem::ApiError;
use crate::state::AppState;

/// The scope a route needs, as a type, so the requirement is visible in the handler signature.
pub trait RouteScope {
    /// The scope, or `None` when any authenticated client may call the route.
    const SCOPE: Option<Scope>;
}

/// Routes any authenticated client may call.
#[derive(Debug)]
pub struct AnyScope;

impl RouteScope for AnyScope {
    const SCOPE: Option<Scope> = None;
}

macro_rules! route_scopes {
    ($($(#[$doc:meta])* $name:ident => $scope:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl RouteScope for $name {
            const SCOPE: Option<Scope> = Some(Scope::$scope);
        }
    )*};
}

route_scopes!(
    /// Needs `doctors:read`.
    DoctorsRead => DoctorsRead,
    /// Needs `slots:read`.
    SlotsRead => SlotsRead,
    /// Needs `appointments:read`.
    AppointmentsRead => AppointmentsRead,
    /// Needs `appointments:write`.
    AppointmentsWrite => AppointmentsWrite,
    /// Needs `patients:read`.
    PatientsRead => PatientsRead,
    /// Needs `patients:write`.
    PatientsWrite => PatientsWrite,
    /// Needs `webhooks:manage`.
    WebhooksManage => WebhooksManage,
);

/// An authenticated, authorised and admitted API request.
#[derive(Debug)]
pub struct ApiCaller<S: RouteScope = AnyScope> {
    /// The token's clinic and client, and what the request may use.
    pub access: ApiAccess,
    scope: PhantomData<S>,
}

impl<S: RouteScope> ApiCaller<S> {
    /// The tenant context every tenant-owned service call takes.
    pub fn ctx(&self) -> &TenantContext {
        &self.access.context
    }
}

/// A refused public API request: a problem plus the headers the refusal needs.
#[derive(Debug)]
pub struct Refused {
    problem: Box<ApiError>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Refused {
    fn new(problem: ApiError) -> Self {
        Self {
            problem: Box::new(problem),
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: HeaderName, value: String) -> Self {
        if let Ok(value) = HeaderValue::from_str(&value) {
            self.headers.push((name, value));
        }
        self
    }

    /// 401 with a Bearer challenge (`error="invalid_token"` when a token was presented).
    fn unauthenticated(presented: bool) -> Self {
        let detail = if presented {
            "the access token is malformed, expired, revoked or otherwise invalid; get a new one from POST /api/auth/token"
        } else {
            "send an access token from POST /api/auth/token as Authorization: Bearer …"
        };
        Self::new(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            detail,
        ))
        .with_header(
            header::WWW_AUTHENTICATE,
            bearer_challenge(presented.then_some("invalid_token")),
        )
    }
}

impl Refused {
    /// 403 `client_suspended`: the token is genuine, but the clinic switched its client off.
    /// Said plainly (unlike the other refusals' 401) because a new token would not help: the
    /// partner has to ask the clinic.
    fn suspended() -> Self {
        Self::new(ApiError::new(
            StatusCode::FORBIDDEN,
            "client_suspended",
            "the clinic has suspended this client: its requests are refused and its webhooks held until the clinic resumes it",
        ))
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.problem.fmt(f)
    }
}

impl From<Error> for Refused {
    fn from(err: Error) -> Self {
        Self::new(err.into())
    }
}

impl ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        self.problem.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = self.problem.error_response();
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response
    }
}

async fn admit<S: RouteScope>(
    req: &HttpRequest,
    state: &AppState,
) -> Result<ApiCaller<S>, Refused> {
    let token = bearer_token(req).ok_or_else(|| Refused::unauthenticated(false))?;
    let access = match state.tokens.authenticate(token).await {
        Ok(access) => access,
        Err(Rejection::Failed(err)) => return Err(err.into()),
        Err(Rejection::Refused(Refusal::ClientSuspended)) => {
            tracing::info!("API request of a suspended client");
            return Err(Refused::suspended());
        }
        Err(rejection) => {
            tracing::info!(reason = %rejection, "API request with an unusable token");
            return Err(Refused::unauthenticated(true));
        }
    };
    req.extensions_mut().insert(observe::ApiClientLabels {
        tenant: access.claims.tid.to_string(),
        client: access.claims.sub.clone(),
    });
    if let Some(scope) = S::SCOPE
        && !access.context.has_scope(scope)
    {
        return Err(Refused::new(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("this endpoint needs the scope {scope}, which this token does not carry"),
        ))
        .with_header(
            header::WWW_AUTHENTICATE,
            format!(
                "{}, scope=\"{scope}\"",
                bearer_challenge(Some("insufficient_scope"))
            ),
        ));
    }
    let decision = state.tokens.admit(&access).await?;
    let rate = ClientRate {
        decision,
        window: state.tokens.rate_limit_window(),
    };
    req.extensions_mut().insert(rate);
    if !decision.allowed {
        let mut refused = Refused::from(Error::RateLimited {
            retry_after: decision.retry_after,
        });
        refused.headers.extend(rate.headers());
        return Err(refused);
    }
    Ok(ApiCaller {
        access,
        scope: PhantomData,
    })
}

impl<S: RouteScope + 'static> FromRequest for ApiCaller<S> {
    type Error = Refused;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Refused>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let root = RootHost::from_request(&req, payload);
        Box::pin(async move {
            root.await.map_err(Refused::new)?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| Error::internal("application state missing"))?
                .clone();
            admit::<S>(&req, &state).await
        })
    }
}

/// The middleware: after an API client's request, adds the `RateLimit` headers of the decision
/// taken for it. Requests of no API client pass untouched. (The request line and metrics of API
/// calls are `observe`'s, which reads the caller the extractor put on the request.)
pub async fn rate_limit_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let mut response = next.call(req).await?.map_into_boxed_body();
    let rate = response.request().extensions().get::<ClientRate>().copied();
    if let Some(rate) = rate {
        for (name, value) in rate.headers() {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}
