//! Suspending a clinic must stop its tokens at once on every instance, and
//! [`ClinicRepository::set_status`] is the one way a clinic's status changes. This decorator wraps
//! the clinic repository wired at start-up so every status change also refreshes the cached
//! state of the clinic's API clients.

use std::sync::Arc;

use async_trait::async_trait;

use super::access::AccessChecker;
use crate::Result;
use crate::clinics::{Clinic, ClinicRepository, ClinicStatus, NewClinic, Subdomain};
use crate::ids::TenantId;
use crate::users::{NewUser, User};

/// A [`ClinicRepository`] whose status changes reach token validation at once.
#[derive(Debug, Clone)]
pub struct TokenAwareClinics {
    inner: Arc<dyn ClinicRepository>,
    access: AccessChecker,
}

impl TokenAwareClinics {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ClinicRepository>, access: AccessChecker) -> Self {
        Self { inner, access }
    }
}

#[async_trait]
impl ClinicRepository for TokenAwareClinics {
    async fn create(&self, clinic: NewClinic) -> Result<Clinic> {
        self.inner.create(clinic).await
    }

    async fn create_with_owner(&self, clinic: NewClinic, owner: NewUser) -> Result<(Clinic, User)> {
        self.inner.create_with_owner(clinic, owner).await
    }

    async fn find_by_subdomain(&self, subdomain: &Subdomain) -> Result<Option<Clinic>> {
        self.inner.find_by_subdomain(subdomain).await
    }

    async fn find_by_id(&self, id: TenantId) -> Result<Option<Clinic>> {
        self.inner.find_by_id(id).await
    }

    async fn set_status(&self, id: TenantId, status: ClinicStatus) -> Result<()> {
        self.inner.set_status(id, status).await?;
        self.access.refresh_clinic(id).await
    }
}
