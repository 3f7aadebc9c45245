//! Patient `name`: FHIR matches *any* part of the name, an OR of Cliniko's `last_name` and
//! `first_name` filters, which Cliniko ANDs. So a `name` search walks two Cliniko lists one
//! after the other: first the patients whose last name contains the value (Cliniko's `~`),
//! then those whose first name does, less the ones the first list already showed (their last
//! name contains the value too; [`contains_text`] mirrors Cliniko's `~`). Each page is one
//! Cliniko list call with Cliniko's own paging, no patient shows twice, and nothing is kept
//! server-side: how many pages the first list fills travels in the sealed cursor.
//!
//! The cost of exactness: the total is only known when no last name matches (then the walk is
//! the second list alone), so otherwise the Bundle has no `total`; a first page whose first list
//! is empty makes a second call; and the page where the lists meet (and pages of the second
//! list) can hold fewer than `_count` patients, the last one even none. `_summary=count` counts
//! by inclusion–exclusion: last-name matches + first-name matches − both (three calls, two when
//! either list is empty).

use clinicgate_core::Error;
use clinicgate_core::cliniko::{
    ClinikoAccount, ClinikoClient, Filter, FilterOp, Lane, ListPage, ListQuery, PageRequest,
    Patient, contains_text,
};
use clinicgate_core::tenancy::TenantContext;

use super::search::{Search, invalid};
use super::with_cliniko;
use crate::state::AppState;

/// One page of a `name` search.
#[derive(Debug)]
pub struct NamePage {
    /// The patients to show, in order.
    pub patients: Vec<Patient>,
    /// Patients matching on every page, when known exactly.
    pub total: Option<usize>,
    /// Whether a next page may hold more.
    pub more: bool,
}

/// The value of the search's `name` parameter, if it has one.
///
/// # Errors
/// `Validation` on `name` when it is empty, given twice, or a comma-separated list (FHIR's
/// OR of several names, which would need one more list per name).
pub fn value(search: &Search) -> Result<Option<String>, Error> {
    let Some(raw) = search.once("name", "")? else {
        return Ok(None);
    };
    let value = raw.trim();
    if value.is_empty() {
        return Err(invalid("name", "name needs a value"));
    }
    if value.contains(',') {
        return Err(invalid(
            "name",
            "name takes one value: several names at once cannot be searched",
        ));
    }
    Ok(Some(value.to_owned()))
}

/// Cliniko's `~` on a name field.
fn contains(field: &'static str, value: &str) -> Filter {
    Filter::new(field, FilterOp::Contains, value)
}

/// How many pages of `count` a list of `total` fills.
fn pages(total: usize, count: u32) -> u32 {
    let count = usize::try_from(count.max(1)).unwrap_or(usize::MAX);
    u32::try_from(total.div_ceil(count)).unwrap_or(u32::MAX)
}

/// The search's page of patients whose name contains `value`, among those `base` (the other
/// parameters' filters) selects. Sets `search.first_pages` on a first page, so the Bundle's
/// links carry where the first list ends.
///
/// # Errors
/// What the Cliniko calls return.
pub async fn page(
    state: &AppState,
    ctx: &TenantContext,
    search: &mut Search,
    base: ListQuery,
    value: &str,
) -> Result<NamePage, Error> {
    let lists = Lists {
        by_last: base.clone().filter(contains("last_name", value)),
        by_first: base.filter(contains("first_name", value)),
        value,
        count: search.count,
    };
    let cliniko = &state.cliniko;
    if search.summary_count {
        let lists = &lists;
        return with_cliniko(state, ctx, |account| async move {
            lists.count(cliniko.as_ref(), &account).await
        })
        .await;
    }
    let (page, known) = (search.page, search.first_pages);
    let lists = &lists;
    let (found, split) = with_cliniko(state, ctx, |account| async move {
        lists.page(cliniko.as_ref(), &account, page, known).await
    })
    .await?;
    search.first_pages = Some(split);
    Ok(found)
}

/// The two lists of one `name` search.
struct Lists<'a> {
    by_last: ListQuery,
    by_first: ListQuery,
    value: &'a str,
    count: u32,
}

type Port = dyn ClinikoClient;

impl Lists<'_> {
    async fn list(
        &self,
        cliniko: &Port,
        account: &ClinikoAccount,
        query: &ListQuery,
        page: PageRequest,
    ) -> Result<ListPage<Patient>, Error> {
        cliniko.patients_page(account, Lane::Api, query, page).await
    }

    /// Page `page` of the walk whose first list fills `known` pages (learnt here when `None`),
    /// and that number.
    async fn page(
        &self,
        cliniko: &Port,
        account: &ClinikoAccount,
        page: u32,
        known: Option<u32>,
    ) -> Result<(NamePage, u32), Error> {
        let at = |number| PageRequest::new(number, self.count);
        let (split, mut first) = match known {
            Some(split) => (split, None),
            None => {
                let found = self.list(cliniko, account, &self.by_last, at(page)).await?;
                (pages(found.total, self.count), Some(found))
            }
        };
        if page <= split {
            let found = match first.take() {
                Some(found) => found,
                None => self.list(cliniko, account, &self.by_last, at(page)).await?,
            };
            let page = NamePage {
                patients: found.items,
                total: None,
                // The second list may add patients after the first one's last page.
                more: true,
            };
            return Ok((page, split));
        }
        let number = page - split;
        let found = self
            .list(cliniko, account, &self.by_first, at(number))
            .await?;
        let more = pages(found.total, self.count) > number;
        // Without last-name matches the walk is the second list alone, whose total is exact.
        let total = (split == 0).then_some(found.total);
        let patients = found
            .items
            .into_iter()
            .filter(|p| !contains_text(p.last_name.as_deref(), self.value))
            .collect();
        Ok((
            NamePage {
                patients,
                total,
                more,
            },
            split,
        ))
    }

    /// `_summary=count`: last-name matches + first-name matches − patients in both.
    async fn count(&self, cliniko: &Port, account: &ClinikoAccount) -> Result<NamePage, Error> {
        let one = PageRequest::new(1, 1);
        let by_last = self.list(cliniko, account, &self.by_last, one).await?.total;
        let by_first = self
            .list(cliniko, account, &self.by_first, one)
            .await?
            .total;
        let both = if by_last == 0 || by_first == 0 {
            0
        } else {
            let both = self
                .by_first
                .clone()
                .filter(contains("last_name", self.value));
            self.list(cliniko, account, &both, one).await?.total
        };
        Ok(NamePage {
            patients: Vec::new(),
            total: Some((by_last + by_first).saturating_sub(both)),
            more: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_fills_whole_pages_rounding_up() {
        assert_eq!(pages(0, 2), 0);
        assert_eq!(pages(1, 2), 1);
        assert_eq!(pages(4, 2), 2);
        assert_eq!(pages(5, 2), 3);
    }
}
