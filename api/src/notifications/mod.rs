//! Notifications over HTTP, on the clinic's own host (staff session, owners and admins; a
//! clinician is refused with 403):
//!
//! - `GET/PUT /api/tenant/notifications/settings`: which events send an e-mail to the patient
//!   and/or to the staff address, that address, and the quiet hours of patient messages;
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
    StoredSettings, Trigger,
};
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
    /// `appointment.updated`, `appointment.cancelled` (with an `.ics` cancellation), or
    /// `appointment.reminder` (`hours_before` the appointment; not sent for an appointment
    /// cancelled, deleted or moved meanwhile, nor for one booked less than that ahead).
    #[schema(example = "appointment.created")]
    pub event: String,
    /// `email`.
    #[schema(example = "email")]
    pub channel: String,
    /// `patient` (the address in Cliniko; not when the patient's reminder type is `None`) or
    /// `staff` (the settings' staff address).
    #[schema(example = "patient")]
    pub audience: String,
    /// For `appointment.reminder` only (and required there): how many hours before the
    /// appointment the reminder goes, 1 to 168.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 24, minimum = 1, maximum = 168)]
    pub hours_before: Option<u32>,
}

impl From<Rule> for NotificationRuleDto {
    fn from(rule: Rule) -> Self {
        Self {
            event: rule.key.trigger.as_str().to_owned(),
            channel: rule.key.channel.as_str().to_owned(),
            audience: rule.key.audience.as_str().to_owned(),
            hours_before: rule.hours_before.map(u32::from),
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
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (data escaped).
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
    /// The last attempt's SMTP reply code.
    #[schema(example = 250)]
    pub last_code: Option<u16>,
    /// The last attempt's failure, when it got no reply (`timeout`, `connection`, `tls`,
    /// `not_configured`, `nothing_to_send`).
    pub last_error: Option<String>,
    /// The masked recipient and the relay's answer (`to j***@e***.com: 250 queued`).
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

fn settings_out(state: &AppState, stored: StoredSettings) -> NotificationSettingsOut {
    NotificationSettingsOut {
        staff_email: stored.staff_email,
        quiet_hours: stored.quiet_hours.map(Into::into),
        rules: stored.rules.into_iter().map(Into::into).collect(),
        events: Trigger::ALL.iter().map(|t| t.as_str().to_owned()).collect(),
        email_configured: state.settings.notifications.smtp().is_some(),
        updated_at: stored.updated_at,
    }
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
    Ok(web::Json(settings_out(&state, stored)))
}

route_problems!(
    /// What `PUT /api/tenant/notifications/settings` answers itself.
    PutNotificationSettingsProblems {
        422 => "a rule names an unknown event, channel or audience, a reminder has no `hours_before` in 1-168 (or another rule has one), the staff address is not an address or is missing for a staff rule, the quiet hours are not two different `HH:MM` times (field `errors`); or JSON of the wrong shape (`invalid_body`)",
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
            })
            .collect(),
    };
    let stored = state.notifications.save(auth.ctx(), input).await?;
    Ok(web::Json(settings_out(&state, stored)))
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
            errors.push(FieldError::new("channel", "invalid", "use email"));
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
