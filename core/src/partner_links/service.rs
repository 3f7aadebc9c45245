//! [`PartnerPatientService`]: a partner's patients by its own ids, through the clinic's Cliniko
//! (API lane). Every call takes the API client's [`TenantContext`]: links belong to the
//! (clinic, client) pair, and another clinic's patients are simply not in this clinic's Cliniko.

use std::sync::Arc;
use std::time::Instant;

use super::{Claim, PartnerId, PartnerLinks, PartnerPolicy};
use crate::clinic_settings::{ClinicSettingsService, PartnerIdField};
use crate::cliniko::{
    ClinikoAccount, ClinikoClient, ClinikoId, Lane, Patience, Patient, PatientFields,
};
use crate::cliniko_key::ClinikoKeyService;
use crate::directory::not_connected;
use crate::tenancy::TenantContext;
use crate::tokens::ClientId;
use crate::{Error, Result};

/// How often a request waiting on another's claim looks again.
const CLAIM_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// A Cliniko patient with the partner id the calling client gave it, if any.
#[derive(Debug, Clone)]
pub struct LinkedPatient {
    /// As Cliniko holds it.
    pub patient: Patient,
    /// The calling client's id for it.
    pub partner_id: Option<PartnerId>,
}

/// The partner patient API's rules; cheap to clone.
#[derive(Debug, Clone)]
pub struct PartnerPatientService {
    cliniko: Arc<dyn ClinikoClient>,
    keys: ClinikoKeyService,
    links: Arc<dyn PartnerLinks>,
    policy: PartnerPolicy,
    settings: ClinicSettingsService,
}

/// `partner_id_in_progress`: another request with the partner id is still creating the patient.
fn in_progress() -> Error {
    Error::Conflict {
        code: "partner_id_in_progress",
        detail: "a request with this partner_id is still creating the patient; retry shortly \
                 and you will get that patient"
            .to_owned(),
    }
}

fn client_of(ctx: &TenantContext) -> Result<&ClientId> {
    ctx.client_id().ok_or_else(|| {
        Error::Forbidden("partner patients belong to an API client; use an access token".to_owned())
    })
}

impl PartnerPatientService {
    /// A service over the clinic's Cliniko and the shared link store; `settings` say where in
    /// Cliniko a clinic wants partners' ids written.
    pub fn new(
        cliniko: Arc<dyn ClinikoClient>,
        keys: ClinikoKeyService,
        links: Arc<dyn PartnerLinks>,
        policy: PartnerPolicy,
        settings: ClinicSettingsService,
    ) -> Self {
        Self {
            cliniko,
            keys,
            links,
            policy,
            settings,
        }
    }

    /// `fields` with the partner id in the Cliniko field the clinic chose, if it chose one.
    async fn with_partner_id(
        &self,
        ctx: &TenantContext,
        partner_id: &PartnerId,
        mut fields: PatientFields,
    ) -> Result<PatientFields> {
        match self.settings.get(ctx).await?.partner_id_field {
            Some(PartnerIdField::OldReferenceId) => {
                fields.old_reference_id = Some(partner_id.as_str().to_owned());
            }
            None => {}
        }
        Ok(fields)
    }

    /// Runs `call` with the clinic's Cliniko account, on the API lane with [`Patience`];
    /// `cliniko_not_connected` without one.
    async fn with_cliniko<T, F, Fut>(&self, ctx: &TenantContext, call: F) -> Result<T>
    where
        F: Fn(ClinikoAccount, Arc<dyn ClinikoClient>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let cliniko = self.cliniko.clone();
        self.keys
            .with_account(ctx, |account| async move {
                Patience::default()
                    .call(|| call(account.clone(), cliniko.clone()))
                    .await
            })
            .await?
            .ok_or_else(not_connected)
    }

    async fn read(&self, ctx: &TenantContext, id: &ClinikoId) -> Result<Patient> {
        let patient = self
            .with_cliniko(ctx, |account, cliniko| async move {
                cliniko.patient(&account, Lane::Api, id).await
            })
            .await?;
        // Deleted patients are gone for partners as they are for Cliniko's own lists.
        if patient.deleted_at.is_some() {
            return Err(Error::NotFound {
                resource: "patient",
            });
        }
        Ok(patient)
    }

    /// Creates a Cliniko patient for `partner_id`, or returns the one it already names:
    /// `(true, patient)` when created now. Where the clinic chose a Cliniko field for partners'
    /// ids ([`PartnerIdField`]), the new patient carries `partner_id` in it. Concurrent calls with one partner id (on any
    /// instance) create one patient; the others wait for it, up to
    /// [`PartnerPolicy::wait_for_claim`], then get it.
    ///
    /// # Errors
    /// `Conflict(partner_id_in_progress)` when the first create is still running after the
    /// wait; Cliniko's failures (the claim is then released, so a retry creates afresh).
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn create(
        &self,
        ctx: &TenantContext,
        partner_id: PartnerId,
        fields: PatientFields,
    ) -> Result<(bool, LinkedPatient)> {
        let tenant = ctx.tenant_id();
        let client = client_of(ctx)?;
        let deadline = Instant::now() + self.policy.wait_for_claim;
        loop {
            match self
                .links
                .claim(tenant, client, &partner_id, self.policy.claim_ttl)
                .await?
            {
                Claim::Claimed => break,
                Claim::Linked(id) => {
                    let patient = self.read(ctx, &id).await?;
                    return Ok((
                        false,
                        LinkedPatient {
                            patient,
                            partner_id: Some(partner_id),
                        },
                    ));
                }
                Claim::Busy if Instant::now() < deadline => tokio::time::sleep(CLAIM_POLL).await,
                Claim::Busy => return Err(in_progress()),
            }
        }
        let created = match self.with_partner_id(ctx, &partner_id, fields).await {
            Ok(fields) => {
                let fields = &fields;
                self.with_cliniko(ctx, |account, cliniko| async move {
                    cliniko.create_patient(&account, Lane::Api, fields).await
                })
                .await
            }
            Err(err) => Err(err),
        };
        let patient = match created {
            Ok(patient) => patient,
            Err(err) => {
                if let Err(release) = self.links.release(tenant, client, &partner_id).await {
                    tracing::warn!(error = %release, "could not release a partner id claim; it expires on its own");
                }
                return Err(err);
            }
        };
        if let Err(err) = self
            .links
            .settle(tenant, client, &partner_id, &patient.id)
            .await
        {
            // Cliniko holds the patient; only the link is missing, and the clinic's staff can
            // find the patient by this id.
            tracing::error!(patient_id = %patient.id, error = %err, "a partner's patient was created in Cliniko but its link could not be stored");
            return Err(err);
        }
        tracing::info!(patient_id = %patient.id, "partner patient created");
        Ok((
            true,
            LinkedPatient {
                patient,
                partner_id: Some(partner_id),
            },
        ))
    }

    /// The patient `partner_id` names for the calling client.
    ///
    /// # Errors
    /// `NotFound` when the client has no such partner id (or its create is still running).
    pub async fn by_partner_id(
        &self,
        ctx: &TenantContext,
        partner_id: PartnerId,
    ) -> Result<LinkedPatient> {
        let client = client_of(ctx)?;
        let id = self
            .links
            .patient_of(ctx.tenant_id(), client, &partner_id)
            .await?
            .ok_or(Error::NotFound {
                resource: "patient",
            })?;
        let patient = self.read(ctx, &id).await?;
        Ok(LinkedPatient {
            patient,
            partner_id: Some(partner_id),
        })
    }

    /// A patient of the clinic by Cliniko id, with the calling client's partner id for it.
    ///
    /// # Errors
    /// `NotFound` when the clinic's Cliniko has no such patient.
    pub async fn get(&self, ctx: &TenantContext, id: &ClinikoId) -> Result<LinkedPatient> {
        let client = client_of(ctx)?;
        let patient = self.read(ctx, id).await?;
        let partner_id = self
            .links
            .partner_id_of(ctx.tenant_id(), client, &patient.id)
            .await?;
        Ok(LinkedPatient {
            patient,
            partner_id,
        })
    }

    /// Changes a patient in Cliniko.
    ///
    /// # Errors
    /// `NotFound` when the clinic's Cliniko has no such patient; Cliniko's validation.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn update(
        &self,
        ctx: &TenantContext,
        id: &ClinikoId,
        fields: PatientFields,
    ) -> Result<LinkedPatient> {
        let client = client_of(ctx)?;
        // Read first: a deleted patient is not found, and Cliniko would accept the change.
        self.read(ctx, id).await?;
        let fields = &fields;
        let patient = self
            .with_cliniko(ctx, |account, cliniko| async move {
                cliniko
                    .update_patient(&account, Lane::Api, id, fields)
                    .await
            })
            .await?;
        let partner_id = self
            .links
            .partner_id_of(ctx.tenant_id(), client, &patient.id)
            .await?;
        Ok(LinkedPatient {
            patient,
            partner_id,
        })
    }
}
