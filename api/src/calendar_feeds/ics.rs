//! A feed's contents as RFC 5545 iCalendar text, built with the `icalendar` crate.
//!
//! Times are written in the clinic's zone (`DTSTART;TZID=Australia/Sydney:…`) with that zone
//! defined in the feed as a `VTIMEZONE`, so calendar applications show appointments at the
//! clinic's wall-clock time whatever zone the reader is in. chrono-tz knows every offset change
//! but not the rules behind them, so the `VTIMEZONE` lists the changes that fall in and around
//! the feed's window one by one (one `STANDARD` or `DAYLIGHT` per onset, no `RRULE`), which
//! RFC 5545 allows and every client reads. The crate builds the calendar and its events; the
//! `VTIMEZONE` is written here (see [`vtimezone`]).

use chrono::{DateTime, Duration, NaiveDateTime, Offset as _, TimeZone as _, Utc};
use chrono_tz::{OffsetComponents as _, OffsetName as _, Tz};
use clinicgate_core::calendar_feeds::{FeedAppointment, FeedContents};
use clinicgate_core::ids::TenantId;
use clinicgate_core::notifications::{Invitations, InviteMethod};
use icalendar::{
    Calendar, CalendarDateTime, Class, Component as _, Event, EventLike as _, EventStatus, Property,
};

/// How far before the window the zone's last offset change is looked for (more than a year, so
/// the change in force at the window's start is found in every zone with daylight saving).
const ONSET_LOOKBACK_DAYS: i64 = 400;
/// How often calendar applications are asked to refresh the feed.
const REFRESH: Duration = Duration::minutes(30);

/// The iCalendar text of `contents`, for the feed of `tenant`'s doctor.
pub fn render(contents: &FeedContents, tenant: TenantId, now: DateTime<Utc>) -> String {
    let zone = contents.time_zone;
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new(
            "PRODID",
            "-//ClinicGate//Doctor calendar feed//EN",
        ))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .append_property(Property::new("METHOD", "PUBLISH"))
        .append_property(Property::new("X-WR-TIMEZONE", zone.name()))
        .name(&format!("{} (ClinicGate)", contents.doctor_name))
        .ttl(&REFRESH);
    let last_end = contents
        .appointments
        .iter()
        .map(|appointment| appointment.ends_at)
        .max()
        .unwrap_or(contents.to)
        .max(contents.to);
    for appointment in &contents.appointments {
        calendar.push(event(appointment, zone, tenant, now));
    }
    with_block_before_components(
        &calendar,
        &vtimezone(zone, contents.from, last_end + Duration::days(1)),
    )
}

/// The invitation attached to a notification e-mail: one appointment with `METHOD:REQUEST` (a
/// booking or a change, which calendar clients add or update by its `UID`) or `METHOD:CANCEL`
/// (which they remove). The `UID` is the doctor feed's for the same appointment, and the
/// `SEQUENCE` grows with each change, so a later message supersedes an earlier one.
pub fn invitation(
    appointment: &FeedAppointment,
    zone: Tz,
    tenant: TenantId,
    method: InviteMethod,
    organizer: &str,
    now: DateTime<Utc>,
) -> String {
    let method = match method {
        InviteMethod::Request => "REQUEST",
        InviteMethod::Cancel => "CANCEL",
    };
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new(
            "PRODID",
            "-//ClinicGate//Appointment notification//EN",
        ))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .append_property(Property::new("METHOD", method));
    let mut event = event(appointment, zone, tenant, now);
    // iTIP (RFC 5546) requests and cancellations name their organizer.
    event.append_property(Property::new("ORGANIZER", format!("mailto:{organizer}")));
    calendar.push(event);
    with_block_before_components(
        &calendar,
        &vtimezone(
            zone,
            appointment.starts_at - Duration::days(1),
            appointment.ends_at + Duration::days(1),
        ),
    )
}

/// [`Invitations`] with [`invitation`], organised by the notifications' sender address.
#[derive(Debug, Clone)]
pub struct IcsInvitations {
    organizer: String,
}

impl IcsInvitations {
    /// Invitations naming `from` (`Name <address>` or a bare address) as their organizer.
    pub fn new(from: &str) -> Self {
        let address = from
            .rsplit_once('<')
            .and_then(|(_, rest)| rest.split_once('>'))
            .map_or(from, |(address, _)| address);
        Self {
            organizer: address.trim().to_owned(),
        }
    }
}

impl Invitations for IcsInvitations {
    fn invitation(
        &self,
        tenant: TenantId,
        appointment: &FeedAppointment,
        zone: Tz,
        method: InviteMethod,
    ) -> String {
        invitation(
            appointment,
            zone,
            tenant,
            method,
            &self.organizer,
            Utc::now(),
        )
    }
}

/// One appointment as a `VEVENT`.
fn event(appointment: &FeedAppointment, zone: Tz, tenant: TenantId, now: DateTime<Utc>) -> Event {
    let local = |at: DateTime<Utc>| CalendarDateTime::WithTimezone {
        date_time: at.with_timezone(&zone).naive_local(),
        tzid: zone.name().to_owned(),
    };
    let what = match (&appointment.patient, &appointment.appointment_type) {
        (Some(patient), Some(kind)) => format!("{patient} – {kind}"),
        (Some(patient), None) => patient.clone(),
        (None, Some(kind)) => kind.clone(),
        (None, None) => "Appointment".to_owned(),
    };
    let mut event = Event::new();
    event
        // Cliniko's id is stable for the appointment's life; the clinic's id keeps UIDs apart
        // when one calendar subscribes to several clinics.
        .uid(&format!(
            "cliniko-appointment-{}.{tenant}@clinicgate",
            appointment.id
        ))
        .timestamp(appointment.changed_at.unwrap_or(now))
        .sequence(appointment.sequence())
        .starts(local(appointment.starts_at))
        .ends(local(appointment.ends_at))
        .class(Class::Private);
    if let Some(created) = appointment.created_at {
        event.append_property(Property::new("CREATED", format_utc(created)));
    }
    if let Some(changed) = appointment.changed_at {
        event.append_property(Property::new("LAST-MODIFIED", format_utc(changed)));
    }
    if appointment.cancelled {
        event
            .summary(&format!("Cancelled: {what}"))
            .status(EventStatus::Cancelled)
            .append_property(Property::new("TRANSP", "TRANSPARENT"));
    } else {
        event
            .summary(&what)
            .status(EventStatus::Confirmed)
            .append_property(Property::new("TRANSP", "OPAQUE"));
    }
    event.done()
}

/// `20261207T093000Z`.
fn format_utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// One offset a zone changes to: from when, from which offset, and what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Onset {
    /// The instant of the change.
    at: DateTime<Utc>,
    /// The offset before it, in seconds east of UTC.
    from: i32,
    /// The offset from it on.
    to: i32,
    /// The abbreviation (`AEDT`), or the offset when the zone has none.
    name: String,
    /// Daylight saving time rather than standard time.
    daylight: bool,
}

fn offset_seconds(zone: Tz, at: DateTime<Utc>) -> i32 {
    zone.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

/// The first instant in `(after, before]` whose offset differs from the offset at `after`, given
/// that the offset at `before` differs: offsets change at whole seconds, so a bisection over
/// whole seconds ends on the exact instant.
fn change_between(zone: Tz, after: DateTime<Utc>, before: DateTime<Utc>) -> DateTime<Utc> {
    let at = |seconds: i64| DateTime::from_timestamp(seconds, 0).unwrap_or(after);
    let old = offset_seconds(zone, after);
    let (mut low, mut high) = (after.timestamp(), before.timestamp());
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if offset_seconds(zone, at(middle)) == old {
            low = middle;
        } else {
            high = middle;
        }
    }
    at(high)
}

fn onset(zone: Tz, at: DateTime<Utc>, from: i32) -> Onset {
    let offset = zone.offset_from_utc_datetime(&at.naive_utc());
    let to = offset.fix().local_minus_utc();
    Onset {
        at,
        from,
        to,
        name: offset
            .abbreviation()
            .map_or_else(|| format_offset(to), str::to_owned),
        daylight: !offset.dst_offset().is_zero(),
    }
}

/// The offset in force at `from` (with the change that began it, when one happened within
/// [`ONSET_LOOKBACK_DAYS`]) and every change up to `to`.
fn onsets(zone: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Onset> {
    let day = Duration::days(1);
    let at_start = offset_seconds(zone, from);
    // Walking back a day at a time to the last change before the window.
    let mut earlier = from;
    let mut first = None;
    for _ in 0..ONSET_LOOKBACK_DAYS {
        let step = earlier - day;
        if offset_seconds(zone, step) != at_start {
            let at = change_between(zone, step, earlier);
            first = Some(onset(zone, at, offset_seconds(zone, step)));
            break;
        }
        earlier = step;
    }
    // A zone that has not changed for longer is defined from the Unix epoch with one offset.
    let first = first.unwrap_or_else(|| onset(zone, DateTime::UNIX_EPOCH, at_start));
    let mut found = vec![first];
    let mut cursor = from;
    while cursor < to {
        let next = (cursor + day).min(to);
        let before = offset_seconds(zone, cursor);
        if offset_seconds(zone, next) != before {
            let at = change_between(zone, cursor, next);
            found.push(onset(zone, at, before));
            cursor = at;
        } else {
            cursor = next;
        }
    }
    found
}

/// `+1000`, `-0330`, `+054500` (seconds only when there are any).
fn format_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let total = seconds.unsigned_abs();
    let (hours, minutes, secs) = (total / 3600, total % 3600 / 60, total % 60);
    if secs == 0 {
        format!("{sign}{hours:02}{minutes:02}")
    } else {
        format!("{sign}{hours:02}{minutes:02}{secs:02}")
    }
}

/// The `VTIMEZONE` of `zone` covering `from..to`, as iCalendar lines. Written here rather than
/// through the crate, whose writer adds `DTSTAMP` and `UID` to every component, which RFC 5545
/// does not allow in a `VTIMEZONE` (strict clients refuse them). Every value is ASCII and short:
/// nothing to escape or fold.
fn vtimezone(zone: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let mut lines = vec![
        "BEGIN:VTIMEZONE".to_owned(),
        format!("TZID:{}", zone.name()),
    ];
    for onset in onsets(zone, from, to) {
        // DTSTART of an observance is the local time just before the change, in the offset
        // being left (RFC 5545 §3.6.5).
        let local: NaiveDateTime = onset.at.naive_utc() + Duration::seconds(i64::from(onset.from));
        let kind = if onset.daylight {
            "DAYLIGHT"
        } else {
            "STANDARD"
        };
        lines.extend([
            format!("BEGIN:{kind}"),
            format!("DTSTART:{}", local.format("%Y%m%dT%H%M%S")),
            format!("TZOFFSETFROM:{}", format_offset(onset.from)),
            format!("TZOFFSETTO:{}", format_offset(onset.to)),
            format!("TZNAME:{}", onset.name),
            format!("END:{kind}"),
        ]);
    }
    lines.push("END:VTIMEZONE".to_owned());
    lines.into_iter().map(|line| line + "\r\n").collect()
}

/// `calendar` as text with `block` (whole lines) after the calendar's own properties, where
/// RFC 5545 clients look for time zones: before the first component.
fn with_block_before_components(calendar: &Calendar, block: &str) -> String {
    let text = calendar.to_string();
    let at = ["BEGIN:VEVENT\r\n", "END:VCALENDAR\r\n"]
        .iter()
        .find_map(|marker| text.find(marker))
        .unwrap_or(text.len());
    let mut out = String::with_capacity(text.len() + block.len());
    out.push_str(&text[..at]);
    out.push_str(block);
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    #[test]
    fn sydney_changes_are_found_to_the_second_with_the_one_in_force_first() {
        let found = onsets(
            chrono_tz::Australia::Sydney,
            utc("2026-11-01T00:00:00Z"),
            utc("2027-05-01T00:00:00Z"),
        );
        // Daylight time began on 4 October 2026 at 02:00 AEST (16:00 UTC the day before) and
        // ends on 4 April 2027 at 03:00 AEDT (16:00 UTC the day before).
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].at, utc("2026-10-03T16:00:00Z"));
        assert_eq!((found[0].from, found[0].to), (36_000, 39_600));
        assert!(found[0].daylight);
        assert_eq!(found[0].name, "AEDT");
        assert_eq!(found[1].at, utc("2027-04-03T16:00:00Z"));
        assert_eq!(
            (found[1].from, found[1].to, found[1].daylight),
            (39_600, 36_000, false)
        );
    }

    #[test]
    fn a_zone_without_changes_has_one_observance_from_the_epoch() {
        let found = onsets(
            chrono_tz::Asia::Tokyo,
            utc("2026-11-01T00:00:00Z"),
            utc("2027-03-01T00:00:00Z"),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].at, DateTime::UNIX_EPOCH);
        assert_eq!((found[0].from, found[0].to), (32_400, 32_400));
    }

    #[test]
    fn offsets_are_written_as_rfc_5545_utc_offsets() {
        assert_eq!(format_offset(36_000), "+1000");
        assert_eq!(format_offset(-12_600), "-0330");
        assert_eq!(format_offset(0), "+0000");
        assert_eq!(format_offset(20_700 + 30), "+054530");
    }

    #[test]
    fn the_vtimezone_starts_each_observance_at_the_local_time_being_left() {
        let text = vtimezone(
            chrono_tz::Europe::London,
            utc("2026-12-01T00:00:00Z"),
            utc("2027-04-01T00:00:00Z"),
        );
        // Winter time began on 25 October 2026 at 02:00 BST; summer time on 28 March 2027 at
        // 01:00 GMT.
        assert!(
            text.contains("BEGIN:STANDARD\r\nDTSTART:20261025T020000\r\n"),
            "{text}"
        );
        assert!(
            text.contains("BEGIN:DAYLIGHT\r\nDTSTART:20270328T010000\r\n"),
            "{text}"
        );
        assert!(
            text.contains("TZOFFSETFROM:+0000\r\nTZOFFSETTO:+0100\r\nTZNAME:BST"),
            "{text}"
        );
        assert!(
            text.starts_with("BEGIN:VTIMEZONE\r\nTZID:Europe/London\r\n"),
            "{text}"
        );
        assert!(!text.contains("UID") && !text.contains("DTSTAMP"), "{text}");
    }
}
