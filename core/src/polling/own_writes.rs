//! The change detector hears ClinicGate's own writes: see [`crate::events::OwnWrites`].

use async_trait::async_trait;

use super::ChangeDetector;
use crate::Result;
use crate::booking::BookedAppointment;
use crate::events::OwnWrites;
use crate::ids::TenantId;

#[async_trait]
impl OwnWrites for ChangeDetector {
    async fn appointment_written(
        &self,
        tenant: TenantId,
        appointment: &BookedAppointment,
    ) -> Result<()> {
        ChangeDetector::appointment_written(self, tenant, appointment).await
    }
}
