//! The clinic's notification settings, the publisher's subscriptions and the history.

use std::sync::Arc;

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use super::{
    Audience, Channel, MAX_HOURS_BEFORE, MAX_LATE_AFTER_MINUTES, NotificationRepository,
    NotificationRuleId, QueueKey, QuietHours, Rule, RuleKey, RuleSpec, StoredSettings, Trigger,
};
use crate::Result;
use crate::delivery::{AttemptRecord, Delivery, DeliveryQueue, OutboundKind, Target};
use crate::error::{Error, FieldError};
use crate::events::{EventData, EventType, NewEvent, Subscribers};
use crate::ids::TenantId;
use crate::tenancy::TenantContext;
use crate::users::Email;

/// One rule as a clinic sends it, before it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInput {
    /// An event type's wire name (`appointment.created`), `appointment.reminder` or
    /// `doctor.queue_updated`.
    pub event: String,
    /// `email` or `sms`.
    pub channel: String,
    /// `patient` or `staff`.
    pub audience: String,
    /// Hours before the appointment, for `appointment.reminder` (and only for it).
    pub hours_before: Option<u32>,
    /// Minutes late before "running late" goes, for `doctor.queue_updated` (and only for it).
    pub late_after_minutes: Option<u32>,
}

/// The settings as a clinic sends them, before they are read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsInput {
    /// Where staff notifications go; empty or absent for none.
    pub staff_email: Option<String>,
    /// The quiet hours; absent for none.
    pub quiet_hours: Option<QuietHoursInput>,
    /// The rules to turn on (all others are off).
    pub rules: Vec<RuleInput>,
}

/// Quiet hours as a clinic sends them, before they are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietHoursInput {
    /// The start, `HH:MM` in the practice's time zone.
    pub start: String,
    /// The end, `HH:MM` (earlier than the start for a window past midnight).
    pub end: String,
}

/// One notification sent (or being sent), for the clinic's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The delivery.
    pub delivery: Delivery,
    /// The rule that sent it.
    pub rule: Rule,
    /// Its attempts, oldest first; their excerpts hold the masked recipient and the relay's
    /// answer.
    pub attempts: Vec<AttemptRecord>,
}

/// The most history entries one request returns.
pub const MAX_HISTORY: u64 = 100;

/// A clinic's notifications.
#[derive(Debug, Clone)]
pub struct NotificationService {
    // The module's other services (`editing`, `opt_outs`) use the same store.
    pub(super) repo: Arc<dyn NotificationRepository>,
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
        let quiet_hours = match &input.quiet_hours {
            None => None,
            Some(quiet) => {
                let parsed = QuietHours::parse(&quiet.start, &quiet.end);
                if parsed.is_none() {
                    errors.push(FieldError::new(
                        "quiet_hours",
                        "invalid",
                        "give start and end as HH:MM (00:00 to 23:59), not the same time; or null for no quiet hours",
                    ));
                }
                parsed
            }
        };
        let sms = if input
            .rules
            .iter()
            .any(|rule| Channel::parse(rule.channel.trim()) == Some(Channel::Sms))
        {
            self.repo.sms_settings(ctx.tenant_id()).await?
        } else {
            None
        };
        let mut rules = Vec::new();
        for (i, rule) in input.rules.iter().enumerate() {
            let field = |name: &str| format!("rules[{i}].{name}");
            let trigger = Trigger::parse(rule.event.trim());
            let channel = Channel::parse(rule.channel.trim());
            let audience = Audience::parse(rule.audience.trim());
            if trigger.is_none() {
                errors.push(FieldError::new(
                    field("event"),
                    "invalid",
                    "use appointment.created, appointment.updated, appointment.cancelled, \
                     appointment.reminder or doctor.queue_updated",
                ));
            }
            if channel.is_none() {
                errors.push(FieldError::new(
                    field("channel"),
                    "invalid",
                    "use email or sms",
                ));
            }
            if channel == Some(Channel::Sms) && sms.is_none() {
                errors.push(FieldError::new(
                    field("channel"),
                    "sms_not_set_up",
                    "save the clinic's SMS account first (PUT /api/tenant/notifications/sms)",
                ));
            }
            if trigger == Some(Trigger::Queue) && audience == Some(Audience::Staff) {
                errors.push(FieldError::new(
                    field("audience"),
                    "invalid",
                    "queue progress goes to patients only",
                ));
            }
            let late_after_minutes = match (trigger, rule.late_after_minutes) {
                (Some(Trigger::Queue), None) | (_, None) => None,
                (Some(Trigger::Queue), Some(minutes))
                    if (1..=u32::from(MAX_LATE_AFTER_MINUTES)).contains(&minutes) =>
                {
                    u16::try_from(minutes).ok()
                }
                (Some(Trigger::Queue), Some(_)) => {
                    errors.push(FieldError::new(
                        field("late_after_minutes"),
                        "invalid",
                        format!("give 1 to {MAX_LATE_AFTER_MINUTES} minutes"),
                    ));
                    None
                }
                (_, Some(_)) => {
                    errors.push(FieldError::new(
                        field("late_after_minutes"),
                        "invalid",
                        "only doctor.queue_updated takes late_after_minutes",
                    ));
                    None
                }
            };
            if audience.is_none() {
                errors.push(FieldError::new(
                    field("audience"),
                    "invalid",
                    "use patient or staff",
                ));
            }
            let hours_before = match (trigger, rule.hours_before) {
                (Some(Trigger::Reminder), Some(hours))
                    if (1..=u32::from(MAX_HOURS_BEFORE)).contains(&hours) =>
                {
                    u16::try_from(hours).ok()
                }
                (Some(Trigger::Reminder), _) => {
                    errors.push(FieldError::new(
                        field("hours_before"),
                        "invalid",
                        format!(
                            "give how many hours before the appointment the reminder goes, 1 to {MAX_HOURS_BEFORE}"
                        ),
                    ));
                    None
                }
                (Some(Trigger::Event(_) | Trigger::Queue), Some(_)) => {
                    errors.push(FieldError::new(
                        field("hours_before"),
                        "invalid",
                        "only appointment.reminder takes hours_before",
                    ));
                    None
                }
                _ => None,
            };
            if let (Some(trigger), Some(channel), Some(audience)) = (trigger, channel, audience) {
                if audience == Audience::Staff
                    && channel == Channel::Email
                    && staff_email.is_none()
                    && errors.is_empty()
                {
                    errors.push(FieldError::new(
                        "staff_email",
                        "required",
                        "give the staff address that staff notifications go to",
                    ));
                }
                if audience == Audience::Staff
                    && channel == Channel::Sms
                    && sms.as_ref().is_some_and(|sms| sms.staff_phone.is_none())
                {
                    errors.push(FieldError::new(
                        field("audience"),
                        "staff_phone_required",
                        "give the staff phone in the SMS settings first",
                    ));
                }
                let key = RuleKey {
                    trigger,
                    channel,
                    audience,
                };
                if rules.iter().any(|r: &RuleSpec| {
                    r.key == key
                        && (r.hours_before != hours_before
                            || r.late_after_minutes != late_after_minutes)
                }) {
                    errors.push(FieldError::new(
                        field(if trigger == Trigger::Queue {
                            "late_after_minutes"
                        } else {
                            "hours_before"
                        }),
                        "conflict",
                        "one rule per event, channel and audience: list it once",
                    ));
                }
                rules.push(RuleSpec {
                    key,
                    hours_before,
                    late_after_minutes,
                });
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        rules.sort_unstable();
        rules.dedup();
        self.repo
            .save(ctx.tenant_id(), staff_email.as_deref(), quiet_hours, &rules)
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
                    rule,
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

    /// Claims reminder `key` for `delivery`, for the sender (see
    /// [`NotificationRepository::claim_reminder`]).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn claim_reminder(
        &self,
        tenant: TenantId,
        key: &super::ReminderKey,
        delivery: crate::delivery::DeliveryId,
    ) -> Result<bool> {
        self.repo.claim_reminder(tenant, key, delivery).await
    }

    /// Claims queue message `key` for `delivery`, for the sender (see
    /// [`NotificationRepository::claim_queue`]).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn claim_queue(
        &self,
        tenant: TenantId,
        key: &QueueKey,
        delivery: crate::delivery::DeliveryId,
    ) -> Result<bool> {
        self.repo.claim_queue(tenant, key, delivery).await
    }

    /// Gives up queue message `key`'s claim, for the sender.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn release_queue(&self, tenant: TenantId, key: &QueueKey) -> Result<()> {
        self.repo.release_queue(tenant, key).await
    }

    /// The clinic's staff address, for the sender.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn staff_email(&self, tenant: TenantId) -> Result<Option<String>> {
        Ok(self.repo.settings(tenant).await?.staff_email)
    }

    /// The clinic's quiet hours, for the sender.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn quiet_hours(&self, tenant: TenantId) -> Result<Option<QuietHours>> {
        Ok(self.repo.settings(tenant).await?.quiet_hours)
    }
}

/// The delivery target of rule `id`.
fn target(id: NotificationRuleId) -> Target {
    Target {
        kind: OutboundKind::Notification,
        id: id.as_uuid(),
    }
}

/// How long after its start an appointment's event is kept for a reminder: the reminder's
/// delivery waits in the queue until it is due, so its event must outlive the retention when
/// the appointment is further away than that.
const KEPT_AFTER_START: chrono::Duration = chrono::Duration::days(1);

#[async_trait]
impl Subscribers for NotificationService {
    async fn targets(&self, tenant: TenantId, event_type: EventType) -> Result<Vec<Target>> {
        if !Trigger::ALL.iter().any(|t| t.hears(event_type)) {
            return Ok(Vec::new());
        }
        Ok(self
            .repo
            .settings(tenant)
            .await?
            .rules
            .into_iter()
            .filter(|rule| rule.key.trigger.hears(event_type))
            .map(|rule| target(rule.id))
            .collect())
    }

    async fn keep_until(
        &self,
        tenant: TenantId,
        event: &NewEvent,
    ) -> Result<Option<DateTime<Utc>>> {
        let EventData::Appointment(booked) = &event.data else {
            return Ok(None);
        };
        if !Trigger::Reminder.hears(event.event_type) {
            return Ok(None);
        }
        let reminds = self
            .repo
            .settings(tenant)
            .await?
            .rules
            .iter()
            .any(|rule| rule.key.trigger == Trigger::Reminder);
        Ok(reminds.then(|| booked.appointment.starts_at + KEPT_AFTER_START))
    }
}
