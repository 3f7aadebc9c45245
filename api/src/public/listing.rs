//! What every public list and resource shares: the list envelope
//! (`{"data", "total", "page", "per_page", "links"}`), page parameters, Cliniko ids as strings
//! and times as RFC 3339 in UTC plus the clinic's local time.

use actix_web::HttpRequest;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::directory::{Page, Paged};
use clinicgate_core::{Error, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::state::AppState;

/// Links of a list page.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListLinks {
    /// This page.
    #[serde(rename = "self")]
    #[schema(example = "https://clinicgate.example.com/api/public/doctors?page=1&per_page=20")]
    pub self_: String,
    /// The next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The previous page; absent on the first page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
}

/// Declares a list envelope type for an item type (one per list, so each gets its own schema).
macro_rules! list_of {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            /// The items on this page.
            pub data: Vec<$item>,
            /// How many items the whole list has.
            pub total: usize,
            /// This page's number (from 1).
            pub page: u32,
            /// Items per page (at most 100).
            pub per_page: u32,
            /// Links to this and the neighbouring pages.
            pub links: $crate::public::listing::ListLinks,
        }

        impl $name {
            /// The envelope of `paged`, its items converted, with links built from `req`.
            pub fn new<T>(
                state: &$crate::state::AppState,
                req: &actix_web::HttpRequest,
                paged: clinicgate_core::directory::Paged<T>,
                convert: impl FnMut(T) -> $item,
            ) -> Self {
                let links = $crate::public::listing::links(state, req, &paged);
                Self {
                    total: paged.total,
                    page: paged.page.number(),
                    per_page: paged.page.size(),
                    data: paged.items.into_iter().map(convert).collect(),
                    links,
                }
            }
        }
    };
}
pub(crate) use list_of;

/// `page` and `per_page`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, example = 1)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 20)]
    pub per_page: Option<u32>,
}

impl PageParams {
    /// The validated page.
    pub fn page(&self) -> Result<Page, Error> {
        Page::new(self.page, self.per_page)
    }
}

/// `self`, `next` and `prev` of a page: the request's own URL under the public root, with every
/// other query parameter kept and `page` replaced.
pub fn links<T>(state: &AppState, req: &HttpRequest, paged: &Paged<T>) -> ListLinks {
    let base = format!(
        "{}{}",
        state.settings.public_url.as_str().trim_end_matches('/'),
        req.path()
    );
    let kept: Vec<(String, String)> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
            .unwrap_or_default()
            .into_iter()
            .filter(|(name, _): &(String, String)| name != "page" && name != "per_page")
            .collect();
    let url = |number: u32| {
        let mut pairs = kept.clone();
        pairs.push(("page".to_owned(), number.to_string()));
        pairs.push(("per_page".to_owned(), paged.page.size().to_string()));
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("{base}?{query}")
    };
    let number = paged.page.number();
    ListLinks {
        self_: url(number),
        next: paged.has_next().then(|| url(number + 1)),
        prev: paged.has_prev().then(|| url(number - 1)),
    }
}

/// A Cliniko id sent by a caller, or the field error naming it.
pub fn parse_id(field: &str, raw: &str) -> Result<ClinikoId, FieldError> {
    ClinikoId::parse(raw.trim()).ok_or_else(|| {
        FieldError::new(
            field,
            "invalid_id",
            "ids are positive integers of up to 19 digits, sent as strings",
        )
    })
}

/// An optional id from the query string.
pub fn optional_id(
    field: &str,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<ClinikoId> {
    let raw = raw?;
    parse_id(field, raw).map_err(|e| errors.push(e)).ok()
}

/// A required value, or the field error saying it is missing.
pub fn required<'a>(
    field: &str,
    raw: Option<&'a str>,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    let value = raw.map(str::trim).filter(|v| !v.is_empty());
    if value.is_none() {
        errors.push(FieldError::new(
            field,
            "required",
            format!("{field} is required"),
        ));
    }
    value
}

/// A `YYYY-MM-DD` date.
pub fn parse_date(field: &str, raw: &str) -> Result<NaiveDate, FieldError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| FieldError::new(field, "invalid_date", "give a date as YYYY-MM-DD"))
}

/// An RFC 3339 date-time with an offset, as UTC.
pub fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| {
            FieldError::new(
                field,
                "invalid_datetime",
                "give an RFC 3339 date-time with an offset, e.g. 2030-05-21T08:45:00Z",
            )
        })
}

/// Collected field errors as one validation error (`Ok` when there are none).
pub fn check(errors: Vec<FieldError>) -> Result<(), Error> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

/// RFC 3339 in UTC with `Z`, whole seconds.
pub fn utc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// RFC 3339 in `zone`, with its offset.
pub fn local(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_go_out_in_utc_with_z_and_in_local_time_with_the_offset() {
        let at: DateTime<Utc> = "2030-05-21T08:45:00Z".parse().unwrap();
        assert_eq!(utc(at), "2030-05-21T08:45:00Z");
        assert_eq!(
            local(at, chrono_tz::Australia::Sydney),
            "2030-05-21T18:45:00+10:00"
        );
        assert_eq!(parse_time("t", "2030-05-21T18:45:00+10:00").unwrap(), at);
        assert!(parse_time("t", "2030-05-21 08:45").is_err());
    }
}
