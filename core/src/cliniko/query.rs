//! Cliniko list filters (`q[]=field:OPvalue`) and ordering (`sort=field:desc`), built from typed
//! values so that dates, timestamps and ids are always written the way Cliniko parses them.
//!
//! Encoding of the parameter itself (`q%5B%5D=…`, `%` → `%25`) is the HTTP client's job: this
//! module produces the raw `field:OPvalue` text.

use std::fmt;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use super::ClinikoId;

/// A filter operator (Cliniko's documented set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterOp {
    /// `=`: equal (ids accept a comma-separated list).
    Eq,
    /// `!=`: not equal.
    Ne,
    /// `>`: after / greater.
    Gt,
    /// `>=`: at or after.
    Ge,
    /// `<`: before / less.
    Lt,
    /// `<=`: at or before.
    Le,
    /// `~`: contains (strings, arrays).
    Contains,
    /// `~~`: wildcard match, `%` = any run of characters.
    Like,
    /// `?`: has a value.
    Present,
    /// `!?`: has no value.
    Absent,
    /// `*`: any value, including records Cliniko hides by default (archived, cancelled).
    Any,
}

impl FilterOp {
    /// The operator as Cliniko writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Contains => "~",
            Self::Like => "~~",
            Self::Present => "?",
            Self::Absent => "!?",
            Self::Any => "*",
        }
    }
}

/// Whether Cliniko's `~` (contains) holds for a text field whose value is `actual`: `wanted`
/// anywhere in it, ignoring case; a missing or empty value matches nothing. For a caller that
/// must know, without asking Cliniko again, which records a `~` filter already returned.
pub fn contains_text(actual: Option<&str>, wanted: &str) -> bool {
    actual.is_some_and(|actual| {
        !actual.is_empty() && actual.to_lowercase().contains(&wanted.to_lowercase())
    })
}

/// A value Cliniko can compare against, written the way it parses it.
pub trait FilterValue {
    /// The value as it goes after the operator.
    fn to_filter_text(&self) -> String;
}

/// UTC, seconds precision, `Z`: the form Cliniko's filters parse.
impl FilterValue for DateTime<Utc> {
    fn to_filter_text(&self) -> String {
        self.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

impl FilterValue for NaiveDate {
    fn to_filter_text(&self) -> String {
        self.format("%Y-%m-%d").to_string()
    }
}

impl FilterValue for ClinikoId {
    fn to_filter_text(&self) -> String {
        self.as_str().to_owned()
    }
}

impl FilterValue for [ClinikoId] {
    fn to_filter_text(&self) -> String {
        self.iter()
            .map(ClinikoId::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Implements [`FilterValue`] for types Cliniko reads in their `Display` form.
macro_rules! displayed_filter_value {
    ($($value:ty),+) => {$(
        impl FilterValue for $value {
            fn to_filter_text(&self) -> String {
                self.to_string()
            }
        }
    )+};
}

// Text as given, `true`/`false`, decimal integers: the one form each has.
displayed_filter_value!(str, String, bool, i64);

/// One `q[]` condition.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Filter {
    field: &'static str,
    op: FilterOp,
    value: String,
}

impl Filter {
    /// `field OP value`. Fields are Cliniko's snake_case names, fixed in code.
    pub fn new<V: FilterValue + ?Sized>(field: &'static str, op: FilterOp, value: &V) -> Self {
        Self {
            field,
            op,
            value: value.to_filter_text(),
        }
    }

    /// `field:=value`.
    pub fn eq<V: FilterValue + ?Sized>(field: &'static str, value: &V) -> Self {
        Self::new(field, FilterOp::Eq, value)
    }

    /// `field:=a,b,c` (ids).
    pub fn one_of(field: &'static str, ids: &[ClinikoId]) -> Self {
        Self::new(field, FilterOp::Eq, ids)
    }

    /// `field:?`.
    pub fn present(field: &'static str) -> Self {
        Self::bare(field, FilterOp::Present)
    }

    /// `field:!?`.
    pub fn absent(field: &'static str) -> Self {
        Self::bare(field, FilterOp::Absent)
    }

    /// `field:*`: include records Cliniko hides by default.
    pub fn any(field: &'static str) -> Self {
        Self::bare(field, FilterOp::Any)
    }

    fn bare(field: &'static str, op: FilterOp) -> Self {
        Self {
            field,
            op,
            value: String::new(),
        }
    }

    /// The field.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The operator.
    pub fn op(&self) -> FilterOp {
        self.op
    }

    /// The `q[]` value: `field:OPvalue`.
    pub fn to_param(&self) -> String {
        format!("{}:{}{}", self.field, self.op.as_str(), self.value)
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values can be patient data (names, e-mails): only the shape is shown.
        write!(f, "Filter({}:{}…)", self.field, self.op.as_str())
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Ascending (Cliniko's default).
    Asc,
    /// Descending.
    Desc,
}

/// Which records of a list, in which order, and how many at most.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    filters: Vec<Filter>,
    sort: Vec<(&'static str, Direction)>,
    limit: Option<usize>,
}

impl ListQuery {
    /// Everything, in Cliniko's default order.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything, oldest first with ids breaking ties: the order to page through a whole list
    /// by page number (a backfill), since a record created meanwhile lands on a later page
    /// instead of shifting the pages still to read.
    pub fn oldest_first() -> Self {
        Self::new()
            .sort_by("created_at", Direction::Asc)
            .sort_by("id", Direction::Asc)
    }

    /// Adds a condition (conditions are ANDed).
    #[must_use]
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Orders by `field` (later calls break ties).
    #[must_use]
    pub fn sort_by(mut self, field: &'static str, direction: Direction) -> Self {
        self.sort.push((field, direction));
        self
    }

    /// Stops after `limit` records (the pages needed, not the whole list).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The conditions.
    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }

    /// The most records wanted.
    pub fn max_records(&self) -> Option<usize> {
        self.limit
    }

    /// The `sort` parameter (`a,b:desc`), if any ordering was asked for.
    pub fn sort_param(&self) -> Option<String> {
        (!self.sort.is_empty()).then(|| {
            self.sort
                .iter()
                .map(|(field, direction)| match direction {
                    Direction::Asc => (*field).to_owned(),
                    Direction::Desc => format!("{field}:desc"),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// Every query parameter: one `q[]` per filter, then `sort`.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut params: Vec<_> = self
            .filters
            .iter()
            .map(|filter| ("q[]", filter.to_param()))
            .collect();
        if let Some(sort) = self.sort_param() {
            params.push(("sort", sort));
        }
        params
    }
}

/// Which page of a Cliniko list to read: Cliniko's own page number (from 1) and size (1 to 100),
/// so a caller paging through a long list spends one call per page it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    number: u32,
    size: u32,
}

impl PageRequest {
    /// Cliniko's largest page.
    pub const MAX_SIZE: u32 = 100;

    /// Page `number` (from 1) of `size` records; both are clamped to what Cliniko accepts.
    pub fn new(number: u32, size: u32) -> Self {
        Self {
            number: number.max(1),
            size: size.clamp(1, Self::MAX_SIZE),
        }
    }

    /// The page number, from 1.
    pub fn number(self) -> u32 {
        self.number
    }

    /// Records per page.
    pub fn size(self) -> u32 {
        self.size
    }
}

/// One page of a Cliniko list, and how many records match in all (Cliniko's `total_entries`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage<T> {
    /// The page's records, in the list's order.
    pub items: Vec<T>,
    /// Records matching the query on every page.
    pub total: usize,
}

impl<T> ListPage<T> {
    /// Whether this page, read as `page`, is the list's last: a short page, or the pages read so
    /// far hold every record matching.
    pub fn is_last(&self, page: PageRequest) -> bool {
        let size = usize::try_from(page.size()).unwrap_or(usize::MAX);
        let read = usize::try_from(page.number())
            .unwrap_or(usize::MAX)
            .saturating_mul(size);
        self.items.len() < size || read >= self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_page_is_a_short_one_or_the_one_reaching_the_total() {
        let page = |items: usize, total: usize| ListPage {
            items: vec![(); items],
            total,
        };
        assert!(!page(100, 250).is_last(PageRequest::new(1, 100)));
        assert!(!page(100, 250).is_last(PageRequest::new(2, 100)));
        assert!(page(50, 250).is_last(PageRequest::new(3, 100)));
        assert!(page(100, 200).is_last(PageRequest::new(2, 100)));
        assert!(page(0, 0).is_last(PageRequest::new(1, 100)));
    }

    #[test]
    fn contains_ignores_case_and_never_matches_a_missing_value() {
        assert!(contains_text(Some("McAllister"), "all"));
        assert!(contains_text(Some("ÉLODIE"), "élo"));
        assert!(!contains_text(Some("Smith"), "smyth"));
        assert!(!contains_text(None, "a"));
        assert!(!contains_text(Some(""), ""));
    }

    #[test]
    fn each_value_type_is_written_the_way_cliniko_parses_it() {
        let at: DateTime<Utc> = "2014-08-30T18:00:00.250+02:00".parse().unwrap();
        assert_eq!(
            Filter::new("updated_at", FilterOp::Ge, &at).to_param(),
            "updated_at:>=2014-08-30T16:00:00Z"
        );
        let date = NaiveDate::from_ymd_opt(1980, 5, 1).unwrap();
        assert_eq!(
            Filter::eq("date_of_birth", &date).to_param(),
            "date_of_birth:=1980-05-01"
        );
        let ids = [
            ClinikoId::parse("1").unwrap(),
            ClinikoId::parse("836447129235883061").unwrap(),
        ];
        assert_eq!(
            Filter::one_of("practitioner_id", &ids).to_param(),
            "practitioner_id:=1,836447129235883061"
        );
        assert_eq!(
            Filter::new("last_name", FilterOp::Like, "Sm%th").to_param(),
            "last_name:~~Sm%th"
        );
        assert_eq!(Filter::any("archived_at").to_param(), "archived_at:*");
        assert_eq!(Filter::absent("cancelled_at").to_param(), "cancelled_at:!?");
        assert_eq!(
            Filter::new("first_name", FilterOp::Ne, "Jo").to_param(),
            "first_name:!=Jo"
        );
    }

    #[test]
    fn sort_and_filters_become_repeated_parameters() {
        let query = ListQuery::new()
            .filter(Filter::present("email"))
            .filter(Filter::eq("last_name", "O'Brien"))
            .sort_by("last_name", Direction::Asc)
            .sort_by("created_at", Direction::Desc);
        assert_eq!(
            query.params(),
            [
                ("q[]", "email:?".to_owned()),
                ("q[]", "last_name:=O'Brien".to_owned()),
                ("sort", "last_name,created_at:desc".to_owned())
            ]
        );
    }

    #[test]
    fn a_filter_never_prints_its_value() {
        assert_eq!(
            format!("{:?}", Filter::eq("last_name", "Citizen")),
            "Filter(last_name:=…)"
        );
    }
}
