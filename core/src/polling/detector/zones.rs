//! Clinics' time zones, which decide what day an appointment is on (a queue is per day) and in
//! which zone events show times: the business's own zone, else the account's, else UTC — as the
//! public API shows them. Read through Cliniko's cached reference data only when a poll needs
//! them.

use std::collections::HashMap;
use std::sync::Arc;

use chrono_tz::Tz;

use crate::Result;
use crate::cliniko::{ClinikoAccount, ClinikoClient, ClinikoId, Lane};

/// Time zones by business.
#[derive(Debug, Clone, Default)]
pub(crate) struct Zones {
    by_business: HashMap<ClinikoId, Tz>,
    fallback: Option<Tz>,
}

impl Zones {
    /// One business's zone, known without asking Cliniko (an own write carries it).
    pub(super) fn one(business: Option<ClinikoId>, zone: Tz) -> Self {
        Self {
            by_business: business.into_iter().map(|id| (id, zone)).collect(),
            fallback: Some(zone),
        }
    }

    /// Every business's zone, from Cliniko's (cached) businesses and settings.
    pub(crate) async fn load(
        cliniko: &dyn ClinikoClient,
        account: &ClinikoAccount,
    ) -> Result<Self> {
        let lane = Lane::Background;
        let businesses = cliniko.businesses(account, lane).await?;
        let mut by_business = HashMap::new();
        let mut missing = false;
        for business in businesses {
            match business.iana_time_zone().and_then(|zone| zone.parse().ok()) {
                Some(zone) => {
                    by_business.insert(business.id, zone);
                }
                None => missing = true,
            }
        }
        // A key whose role may not read the settings still gets UTC for such businesses.
        let fallback = if missing {
            cliniko
                .settings(account, lane)
                .await
                .ok()
                .and_then(|settings| settings.account.iana_time_zone()?.parse().ok())
        } else {
            None
        };
        Ok(Self {
            by_business,
            fallback,
        })
    }

    /// The zone of `business`.
    pub(crate) fn of(&self, business: Option<&ClinikoId>) -> Tz {
        business
            .and_then(|id| self.by_business.get(id).copied())
            .or(self.fallback)
            .unwrap_or(Tz::UTC)
    }
}

/// Where a batch gets its zones: given, or read from Cliniko the first time one is needed (an
/// idle poll never asks).
#[derive(Debug)]
pub(super) enum ZoneSource<'a> {
    /// Known.
    Known(Arc<Zones>),
    /// Read on first use.
    Cliniko {
        cliniko: &'a dyn ClinikoClient,
        account: &'a ClinikoAccount,
    },
}

impl ZoneSource<'_> {
    /// The zones, read from Cliniko if not yet known.
    pub(super) async fn get(&mut self) -> Result<Arc<Zones>> {
        match self {
            Self::Known(zones) => Ok(Arc::clone(zones)),
            Self::Cliniko { cliniko, account } => {
                let zones = Arc::new(Zones::load(*cliniko, account).await?);
                *self = Self::Known(Arc::clone(&zones));
                Ok(zones)
            }
        }
    }
}
