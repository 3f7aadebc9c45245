//! Notifications over HTTP, on the clinic's own host (staff session, owners and admins; a
//! clinician is refused with 403):
//!
//! - `GET/PUT /api/tenant/notifications/settings`: which events send an e-mail or an SMS to the
//!   patient and/or to staff, the staff address, and the quiet hours of patient messages;
//! - `GET/PUT /api/tenant/notifications/sms`: the clinic's SMS account (Twilio: account SID,
//!   auth token, sender) and the staff phone; the token is sealed and never shown again;
//! - `POST /api/tenant/notifications/preview`: a rule's message rendered with made-up data,
//!   from the clinic's templates (or the default), or from a draft sent along;
//! - `GET /api/tenant/notifications/history`: what was sent, to whom (masked) and the relay's
//!   answer;
//! - `templates`: the clinic's own templates per event and channel;
//! - `opt_outs`: the patients who unsubscribed, and clearing one.
//!
//! The sending itself is the delivery worker's (`clinicgate_core::notifications::NotificationSender`);
//! `links` tells it where a clinic's host is, for the unsubscribe link in patient e-mails.

mod links;
mod opt_outs;
mod templates;

pub use opt_outs::*;
pub use templates::*;

use actix_web::{HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use clinicgate_core::Error;
use clinicgate_core::delivery::AttemptResult;
use clinicgate_core::error::FieldError;
use clinicgate_core::notifications::{
    Audience, Channel, HistoryEntry, QuietHours, QuietHoursInput, Rule, RuleKey, SettingsInput,
    SmsFrom, SmsSettings, SmsSettingsInput, StoredSettings, Trigger,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, QueryErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// One rule: an event that sends a message on a channel to an audience.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationRuleDto {
    /// `appointment.created` (a booking confirmation, with an `.ics` invitation),
    /// `appointment.updated`, `appointment.cancelled` (with an `.ics` cancellation),
    /// `appointment.reminder` (`hours_before` the appointment; not sent for an appointment
    /// cancelled, deleted or moved meanwhile, nor for one booked less than that ahead), or
    /// `doctor.queue_updated` (patients only: each waiting patient's place in the doctor's
    /// queue when it changes, and "the doctor is running late" once the patient being seen
    /// started more than `late_after_minutes` after their time).
    #[schema(example = "appointment.created")]
    pub event: String,
    /// `email` or `sms` (through the clinic's SMS account, `PUT /api/tenant/notifications/sms`).
    #[schema(example = "email")]
    pub channel: String,
    /// `patient` (the address or the mobile number in Cliniko; not when the patient's reminder
    /// type is `None`, no SMS when it is `Email`, no e-mail when it is `SMS`) or `staff` (the
    /// settings' staff address, or the SMS settings' staff phone).
    #[schema(example = "patient")]
    pub audience: String,
    /// For `appointment.reminder` only (and required there): how many hours before the
    /// appointment the reminder goes, 1 to 168.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 24, minimum = 1, maximum = 168)]
    pub hours_before: Option<u32>,
    /// For `doctor.queue_updated` only: how many minutes after their scheduled start the
    /// patient being seen may have started before waiting patients hear that the doctor is
    /// running late, 1 to 240 (15 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 15, minimum = 1, maximum = 240)]
    pub late_after_minutes: Option<u32>,
}

impl From<Rule> for NotificationRuleDto {
    fn from(rule: Rule) -> Self {
        Self {
            event: rule.key.trigger.as_str().to_owned(),
            channel: rule.key.channel.as_str().to_owned(),
            audience: rule.key.audience.as_str().to_owned(),
            hours_before: rule.hours_before.map(u32::from),
            late_after_minutes: rule.late_after_minutes.map(u32::from),
        }
    }
}

/// Quiet hours: a daily window, in the practice's time zone (the appointment's), in which
/// patient messages wait until its end (held in the queue, not dropped). Staff messages are sent
/// regardless. `end` earlier than `start` is a window past midnight.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuietHoursDto {
    /// The start, `HH:MM` (inclusive).
    #[schema(example = "21:00")]
    pub start: String,
    /// The end, `HH:MM` (exclusive; not equal to `start`).
    #[schema(example = "08:00")]
    pub end: String,
}

impl From<QuietHours> for QuietHoursDto {
    fn from(quiet: QuietHours) -> Self {
        Self {
            start: quiet.start(),
            end: quiet.end(),
        }
    }
}

/// A clinic's notification settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationSettingsOut {
    /// Where staff notifications go.
    #[schema(example = "front-desk@clinic.example")]
    pub staff_email: Option<String>,
    /// The quiet hours for patient messages; null when off.
    pub quiet_hours: Option<QuietHoursDto>,
    /// The enabled rules; every other combination is off.
    pub rules: Vec<NotificationRuleDto>,
    /// The events notifications can be turned on for (`appointment.reminder` is the reminder
    /// before each appointment).
    pub events: Vec<String>,
    /// Whether this deployment has an SMTP relay: without one, e-mails are recorded as failed
    /// with `not_configured`.
    pub email_configured: bool,
    /// Whether the clinic has saved its SMS account (`sms` rules need it).
    pub sms_configured: bool,
    /// When the settings were last saved.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The settings to save (they replace the previous ones).
#[derive(Debug, Deserialize, ToSchema)]
pub struct NotificationSettingsIn {
    /// Where staff notifications go; required when a rule's audience is `staff`.
    #[schema(example = "front-desk@clinic.example")]
    pub staff_email: Option<String>,
    /// The quiet hours for patient messages; null or absent for none.
    #[serde(default)]
    pub quiet_hours: Option<QuietHoursDto>,
    /// The rules to turn on.
    pub rules: Vec<NotificationRuleDto>,
}

/// What to preview: a rule's message, from a draft of templates when one is given.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NotificationPreviewIn {
    /// The event, as in a rule.
    #[schema(example = "appointment.created")]
    pub event: String,
    /// The channel, as in a rule.
    #[schema(example = "email")]
    pub channel: String,
    /// The audience, as in a rule.
    #[schema(example = "patient")]
    pub audience: String,
    /// Ignored (a rule's reminder hours; accepted so a rule can be sent as it is).
    #[serde(default)]
    pub hours_before: Option<u32>,
    /// Unsaved templates to render instead of the clinic's (checked like a save; errors name
    /// `template.subject`, `template.text`, `template.html`). Absent: the clinic's templates,
    /// or the default.
    #[serde(default)]
    pub template: Option<NotificationTemplateIn>,
}

/// A rendered message.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPreviewOut {
    /// The subject line (empty for an SMS).
    pub subject: String,
    /// The plain-text body (the text message itself for an SMS).
    pub text: String,
    /// The HTML body, data escaped (empty for an SMS).
    pub html: String,
}

/// One notification, as the history shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationHistoryOut {
    /// The delivery's id.
    pub id: String,
    /// The rule that sent it.
    pub rule: NotificationRuleDto,
    /// `pending`, `delivered` or `failed`.
    #[schema(example = "delivered")]
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the event queued it.
    pub created_at: DateTime<Utc>,
    /// When it was sent or given up.
    pub finished_at: Option<DateTime<Utc>>,
    /// The last attempt's SMTP reply code, or the SMS provider's HTTP status.
    #[schema(example = 250)]
    pub last_code: Option<u16>,
    /// The last attempt's failure, when it got no reply (`timeout`, `connection`, `tls`,
    /// `not_configured`, `nothing_to_send`).
    pub last_error: Option<String>,
    /// The masked recipient and the relay's or the SMS provider's answer
    /// (`to j***@e***.com: 250 queued`, `to +61 *** *** 123: 201 queued SM…`,
    /// `to +61 *** *** 123: 400 code 21211 …`); for a queue rule, one part per patient.
    #[schema(example = "to j***@e***.com: 250 2.0.0 queued")]
    pub answer: Option<String>,
}

impl From<HistoryEntry> for NotificationHistoryOut {
    fn from(entry: HistoryEntry) -> Self {
        let last = entry.attempts.last();
        let (last_code, last_error) = last.map_or((None, None), |a| match a.result {
            AttemptResult::Answered { status, .. } => (Some(status), None),
            other => (None, other.parts().1.map(str::to_owned)),
        });
        Self {
            id: entry.delivery.id.to_string(),
            rule: entry.rule.into(),
            status: entry.delivery.status.as_str().to_owned(),
            attempts: entry.delivery.attempts,
            created_at: entry.delivery.created_at,
            finished_at: entry.delivery.finished_at,
            last_code,
            last_error,
            answer: last.and_then(|a| a.response_excerpt.clone()),
        }
    }
}

/// The history's paging.
#[derive(Debug, Deserialize, IntoParams)]
pub struct NotificationHistoryQuery {
    /// At most this many (1–100, default 50).
    pub limit: Option<u64>,
}

async fn settings_out(
    state: &AppState,
    auth: &Authenticated,
    stored: StoredSettings,
) -> Result<NotificationSettingsOut, ApiError> {
    let sms_configured = state.sms_settings.settings(auth.ctx()).await?.is_some();
    Ok(NotificationSettingsOut {
        staff_email: stored.staff_email,
        quiet_hours: stored.quiet_hours.map(Into::into),
        rules: stored.rules.into_iter().map(Into::into).collect(),
        events: Trigger::ALL.iter().map(|t| t.as_str().to_owned()).collect(),
        email_configured: state.settings.notifications.smtp().is_some(),
        sms_configured,
        updated_at: stored.updated_at,
    })
}

/// The clinic's notification settings (owners and admins).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "The settings", body = NotificationSettingsOut),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/notifications/settings")]
pub async fn get_notification_settings(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<web::Json<NotificationSettingsOut>, ApiError> {
    let stored = state.notifications.settings(auth.ctx()).await?;
    Ok(web::Json(settings_out(&state, &auth, stored).await?))
}

route_problems!(
    /// What `PUT /api/tenant/notifications/settings` answers itself.
    PutNotificationSettingsProblems {
        422 => "a rule names an unknown event, channel or audience, a reminder has no `hours_before` in 1-168 (or another rule has one), a queue rule's `late_after_minutes` is not 1-240 or its audience is staff, an `sms` rule comes before the SMS account is saved (or a staff one before the staff phone), the staff address is not an address or is missing for a staff e-mail rule, the quiet hours are not two different `HH:MM` times (field `errors`); or JSON of the wrong shape (`invalid_body`)",
    }
);

/// Replaces the clinic's notification settings (owners and admins). Nothing is saved when any
/// field is wrong.
#[utoipa::path(
    tag = "clinic",
    request_body = NotificationSettingsIn,
    responses(
        (status = 200, description = "Saved", body = NotificationSettingsOut),
        SessionErrors, JsonBodyErrors,
        PutNotificationSettingsProblems,
    ),
    security(("session" = []))
)]
#[put("/api/tenant/notifications/settings")]
pub async fn put_notification_settings(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: web::Json<NotificationSettingsIn>,
) -> Result<web::Json<NotificationSettingsOut>, ApiError> {
    let body = body.into_inner();
    let input = SettingsInput {
        staff_email: body.staff_email,
        quiet_hours: body.quiet_hours.map(|quiet| QuietHoursInput {
            start: quiet.start,
            end: quiet.end,
        }),
        rules: body
            .rules
            .into_iter()
            .map(|rule| clinicgate_core::notifications::RuleInput {
                event: rule.event,
                channel: rule.channel,
                audience: rule.audience,
                hours_before: rule.hours_before,
                late_after_minutes: rule.late_after_minutes,
            })
            .collect(),
    };
    let stored = state.notifications.save(auth.ctx(), input).await?;
    Ok(web::Json(settings_out(&state, &auth, stored).await?))
}

route_problems!(
    /// What `POST /api/tenant/notifications/preview` answers itself.
    PreviewNotificationProblems {
        422 => "the rule names an unknown event, channel or audience, or the draft `template` is wrong (field `errors`); or JSON of the wrong shape (`invalid_body`)",
    }
);

/// A rule's message rendered with made-up data (owners and admins): from the draft `template`
/// when given, else from the clinic's templates or the default. Patient e-mails also get the
/// unsubscribe footer when sent, which the preview leaves out.
#[utoipa::path(
    tag = "clinic",
    request_body = NotificationPreviewIn,
    responses(
        (status = 200, description = "The message", body = NotificationPreviewOut),
        SessionErrors, JsonBodyErrors,
        PreviewNotificationProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/notifications/preview")]
pub async fn preview_notification(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: web::Json<NotificationPreviewIn>,
) -> Result<HttpResponse, ApiError> {
    auth.ctx().require_manager()?;
    let body = body.into_inner();
    let trigger = Trigger::parse(body.event.trim());
    let channel = Channel::parse(body.channel.trim());
    let audience = Audience::parse(body.audience.trim());
    let (Some(trigger), Some(channel), Some(audience)) = (trigger, channel, audience) else {
        let mut errors = Vec::new();
        if trigger.is_none() {
            errors.push(FieldError::new(
                "event",
                "invalid",
                "use an event from the settings' events",
            ));
        }
        if channel.is_none() {
            errors.push(FieldError::new("channel", "invalid", "use email or sms"));
        }
        if audience.is_none() {
            errors.push(FieldError::new(
                "audience",
                "invalid",
                "use patient or staff",
            ));
        }
        return Err(Error::Validation(errors).into());
    };
    let rule = RuleKey {
        trigger,
        channel,
        audience,
    };
    let draft = body.template.map(Into::into);
    let drafted = draft.is_some();
    let rendered = state
        .notifications
        .preview(auth.ctx(), rule, draft)
        .await
        .map_err(|err| match err {
            // The draft's fields are inside `template`.
            Error::Validation(errors) if drafted => Error::Validation(
                errors
                    .into_iter()
                    .map(|e| FieldError {
                        field: format!("template.{}", e.field),
                        ..e
                    })
                    .collect(),
            ),
            other => other,
        })?;
    Ok(HttpResponse::Ok().json(NotificationPreviewOut {
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
    }))
}

/// The clinic's latest notifications, newest first (owners and admins).
#[utoipa::path(
    tag = "clinic",
    params(NotificationHistoryQuery),
    responses(
        (status = 200, description = "Newest first", body = [NotificationHistoryOut]),
        SessionErrors, QueryErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/notifications/history")]
pub async fn notification_history(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<NotificationHistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let entries = state
        .notifications
        .history(auth.ctx(), query.limit.unwrap_or(50))
        .await?;
    let out: Vec<NotificationHistoryOut> = entries.into_iter().map(Into::into).collect();
    // The masked recipients are still about patients.
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(out))
}

/// A clinic's SMS settings: the account and sender, never the auth token.
#[derive(Debug, Serialize, ToSchema)]
pub struct SmsSettingsOut {
    /// Whether an SMS account is saved (`sms` rules need one).
    pub configured: bool,
    /// The account SID.
    #[schema(example = "AC0123456789abcdef0123456789abcdef")]
    pub account_sid: Option<String>,
    /// Whether the auth token is stored (it is never shown).
    pub auth_token_set: bool,
    /// The sending number, E.164, when messages come from a number.
    #[schema(example = "+61400000000")]
    pub from_number: Option<String>,
    /// The messaging service, when messages come from one.
    pub messaging_service_sid: Option<String>,
    /// Where staff text messages go, E.164.
    #[schema(example = "+61412345678")]
    pub staff_phone: Option<String>,
    /// When the settings were last saved.
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<Option<SmsSettings>> for SmsSettingsOut {
    fn from(settings: Option<SmsSettings>) -> Self {
        let Some(settings) = settings else {
            return Self {
                configured: false,
                account_sid: None,
                auth_token_set: false,
                from_number: None,
                messaging_service_sid: None,
                staff_phone: None,
                updated_at: None,
            };
        };
        let (from_number, messaging_service_sid) = match settings.from {
            SmsFrom::Number(number) => (Some(number), None),
            SmsFrom::MessagingService(service) => (None, Some(service)),
        };
        Self {
            configured: true,
            account_sid: Some(settings.account_sid),
            auth_token_set: settings.auth_token_set,
            from_number,
            messaging_service_sid,
            staff_phone: settings.staff_phone,
            updated_at: Some(settings.updated_at),
        }
    }
}

/// The SMS settings to save (they replace the previous ones; the token is kept when absent).
#[derive(Deserialize, ToSchema)]
pub struct SmsSettingsIn {
    /// The account SID (`AC` and 32 hexadecimal digits).
    #[schema(example = "AC0123456789abcdef0123456789abcdef")]
    pub account_sid: String,
    /// The account's auth token: required the first time, absent to keep the stored one.
    /// Sealed with the clinic's key, never shown again.
    #[schema(value_type = Option<String>, write_only)]
    pub auth_token: Option<SecretString>,
    /// The sending number, E.164; or
    #[schema(example = "+61400000000")]
    pub from_number: Option<String>,
    /// a messaging service SID (`MG…`) instead of a number.
    pub messaging_service_sid: Option<String>,
    /// Where staff text messages go, E.164; needed by `sms` rules to `staff`.
    #[schema(example = "+61412345678")]
    pub staff_phone: Option<String>,
}

impl std::fmt::Debug for SmsSettingsIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsSettingsIn")
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

/// The clinic's SMS settings, without the auth token (owners and admins).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "The settings (`configured: false` when none are saved)", body = SmsSettingsOut),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/notifications/sms")]
pub async fn get_sms_settings(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let settings = state.sms_settings.settings(auth.ctx()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(SmsSettingsOut::from(settings)))
}

route_problems!(
    /// What `PUT /api/tenant/notifications/sms` answers itself.
    PutSmsSettingsProblems {
        422 => "the account SID or the messaging service SID is not a Twilio SID, the sending number or the staff phone is not an international number, neither or both senders are given, or the auth token is missing the first time (field `errors`); or JSON of the wrong shape (`invalid_body`)",
    }
);

/// Saves the clinic's SMS account and staff phone (owners and admins). Nothing is saved when any
/// field is wrong; the auth token is sealed and never shown again.
#[utoipa::path(
    tag = "clinic",
    request_body = SmsSettingsIn,
    responses(
        (status = 200, description = "Saved", body = SmsSettingsOut),
        SessionErrors, JsonBodyErrors,
        PutSmsSettingsProblems,
    ),
    security(("session" = []))
)]
#[put("/api/tenant/notifications/sms")]
pub async fn put_sms_settings(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: web::Json<SmsSettingsIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let saved = state
        .sms_settings
        .save(
            auth.ctx(),
            SmsSettingsInput {
                account_sid: body.account_sid,
                auth_token: body.auth_token,
                from_number: body.from_number,
                messaging_service_sid: body.messaging_service_sid,
                staff_phone: body.staff_phone,
            },
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(SmsSettingsOut::from(Some(saved))))
}
