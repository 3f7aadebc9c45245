//! Patient `phone`: Cliniko has no phone filter, so the candidates come from the poller's index
//! of each clinic's patients' numbers (keyed hashes of their last digits, see
//! [`clinicgate_core::polling::phones`]), are read from Cliniko in one call (`id:=…`, with the
//! search's other filters), and are kept only when one of their numbers, as Cliniko has it now,
//! is the number asked for. The candidates of one number are few, so the matches are paged
//! here and the total is exact; a page costs one Cliniko call per 100 candidates (one, in
//! practice).
//!
//! The index is as fresh as the poller: a number added in Cliniko is found after the next poll
//! (seconds); a number removed is never shown, as the match is checked on Cliniko's answer.
//! While a clinic's patients are first being read the search answers 503 with `Retry-After`,
//! and when nobody has polled the clinic for [`phones::MAX_LAG`] 503 too (its numbers could
//! have changed unseen).

use std::time::Duration;

use actix_web::http::StatusCode;
use chrono::Utc;
use clinicgate_core::Error;
use clinicgate_core::cliniko::{Filter, Lane, ListQuery, PageRequest, Patient};
use clinicgate_core::polling::PhoneLookup;
use clinicgate_core::polling::phones::{self, KEY_DIGITS, same_number};
use clinicgate_core::tenancy::TenantContext;

use super::search::{MAX_COUNT, Search, invalid};
use super::with_cliniko;
use crate::http::problem::ApiError;
use crate::state::AppState;

/// Numbers one search may ask for (FHIR's comma OR).
const MAX_NUMBERS: usize = 5;
/// Candidates one search reads from Cliniko at most (three calls).
const MAX_CANDIDATES: usize = 300;
/// When to retry while a clinic's patients are being indexed.
const INDEXING_RETRY: Duration = Duration::from_secs(10);

/// The numbers the search's `phone` parameter asks for, if it has one.
///
/// # Errors
/// `Validation` on `phone` when it is repeated, lists too many numbers, or a number has fewer
/// than [`KEY_DIGITS`] digits; on `name` when both are given (two walks cannot be combined).
pub fn numbers(search: &Search) -> Result<Option<Vec<String>>, Error> {
    let Some(raw) = search.once("phone", "; several numbers are a comma list")? else {
        return Ok(None);
    };
    if search.get("name").is_some() {
        return Err(invalid(
            "phone",
            "phone cannot be combined with name; use family or given with it",
        ));
    }
    let numbers: Vec<String> = raw.split(',').map(|n| n.trim().to_owned()).collect();
    if numbers.len() > MAX_NUMBERS {
        return Err(invalid(
            "phone",
            format!("phone takes at most {MAX_NUMBERS} numbers"),
        ));
    }
    if numbers.iter().any(|n| phones::digits(n).len() < KEY_DIGITS) {
        return Err(invalid(
            "phone",
            format!("each phone number needs at least {KEY_DIGITS} digits"),
        ));
    }
    Ok(Some(numbers))
}

/// One page of a `phone` search.
#[derive(Debug)]
pub struct PhonePage {
    /// The patients to show, in Cliniko's order.
    pub patients: Vec<Patient>,
    /// Patients matching on every page.
    pub total: usize,
    /// Whether a next page holds more.
    pub more: bool,
}

/// The search's page of patients with one of `numbers`, among those `base` (the other
/// parameters' filters) selects.
///
/// # Errors
/// 503 while the clinic's index is being built or when it is stale; 400 when too many patients
/// share the digits asked for; what the Cliniko calls return.
pub async fn page(
    state: &AppState,
    ctx: &TenantContext,
    search: &Search,
    base: ListQuery,
    numbers: &[String],
) -> Result<PhonePage, ApiError> {
    let lookup = state
        .phone_index
        .candidates(ctx.tenant_id(), numbers, Utc::now())
        .await?;
    let candidates = match lookup {
        PhoneLookup::Ready(ids) => ids,
        PhoneLookup::Indexing => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "phone_index_building",
                "the clinic's patients are still being read from Cliniko for phone search; retry shortly",
            )
            .with_retry_after(INDEXING_RETRY));
        }
        PhoneLookup::Stale => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "phone_index_stale",
                format!(
                    "phone search needs ClinicGate's change detection, which has not read this \
                     clinic's Cliniko in the last {} minutes",
                    phones::MAX_LAG.as_secs() / 60
                ),
            ));
        }
    };
    if candidates.len() > MAX_CANDIDATES {
        return Err(invalid(
            "phone",
            "too many patients share these digits; add family, given or birthdate",
        )
        .into());
    }
    let mut matches = Vec::new();
    if !candidates.is_empty() {
        let query = &base.filter(Filter::one_of("id", &candidates));
        let cliniko = &state.cliniko;
        for number in 1.. {
            let page = PageRequest::new(number, MAX_COUNT);
            let found = with_cliniko(state, ctx, |account| async move {
                cliniko
                    .patients_page(&account, Lane::Api, query, page)
                    .await
            })
            .await?;
            let last = found.is_last(page);
            matches.extend(found.items.into_iter().filter(|patient| {
                patient.phones().iter().any(|phone| {
                    phone
                        .number
                        .as_deref()
                        .is_some_and(|have| numbers.iter().any(|wanted| same_number(have, wanted)))
                })
            }));
            if last {
                break;
            }
        }
    }
    let total = matches.len();
    let shown = if search.summary_count {
        Vec::new()
    } else {
        search.slice(&matches).to_vec()
    };
    let more = search.offset().saturating_add(shown.len()) < total;
    Ok(PhonePage {
        patients: shown,
        total,
        more,
    })
}
