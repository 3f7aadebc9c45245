//! A doctor's queue for a day (ClinicFlow's "tokens"), rebuilt from Cliniko's arrival flags:
//! the arrived patients' appointments in arrival order (the time ClinicGate first saw each flag),
//! numbered from 1; the first arrived patient whose appointment is under way is being seen,
//! those whose appointment ended are seen. It is emitted when it changes: an arrival is marked or
//! unmarked, an arrived appointment moves or is cancelled, or time passes a start or an end.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::cliniko::ClinikoId;
use crate::events::{DoctorQueue, QueueEntry, QueueStatus};

/// An arrived appointment in a doctor's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMember {
    /// The appointment.
    pub appointment_id: ClinikoId,
    /// Where.
    pub clinic_id: Option<ClinikoId>,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: Option<DateTime<Utc>>,
    /// When the arrival was first seen.
    pub arrived_at: DateTime<Utc>,
}

impl QueueMember {
    fn end(&self) -> DateTime<Utc> {
        self.ends_at.unwrap_or(self.starts_at)
    }
}

/// The clinic-local day an appointment starting at `starts_at` belongs to.
pub fn day_of(starts_at: DateTime<Utc>, zone: Tz) -> NaiveDate {
    starts_at.with_timezone(&zone).date_naive()
}

/// The queue of `doctor` on `day` at `now`.
pub fn build(
    doctor: ClinikoId,
    day: NaiveDate,
    zone: Tz,
    mut members: Vec<QueueMember>,
    now: DateTime<Utc>,
) -> DoctorQueue {
    members.sort_by(|a, b| {
        (a.arrived_at, a.starts_at, &a.appointment_id).cmp(&(
            b.arrived_at,
            b.starts_at,
            &b.appointment_id,
        ))
    });
    let mut now_serving = None;
    let entries = members
        .into_iter()
        .zip(1_u32..)
        .map(|(member, token)| {
            let status = if member.end() <= now {
                QueueStatus::Seen
            } else if member.starts_at <= now && now_serving.is_none() {
                now_serving = Some(token);
                QueueStatus::BeingSeen
            } else {
                QueueStatus::Waiting
            };
            QueueEntry {
                token,
                appointment_id: member.appointment_id,
                clinic_id: member.clinic_id,
                starts_at: member.starts_at,
                ends_at: member.ends_at,
                arrived_at: member.arrived_at,
                status,
            }
        })
        .collect();
    DoctorQueue {
        doctor_id: doctor,
        day,
        time_zone: zone,
        entries,
        now_serving,
    }
}

/// The next time after `now` at which the queue changes by itself (an appointment starts or
/// ends), if any.
pub fn next_change(members: &[QueueMember], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    members
        .iter()
        .flat_map(|m| [m.starts_at, m.end()])
        .filter(|at| *at > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn member(id: &str, start: &str, end: &str, arrived: &str) -> QueueMember {
        QueueMember {
            appointment_id: ClinikoId::parse(id).unwrap(),
            clinic_id: ClinikoId::parse("21"),
            starts_at: at(start),
            ends_at: Some(at(end)),
            arrived_at: at(arrived),
        }
    }

    fn members() -> Vec<QueueMember> {
        vec![
            member(
                "3",
                "2030-05-21T09:30:00Z",
                "2030-05-21T10:00:00Z",
                "2030-05-21T08:50:00Z",
            ),
            member(
                "1",
                "2030-05-21T09:00:00Z",
                "2030-05-21T09:30:00Z",
                "2030-05-21T08:55:00Z",
            ),
        ]
    }

    fn queue(now: &str) -> DoctorQueue {
        let zone: Tz = "Australia/Sydney".parse().unwrap();
        build(
            ClinikoId::parse("11").unwrap(),
            day_of(at("2030-05-21T09:00:00Z"), zone),
            zone,
            members(),
            at(now),
        )
    }

    fn statuses(queue: &DoctorQueue) -> Vec<(u32, &str, QueueStatus)> {
        queue
            .entries
            .iter()
            .map(|e| (e.token, e.appointment_id.as_str(), e.status))
            .collect()
    }

    #[test]
    fn tokens_follow_arrival_order_and_the_first_arrived_patient_under_way_is_seen() {
        use QueueStatus::*;
        let before = queue("2030-05-21T08:56:00Z");
        assert_eq!(before.day.to_string(), "2030-05-21", "19:00 in Sydney");
        assert_eq!(statuses(&before), [(1, "3", Waiting), (2, "1", Waiting)]);
        assert_eq!(before.now_serving, None);
        let first_slot = queue("2030-05-21T09:10:00Z");
        assert_eq!(
            statuses(&first_slot),
            [(1, "3", Waiting), (2, "1", BeingSeen)]
        );
        assert_eq!(first_slot.now_serving, Some(2));
        let second_slot = queue("2030-05-21T09:40:00Z");
        assert_eq!(
            statuses(&second_slot),
            [(1, "3", BeingSeen), (2, "1", Seen)]
        );
        let done = queue("2030-05-21T11:00:00Z");
        assert_eq!(done.now_serving, None);
        assert!(done.entries.iter().all(|e| e.status == Seen));
    }

    #[test]
    fn the_queue_knows_when_it_next_changes_by_itself() {
        assert_eq!(
            next_change(&members(), at("2030-05-21T08:00:00Z")),
            Some(at("2030-05-21T09:00:00Z"))
        );
        assert_eq!(
            next_change(&members(), at("2030-05-21T09:30:00Z")),
            Some(at("2030-05-21T10:00:00Z"))
        );
        assert_eq!(next_change(&members(), at("2030-05-21T10:00:00Z")), None);
    }
}
