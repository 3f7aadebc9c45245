//! The clinic's own notification templates (owners and admins; a clinician is refused with 403):
//!
//! - `GET /api/tenant/notifications/templates`: every event × channel with what is sent (the
//!   clinic's templates or the default) and the default beside it;
//! - `PUT /api/tenant/notifications/templates/{event}/{channel}`: saves the clinic's templates,
//!   checked first (a syntax error, an unknown variable or a template that does not render
//!   within the sandbox's limits is a 422 naming the field and line; nothing is stored);
//! - `DELETE …/{event}/{channel}`: back to the default.

use actix_web::{HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use clinicgate_core::Error;
use clinicgate_core::notifications::{Channel, TemplateSources, TemplateView, Trigger, VARIABLES};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// A message's templates as a clinic writes them (minijinja syntax). Variables: `event`,
/// `audience` (`patient` or `staff`), `patient_name`, `when`, `time_zone`, `appointment_id`.
/// The HTML part is auto-escaped; the subject and text are not (they are not HTML), and a
/// subject is kept on one line. Patient e-mails get an unsubscribe footer after the body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationTemplateIn {
    /// The subject line (e-mail: required, at most 1000 characters; other channels: absent).
    #[schema(example = "Your appointment on {{ when }}")]
    pub subject: Option<String>,
    /// The plain-text body (required, at most 10000 characters).
    #[schema(example = "Hello {{ patient_name }},\n\nsee you on {{ when }}.")]
    pub text: String,
    /// The HTML body (e-mail: required, at most 50000 characters; other channels: absent).
    #[schema(example = "<p>Hello {{ patient_name }},</p><p>see you on {{ when }}.</p>")]
    pub html: Option<String>,
}

impl From<NotificationTemplateIn> for TemplateSources {
    fn from(input: NotificationTemplateIn) -> Self {
        Self {
            subject: input.subject,
            text: input.text,
            html: input.html,
        }
    }
}

impl From<&TemplateSources> for NotificationTemplateIn {
    fn from(sources: &TemplateSources) -> Self {
        Self {
            subject: sources.subject.clone(),
            text: sources.text.clone(),
            html: sources.html.clone(),
        }
    }
}

/// One event and channel in the template editor.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationTemplateOut {
    /// The event (`appointment.created` … `appointment.reminder`).
    #[schema(example = "appointment.created")]
    pub event: String,
    /// The channel (`email`).
    #[schema(example = "email")]
    pub channel: String,
    /// Whether the clinic saved its own templates (else the default is sent).
    pub custom: bool,
    /// What is sent: the clinic's templates, or the default.
    pub template: NotificationTemplateIn,
    /// The built-in default.
    pub default: NotificationTemplateIn,
    /// The variables the templates can use.
    pub variables: Vec<String>,
    /// When the clinic last saved its templates.
    pub updated_at: Option<DateTime<Utc>>,
    /// Who saved them (a staff member's id).
    pub updated_by: Option<String>,
}

impl From<TemplateView> for NotificationTemplateOut {
    fn from(view: TemplateView) -> Self {
        Self {
            event: view.trigger.as_str().to_owned(),
            channel: view.channel.as_str().to_owned(),
            custom: view.custom.is_some(),
            template: view.current().into(),
            default: (&view.default).into(),
            variables: VARIABLES.iter().map(|v| (*v).to_owned()).collect(),
            updated_at: view.custom.as_ref().map(|c| c.updated_at),
            updated_by: view
                .custom
                .as_ref()
                .and_then(|c| c.updated_by)
                .map(|id| id.to_string()),
        }
    }
}

/// The event and channel of a path; an unknown one is 404 (there is no such template).
fn template_key(path: &(String, String)) -> Result<(Trigger, Channel), Error> {
    Trigger::parse(&path.0)
        .zip(Channel::parse(&path.1))
        .ok_or(Error::NotFound {
            resource: "notification template",
        })
}

/// Every event × channel's templates (owners and admins).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "Per event and channel", body = [NotificationTemplateOut]),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/notifications/templates")]
pub async fn list_notification_templates(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<NotificationTemplateOut>>, ApiError> {
    let views = state.notifications.templates(auth.ctx()).await?;
    Ok(web::Json(views.into_iter().map(Into::into).collect()))
}

route_problems!(
    /// What `PUT /api/tenant/notifications/templates/{event}/{channel}` answers itself.
    PutNotificationTemplateProblems {
        404 => "No such event or channel (`not_found`)",
        422 => "A part is missing, too long, has a syntax error, names an unknown variable or does not render within the sandbox's limits (field `errors`: `subject`, `text`, `html`, the message naming the line); or JSON of the wrong shape (`invalid_body`)",
    }
);

/// Saves the clinic's templates for an event and channel (owners and admins): sent from now on
/// instead of the default. Nothing is stored when a part is wrong.
#[utoipa::path(
    tag = "clinic",
    params(
        ("event" = String, Path, description = "The event, e.g. `appointment.created`"),
        ("channel" = String, Path, description = "The channel, e.g. `email`"),
    ),
    request_body = NotificationTemplateIn,
    responses(
        (status = 200, description = "Saved", body = NotificationTemplateOut),
        SessionErrors, JsonBodyErrors,
        PutNotificationTemplateProblems,
    ),
    security(("session" = []))
)]
#[put("/api/tenant/notifications/templates/{event}/{channel}")]
pub async fn put_notification_template(
    auth: Authenticated,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<NotificationTemplateIn>,
) -> Result<web::Json<NotificationTemplateOut>, ApiError> {
    let (trigger, channel) = template_key(&path)?;
    let view = state
        .notifications
        .save_template(auth.ctx(), trigger, channel, body.into_inner().into())
        .await?;
    Ok(web::Json(view.into()))
}

route_problems!(
    /// What `DELETE /api/tenant/notifications/templates/{event}/{channel}` answers itself.
    DeleteNotificationTemplateProblems {
        404 => "No such event or channel (`not_found`)",
    }
);

/// Removes the clinic's templates for an event and channel: the default is sent again (owners
/// and admins). Answers the default; removing what is not there is not an error.
#[utoipa::path(
    tag = "clinic",
    params(
        ("event" = String, Path, description = "The event, e.g. `appointment.created`"),
        ("channel" = String, Path, description = "The channel, e.g. `email`"),
    ),
    responses(
        (status = 200, description = "Back to the default", body = NotificationTemplateOut),
        SessionErrors,
        DeleteNotificationTemplateProblems,
    ),
    security(("session" = []))
)]
#[delete("/api/tenant/notifications/templates/{event}/{channel}")]
pub async fn delete_notification_template(
    auth: Authenticated,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (trigger, channel) = template_key(&path)?;
    let view = state
        .notifications
        .reset_template(auth.ctx(), trigger, channel)
        .await?;
    Ok(HttpResponse::Ok().json(NotificationTemplateOut::from(view)))
}
