//! Notifications: e-mails and SMS that a clinic's events send to the patient or to the
//! clinic's staff, chosen by the clinic per event type. Notifications are one more subscriber of
//! the event engine: each enabled rule (event type × channel × audience) is a delivery target of
//! [`OutboundKind::Notification`], so they share the outbox, the retry schedule and the attempt
//! log with webhooks, and a send is idempotent per event and recipient (one delivery each).
//! A reminder rule (`appointment.reminder`, `hours_before`) hears `appointment.created` and
//! `appointment.updated`: its delivery is held in the queue until due, Cliniko is asked again
//! then, and an idempotency key per appointment start makes it go once.
//!
//! - `service`: [`NotificationService`], the clinic's settings (owners and admins change them),
//!   the publisher's [`Subscribers`](crate::events::Subscribers) and the history;
//! - `templates`: the default messages and their rendering (minijinja, HTML auto-escaped) in a
//!   sandbox that also renders and checks the clinic's own templates;
//! - `editing`: the clinic's own templates per trigger and channel (owners and admins), and
//!   previews of saved and draft ones;
//! - `opt_outs`: patients who unsubscribed through the link in their messages, the sealed token
//!   in that link, and the clinic's view (and clearing) of them;
//! - `sender`: [`NotificationSender`], which finds the recipient, renders and hands the message
//!   to the [`Mailer`] port (SMTP in the adapters) or the [`SmsSender`] port (Twilio's Messages
//!   API in the adapters);
//! - `sms`: the SMS channel's port, the clinic's SMS account (auth token sealed) and the
//!   [`SmsSettingsService`];
//! - `queue`: queue progress from `doctor.queue_updated` (a waiting patient's place, and "the
//!   doctor is running late"), each message once per appointment × progress;
//! - `mask`: addresses as the history shows them (`j***@e***.com`);
//! - `quiet_hours`: [`QuietHours`], the daily window (practice time) in which patient messages
//!   wait: a patient message that comes due inside it is held in the queue until the window
//!   ends (not dropped, no attempt counted); staff messages are sent regardless.
//!
//! This module knows no SMTP, HTTP or database. Message bodies and addresses are PHI: never
//! logged, never in an error.
//!
//! [`OutboundKind::Notification`]: crate::delivery::OutboundKind::Notification

mod editing;
mod mask;
mod opt_outs;
mod queue;
mod quiet_hours;
mod sender;
mod service;
mod sms;
mod templates;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use editing::TemplateView;
pub use mask::{mask_email, mask_phone};
pub use opt_outs::{ClinicHosts, Unsubscribe, UnsubscribeLinks, UnsubscribeTokens};
pub use queue::{QueueKey, QueueProgress};
pub use quiet_hours::QuietHours;
pub use sender::NotificationSender;
pub use service::{
    HistoryEntry, MAX_HISTORY, NotificationService, QuietHoursInput, RuleInput, SettingsInput,
};
pub use sms::{
    OutgoingSms, SmsAccount, SmsFrom, SmsOutcome, SmsSender, SmsSettings, SmsSettingsInput,
    SmsSettingsService, StoredSms, normalise_phone,
};
pub use templates::{
    MAX_HTML_CHARS, MAX_SUBJECT_CHARS, MAX_TEXT_CHARS, QUEUE_VARIABLES, Rendered, SampleData,
    TemplateSources, VARIABLES, default_sources, has_subject_and_html, render, render_sample,
    render_with, validate, variables,
};

use crate::Result;
use crate::calendar_feeds::FeedAppointment;
use crate::cliniko::ClinikoId;
use crate::delivery::DeliveryId;
use crate::events::EventType;
use crate::ids::{TenantId, UserId};

crate::ids::uuid_id!(
    /// One rule of a clinic (event type × channel × audience): the target id of its deliveries.
    NotificationRuleId
);

/// How a notification travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// E-mail over SMTP.
    Email,
    /// A text message through the clinic's SMS provider account.
    Sms,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Self; 2] = [Self::Email, Self::Sms];

    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }

    /// Whether a patient whose Cliniko `reminder_type` is `reminder_type` takes messages on
    /// this channel: `None` takes none, `Email` no SMS, `SMS` no e-mail; `SMS & Email`, an
    /// unknown value or none at all takes both.
    pub fn accepted_by(self, reminder_type: Option<&str>) -> bool {
        match reminder_type.map(str::trim) {
            Some("None") => false,
            Some("Email") => self == Self::Email,
            Some("SMS") => self == Self::Sms,
            _ => true,
        }
    }

    /// Reads a stored or wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

/// Who a notification goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Audience {
    /// The appointment's patient (their address in Cliniko), unless they opted out.
    Patient,
    /// The clinic's staff address from the settings.
    Staff,
}

impl Audience {
    /// Every audience.
    pub const ALL: [Self; 2] = [Self::Patient, Self::Staff];

    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Staff => "staff",
        }
    }

    /// Reads a stored or wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

/// The event types a clinic can turn notifications on for: the appointment's life as the
/// patient sees it (Cliniko sends its own reminders, so these are what it does not send).
pub const NOTIFIABLE: [EventType; 3] = [
    EventType::AppointmentCreated,
    EventType::AppointmentUpdated,
    EventType::AppointmentCancelled,
];

/// The wire and stored name of the reminder trigger.
pub const REMINDER: &str = "appointment.reminder";

/// The longest a reminder may come before its appointment: a week.
pub const MAX_HOURS_BEFORE: u16 = 168;

/// The wire and stored name of the queue-progress trigger.
pub const QUEUE: &str = "doctor.queue_updated";

/// How many minutes after their scheduled start the patient being seen may have started before
/// the waiting patients hear that the doctor is running late, unless the rule says otherwise.
pub const DEFAULT_LATE_AFTER_MINUTES: u16 = 15;

/// The most a queue rule's `late_after_minutes` may be: four hours.
pub const MAX_LATE_AFTER_MINUTES: u16 = 240;

/// What sends a rule's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Trigger {
    /// An event of one of the [`NOTIFIABLE`] types, as it happens.
    Event(EventType),
    /// A reminder, the rule's `hours_before` before each appointment: scheduled by the
    /// appointment's `appointment.created` and `appointment.updated` events, not sent for a
    /// cancelled, deleted or moved appointment.
    Reminder,
    /// Queue progress, patients only: each waiting patient's place in their doctor's queue
    /// when it changes, and "the doctor is running late" (see the `queue` module).
    Queue,
}

impl Trigger {
    /// Every trigger, in the order the settings list them.
    pub const ALL: [Self; 5] = [
        Self::Event(NOTIFIABLE[0]),
        Self::Event(NOTIFIABLE[1]),
        Self::Event(NOTIFIABLE[2]),
        Self::Reminder,
        Self::Queue,
    ];

    /// The stored and wire name (`appointment.created`, `appointment.reminder`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Event(event_type) => event_type.as_str(),
            Self::Reminder => REMINDER,
            Self::Queue => QUEUE,
        }
    }

    /// Reads a stored or wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// Whether a delivery of `event_type` goes to a rule of this trigger.
    pub fn hears(self, event_type: EventType) -> bool {
        match self {
            Self::Event(own) => own == event_type,
            Self::Reminder => matches!(
                event_type,
                EventType::AppointmentCreated | EventType::AppointmentUpdated
            ),
            Self::Queue => event_type == EventType::DoctorQueueUpdated,
        }
    }
}

/// What a rule turns on, without its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleKey {
    /// What sends it.
    pub trigger: Trigger,
    /// How.
    pub channel: Channel,
    /// To whom.
    pub audience: Audience,
}

/// A rule as saved: what it turns on and, for a reminder, how long before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleSpec {
    /// What it turns on.
    pub key: RuleKey,
    /// Hours before the appointment (reminders only, 1 to [`MAX_HOURS_BEFORE`]).
    pub hours_before: Option<u16>,
    /// Minutes late before "running late" goes (queue rules only, 1 to
    /// [`MAX_LATE_AFTER_MINUTES`]; [`DEFAULT_LATE_AFTER_MINUTES`] when absent).
    pub late_after_minutes: Option<u16>,
}

/// A stored rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Its id (the delivery target's).
    pub id: NotificationRuleId,
    /// What it turns on.
    pub key: RuleKey,
    /// Hours before the appointment, for a reminder.
    pub hours_before: Option<u16>,
    /// Minutes late before "running late" goes, for a queue rule.
    pub late_after_minutes: Option<u16>,
}

/// The idempotency key of one reminder: one message per rule (recipient and channel) ×
/// appointment × start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderKey {
    /// The reminder rule.
    pub rule: NotificationRuleId,
    /// Cliniko's id of the appointment.
    pub appointment_id: String,
    /// The start it reminds of.
    pub starts_at: DateTime<Utc>,
}

/// A clinic's notification settings as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredSettings {
    /// The enabled rules.
    pub rules: Vec<Rule>,
    /// Where staff notifications go (validated when saved).
    pub staff_email: Option<String>,
    /// When patient messages wait (none: they go when due).
    pub quiet_hours: Option<QuietHours>,
    /// When they were last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A clinic's own templates for one trigger and channel, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicTemplate {
    /// What sends the message.
    pub trigger: Trigger,
    /// How it travels.
    pub channel: Channel,
    /// Its templates (checked with [`validate`] when saved).
    pub sources: TemplateSources,
    /// Who saved it last.
    pub updated_by: Option<UserId>,
    /// When.
    pub updated_at: DateTime<Utc>,
}

/// A patient's unsubscribe from one channel of a clinic's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOut {
    /// Cliniko's id of the patient.
    pub patient_id: ClinikoId,
    /// The channel they unsubscribed from.
    pub channel: Channel,
    /// When they (last) unsubscribed.
    pub opted_out_at: DateTime<Utc>,
    /// When the clinic cleared it (none: in force).
    pub cleared_at: Option<DateTime<Utc>>,
    /// Who cleared it.
    pub cleared_by: Option<UserId>,
}

impl OptOut {
    /// Whether messages on its channel are withheld from the patient.
    pub fn in_force(&self) -> bool {
        self.cleared_at.is_none()
    }
}

/// The store of clinics' notification settings.
#[async_trait]
pub trait NotificationRepository: Send + Sync + fmt::Debug {
    /// The clinic's settings (empty when never saved).
    async fn settings(&self, tenant: TenantId) -> Result<StoredSettings>;

    /// Replaces the clinic's settings: rules in `rules` that already exist keep their id (their
    /// pending deliveries still find them) and take the new `hours_before`, the others are
    /// created, and rules no longer listed are removed.
    async fn save(
        &self,
        tenant: TenantId,
        staff_email: Option<&str>,
        quiet_hours: Option<QuietHours>,
        rules: &[RuleSpec],
    ) -> Result<StoredSettings>;

    /// One rule of the clinic.
    async fn rule(&self, tenant: TenantId, id: NotificationRuleId) -> Result<Option<Rule>>;

    /// Claims the reminder `key` for `delivery`: `true` when this delivery is the one that sends
    /// it (it wrote the key now, or wrote it on an earlier attempt), `false` when another
    /// delivery did. Claimed before the message is sent, so a reminder goes out at most once
    /// however many deliveries and instances come to it.
    async fn claim_reminder(
        &self,
        tenant: TenantId,
        key: &ReminderKey,
        delivery: DeliveryId,
    ) -> Result<bool>;

    /// The clinic's own templates.
    async fn templates(&self, tenant: TenantId) -> Result<Vec<ClinicTemplate>>;

    /// The clinic's own template for `trigger` on `channel`, if it saved one.
    async fn template(
        &self,
        tenant: TenantId,
        trigger: Trigger,
        channel: Channel,
    ) -> Result<Option<ClinicTemplate>>;

    /// Saves (creates or replaces) the clinic's template for its trigger and channel.
    async fn save_template(&self, tenant: TenantId, template: &ClinicTemplate) -> Result<()>;

    /// Removes the clinic's template for `trigger` on `channel` (back to the default); whether
    /// there was one.
    async fn delete_template(
        &self,
        tenant: TenantId,
        trigger: Trigger,
        channel: Channel,
    ) -> Result<bool>;

    /// Records that `patient` unsubscribed from `channel`: idempotent (an opt-out in force keeps
    /// its time), and a cleared one is in force again.
    async fn opt_out(&self, tenant: TenantId, patient: &ClinikoId, channel: Channel) -> Result<()>;

    /// Whether `patient` has an opt-out in force for `channel`.
    async fn opted_out(
        &self,
        tenant: TenantId,
        patient: &ClinikoId,
        channel: Channel,
    ) -> Result<bool>;

    /// The clinic's opt-outs, in force and cleared, newest first.
    async fn opt_outs(&self, tenant: TenantId) -> Result<Vec<OptOut>>;

    /// Clears `patient`'s opt-out of `channel`, recording `by` and the time; whether one was in
    /// force.
    async fn clear_opt_out(
        &self,
        tenant: TenantId,
        patient: &ClinikoId,
        channel: Channel,
        by: UserId,
    ) -> Result<bool>;

    /// The clinic's SMS account and staff phone (none when never saved).
    async fn sms_settings(&self, tenant: TenantId) -> Result<Option<StoredSms>>;

    /// Replaces the clinic's SMS account and staff phone.
    async fn save_sms(&self, tenant: TenantId, sms: &StoredSms) -> Result<()>;

    /// Claims queue message `key` for `delivery`: `true` only when this call wrote the key, so
    /// a place or a "running late" goes to a patient at most once whatever the events and
    /// retries (a retry of the same delivery does not send what it already sent).
    async fn claim_queue(
        &self,
        tenant: TenantId,
        key: &QueueKey,
        delivery: DeliveryId,
    ) -> Result<bool>;

    /// Gives up a claim whose message could not be sent now, so a retry sends it.
    async fn release_queue(&self, tenant: TenantId, key: &QueueKey) -> Result<()>;
}

/// A file attached to an e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name (`appointment.ics`).
    pub file_name: String,
    /// Its MIME type, with parameters (`text/calendar; method=REQUEST; charset=UTF-8`).
    pub content_type: String,
    /// Its contents.
    pub content: Vec<u8>,
}

/// An e-mail ready to send. PHI: no `Debug` of its contents.
#[derive(Clone)]
pub struct OutgoingEmail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
    /// Attachments (the `.ics` invitation).
    pub attachments: Vec<Attachment>,
    /// The one-click unsubscribe URL (RFC 8058) of a patient message: sent as
    /// `List-Unsubscribe` with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    pub list_unsubscribe: Option<String>,
    /// A stable `Message-ID` local part, so a resend of the same delivery is recognisable.
    pub message_id: String,
}

impl fmt::Debug for OutgoingEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("message_id", &self.message_id)
            .field("attachments", &self.attachments.len())
            .finish_non_exhaustive()
    }
}

/// What the mail relay made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    /// The relay accepted it (an SMTP 2xx), with its reply.
    Accepted {
        /// The reply code.
        code: u16,
        /// The reply text (the relay's queue id, typically).
        reply: String,
    },
    /// The relay refused it, with its reply: 4xx is temporary, 5xx permanent (e.g. a recipient
    /// that does not exist).
    Refused {
        /// The reply code.
        code: u16,
        /// The reply text.
        reply: String,
    },
    /// No usable answer (connection, TLS or timeout).
    Unreachable(crate::delivery::TransportFailure),
    /// This deployment has no SMTP relay configured.
    NotConfigured,
    /// The message could not be built (an address the relay cannot take).
    Unsendable(String),
}

/// Sends e-mail (SMTP in the adapters).
#[async_trait]
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Sends `email`, waiting at most `timeout`.
    async fn send(&self, email: &OutgoingEmail, timeout: Duration) -> MailOutcome;

    /// Whether a relay is configured at all (without one, every message is `NotConfigured`).
    fn is_configured(&self) -> bool;
}

/// Whether an invitation announces or withdraws an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteMethod {
    /// `METHOD:REQUEST`: the appointment, to add to a calendar.
    Request,
    /// `METHOD:CANCEL`: the appointment is cancelled.
    Cancel,
}

/// Renders the iCalendar (RFC 5545) invitation attached to confirmations and cancellations
/// (the API layer's renderer, shared with the doctors' feeds).
pub trait Invitations: Send + Sync + fmt::Debug {
    /// The `.ics` text of `appointment` in `zone` for `tenant`.
    fn invitation(
        &self,
        tenant: TenantId,
        appointment: &FeedAppointment,
        zone: Tz,
        method: InviteMethod,
    ) -> String;
}
