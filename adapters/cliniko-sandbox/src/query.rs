//! Lists as Cliniko serves them: `q[]=field:OPvalue` filters (typed by field, with the operators
//! each type allows), `sort=a,b:desc` (and the deprecated `order`), records hidden by default
//! (archived, cancelled, deleted) unless a filter names that field, and pages (`page`,
//! `per_page` default 50, capped at 100) in the `{resource: [...], total_entries, links}` envelope
//! with absolute `self`/`next`/`previous` links that carry the filters.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use url::Url;

use crate::records::Record;

/// Default page size.
const DEFAULT_PER_PAGE: usize = 50;
/// Largest page size.
const MAX_PER_PAGE: usize = 100;

/// How a collection may be listed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Collection {
    /// The envelope key and path (`patients`).
    pub name: &'static str,
    /// Fields `q[]` may filter on.
    pub filters: &'static [&'static str],
    /// Timestamp fields that hide a record when set, unless filtered on.
    pub hidden_when: &'static [&'static str],
}

/// A field's type, which decides the allowed operators and how values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    DateTime,
    Date,
    Bool,
    Text,
}

fn kind_of(field: &str) -> Kind {
    match field {
        "id" => Kind::Int,
        // A free-text id from another system, despite its name.
        "old_reference_id" => Kind::Text,
        "date_of_birth" => Kind::Date,
        "did_not_arrive" | "show_in_online_bookings" | "active" => Kind::Bool,
        f if f.ends_with("_id") => Kind::Int,
        f if f.ends_with("_at") => Kind::DateTime,
        _ => Kind::Text,
    }
}

/// Filter operators, longest spelling first so `>=` is not read as `>`.
const OPERATORS: [&str; 11] = ["!?", "!=", ">=", "<=", "~~", "=", ">", "<", "~", "?", "*"];

fn allowed(kind: Kind, op: &str) -> bool {
    match kind {
        Kind::Int => matches!(op, "=" | "!=" | ">" | ">=" | "<" | "<=" | "?" | "!?"),
        Kind::DateTime => matches!(op, ">" | ">=" | "<" | "<=" | "?" | "!?" | "*"),
        Kind::Date => matches!(op, "=" | ">" | ">=" | "<" | "<=" | "?" | "!?" | "*"),
        Kind::Bool => matches!(op, "=" | "!="),
        Kind::Text => matches!(op, "=" | "!=" | "~" | "~~" | "?" | "!?"),
    }
}

/// One `q[]` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    field: String,
    op: &'static str,
    value: String,
}

/// A parsed list request.
#[derive(Debug, Clone)]
pub(crate) struct ListRequest {
    conditions: Vec<Condition>,
    sort: Vec<(String, bool)>,
    page: usize,
    per_page: usize,
}

impl ListRequest {
    /// Reads `q[]`/`q`, `sort`, `order`, `page` and `per_page` from the query pairs.
    ///
    /// # Errors
    /// A message for Cliniko's 400 body: unknown field, operator not valid for the field,
    /// unparsable value or page number.
    pub(crate) fn parse(
        pairs: &[(String, String)],
        collection: &Collection,
    ) -> Result<Self, String> {
        let mut conditions = Vec::new();
        let mut sort_raw = None;
        let mut descending = false;
        let mut page = 1;
        let mut per_page = DEFAULT_PER_PAGE;
        for (name, value) in pairs {
            match name.as_str() {
                "q[]" | "q" => conditions.push(parse_condition(value, collection)?),
                "sort" => sort_raw = Some(value.clone()),
                "order" => descending = value.eq_ignore_ascii_case("desc"),
                "page" => {
                    page = value
                        .parse::<usize>()
                        .ok()
                        .filter(|p| *p >= 1)
                        .ok_or_else(|| format!("invalid page {value:?}"))?;
                }
                "per_page" => {
                    per_page = value
                        .parse::<usize>()
                        .ok()
                        .filter(|p| *p >= 1)
                        .ok_or_else(|| format!("invalid per_page {value:?}"))?
                        .min(MAX_PER_PAGE);
                }
                _ => {}
            }
        }
        let mut sort = Vec::new();
        for part in sort_raw
            .iter()
            .flat_map(|raw| raw.split(','))
            .filter(|p| !p.is_empty())
        {
            let (field, desc) = match part.split_once(':') {
                Some((field, "desc")) => (field, true),
                Some((field, "asc")) => (field, false),
                Some(_) => return Err(format!("invalid sort {part:?}")),
                None => (part, descending),
            };
            if !collection.filters.contains(&field)
                && !matches!(field, "first_name" | "last_name" | "name" | "starts_at")
            {
                return Err(format!("cannot sort by {field:?}"));
            }
            sort.push((field.to_owned(), desc));
        }
        if sort.is_empty() {
            sort.push(("created_at".to_owned(), descending));
        }
        Ok(Self {
            conditions,
            sort,
            page,
            per_page,
        })
    }

    /// The page of matching records (rendered by `render`), in the envelope, with links built
    /// from `url` (the request's absolute URL).
    pub(crate) fn respond<'a>(
        &self,
        collection: &Collection,
        records: impl Iterator<Item = &'a Record>,
        url: &Url,
        render: impl Fn(&Record) -> Value,
    ) -> Value {
        let mut matching: Vec<&Record> = records
            .filter(|record| self.visible(record, collection))
            .filter(|record| self.conditions.iter().all(|c| matches(record, c)))
            .collect();
        matching.sort_by(|a, b| self.compare(a, b));
        let total = matching.len();
        let items: Vec<Value> = matching
            .iter()
            .skip((self.page - 1).saturating_mul(self.per_page))
            .take(self.per_page)
            .map(|record| render(record))
            .collect();
        let mut links = json!({"self": page_url(url, self.page, self.per_page)});
        if self.page.saturating_mul(self.per_page) < total {
            links["next"] = json!(page_url(url, self.page + 1, self.per_page));
        }
        if self.page > 1 {
            links["previous"] = json!(page_url(url, self.page - 1, self.per_page));
        }
        json!({collection.name: items, "total_entries": total, "links": links})
    }

    fn visible(&self, record: &Record, collection: &Collection) -> bool {
        collection
            .hidden_when
            .iter()
            .all(|field| !record.is_set(field) || self.conditions.iter().any(|c| c.field == *field))
    }

    fn compare(&self, a: &Record, b: &Record) -> Ordering {
        for (field, desc) in &self.sort {
            let ordering = compare_values(kind_of(field), value_of(a, field), value_of(b, field));
            let ordering = if *desc { ordering.reverse() } else { ordering };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        a.id.cmp(&b.id)
    }
}

/// Paginated list of plain JSON items (available times) in the envelope.
pub(crate) fn respond_items(
    name: &str,
    items: Vec<Value>,
    pairs: &[(String, String)],
    url: &Url,
) -> Result<Value, String> {
    let mut page = 1;
    let mut per_page = DEFAULT_PER_PAGE;
    for (key, value) in pairs {
        match key.as_str() {
            "page" => {
                page = value
                    .parse()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or("invalid page")?
            }
            "per_page" => {
                per_page = value
                    .parse::<usize>()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or("invalid per_page")?
                    .min(MAX_PER_PAGE)
            }
            _ => {}
        }
    }
    let total = items.len();
    let page_items: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut links = json!({"self": page_url(url, page, per_page)});
    if page * per_page < total {
        links["next"] = json!(page_url(url, page + 1, per_page));
    }
    if page > 1 {
        links["previous"] = json!(page_url(url, page - 1, per_page));
    }
    Ok(json!({name: page_items, "total_entries": total, "links": links}))
}

fn parse_condition(raw: &str, collection: &Collection) -> Result<Condition, String> {
    let (field, rest) = raw
        .split_once(':')
        .ok_or_else(|| format!("invalid filter {raw:?}: expected field:OPERATORvalue"))?;
    if !collection.filters.contains(&field) {
        return Err(format!("cannot filter {} by {field:?}", collection.name));
    }
    let op = OPERATORS
        .iter()
        .find(|op| rest.starts_with(**op))
        .ok_or_else(|| format!("invalid operator in {raw:?}"))?;
    let kind = kind_of(field);
    if !allowed(kind, op) {
        return Err(format!("operator {op:?} is not valid for {field:?}"));
    }
    let value = rest[op.len()..].to_owned();
    let bad_value = || format!("invalid value in {raw:?}");
    match (kind, *op) {
        (_, "?" | "!?" | "*") => {}
        (Kind::Int, _) => {
            if value.split(',').any(|v| v.parse::<i64>().is_err()) {
                return Err(bad_value());
            }
        }
        (Kind::DateTime, _) => {
            if !value.ends_with('Z') || value.parse::<DateTime<Utc>>().is_err() {
                return Err(bad_value());
            }
        }
        (Kind::Date, _) => {
            let shape = value.len() == 10
                && value.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit() || b == b'*'
                    }
                });
            if !shape {
                return Err(bad_value());
            }
        }
        (Kind::Bool, _) => {
            if value != "true" && value != "false" {
                return Err(bad_value());
            }
        }
        (Kind::Text, _) => {}
    }
    Ok(Condition {
        field: field.to_owned(),
        op,
        value,
    })
}

/// A record's value of `field` as text: the id, a related record's id (`patient_id`), or the
/// field (`None` for null and `""`).
fn value_of(record: &Record, field: &str) -> Option<String> {
    if field == "id" {
        return Some(record.id.to_string());
    }
    if let Some(id) = field
        .strip_suffix("_id")
        .and_then(|stem| record.ref_id(stem))
    {
        return Some(id.to_string());
    }
    match record.fields.get(field)? {
        Value::String(text) if text.is_empty() => None,
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn matches(record: &Record, condition: &Condition) -> bool {
    let actual = value_of(record, &condition.field);
    match condition.op {
        "*" => return true,
        "?" => return actual.is_some(),
        "!?" => return actual.is_none(),
        _ => {}
    }
    let Some(actual) = actual else {
        // Like SQL NULL: no comparison holds.
        return false;
    };
    let wanted = condition.value.as_str();
    match kind_of(&condition.field) {
        Kind::Int => {
            let Ok(actual) = actual.parse::<i64>() else {
                return false;
            };
            let first = wanted
                .split(',')
                .next()
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or_default();
            match condition.op {
                "=" => wanted
                    .split(',')
                    .any(|v| v.parse::<i64>().ok() == Some(actual)),
                "!=" => actual != first,
                op => ordered(op, actual.cmp(&first)),
            }
        }
        Kind::DateTime => match (
            actual.parse::<DateTime<Utc>>(),
            wanted.parse::<DateTime<Utc>>(),
        ) {
            (Ok(actual), Ok(wanted)) => ordered(condition.op, actual.cmp(&wanted)),
            _ => false,
        },
        Kind::Date if condition.op == "=" => {
            actual.len() == wanted.len()
                && actual
                    .bytes()
                    .zip(wanted.bytes())
                    .all(|(a, w)| w == b'*' || a == w)
        }
        Kind::Date => ordered(condition.op, actual.as_str().cmp(wanted)),
        Kind::Bool | Kind::Text => match condition.op {
            "=" => actual == wanted,
            "!=" => actual != wanted,
            "~" => actual.to_lowercase().contains(&wanted.to_lowercase()),
            "~~" => like(&actual.to_lowercase(), &wanted.to_lowercase()),
            _ => false,
        },
    }
}

fn ordered(op: &str, ordering: Ordering) -> bool {
    match op {
        ">" => ordering == Ordering::Greater,
        ">=" => ordering != Ordering::Less,
        "<" => ordering == Ordering::Less,
        "<=" => ordering != Ordering::Greater,
        _ => false,
    }
}

/// SQL `LIKE` with `%` as the only wildcard.
fn like(text: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('%').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return text.is_empty();
    };
    if parts.len() == 1 {
        return text == pattern;
    }
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

fn compare_values(kind: Kind, a: Option<String>, b: Option<String>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) if kind == Kind::Int => a
            .parse::<i64>()
            .unwrap_or_default()
            .cmp(&b.parse::<i64>().unwrap_or_default()),
        (Some(a), Some(b)) => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

/// `url` with `page` and `per_page` set and every other parameter kept (filters stay encoded as
/// `q%5B%5D=…`).
fn page_url(url: &Url, page: usize, per_page: usize) -> String {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| name != "page" && name != "per_page")
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let mut out = url.clone();
    {
        let mut pairs = out.query_pairs_mut();
        pairs.clear();
        for (name, value) in &kept {
            pairs.append_pair(name, value);
        }
        pairs.append_pair("page", &page.to_string());
        pairs.append_pair("per_page", &per_page.to_string());
    }
    out.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Ref;

    const PATIENTS: Collection = Collection {
        name: "patients",
        filters: &[
            "id",
            "first_name",
            "last_name",
            "date_of_birth",
            "created_at",
            "archived_at",
            "email",
        ],
        hidden_when: &["archived_at"],
    };

    fn patient(id: i64, last: &str, dob: &str, archived: bool) -> Record {
        Record::new(
            id,
            json!({"first_name": "A", "last_name": last, "date_of_birth": dob,
                   "created_at": format!("2020-01-{:02}T00:00:00Z", id), "archived_at": if archived { "2021-01-01T00:00:00Z" } else { "" }}),
            vec![Ref {
                name: "practitioner",
                collection: "practitioners",
                id: 9,
            }],
        )
    }

    fn list(query: &str, records: &[Record]) -> Result<Value, String> {
        let url = Url::parse(&format!("http://sandbox.test/au1/v1/patients?{query}")).unwrap();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(a, b)| (a.into_owned(), b.into_owned()))
            .collect();
        let request = ListRequest::parse(&pairs, &PATIENTS)?;
        Ok(request.respond(&PATIENTS, records.iter(), &url, |r| json!(r.id)))
    }

    fn sample() -> Vec<Record> {
        vec![
            patient(1, "Smith", "1980-05-01", false),
            patient(2, "Smythe", "1990-05-20", false),
            patient(3, "Jones", "1980-07-01", false),
            patient(4, "Smith", "1970-05-02", true),
        ]
    }

    #[test]
    fn filters_combine_and_archived_records_appear_only_when_asked_for() {
        let records = sample();
        let ids = |v: Value| {
            v["patients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(list("q%5B%5D=last_name%3A%3DSmith", &records).unwrap()),
            [1]
        );
        assert_eq!(
            ids(list("q[]=last_name:=Smith&q[]=archived_at:*", &records).unwrap()),
            [1, 4]
        );
        assert_eq!(ids(list("q[]=last_name:~~sm%th", &records).unwrap()), [1]);
        // `~` is "contains", ignoring case (what the FHIR `name` search relies on).
        assert_eq!(ids(list("q[]=last_name:~MYT", &records).unwrap()), [2]);
        assert_eq!(ids(list("q[]=last_name:~ith", &records).unwrap()), [1]);
        assert_eq!(
            ids(list("q[]=last_name:~~Sm%25", &records).unwrap()),
            [1, 2]
        );
        assert_eq!(
            ids(list("q[]=date_of_birth:=****-05-**", &records).unwrap()),
            [1, 2]
        );
        assert_eq!(ids(list("q[]=id:=3,1", &records).unwrap()), [1, 3]);
        assert_eq!(
            ids(list("q[]=created_at:>=2020-01-02T00:00:00Z", &records).unwrap()),
            [2, 3]
        );
        assert_eq!(
            ids(list("sort=last_name:desc,id", &records).unwrap()),
            [2, 1, 3]
        );
    }

    #[test]
    fn unknown_fields_bad_operators_and_bad_values_are_refused() {
        let records = sample();
        for bad in [
            "q[]=shoe_size:=9",
            "q[]=created_at:=2020-01-01T00:00:00Z",
            "q[]=id:=abc",
            "q[]=created_at:>2020-01-01",
            "q[]=last_name",
            "page=0",
            "sort=shoe_size",
        ] {
            assert!(list(bad, &records).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_carry_absolute_links_with_the_filters() {
        let records: Vec<Record> = (1..=5)
            .map(|i| patient(i, "Smith", "1980-01-01", false))
            .collect();
        let page = list("q[]=last_name:=Smith&per_page=2&page=2", &records).unwrap();
        assert_eq!(page["total_entries"], 5);
        assert_eq!(page["patients"].as_array().unwrap().len(), 2);
        let next = page["links"]["next"].as_str().unwrap();
        assert!(
            next.starts_with("http://sandbox.test/au1/v1/patients?q%5B%5D=last_name%3A%3DSmith"),
            "{next}"
        );
        assert!(next.ends_with("page=3&per_page=2"), "{next}");
        assert!(
            page["links"]["previous"]
                .as_str()
                .unwrap()
                .contains("page=1")
        );
        let last = list("per_page=2&page=3", &records).unwrap();
        assert!(last["links"].get("next").is_none());
        let capped = list("per_page=500", &records).unwrap();
        assert!(
            capped["links"]["self"]
                .as_str()
                .unwrap()
                .ends_with("per_page=100")
        );
    }
}
