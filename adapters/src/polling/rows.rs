//! Rows of the poller's tables and the core types they hold, both ways.

use chrono::{NaiveDate, Utc};
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::ids::TenantId;
use clinicgate_core::polling::availability::AvailabilityMark;
use clinicgate_core::polling::{Cursor, Fingerprint, Mark, MarkKind, Resource, Snapshot};
use clinicgate_core::secrets::SealedSecret;
use clinicgate_core::{Error, Result};
use sea_orm::Set;

use super::entity;
use crate::poll_cursors::entity as cursors;
use crate::poll_marks::entity as marks;

/// The stored form of a queue day.
const DAY: &str = "%Y-%m-%d";

fn malformed(what: &str) -> Error {
    Error::internal(format!("a stored poll {what} is malformed"))
}

fn resource(raw: &str) -> Result<Resource> {
    Resource::parse(raw).ok_or_else(|| malformed("resource"))
}

fn fingerprint(bytes: &[u8]) -> Result<Fingerprint> {
    Fingerprint::from_bytes(bytes).ok_or_else(|| malformed("fingerprint"))
}

pub(super) fn cliniko_id(raw: &str) -> Result<ClinikoId> {
    ClinikoId::parse(raw).ok_or_else(|| malformed("Cliniko id"))
}

pub(super) fn snapshot_to_domain(row: entity::Model) -> Result<Snapshot> {
    Ok(Snapshot {
        resource: resource(&row.resource)?,
        record_id: cliniko_id(&row.record_id)?,
        source_updated_at: row.source_updated_at,
        fingerprint: fingerprint(&row.fingerprint)?,
        state: row
            .state
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|_| malformed("state"))?,
        body: match (row.body, row.body_key_version) {
            (Some(ciphertext), Some(key_version)) => Some(SealedSecret {
                ciphertext,
                key_version,
            }),
            (None, None) => None,
            _ => return Err(malformed("body")),
        },
        doctor_id: row.doctor_id.as_deref().map(cliniko_id).transpose()?,
        queue_day: row
            .queue_day
            .as_deref()
            .map(|day| NaiveDate::parse_from_str(day, DAY))
            .transpose()
            .map_err(|_| malformed("queue day"))?,
        due_at: row.due_at,
        revision: row.revision,
        expires_at: row.expires_at,
        phone_keys: None,
        phones_indexed: row.phones_indexed,
    })
}

/// Every column of a snapshot row at `revision`.
pub(super) fn snapshot_row(
    tenant: TenantId,
    snapshot: &Snapshot,
    revision: i64,
) -> Result<entity::ActiveModel> {
    let state = snapshot
        .state
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(Error::internal)?;
    Ok(entity::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        resource: Set(snapshot.resource.as_str().to_owned()),
        record_id: Set(snapshot.record_id.as_str().to_owned()),
        source_updated_at: Set(snapshot.source_updated_at),
        fingerprint: Set(snapshot.fingerprint.as_bytes().to_vec()),
        state: Set(state),
        body: Set(snapshot.body.as_ref().map(|b| b.ciphertext.clone())),
        body_key_version: Set(snapshot.body.as_ref().map(|b| b.key_version)),
        doctor_id: Set(snapshot.doctor_id.as_ref().map(|d| d.as_str().to_owned())),
        queue_day: Set(snapshot.queue_day.map(|d| d.format(DAY).to_string())),
        due_at: Set(snapshot.due_at),
        revision: Set(revision),
        seen_at: Set(Utc::now()),
        expires_at: Set(snapshot.expires_at),
        phones_indexed: Set(snapshot.phone_keys.is_some() || snapshot.phones_indexed),
    })
}

pub(super) fn cursor_to_domain(row: cursors::Model) -> Result<Cursor> {
    Ok(Cursor {
        resource: resource(&row.resource)?,
        cursor_at: row.cursor_at,
        watching_since: row.watching_since,
        baseline_done: row.baseline_done,
        read_at: row.updated_at,
        phones_indexed: row.phones_indexed,
    })
}

pub(super) fn cursor_row(tenant: TenantId, cursor: &Cursor) -> cursors::ActiveModel {
    cursors::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        resource: Set(cursor.resource.as_str().to_owned()),
        cursor_at: Set(cursor.cursor_at),
        watching_since: Set(cursor.watching_since),
        baseline_done: Set(cursor.baseline_done),
        updated_at: Set(cursor.read_at),
        phones_indexed: Set(cursor.phones_indexed),
    }
}

pub(super) fn mark_to_domain(row: marks::Model) -> Result<Mark> {
    Ok(Mark {
        kind: MarkKind::parse(&row.kind).ok_or_else(|| malformed("mark kind"))?,
        key: row.mark_key,
        fingerprint: row.fingerprint.as_deref().map(fingerprint).transpose()?,
        availability: AvailabilityMark {
            emitted_at: row.emitted_at,
            held_since: row.held_since,
        },
        due_at: row.due_at,
        revision: row.revision,
        expires_at: row.expires_at,
    })
}

pub(super) fn mark_row(tenant: TenantId, mark: &Mark, revision: i64) -> marks::ActiveModel {
    marks::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        kind: Set(mark.kind.as_str().to_owned()),
        mark_key: Set(mark.key.clone()),
        fingerprint: Set(mark.fingerprint.map(|f| f.as_bytes().to_vec())),
        emitted_at: Set(mark.availability.emitted_at),
        held_since: Set(mark.availability.held_since),
        due_at: Set(mark.due_at),
        revision: Set(revision),
        updated_at: Set(Utc::now()),
        expires_at: Set(mark.expires_at),
    }
}
