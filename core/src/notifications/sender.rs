//! Sends one notification delivery: finds the rule and the recipient, renders the message (the
//! clinic's own templates when it saved some, else the default), attaches the invitation and
//! hands it to the [`Mailer`] or the [`SmsSender`]. The worker owns retries and the log.
//!
//! A patient who unsubscribed from the channel (through the link every patient e-mail carries,
//! with RFC 8058 one-click headers) gets nothing, on top of Cliniko's `reminder_type`.
//!
//! The attempt log keeps, as the answer's excerpt, the masked recipient and the relay's or the
//! provider's reply (`to j***@e***.com: 250 2.0.0 queued as 4F2`, `to +61 *** *** 123: 201
//! queued SM…`), so the clinic sees what was sent to whom without the address, the number or
//! the message being stored again.
//!
//! A queue rule (`doctor.queue_updated`) sends one message to each waiting patient whose place
//! changed (see the `queue` module): each is claimed before it goes and the claim is given up
//! when it could not go now, so a retry sends only what is still owed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::queue::{QueueEvent, progress_of};
use super::templates::{SampleData, render, render_with, with_unsubscribe};
use super::{
    Audience, Channel, DEFAULT_LATE_AFTER_MINUTES, Invitations, InviteMethod, MailOutcome, Mailer,
    NotificationRuleId, NotificationService, OutgoingEmail, OutgoingSms, QueueKey, QueueProgress,
    ReminderKey, Rendered, Rule, SmsAccount, SmsOutcome, SmsSender, SmsSettingsService, Trigger,
    UnsubscribeLinks, mask_email, mask_phone, normalise_phone,
};
use crate::calendar_feeds::FeedAppointment;
use crate::cliniko::{ClinikoClient, ClinikoId, Lane, Patient};
use crate::cliniko_key::{Background, ClinikoKeyService};
use crate::clock::Clock;
use crate::delivery::{
    AttemptResult, Delivery, EventMessage, SendOutcome, Sender, Sent, TransportFailure, Verdict,
};
use crate::error::Error;
use crate::events::EventType;

/// How long a delivery waits when its rule, Cliniko or the clinic's key cannot be read now.
const HOLD_UNREADABLE: chrono::Duration = chrono::Duration::minutes(1);

/// Cliniko's phone type of a mobile number, the one text messages go to.
const MOBILE: &str = "Mobile";

/// An appointment as `appointment.*` events carry it (the public API's shape).
#[derive(Deserialize)]
struct EventAppointment {
    id: String,
    patient_id: Option<String>,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    time_zone: String,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
}

/// Sends notification deliveries.
#[derive(Debug, Clone)]
pub struct NotificationSender {
    service: NotificationService,
    keys: ClinikoKeyService,
    cliniko: Arc<dyn ClinikoClient>,
    mailer: Arc<dyn Mailer>,
    sms: Arc<dyn SmsSender>,
    sms_settings: SmsSettingsService,
    invitations: Arc<dyn Invitations>,
    unsubscribe: UnsubscribeLinks,
    timeout: Duration,
    clock: Clock,
}

/// A message ready to go, on its channel.
enum Outgoing {
    /// An e-mail.
    Email(OutgoingEmail),
    /// A text message from the clinic's account.
    Sms(SmsAccount, OutgoingSms),
}

/// Where a message goes.
enum Recipient {
    /// An e-mail address.
    Email(String),
    /// A phone number, through the clinic's account.
    Sms(SmsAccount, String),
}

/// What one send ended with, for the attempt log.
struct Answer {
    result: AttemptResult,
    verdict: Verdict,
    excerpt: String,
}

/// What a delivery ended with before anything was sent.
fn unsent(verdict: Verdict, why: &str) -> SendOutcome {
    SendOutcome::Attempted(Sent {
        result: AttemptResult::NothingToSend,
        verdict,
        latency: Duration::ZERO,
        response_excerpt: Some(format!("not sent: {why}")),
    })
}

impl NotificationSender {
    /// Rules from `service`, patients from `cliniko` with the clinic's key from `keys`, mail
    /// through `mailer` and text messages through `sms` from the clinic's account in
    /// `sms_settings` (each waiting at most `timeout`), invitations from `invitations`, patients'
    /// unsubscribe links from `unsubscribe`.
    #[expect(
        clippy::too_many_arguments,
        reason = "the sender's ports, wired once at start-up"
    )]
    pub fn new(
        service: NotificationService,
        keys: ClinikoKeyService,
        cliniko: Arc<dyn ClinikoClient>,
        mailer: Arc<dyn Mailer>,
        sms: Arc<dyn SmsSender>,
        sms_settings: SmsSettingsService,
        invitations: Arc<dyn Invitations>,
        unsubscribe: UnsubscribeLinks,
        timeout: Duration,
    ) -> Self {
        Self {
            service,
            keys,
            cliniko,
            mailer,
            sms,
            sms_settings,
            invitations,
            unsubscribe,
            timeout,
            clock: Clock::system(),
        }
    }

    /// Reads the time reminders are due by from `clock` (the delivery worker's).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The delivery waits a minute: what it needs cannot be read now.
    fn held(&self) -> SendOutcome {
        SendOutcome::Held {
            until: self.clock.now() + HOLD_UNREADABLE,
        }
    }

    /// The reminder of `rule` about `appointment`, once it is due and the appointment still
    /// stands at that time in Cliniko; or what the delivery does instead (waits until due, or
    /// ends unsent).
    async fn reminder(
        &self,
        delivery: &Delivery,
        event: &EventMessage,
        rule: Rule,
        appointment: &EventAppointment,
    ) -> std::result::Result<Outgoing, SendOutcome> {
        if !Trigger::Reminder.hears(event.event_type) {
            return Err(SendOutcome::Gone);
        }
        let Some(hours) = rule.hours_before else {
            return Err(unsent(
                Verdict::Fail,
                "the reminder rule has no hours_before",
            ));
        };
        if appointment.cancelled_at.is_some() {
            return Err(unsent(Verdict::Delivered, "the appointment is cancelled"));
        }
        let due = appointment.starts_at - chrono::Duration::hours(i64::from(hours));
        if event.occurred_at >= due {
            return Err(unsent(
                Verdict::Delivered,
                &format!(
                    "booked or changed less than {hours} hours before the appointment, so no reminder"
                ),
            ));
        }
        let now = self.clock.now();
        if now < due {
            // The durable schedule: the delivery stays pending in the queue until it is due,
            // claimed then by whichever instance looks first.
            return Err(SendOutcome::Held { until: due });
        }
        if now >= appointment.starts_at {
            return Err(unsent(
                Verdict::Delivered,
                "the appointment had started before the reminder could go",
            ));
        }
        self.still_booked(delivery, appointment).await?;
        let key = ReminderKey {
            rule: rule.id,
            appointment_id: appointment.id.clone(),
            starts_at: appointment.starts_at,
        };
        match self
            .service
            .claim_reminder(delivery.tenant_id, &key, delivery.id)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                return Err(unsent(
                    Verdict::Delivered,
                    "this appointment's reminder was already sent",
                ));
            }
            Err(err) => {
                tracing::warn!(error = %err, delivery_id = %delivery.id, "a reminder's idempotency key could not be written; the delivery waits");
                return Err(self.held());
            }
        }
        self.message(delivery, event, rule, appointment).await
    }

    /// `Ok` when Cliniko still has `appointment` booked at the start its event carries: a
    /// reminder is never sent for an appointment cancelled, deleted or moved since (a move
    /// schedules the reminder of the new start through its own event).
    async fn still_booked(
        &self,
        delivery: &Delivery,
        appointment: &EventAppointment,
    ) -> std::result::Result<(), SendOutcome> {
        let Some(id) = ClinikoId::parse(&appointment.id) else {
            return Err(unsent(Verdict::Fail, "the appointment has no Cliniko id"));
        };
        let cliniko = self.cliniko.clone();
        let found = self
            .keys
            .in_background(delivery.tenant_id, |account| async move {
                cliniko.appointment(&account, Lane::Background, &id).await
            })
            .await;
        match found {
            Ok(Background::Done(current)) => {
                if current.cancelled_at.is_some()
                    || current.deleted_at.is_some()
                    || current.archived_at.is_some()
                {
                    Err(unsent(
                        Verdict::Delivered,
                        "the appointment was cancelled in Cliniko",
                    ))
                } else if current.starts_at != appointment.starts_at {
                    Err(unsent(
                        Verdict::Delivered,
                        "the appointment moved; the reminder of its new time is scheduled by the change",
                    ))
                } else {
                    Ok(())
                }
            }
            Err(Error::NotFound { .. }) => Err(unsent(
                Verdict::Delivered,
                "the appointment is no longer in Cliniko",
            )),
            Ok(Background::NotConnected | Background::Rejected) | Err(_) => {
                tracing::warn!(delivery_id = %delivery.id, "a reminder's appointment could not be read from Cliniko; the delivery waits");
                Err(self.held())
            }
        }
    }

    /// `Some(Held)` until the clinic's quiet hours end, when now is inside them in the
    /// appointment's (the practice's) time zone: a patient message waits, it is not dropped and
    /// no attempt is counted. Staff messages never ask.
    async fn in_quiet_hours(&self, delivery: &Delivery, time_zone: &str) -> Option<SendOutcome> {
        let quiet = match self.service.quiet_hours(delivery.tenant_id).await {
            Ok(quiet) => quiet?,
            Err(err) => {
                tracing::warn!(error = %err, delivery_id = %delivery.id, "a clinic's quiet hours could not be read; the delivery waits");
                return Some(self.held());
            }
        };
        let zone: Tz = time_zone.parse().unwrap_or(Tz::UTC);
        quiet
            .ends_after(self.clock.now(), zone)
            .map(|until| SendOutcome::Held { until })
    }

    /// The appointment's patient from Cliniko; `Err` is what the delivery does instead.
    async fn patient(
        &self,
        delivery: &Delivery,
        id: &ClinikoId,
    ) -> std::result::Result<Patient, SendOutcome> {
        let cliniko = self.cliniko.clone();
        let id = id.clone();
        let found = self
            .keys
            .in_background(delivery.tenant_id, |account| async move {
                cliniko.patient(&account, Lane::Background, &id).await
            })
            .await;
        match found {
            Ok(Background::Done(patient)) => Ok(patient),
            Err(Error::NotFound { .. }) => {
                Err(unsent(Verdict::Fail, "the patient is no longer in Cliniko"))
            }
            Ok(Background::NotConnected | Background::Rejected) | Err(_) => {
                tracing::warn!(delivery_id = %delivery.id, "a notification's patient could not be read from Cliniko; the delivery waits");
                Err(self.held())
            }
        }
    }

    /// Where `rule`'s message goes: the patient's address or mobile number in Cliniko (unless
    /// their reminder type refuses the channel), or the settings' staff address or phone; or
    /// what the delivery does instead.
    async fn recipient(
        &self,
        delivery: &Delivery,
        rule: Rule,
        patient: Option<&Patient>,
    ) -> std::result::Result<Recipient, SendOutcome> {
        let sms = if rule.key.channel == Channel::Sms {
            match self.sms_settings.account(delivery.tenant_id).await {
                Ok(Some(found)) => Some(found),
                Ok(None) => {
                    return Err(unsent(
                        Verdict::Fail,
                        "SMS is not set up for this clinic (Settings, Notifications)",
                    ));
                }
                Err(err) => {
                    tracing::warn!(error = %err, delivery_id = %delivery.id, "a clinic's SMS account could not be read; the delivery waits");
                    return Err(self.held());
                }
            }
        } else {
            None
        };
        match rule.key.audience {
            Audience::Patient => {
                let Some(patient) = patient else {
                    return Err(unsent(Verdict::Fail, "the appointment has no patient"));
                };
                let reminder_type = patient.reminder_type.as_deref();
                if !rule.key.channel.accepted_by(reminder_type) {
                    return Err(unsent(
                        Verdict::Delivered,
                        &format!(
                            "the patient opted out of {} (Cliniko reminder type {})",
                            rule.key.channel.as_str(),
                            reminder_type.unwrap_or_default()
                        ),
                    ));
                }
                match self
                    .service
                    .opted_out(delivery.tenant_id, &patient.id, rule.key.channel)
                    .await
                {
                    Ok(false) => {}
                    Ok(true) => {
                        return Err(unsent(
                            Verdict::Delivered,
                            &format!(
                                "the patient opted out (unsubscribed from {})",
                                match rule.key.channel {
                                    Channel::Email => "these e-mails",
                                    Channel::Sms => "these text messages",
                                }
                            ),
                        ));
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, delivery_id = %delivery.id, "a patient's opt-out could not be read; the delivery waits");
                        return Err(self.held());
                    }
                }
                if let Some((account, _)) = sms {
                    return match mobile(patient) {
                        Some(number) => Ok(Recipient::Sms(account, number)),
                        None => Err(unsent(
                            Verdict::Fail,
                            "the patient has no mobile number in Cliniko",
                        )),
                    };
                }
                match patient.email.as_deref().map(str::trim) {
                    Some(email) if !email.is_empty() => Ok(Recipient::Email(email.to_owned())),
                    _ => Err(unsent(
                        Verdict::Fail,
                        "the patient has no e-mail address in Cliniko",
                    )),
                }
            }
            Audience::Staff => match sms {
                Some((account, Some(phone))) => Ok(Recipient::Sms(account, phone)),
                Some((_, None)) => Err(unsent(Verdict::Fail, "no staff phone number is set")),
                None => match self.service.staff_email(delivery.tenant_id).await {
                    Ok(Some(email)) => Ok(Recipient::Email(email)),
                    Ok(None) => Err(unsent(Verdict::Fail, "no staff address is set")),
                    Err(_) => Err(self.held()),
                },
            },
        }
    }

    /// The patient `patient_id` names, as Cliniko holds them now, and where `rule`'s message
    /// about their appointment goes; or what the delivery does instead.
    async fn addressee(
        &self,
        delivery: &Delivery,
        rule: Rule,
        patient_id: Option<&ClinikoId>,
    ) -> std::result::Result<(Option<Patient>, Recipient), SendOutcome> {
        let patient = match patient_id {
            Some(id) => Some(self.patient(delivery, id).await?),
            None => None,
        };
        let to = self.recipient(delivery, rule, patient.as_ref()).await?;
        Ok((patient, to))
    }

    /// The message of `rule` about `appointment`, or what the delivery does instead.
    async fn message(
        &self,
        delivery: &Delivery,
        event: &EventMessage,
        rule: Rule,
        appointment: &EventAppointment,
    ) -> std::result::Result<Outgoing, SendOutcome> {
        let patient_id = appointment.patient_id.as_deref().and_then(ClinikoId::parse);
        let (patient, to) = self.addressee(delivery, rule, patient_id.as_ref()).await?;
        let zone: Tz = appointment.time_zone.parse().unwrap_or(Tz::UTC);
        let data = SampleData {
            patient_name: patient.as_ref().map(Patient::name).unwrap_or_default(),
            when: appointment
                .starts_at
                .with_timezone(&zone)
                .format("%a %-d %b %Y, %-H:%M")
                .to_string(),
            time_zone: zone.name().to_owned(),
            appointment_id: appointment.id.clone(),
            queue: None,
        };
        let attachments = match &to {
            Recipient::Email(_) if matches!(rule.key.trigger, Trigger::Event(_)) => self
                .invitation(delivery, event, rule, appointment, zone, &data)
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        let message_id = format!("{}@clinicgate", delivery.id);
        self.outgoing(
            delivery,
            rule,
            patient.as_ref(),
            to,
            &data,
            attachments,
            message_id,
        )
        .await
    }

    /// The message of `rule` about `data` to `to`: rendered from the clinic's templates (or the
    /// default) for its channel, and for a patient's e-mail with the unsubscribe footer and
    /// headers.
    #[expect(
        clippy::too_many_arguments,
        reason = "one message's parts, gathered by its two callers"
    )]
    async fn outgoing(
        &self,
        delivery: &Delivery,
        rule: Rule,
        patient: Option<&Patient>,
        to: Recipient,
        data: &SampleData,
        attachments: Vec<super::Attachment>,
        message_id: String,
    ) -> std::result::Result<Outgoing, SendOutcome> {
        let rendered = self.rendered(delivery, rule, data).await?;
        let to = match to {
            Recipient::Sms(account, to) => {
                return Ok(Outgoing::Sms(
                    account,
                    OutgoingSms {
                        to,
                        body: rendered.text,
                    },
                ));
            }
            Recipient::Email(to) => to,
        };
        let (rendered, list_unsubscribe) = match (rule.key.audience, patient) {
            (Audience::Patient, Some(patient)) => {
                let link = match self
                    .unsubscribe
                    .link(delivery.tenant_id, &patient.id, rule.key.channel)
                    .await
                {
                    Ok(link) => link,
                    Err(err) => {
                        tracing::warn!(error = %err, delivery_id = %delivery.id, "an unsubscribe link could not be made; the delivery waits");
                        return Err(self.held());
                    }
                };
                let rendered =
                    with_unsubscribe(rendered, &link).map_err(|err| unrendered(delivery, &err))?;
                (rendered, Some(link))
            }
            _ => (rendered, None),
        };
        Ok(Outgoing::Email(OutgoingEmail {
            to,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            attachments,
            list_unsubscribe,
            message_id,
        }))
    }

    /// The message of `rule` about `data`: the clinic's templates when it saved some, else the
    /// default. A clinic's template that fails now (it was checked when saved, so only a limit
    /// can stop it) gives way to the default: the patient still hears of their appointment.
    async fn rendered(
        &self,
        delivery: &Delivery,
        rule: Rule,
        data: &SampleData,
    ) -> std::result::Result<Rendered, SendOutcome> {
        let sources = match self
            .service
            .template_for(delivery.tenant_id, rule.key.trigger, rule.key.channel)
            .await
        {
            Ok(sources) => sources,
            Err(err) => {
                tracing::warn!(error = %err, delivery_id = %delivery.id, "a clinic's template could not be read; the delivery waits");
                return Err(self.held());
            }
        };
        render_with(&sources, rule.key, data)
            .or_else(|err| {
                tracing::warn!(error = %err, delivery_id = %delivery.id, "a clinic's template did not render; the default is sent");
                render(rule.key, data)
            })
            .map_err(|err| unrendered(delivery, &err))
    }

    /// Sends `outgoing` and judges the answer.
    async fn deliver(&self, outgoing: &Outgoing) -> Answer {
        match outgoing {
            Outgoing::Email(email) => {
                let outcome = self.mailer.send(email, self.timeout).await;
                let (result, verdict) = judged(&outcome);
                Answer {
                    result,
                    verdict,
                    excerpt: excerpt(&email.to, &outcome),
                }
            }
            Outgoing::Sms(account, sms) => {
                let outcome = self.sms.send(account, sms, self.timeout).await;
                let result = match &outcome {
                    SmsOutcome::Accepted { status, .. } => AttemptResult::Answered {
                        status: *status,
                        retry_after: None,
                    },
                    SmsOutcome::Refused {
                        status,
                        retry_after,
                        ..
                    } => AttemptResult::Answered {
                        status: *status,
                        retry_after: *retry_after,
                    },
                    SmsOutcome::Unreachable(failure) => AttemptResult::Failed(*failure),
                };
                Answer {
                    result,
                    // 429 and 5xx again later; a 4xx (an invalid number) fails at once.
                    verdict: result.verdict(),
                    excerpt: sms_excerpt(&sms.to, &outcome),
                }
            }
        }
    }

    /// The queue messages `event` calls for under `rule`: each waiting patient's new place, and
    /// "running late"; each claimed before it goes, its claim given up when it could not go now.
    async fn queue(&self, delivery: &Delivery, event: &EventMessage, rule: Rule) -> SendOutcome {
        let Ok(queue) = serde_json::from_str::<QueueEvent>(event.data.expose_secret()) else {
            tracing::error!(delivery_id = %delivery.id, "a queue notification carries no queue");
            return SendOutcome::Gone;
        };
        if rule.key.audience != Audience::Patient {
            return unsent(Verdict::Fail, "queue messages go to patients only");
        }
        let late_after = rule
            .late_after_minutes
            .unwrap_or(DEFAULT_LATE_AFTER_MINUTES);
        let due = progress_of(&queue.entries, late_after);
        if due.is_empty() {
            return unsent(Verdict::Delivered, "nobody is waiting");
        }
        if let Some(outcome) = self.in_quiet_hours(delivery, &queue.time_zone).await {
            return outcome;
        }
        let started = Instant::now();
        let mut answers: Vec<Answer> = Vec::new();
        let mut skipped = 0_usize;
        for (appointment_id, progress) in due {
            let key = QueueKey {
                rule: rule.id,
                appointment_id: appointment_id.clone(),
                progress: progress.key(),
            };
            match self
                .service
                .claim_queue(delivery.tenant_id, &key, delivery.id)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    skipped += 1;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(error = %err, delivery_id = %delivery.id, "a queue message's idempotency key could not be written; the delivery waits");
                    return self.held();
                }
            }
            let answer = match self
                .queue_message(delivery, rule, &queue, &appointment_id, progress)
                .await
            {
                Ok(outgoing) => self.deliver(&outgoing).await,
                Err(SendOutcome::Attempted(sent)) => Answer {
                    result: sent.result,
                    verdict: sent.verdict,
                    excerpt: sent.response_excerpt.unwrap_or_default(),
                },
                Err(_) => Answer {
                    result: AttemptResult::Failed(TransportFailure::Connection),
                    verdict: Verdict::Retry { retry_after: None },
                    excerpt: format!(
                        "appointment {appointment_id}: not sent now, Cliniko or the settings could not be read"
                    ),
                },
            };
            if matches!(answer.verdict, Verdict::Retry { .. })
                && let Err(err) = self.service.release_queue(delivery.tenant_id, &key).await
            {
                tracing::warn!(error = %err, delivery_id = %delivery.id, "a queue message's claim could not be given up; it will not be retried");
            }
            answers.push(answer);
        }
        summed(answers, skipped, started.elapsed())
    }

    /// The queue message about waiting appointment `appointment_id` to its patient.
    async fn queue_message(
        &self,
        delivery: &Delivery,
        rule: Rule,
        queue: &QueueEvent,
        appointment_id: &str,
        progress: QueueProgress,
    ) -> std::result::Result<Outgoing, SendOutcome> {
        let Some(id) = ClinikoId::parse(appointment_id) else {
            return Err(unsent(Verdict::Fail, "the appointment has no Cliniko id"));
        };
        let cliniko = self.cliniko.clone();
        let found = self
            .keys
            .in_background(delivery.tenant_id, |account| async move {
                cliniko.appointment(&account, Lane::Background, &id).await
            })
            .await;
        let appointment = match found {
            Ok(Background::Done(appointment)) => appointment,
            Err(Error::NotFound { .. }) => {
                return Err(unsent(
                    Verdict::Fail,
                    "the appointment is no longer in Cliniko",
                ));
            }
            Ok(Background::NotConnected | Background::Rejected) | Err(_) => return Err(self.held()),
        };
        let (patient, to) = self
            .addressee(delivery, rule, appointment.patient_id.as_ref())
            .await?;
        let zone: Tz = queue.time_zone.parse().unwrap_or(Tz::UTC);
        let data = SampleData {
            patient_name: patient.as_ref().map(Patient::name).unwrap_or_default(),
            when: appointment
                .starts_at
                .with_timezone(&zone)
                .format("%-H:%M")
                .to_string(),
            time_zone: zone.name().to_owned(),
            appointment_id: appointment_id.to_owned(),
            queue: Some(progress),
        };
        let message_id = format!("{}.{}@clinicgate", delivery.id, appointment_id);
        self.outgoing(
            delivery,
            rule,
            patient.as_ref(),
            to,
            &data,
            Vec::new(),
            message_id,
        )
        .await
    }

    /// The `.ics` invitation: a request for a booking or a change, a cancellation for a
    /// cancellation.
    fn invitation(
        &self,
        delivery: &Delivery,
        event: &EventMessage,
        rule: Rule,
        appointment: &EventAppointment,
        zone: Tz,
        data: &SampleData,
    ) -> Option<super::Attachment> {
        let method = match event.event_type {
            EventType::AppointmentCreated | EventType::AppointmentUpdated => InviteMethod::Request,
            EventType::AppointmentCancelled => InviteMethod::Cancel,
            _ => return None,
        };
        let id = ClinikoId::parse(&appointment.id)?;
        let feed = FeedAppointment {
            id,
            starts_at: appointment.starts_at,
            ends_at: appointment.ends_at.unwrap_or(appointment.starts_at),
            // The staff calendar names the patient; the patient knows who they are.
            patient: (rule.key.audience == Audience::Staff).then(|| data.patient_name.clone()),
            appointment_type: None,
            cancelled: method == InviteMethod::Cancel || appointment.cancelled_at.is_some(),
            created_at: appointment.created_at,
            changed_at: [appointment.updated_at, appointment.cancelled_at]
                .into_iter()
                .flatten()
                .max()
                .or(appointment.created_at),
        };
        let text = self
            .invitations
            .invitation(delivery.tenant_id, &feed, zone, method);
        let method_name = match method {
            InviteMethod::Request => "REQUEST",
            InviteMethod::Cancel => "CANCEL",
        };
        Some(super::Attachment {
            file_name: if method == InviteMethod::Cancel {
                "cancellation.ics".to_owned()
            } else {
                "appointment.ics".to_owned()
            },
            content_type: format!("text/calendar; method={method_name}; charset=UTF-8"),
            content: text.into_bytes(),
        })
    }
}

/// What the relay's answer means: 2xx sent, 4xx try again, 5xx (a recipient that does not
/// exist, a message refused) failed for good.
fn judged(outcome: &MailOutcome) -> (AttemptResult, Verdict) {
    match outcome {
        MailOutcome::Accepted { code, .. } => (
            AttemptResult::Answered {
                status: *code,
                retry_after: None,
            },
            Verdict::Delivered,
        ),
        MailOutcome::Refused { code, .. } => (
            AttemptResult::Answered {
                status: *code,
                retry_after: None,
            },
            if (400..500).contains(code) {
                Verdict::Retry { retry_after: None }
            } else {
                Verdict::Fail
            },
        ),
        MailOutcome::Unreachable(failure) => {
            let result = AttemptResult::Failed(*failure);
            (result, result.verdict())
        }
        MailOutcome::NotConfigured => (
            AttemptResult::Failed(TransportFailure::NotConfigured),
            Verdict::Fail,
        ),
        MailOutcome::Unsendable(_) => (AttemptResult::NothingToSend, Verdict::Fail),
    }
}

/// What the history shows of the answer: the masked recipient and the relay's reply.
fn excerpt(to: &str, outcome: &MailOutcome) -> String {
    let to = mask_email(to);
    match outcome {
        MailOutcome::Accepted { code, reply } | MailOutcome::Refused { code, reply } => {
            format!("to {to}: {code} {}", without_addresses(reply))
        }
        MailOutcome::Unreachable(failure) => {
            format!(
                "to {to}: the mail relay could not be reached ({})",
                failure.as_str()
            )
        }
        MailOutcome::NotConfigured => {
            format!("to {to}: not sent, e-mail (SMTP) is not configured on this deployment")
        }
        MailOutcome::Unsendable(why) => format!("to {to}: not sent, {why}"),
    }
}

/// `reply` with every word that holds an address masked: relays echo the recipient
/// (`550 5.1.1 <jane@example.com>: unknown user`).
fn without_addresses(reply: &str) -> String {
    reply
        .split(' ')
        .map(|word| {
            if word.contains('@') {
                mask_email(word.trim_matches(|c: char| "<>:,;()[]".contains(c)))
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A message that did not render (the error names the template, never the data).
fn unrendered(delivery: &Delivery, err: &Error) -> SendOutcome {
    tracing::error!(error = %err, delivery_id = %delivery.id, "a notification could not be rendered");
    unsent(Verdict::Fail, "the message could not be rendered")
}

/// The patient's mobile number in Cliniko, as it is sent.
fn mobile(patient: &Patient) -> Option<String> {
    patient
        .phone_numbers
        .iter()
        .flatten()
        .filter(|phone| phone.phone_type.as_deref() == Some(MOBILE))
        .find_map(|phone| phone.number.as_deref().and_then(normalise_phone))
}

/// What the history shows of the provider's answer: the masked number, the status, and the
/// message id and status, or the provider's error code and message (numbers in it masked).
fn sms_excerpt(to: &str, outcome: &SmsOutcome) -> String {
    let to = mask_phone(to);
    match outcome {
        SmsOutcome::Accepted {
            status,
            sid,
            message_status,
        } => format!("to {to}: {status} {message_status} {sid}"),
        SmsOutcome::Refused {
            status,
            code,
            message,
            ..
        } => {
            let code = code.map(|code| format!(" code {code}")).unwrap_or_default();
            format!("to {to}: {status}{code} {}", without_numbers(message))
        }
        SmsOutcome::Unreachable(failure) => format!(
            "to {to}: the SMS provider could not be reached ({})",
            failure.as_str()
        ),
    }
}

/// `message` with every word that holds a phone number masked: providers echo the recipient
/// (`The 'To' number +61412345123 is not a valid phone number.`).
fn without_numbers(message: &str) -> String {
    message
        .split(' ')
        .map(|word| {
            if word.chars().filter(char::is_ascii_digit).count() >= 6 && !word.starts_with("http") {
                mask_phone(word)
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One attempt's result from the queue messages a delivery sent: retried when any could not go
/// now (only those are sent again), failed when every one failed for good, delivered otherwise.
fn summed(answers: Vec<Answer>, skipped: usize, latency: Duration) -> SendOutcome {
    let mut retry = None;
    let mut delivered = false;
    let mut last = AttemptResult::NothingToSend;
    let mut excerpts = Vec::new();
    for answer in answers {
        match answer.verdict {
            Verdict::Retry { retry_after } => {
                retry = Some(retry.flatten().or(retry_after));
                last = answer.result;
            }
            Verdict::Delivered => {
                delivered = true;
                if retry.is_none() {
                    last = answer.result;
                }
            }
            Verdict::Fail => {
                if retry.is_none() && !delivered {
                    last = answer.result;
                }
            }
        }
        excerpts.push(answer.excerpt);
    }
    let sent = excerpts.len();
    if sent == 0 {
        return unsent(
            Verdict::Delivered,
            &format!("every waiting patient already had this news ({skipped})"),
        );
    }
    let verdict = match retry {
        Some(retry_after) => Verdict::Retry { retry_after },
        None if delivered => Verdict::Delivered,
        None => Verdict::Fail,
    };
    SendOutcome::Attempted(Sent {
        result: last,
        verdict,
        latency,
        response_excerpt: Some(excerpts.join("; ")),
    })
}

#[async_trait]
impl Sender for NotificationSender {
    async fn send(&self, delivery: &Delivery, event: &EventMessage) -> SendOutcome {
        let id = NotificationRuleId::from_uuid(delivery.target.id);
        let rule = match self.service.rule(delivery.tenant_id, id).await {
            Ok(Some(rule)) => rule,
            // The clinic turned the rule off after the event: nothing is sent.
            Ok(None) => return SendOutcome::Gone,
            Err(err) => {
                tracing::warn!(error = %err, rule_id = %id, "a notification rule could not be read; the delivery waits");
                return self.held();
            }
        };
        if rule.key.trigger == Trigger::Queue {
            if !rule.key.trigger.hears(event.event_type) {
                return SendOutcome::Gone;
            }
            return self.queue(delivery, event, rule).await;
        }
        let Ok(appointment) = serde_json::from_str::<EventAppointment>(event.data.expose_secret())
        else {
            tracing::error!(delivery_id = %delivery.id, "a notification delivery carries no appointment");
            return SendOutcome::Gone;
        };
        let outgoing = match rule.key.trigger {
            Trigger::Reminder => self.reminder(delivery, event, rule, &appointment).await,
            Trigger::Event(_) | Trigger::Queue => {
                self.message(delivery, event, rule, &appointment).await
            }
        };
        let outgoing = match outgoing {
            Ok(outgoing) => outgoing,
            Err(outcome) => return outcome,
        };
        if rule.key.audience == Audience::Patient
            && let Some(outcome) = self.in_quiet_hours(delivery, &appointment.time_zone).await
        {
            return outcome;
        }
        let started = Instant::now();
        let answer = self.deliver(&outgoing).await;
        SendOutcome::Attempted(Sent {
            result: answer.result,
            verdict: answer.verdict,
            latency: started.elapsed(),
            response_excerpt: Some(answer.excerpt),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_answers_are_judged_by_their_class() {
        let refused = |code| MailOutcome::Refused {
            code,
            reply: String::new(),
        };
        assert!(matches!(judged(&refused(451)).1, Verdict::Retry { .. }));
        assert_eq!(judged(&refused(550)).1, Verdict::Fail);
        assert_eq!(judged(&MailOutcome::NotConfigured).1, Verdict::Fail);
        assert_eq!(
            judged(&MailOutcome::Accepted {
                code: 250,
                reply: "ok".to_owned()
            })
            .1,
            Verdict::Delivered
        );
        assert!(matches!(
            judged(&MailOutcome::Unreachable(TransportFailure::Timeout)).1,
            Verdict::Retry { .. }
        ));
    }

    #[test]
    fn the_history_excerpt_masks_the_recipient() {
        let shown = excerpt(
            "jane@example.com",
            &MailOutcome::Accepted {
                code: 250,
                reply: "queued".to_owned(),
            },
        );
        assert_eq!(shown, "to j***@e***.com: 250 queued");
        let refused = excerpt(
            "jane@example.com",
            &MailOutcome::Refused {
                code: 550,
                reply: "5.1.1 <jane@example.com>: unknown".to_owned(),
            },
        );
        assert_eq!(refused, "to j***@e***.com: 550 5.1.1 j***@e***.com unknown");
    }
}
