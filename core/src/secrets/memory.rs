//! Data keys held in memory, for unit tests of what opens secrets (the vault, the delivery worker).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::crypto::MasterKeyId;
use crate::error::Result;
use crate::ids::TenantId;
use crate::secrets::{DataKeyRepository, WrappedDataKey};

/// Wrapped data keys in a map, counting how often one was read.
#[derive(Debug, Default)]
pub(crate) struct MemoryDataKeys {
    rows: Mutex<HashMap<TenantId, WrappedDataKey>>,
    finds: AtomicUsize,
}

impl MemoryDataKeys {
    /// How many times `find` was called.
    pub(crate) fn finds(&self) -> usize {
        self.finds.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl DataKeyRepository for MemoryDataKeys {
    async fn find(&self, tenant: TenantId) -> Result<Option<WrappedDataKey>> {
        self.finds.fetch_add(1, Ordering::SeqCst);
        Ok(self.rows.lock().unwrap().get(&tenant).cloned())
    }
    async fn insert_if_absent(
        &self,
        tenant: TenantId,
        wrapped: WrappedDataKey,
    ) -> Result<WrappedDataKey> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .entry(tenant)
            .or_insert(wrapped)
            .clone())
    }
    async fn not_wrapped_by(
        &self,
        _: &MasterKeyId,
        _: Option<TenantId>,
        _: u64,
    ) -> Result<Vec<(TenantId, WrappedDataKey)>> {
        Ok(Vec::new())
    }
    async fn replace(&self, _: TenantId, _: &WrappedDataKey, _: &WrappedDataKey) -> Result<bool> {
        Ok(false)
    }
}
