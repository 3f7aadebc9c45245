//! The error responses of the OpenAPI document, defined once. Each is a problem+json response in
//! `components.responses`; routes list them in sets (`responses((status = 200, …), BearerErrors)`)
//! that name what the shared machinery in front of a handler can answer: the extractors
//! (`http::extract`), the session and bearer doors, the Cliniko adapter. A route adds its own
//! set of its own ([`route_problems!`]) only where it answers something more specific; listed
//! after a shared set, it replaces the shared set's response for that status.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

use super::problem::PROBLEM_JSON;

/// One shared problem response: its name in `components.responses`, status and description.
#[derive(Debug)]
pub struct Documented {
    name: &'static str,
    status: u16,
    description: &'static str,
}

const INVALID_QUERY: Documented = Documented {
    name: "InvalidQuery",
    status: 400,
    description: "A query parameter of the wrong type, or repeated (`invalid_query`)",
};
const INVALID_PARAMETER: Documented = Documented {
    name: "InvalidParameter",
    status: 422,
    description: "A query parameter out of range (e.g. `per_page=0`), each named in `errors` (`validation_failed`)",
};
const MALFORMED_JSON: Documented = Documented {
    name: "MalformedJson",
    status: 400,
    description: "The body is not valid JSON (`malformed_json`)",
};
const PAYLOAD_TOO_LARGE: Documented = Documented {
    name: "PayloadTooLarge",
    status: 413,
    description: "The body is larger than the deployment's limit (`payload_too_large`)",
};
const UNSUPPORTED_MEDIA_TYPE: Documented = Documented {
    name: "UnsupportedMediaType",
    status: 415,
    description: "The body is not sent as `application/json` (`unsupported_media_type`)",
};
const INVALID_BODY: Documented = Documented {
    name: "InvalidBody",
    status: 422,
    description: "JSON of the wrong shape (`invalid_body`), or invalid values, each named in `errors` (`validation_failed`)",
};
const NOT_LOGGED_IN: Documented = Documented {
    name: "NotLoggedIn",
    status: 401,
    description: "Not logged in to this clinic (`unauthenticated`)",
};
const STAFF_FORBIDDEN: Documented = Documented {
    name: "StaffForbidden",
    status: 403,
    description: "The staff member's role may not do this (`forbidden`), a write came from another origin (`csrf_origin_mismatch`), or the clinic requires two-step login the staff member has not set up yet (`mfa_enrolment_required`)",
};
const INVALID_TOKEN: Documented = Documented {
    name: "InvalidToken",
    status: 401,
    description: "No valid access token (`invalid_token`), with a `WWW-Authenticate: Bearer` challenge",
};
const INSUFFICIENT_SCOPE: Documented = Documented {
    name: "InsufficientScope",
    status: 403,
    description: "The token lacks the scope this route needs, named in `detail` (`insufficient_scope`); or the clinic has suspended the client (`client_suspended`)",
};
const RATE_LIMITED: Documented = Documented {
    name: "RateLimited",
    status: 429,
    description: "The client's rate limit, the clinic's Cliniko budget or a throttle is used up (`rate_limited`); retry after `Retry-After` seconds",
};
const UNAVAILABLE: Documented = Documented {
    name: "Unavailable",
    status: 503,
    description: "A store ClinicGate depends on is unavailable (`service_unavailable`); retry after `Retry-After` seconds",
};
const CLINIKO_NOT_CONNECTED: Documented = Documented {
    name: "ClinikoNotConnected",
    status: 409,
    description: "The clinic has not connected Cliniko (`cliniko_not_connected`)",
};
const CLINIKO_FAILED: Documented = Documented {
    name: "ClinikoFailed",
    status: 502,
    description: "Cliniko failed (`cliniko_unavailable`), refused the clinic's key (`cliniko_key_rejected`) or the key's user (`cliniko_forbidden`)",
};
const CLINIKO_TIMEOUT: Documented = Documented {
    name: "ClinikoTimeout",
    status: 504,
    description: "Cliniko did not answer in time (`cliniko_timeout`)",
};

/// Every shared response, for `components.responses`.
const ALL: &[&Documented] = &[
    &INVALID_QUERY,
    &INVALID_PARAMETER,
    &MALFORMED_JSON,
    &PAYLOAD_TOO_LARGE,
    &UNSUPPORTED_MEDIA_TYPE,
    &INVALID_BODY,
    &NOT_LOGGED_IN,
    &STAFF_FORBIDDEN,
    &INVALID_TOKEN,
    &INSUFFICIENT_SCOPE,
    &RATE_LIMITED,
    &UNAVAILABLE,
    &CLINIKO_NOT_CONNECTED,
    &CLINIKO_FAILED,
    &CLINIKO_TIMEOUT,
];

/// A problem+json response with this description (also for routes' own tuples built in code).
pub fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// Adds every shared response to `components.responses`.
#[derive(Debug)]
pub struct SharedResponses;

impl utoipa::Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for documented in ALL {
            components.responses.insert(
                documented.name.to_owned(),
                problem_response(documented.description).into(),
            );
        }
    }
}

fn refs(set: &[&Documented]) -> BTreeMap<String, RefOr<Response>> {
    set.iter()
        .map(|d| (d.status.to_string(), Ref::from_response_name(d.name).into()))
        .collect()
}

macro_rules! response_set {
    ($(#[$doc:meta])* $name:ident = [$($response:ident),+ $(,)?]) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                refs(&[$(&$response),+])
            }
        }
    };
}

/// Declares the problem responses one route answers itself, each with its own description, as
/// an `IntoResponses` set to list after the shared sets. They are written inline in the
/// operation, not in `components.responses`: a description that names one route's resource or
/// codes is no use to any other.
///
/// ```ignore
/// route_problems!(
///     /// What adding a staff member answers itself.
///     CreateUserProblems {
///         409 => "The e-mail is already used in this clinic (`email_taken`)",
///     }
/// );
/// ```
macro_rules! route_problems {
    ($(#[$doc:meta])* $name:ident { $($status:literal => $description:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl ::utoipa::IntoResponses for $name {
            fn responses() -> ::std::collections::BTreeMap<
                String,
                ::utoipa::openapi::RefOr<::utoipa::openapi::Response>,
            > {
                [$(($status, $description)),+]
                    .into_iter()
                    .map(|(status, description): (u16, &str)| {
                        (
                            status.to_string(),
                            $crate::http::responses::problem_response(description).into(),
                        )
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use route_problems;

response_set!(
    /// A query string read by `web::Query`: 400 `invalid_query`, 422 for values out of range.
    QueryErrors = [INVALID_QUERY, INVALID_PARAMETER]
);
response_set!(
    /// A JSON body read by `web::Json` (`http::extract::json_config`): 400, 413, 415, 422.
    JsonBodyErrors = [MALFORMED_JSON, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, INVALID_BODY]
);
response_set!(
    /// Behind `sessions::Authenticated`: 401, 403 (role or cross-origin write), 503.
    SessionErrors = [NOT_LOGGED_IN, STAFF_FORBIDDEN, UNAVAILABLE]
);
response_set!(
    /// Behind `public::ApiCaller`: 401, 403 `insufficient_scope`, 429, 503.
    BearerErrors = [INVALID_TOKEN, INSUFFICIENT_SCOPE, RATE_LIMITED, UNAVAILABLE]
);
response_set!(
    /// Everything that calls the clinic's Cliniko: 409 not connected, 429 budget, 502, 504.
    ClinikoErrors = [CLINIKO_NOT_CONNECTED, RATE_LIMITED, CLINIKO_FAILED, CLINIKO_TIMEOUT]
);
response_set!(
    /// A store behind the route may be down: 503.
    StoreErrors = [UNAVAILABLE]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shared_response_has_its_own_name() {
        let mut names: Vec<_> = ALL.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
