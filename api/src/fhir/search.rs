//! What every FHIR search shares: reading the parameters (or the sealed cursor that carries
//! them), `_count`, `_summary=count`, unknown parameters (reported, or refused with
//! `Prefer: handling=strict`), and the `searchset` Bundle with its paging links.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use clinicgate_core::cliniko::{
    ClinikoAccount, ClinikoId, Filter, FilterOp, ListPage, PageRequest,
};
use clinicgate_core::fhir::Resource;
use clinicgate_core::tenancy::TenantContext;
use clinicgate_core::{Error, FieldError};
use serde::Serialize;
use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Value, json};

use super::cursor::Cursor;
use super::outcome::{FHIR_JSON, issue};
use crate::state::AppState;

/// Page size when `_count` is not given.
const DEFAULT_COUNT: u32 = 20;
/// The largest page (also Cliniko's largest, so a page is one Cliniko call).
pub const MAX_COUNT: u32 = 100;

/// Parameters every search understands besides its own.
const COMMON: &[&str] = &["_count", "_summary", "_include", "_format"];

/// A search, read from the query string or from its cursor.
#[derive(Debug, Clone)]
pub struct Search {
    resource: &'static str,
    params: Vec<(String, String)>,
    /// The page, from 1.
    pub page: u32,
    /// Results per page.
    pub count: u32,
    /// `_summary=count`: the total only.
    pub summary_count: bool,
    /// Parameters given but not supported, reported in the Bundle.
    pub ignored: Vec<String>,
    /// Pages of the first of two lists walked one after the other (see [`Cursor`]), once known.
    pub first_pages: Option<u32>,
}

/// A bad search parameter (400 with an `OperationOutcome` naming it).
pub fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::Validation(vec![FieldError::new(field, "invalid_parameter", message)])
}

/// Whether the request asked for strict handling of unknown parameters.
fn strict(req: &HttpRequest) -> bool {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .any(|pref| pref.trim().eq_ignore_ascii_case("handling=strict"))
}

impl Search {
    /// Reads the search of `resource` whose own parameters are `known` (a `_cursor` replaces
    /// every other parameter).
    ///
    /// # Errors
    /// `Validation` for a bad `_count`/`_summary`, an unusable cursor, or (strict handling) an
    /// unknown parameter.
    pub async fn read(
        req: &HttpRequest,
        state: &AppState,
        ctx: &TenantContext,
        resource: &'static str,
        known: &[&str],
    ) -> Result<Self, Error> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
            .map_err(|_| invalid("query", "the query string is not form-encoded"))?;
        if let Some((_, raw)) = pairs.iter().find(|(name, _)| name == "_cursor") {
            let cursor = Cursor::open(raw, resource, state, ctx).await?;
            let mut search = Self::parse(resource, cursor.params, known, false)?;
            search.page = cursor.page.max(1);
            search.first_pages = cursor.first_pages;
            return Ok(search);
        }
        Self::parse(resource, pairs, known, strict(req))
    }

    /// Reads search criteria given outside the URL (FHIR's `If-None-Exist`): a parameter this
    /// resource does not support is refused rather than ignored, as ignoring one would match
    /// more than was asked for.
    ///
    /// # Errors
    /// `Validation` for criteria that are not form-encoded or name an unknown parameter.
    pub fn criteria(resource: &'static str, raw: &str, known: &[&str]) -> Result<Self, Error> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| invalid("If-None-Exist", "the criteria are not form-encoded"))?;
        Self::parse(resource, pairs, known, true)
    }

    /// Reads `pairs` as a search of `resource` with the parameters `known` (`strict`: an
    /// unknown one is refused).
    pub(super) fn parse(
        resource: &'static str,
        pairs: Vec<(String, String)>,
        known: &[&str],
        strict: bool,
    ) -> Result<Self, Error> {
        let mut search = Self {
            resource,
            params: Vec::new(),
            page: 1,
            count: DEFAULT_COUNT,
            summary_count: false,
            ignored: Vec::new(),
            first_pages: None,
        };
        for (name, value) in pairs {
            // A modifier (`name:exact`) is not supported; the bare name decides.
            let bare = name.split(':').next().unwrap_or("");
            if name == "_format" {
                continue;
            }
            if !(COMMON.contains(&name.as_str()) || known.contains(&bare) && bare == name) {
                if strict {
                    return Err(invalid(
                        &name,
                        format!("{resource} does not support the search parameter {name}"),
                    ));
                }
                search.ignored.push(name);
                continue;
            }
            match name.as_str() {
                "_count" => {
                    search.count = value
                        .trim()
                        .parse::<u32>()
                        .map_err(|_| invalid("_count", "_count is a whole number"))?
                        .min(MAX_COUNT);
                    if search.count == 0 {
                        search.summary_count = true;
                        search.count = DEFAULT_COUNT;
                    }
                }
                "_summary" => match value.as_str() {
                    "count" => search.summary_count = true,
                    "false" => {}
                    _ => return Err(invalid("_summary", "_summary supports count and false")),
                },
                _ => {}
            }
            search.params.push((name, value));
        }
        Ok(search)
    }

    /// Every value of a parameter, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a parameter that may be given once (several values of it are FHIR's comma
    /// OR, within the one parameter), if it is given; `instead` ends the refusal's message.
    ///
    /// # Errors
    /// `Validation` on `name` when it is repeated.
    pub fn once<'a>(&'a self, name: &'a str, instead: &str) -> Result<Option<&'a str>, Error> {
        let mut values = self.all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(invalid(name, format!("{name} may be given once{instead}")));
        }
        Ok(first)
    }

    /// The first value of a parameter.
    pub fn get<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.all(name).next()
    }

    /// Items to skip before this page (for lists paged here rather than by Cliniko).
    pub fn offset(&self) -> usize {
        usize::try_from(self.page.saturating_sub(1).saturating_mul(self.count)).unwrap_or(0)
    }

    /// This page's slice of a list held whole.
    pub fn slice<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let start = self.offset().min(items.len());
        let end = start
            .saturating_add(usize::try_from(self.count).unwrap_or(0))
            .min(items.len());
        &items[start..end]
    }

    /// This search's page as Cliniko's page of the same size.
    pub fn page_request(&self) -> PageRequest {
        PageRequest::new(self.page, self.count)
    }

    /// This search's page of a list Cliniko pages itself: one Cliniko call through `list`,
    /// given the clinic's account and the page to ask for. Under `_summary=count` the records
    /// are dropped (Cliniko still counts them) so only the total reaches the Bundle.
    pub async fn list<T, F, Fut>(
        &self,
        state: &AppState,
        ctx: &TenantContext,
        list: F,
    ) -> Result<ListPage<T>, Error>
    where
        F: FnOnce(ClinikoAccount, PageRequest) -> Fut,
        Fut: Future<Output = Result<ListPage<T>, Error>>,
    {
        let page = self.page_request();
        let mut found = super::with_cliniko(state, ctx, |account| list(account, page)).await?;
        if self.summary_count {
            found.items.clear();
        }
        Ok(found)
    }

    /// A link to `page` of this search: the search sealed in a cursor.
    async fn link(
        &self,
        state: &AppState,
        ctx: &TenantContext,
        page: u32,
    ) -> Result<String, Error> {
        let lifetime = state.settings.public_api.fhir_cursor_lifetime();
        let cursor = Cursor {
            resource: self.resource.to_owned(),
            params: self.params.clone(),
            page,
            first_pages: self.first_pages,
            expires: Utc::now().timestamp()
                + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2),
        };
        let sealed = cursor.seal(state, ctx).await?;
        Ok(format!(
            "{}?_cursor={sealed}",
            base_url(state, self.resource)
        ))
    }

    /// The `searchset` Bundle of this page: `matches` (this page's resources), `included`
    /// resources, and the `total` over every page.
    pub async fn bundle<R: Resource>(
        &self,
        state: &AppState,
        ctx: &TenantContext,
        matches: Vec<R>,
        included: Vec<Value>,
        total: usize,
    ) -> Result<HttpResponse, Error> {
        let more = self.offset().saturating_add(matches.len()) < total;
        self.bundle_of(state, ctx, matches, included, Some(total), more)
            .await
    }

    /// The `searchset` Bundle of a page whose search knows its total only sometimes: `total`
    /// is left out when it is `None` (FHIR allows that) and `more` says whether a `next` page
    /// exists.
    ///
    /// Serialised straight from structs (each entry written once, as raw JSON), not built as a
    /// `Value` tree first: a page holds up to 100 resources.
    pub async fn bundle_of<R: Resource>(
        &self,
        state: &AppState,
        ctx: &TenantContext,
        matches: Vec<R>,
        included: Vec<Value>,
        total: Option<usize>,
        more: bool,
    ) -> Result<HttpResponse, Error> {
        let mut link = vec![Link {
            relation: "self",
            url: self.link(state, ctx, self.page).await?,
        }];
        if !self.summary_count && more {
            link.push(Link {
                relation: "next",
                url: self.link(state, ctx, self.page + 1).await?,
            });
        }
        if !self.summary_count && self.page > 1 {
            link.push(Link {
                relation: "previous",
                url: self.link(state, ctx, self.page - 1).await?,
            });
        }
        let mut entry = Vec::new();
        if !self.summary_count {
            entry.reserve(matches.len() + included.len());
            for resource in &matches {
                entry.push(Entry::of(state, resource, "match")?);
            }
            for resource in &included {
                entry.push(Entry::of(state, resource, "include")?);
            }
        }
        if !self.ignored.is_empty() {
            let text = format!(
                "search parameters not supported and ignored: {}",
                self.ignored.join(", ")
            );
            let outcome = json!({
                "resource": {"resourceType": "OperationOutcome", "issue": [issue("warning", "not-supported", &text)]},
                "search": {"mode": "outcome"}
            });
            entry.push(to_raw_value(&outcome).map_err(Error::internal)?);
        }
        let bundle = Bundle {
            resource_type: "Bundle",
            kind: "searchset",
            total,
            link,
            entry,
        };
        let body = serde_json::to_string(&bundle).map_err(Error::internal)?;
        Ok(HttpResponse::Ok()
            .content_type(FHIR_JSON)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body))
    }
}

/// A `searchset` Bundle as it is written.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    resource_type: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<usize>,
    link: Vec<Link>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    entry: Vec<Box<RawValue>>,
}

/// One of a Bundle's paging links.
#[derive(Serialize)]
struct Link {
    relation: &'static str,
    url: String,
}

/// A Bundle entry holding a resource.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a, R> {
    full_url: String,
    resource: &'a R,
    search: SearchMode,
}

#[derive(Serialize)]
struct SearchMode {
    mode: &'static str,
}

impl<R: Resource> Entry<'_, R> {
    /// The entry of `resource` found as `mode` (`match`, `include`), as JSON.
    fn of(state: &AppState, resource: &R, mode: &'static str) -> Result<Box<RawValue>, Error> {
        to_raw_value(&Entry {
            full_url: format!(
                "{}/{}",
                base_url(state, resource.resource_type()),
                resource.id()
            ),
            resource,
            search: SearchMode { mode },
        })
        .map_err(Error::internal)
    }
}

/// `{public URL}/fhir/r4/{resource}`.
pub fn base_url(state: &AppState, resource: &str) -> String {
    format!(
        "{}/fhir/r4/{resource}",
        state.settings.public_url.as_str().trim_end_matches('/')
    )
}

/// The id in a reference parameter: `123`, `Patient/123` or an absolute URL ending so.
///
/// # Errors
/// `Validation` on `name` when it is not a Cliniko id (or names another resource type).
pub fn reference_id(name: &str, raw: &str, resource: &str) -> Result<ClinikoId, Error> {
    let raw = raw.trim();
    let id = match raw.rsplit_once('/') {
        Some((before, id)) if before.ends_with(resource) => id,
        Some(_) => return Err(invalid(name, format!("{name} refers to a {resource}"))),
        None => raw,
    };
    ClinikoId::parse(id)
        .ok_or_else(|| invalid(name, format!("{name} is not a known {resource} id")))
}

/// Several ids: `a,b,c` (FHIR's OR), each as [`reference_id`] reads it.
pub fn reference_ids(name: &str, raw: &str, resource: &str) -> Result<Vec<ClinikoId>, Error> {
    raw.split(',')
        .map(|one| reference_id(name, one, resource))
        .collect()
}

/// A FHIR date search value split into its prefix and the date or date-time.
fn prefixed(raw: &str) -> (&str, &str) {
    const PREFIXES: &[&str] = &["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"];
    match raw.get(..2) {
        Some(p) if PREFIXES.contains(&p) => (p, &raw[2..]),
        _ => ("eq", raw),
    }
}

/// The instant a date or date-time search value starts at (a date starts at midnight UTC).
fn instant(name: &str, value: &str) -> Result<DateTime<Utc>, Error> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(|day| day.and_time(NaiveTime::MIN).and_utc())
        .map_err(|_| {
            invalid(
                name,
                format!("{name} takes a date (YYYY-MM-DD) or an instant with a time zone, after ge, gt, le or lt"),
            )
        })
}

/// Cliniko filters on a date-time `field` for a FHIR date search (`ge`, `gt`, `le`, `lt`; a
/// plain date means that whole day, UTC).
///
/// # Errors
/// `Validation` on `name` for another prefix or an unreadable value.
pub fn time_filters(name: &str, raw: &str, field: &'static str) -> Result<Vec<Filter>, Error> {
    let (prefix, value) = prefixed(raw.trim());
    let at = instant(name, value)?;
    let op = match prefix {
        "ge" => FilterOp::Ge,
        "gt" => FilterOp::Gt,
        "le" => FilterOp::Le,
        "lt" => FilterOp::Lt,
        "eq" if !value.contains('T') => {
            let next = at + chrono::Days::new(1);
            return Ok(vec![
                Filter::new(field, FilterOp::Ge, &at),
                Filter::new(field, FilterOp::Lt, &next),
            ]);
        }
        _ => {
            return Err(invalid(
                name,
                format!("{name} supports the prefixes ge, gt, le and lt, or a plain date"),
            ));
        }
    };
    Ok(vec![Filter::new(field, op, &at)])
}

/// A Cliniko filter on a date `field` for a FHIR date search (`eq` default, `ge`, `gt`, `le`,
/// `lt`).
///
/// # Errors
/// `Validation` on `name` for another prefix or a value that is not a date.
pub fn date_filter(name: &str, raw: &str, field: &'static str) -> Result<Filter, Error> {
    let (prefix, value) = prefixed(raw.trim());
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| invalid(name, format!("{name} takes a date, YYYY-MM-DD")))?;
    let op = match prefix {
        "eq" => FilterOp::Eq,
        "ge" => FilterOp::Ge,
        "gt" => FilterOp::Gt,
        "le" => FilterOp::Le,
        "lt" => FilterOp::Lt,
        _ => {
            return Err(invalid(
                name,
                format!("{name} supports eq, ge, gt, le and lt"),
            ));
        }
    };
    Ok(Filter::new(field, op, &day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_bare_typed_or_absolute() {
        let id = "836447129235883061";
        for raw in [
            id.to_owned(),
            format!("Patient/{id}"),
            format!("https://x.example/fhir/r4/Patient/{id}"),
        ] {
            assert_eq!(
                reference_id("patient", &raw, "Patient").unwrap().as_str(),
                id
            );
        }
        assert!(reference_id("patient", &format!("Practitioner/{id}"), "Patient").is_err());
        assert!(reference_id("patient", "abc", "Patient").is_err());
    }

    #[test]
    fn dates_become_cliniko_ranges() {
        let day = time_filters("date", "2030-05-21", "starts_at").unwrap();
        let params: Vec<_> = day.iter().map(Filter::to_param).collect();
        assert_eq!(
            params,
            [
                "starts_at:>=2030-05-21T00:00:00Z",
                "starts_at:<2030-05-22T00:00:00Z"
            ]
        );
        let ge = time_filters("date", "ge2030-05-21T10:00:00+10:00", "starts_at").unwrap();
        assert_eq!(ge[0].to_param(), "starts_at:>=2030-05-21T00:00:00Z");
        assert!(time_filters("date", "sa2030-05-21", "starts_at").is_err());
        assert_eq!(
            date_filter("birthdate", "le1990-01-01", "date_of_birth")
                .unwrap()
                .to_param(),
            "date_of_birth:<=1990-01-01"
        );
    }

    #[test]
    fn unknown_parameters_are_reported_or_refused_when_strict() {
        let pairs = vec![
            ("family".to_owned(), "Cit".to_owned()),
            ("colour".to_owned(), "red".to_owned()),
        ];
        let search = Search::parse("Patient", pairs.clone(), &["family"], false).unwrap();
        assert_eq!(search.ignored, ["colour"]);
        assert_eq!(search.get("family"), Some("Cit"));
        assert!(Search::parse("Patient", pairs, &["family"], true).is_err());
    }

    #[test]
    fn count_is_capped_and_zero_means_the_total_only() {
        let count = |v: &str| {
            Search::parse(
                "Patient",
                vec![("_count".to_owned(), v.to_owned())],
                &[],
                true,
            )
        };
        assert_eq!(count("500").unwrap().count, MAX_COUNT);
        assert!(count("0").unwrap().summary_count);
        assert!(count("-1").is_err());
    }
}
