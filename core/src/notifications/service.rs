//! The clinic's notification settings, the publisher's subscriptions and the history.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    Audience, Channel, NOTIFIABLE, NotificationRepository, NotificationRuleId, Rule, RuleKey,
    StoredSettings,
};
use crate::Result;
use crate::delivery::{AttemptRecord, Delivery, DeliveryQueue, OutboundKind, Target};
use crate::error::{Error, FieldError};
use crate::events::{EventType, Subscribers};
use crate::ids::TenantId;
use crate::tenancy::TenantContext;
use crate::users::Email;

/// One rule as a clinic sends it, before it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInput {
    /// An event type's wire name (`appointment.created`).
    pub event: String,
    /// `email`.
    pub channel: String,
    /// `patient` or `staff`.
    pub audience: String,
}

/// The settings as a clinic sends them, before they are read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsInput {
    /// Where staff notifications go; empty or absent for none.
    pub staff_email: Option<String>,
    /// The rules to turn on (all others are off).
    pub rules: Vec<RuleInput>,
}

/// One notification sent (or being sent), for the clinic's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The delivery.
    pub delivery: Delivery,
    /// The rule that sent it.
    pub rule: RuleKey,
    /// Its attempts, oldest first; their excerpts hold the masked recipient and the relay's
    /// answer.
    pub attempts: Vec<AttemptRecord>,
}

/// The most history entries one request returns.
pub const MAX_HISTORY: u64 = 100;

/// A clinic's notifications.
#[derive(Debug, Clone)]
pub struct NotificationService {
    repo: Arc<dyn NotificationRepository>,
    queue: Arc<dyn DeliveryQueue>,
}

impl NotificationService {
    /// Settings in `repo`, history from `queue`.
    pub fn new(repo: Arc<dyn NotificationRepository>, queue: Arc<dyn DeliveryQueue>) -> Self {
        Self { repo, queue }
    }

    /// The clinic's settings (owners and admins).
    ///
    /// # Errors
    /// `Forbidden` for anyone else; storage failures.
    pub async fn settings(&self, ctx: &TenantContext) -> Result<StoredSettings> {
        ctx.require_manager()?;
        self.repo.settings(ctx.tenant_id()).await
    }

    /// Replaces the clinic's settings (owners and admins). Nothing is saved when any field is
    /// wrong.
    ///
    /// # Errors
    /// `Forbidden` for anyone else; `Validation` naming each wrong field; storage failures.
    pub async fn save(&self, ctx: &TenantContext, input: SettingsInput) -> Result<StoredSettings> {
        ctx.require_manager()?;
        let mut errors = Vec::new();
        let staff_email = match input.staff_email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => match Email::parse(raw) {
                Ok(email) => Some(email.as_str().to_owned()),
                Err(err) => {
                    errors.push(FieldError::new("staff_email", err.code, err.message));
                    None
                }
            },
        };
        let mut rules = Vec::new();
        for (i, rule) in input.rules.iter().enumerate() {
            let field = |name: &str| format!("rules[{i}].{name}");
            let event_type = EventType::parse(rule.event.trim()).filter(|t| NOTIFIABLE.contains(t));
            let channel = Channel::parse(rule.channel.trim());
            let audience = Audience::parse(rule.audience.trim());
            if event_type.is_none() {
                errors.push(FieldError::new(
                    field("event"),
                    "invalid",
                    "use appointment.created, appointment.updated or appointment.cancelled",
                ));
            }
            if channel.is_none() {
                errors.push(FieldError::new(field("channel"), "invalid", "use email"));
            }
            if audience.is_none() {
                errors.push(FieldError::new(
                    field("audience"),
                    "invalid",
                    "use patient or staff",
                ));
            }
            if let (Some(event_type), Some(channel), Some(audience)) =
                (event_type, channel, audience)
            {
                if audience == Audience::Staff && staff_email.is_none() && errors.is_empty() {
                    errors.push(FieldError::new(
                        "staff_email",
                        "required",
                        "give the staff address that staff notifications go to",
                    ));
                }
                rules.push(RuleKey {
                    event_type,
                    channel,
                    audience,
                });
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        rules.sort_unstable();
        rules.dedup();
        self.repo
            .save(ctx.tenant_id(), staff_email.as_deref(), &rules)
            .await
    }

    /// The clinic's latest notifications, newest first, at most `limit` (capped at
    /// [`MAX_HISTORY`]) per rule (owners and admins).
    ///
    /// # Errors
    /// `Forbidden` for anyone else; storage failures.
    pub async fn history(&self, ctx: &TenantContext, limit: u64) -> Result<Vec<HistoryEntry>> {
        ctx.require_manager()?;
        let tenant = ctx.tenant_id();
        let limit = limit.clamp(1, MAX_HISTORY);
        let mut entries = Vec::new();
        for rule in self.repo.settings(tenant).await?.rules {
            for delivery in self
                .queue
                .deliveries(tenant, target(rule.id), limit)
                .await?
            {
                let attempts = self.queue.attempts(tenant, delivery.id).await?;
                entries.push(HistoryEntry {
                    delivery,
                    rule: rule.key,
                    attempts,
                });
            }
        }
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.delivery.created_at));
        entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(entries)
    }

    /// The rule a delivery goes to, for the sender.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn rule(&self, tenant: TenantId, id: NotificationRuleId) -> Result<Option<Rule>> {
        self.repo.rule(tenant, id).await
    }

    /// The clinic's staff address, for the sender.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn staff_email(&self, tenant: TenantId) -> Result<Option<String>> {
        Ok(self.repo.settings(tenant).await?.staff_email)
    }
}

/// The delivery target of rule `id`.
fn target(id: NotificationRuleId) -> Target {
    Target {
        kind: OutboundKind::Notification,
        id: id.as_uuid(),
    }
}

#[async_trait]
impl Subscribers for NotificationService {
    async fn targets(&self, tenant: TenantId, event_type: EventType) -> Result<Vec<Target>> {
        if !NOTIFIABLE.contains(&event_type) {
            return Ok(Vec::new());
        }
        Ok(self
            .repo
            .rules_for(tenant, event_type)
            .await?
            .into_iter()
            .map(|rule| target(rule.id))
            .collect())
    }
}
