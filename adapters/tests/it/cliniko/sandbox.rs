//! The client against the Cliniko sandbox: what a clinic's data looks like through ClinicGate.

use std::collections::HashSet;

use chrono::{Datelike as _, Days, Utc};
use chrono_tz::Tz;
use clinicgate_cliniko_sandbox::{Sandbox, SandboxConfig};
use clinicgate_core::cliniko::{
    AppointmentPatch, AppointmentTypeScope, AvailabilityQuery, Bookable, Business, Cancellation,
    CancellationReason, ClinikoAccount, ClinikoClient, ClinikoId, Direction, Filter, FilterOp,
    Lane, ListQuery, NewAppointment, PatientFields, PhoneNumber, PractitionerScope,
};
use clinicgate_core::{Error, UpstreamFailure};

use super::{account, admin_key, client, config, instances, start_sandbox};

const LANE: Lane = Lane::Interactive;

struct World {
    sandbox: Sandbox,
    client: clinicgate_adapters::cliniko::HttpClinikoClient,
    _instances: super::Instances,
}

async fn world() -> World {
    let sandbox = start_sandbox(SandboxConfig::default());
    let instances = instances(1).await;
    let client = client(config(&sandbox.base_url()), &instances.states[0]);
    World {
        sandbox,
        client,
        _instances: instances,
    }
}

impl World {
    fn clinic(&self, shard: &str) -> ClinikoAccount {
        account(&admin_key(&self.sandbox, shard).key)
    }

    fn accepted(&self, shard: &str) -> u64 {
        let name = admin_key(&self.sandbox, shard).account;
        self.sandbox.stats().get(&name).map_or(0, |s| s.accepted)
    }

    /// A business with a practitioner who works there and an appointment type they offer.
    async fn bookable_at(&self, clinic: &ClinikoAccount, zone: &str) -> (Business, Bookable) {
        let businesses = self.client.businesses(clinic, LANE).await.unwrap();
        let business = businesses
            .into_iter()
            .find(|b| b.iana_time_zone() == Some(zone))
            .unwrap_or_else(|| panic!("no business in {zone}"));
        let practitioners = self
            .client
            .practitioners(
                clinic,
                LANE,
                &PractitionerScope::AtBusiness(business.id.clone()),
            )
            .await
            .unwrap();
        let practitioner = practitioners.last().unwrap().clone();
        let types = self
            .client
            .appointment_types(
                clinic,
                LANE,
                &AppointmentTypeScope::OfferedBy(practitioner.id.clone()),
            )
            .await
            .unwrap();
        let standard = types
            .iter()
            .find(|t| t.duration_in_minutes == Some(30))
            .unwrap()
            .clone();
        let bookable = Bookable {
            business_id: business.id.clone(),
            practitioner_id: practitioner.id,
            appointment_type_id: standard.id,
        };
        (business, bookable)
    }
}

#[tokio::test]
async fn the_current_user_is_read_with_the_key_and_a_wrong_key_or_shard_is_unauthorized() {
    let world = world().await;
    let user = world
        .client
        .current_user(&world.clinic("uk1"), LANE)
        .await
        .unwrap();
    assert_eq!(user.role.as_deref(), Some("administrator"));
    assert_eq!(user.active, Some(true));
    assert!(user.id.as_str().parse::<u64>().unwrap() > 1 << 53);

    let err = world
        .client
        .current_user(&account("MS0notarealkeyatall-au1"), LANE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Upstream {
                failure: UpstreamFailure::Unauthorized,
                ..
            }
        ),
        "{err:?}"
    );

    // A valid key sent to another shard's host is refused like Cliniko does: 401, no hint.
    let pinned = config(&world.sandbox.base_url().replace("{shard}", "au1"));
    let pinned = client(pinned, &world._instances.states[0]);
    let err = pinned
        .current_user(&world.clinic("uk1"), LANE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Upstream {
                failure: UpstreamFailure::Unauthorized,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn every_page_of_a_long_list_is_followed_to_the_last_one_hundred_at_a_time() {
    let world = world().await;
    let clinic = world.clinic("au1");
    let before = world.accepted("au1");
    let patients = world
        .client
        .patients(&clinic, LANE, &ListQuery::new())
        .await
        .unwrap();
    // 300 patients, every thirtieth archived (hidden by default).
    assert_eq!(patients.len(), 290);
    let ids: HashSet<_> = patients.iter().map(|p| p.id.clone()).collect();
    assert_eq!(ids.len(), 290, "no patient twice");
    assert!(patients.iter().all(|p| p.archived_at.is_none()));
    assert_eq!(world.accepted("au1") - before, 3, "three pages of 100");

    let before = world.accepted("au1");
    let first = world
        .client
        .patients(&clinic, LANE, &ListQuery::new().limit(150))
        .await
        .unwrap();
    assert_eq!(first.len(), 150);
    assert_eq!(world.accepted("au1") - before, 2, "only the pages needed");
}

#[tokio::test]
async fn typed_filters_and_sorting_select_the_same_patients_cliniko_would() {
    let world = world().await;
    let clinic = world.clinic("au1");
    let everyone = world
        .client
        .patients(&clinic, LANE, &ListQuery::new())
        .await
        .unwrap();

    // A name with an apostrophe and one with a space survive encoding.
    for surname in ["O'Brien", "Te Rangi"] {
        let expected = everyone
            .iter()
            .filter(|p| p.last_name.as_deref() == Some(surname))
            .count();
        let found = world
            .client
            .patients(
                &clinic,
                LANE,
                &ListQuery::new().filter(Filter::eq("last_name", surname)),
            )
            .await
            .unwrap();
        assert_eq!(found.len(), expected, "{surname}");
        assert!(expected > 0, "the sandbox has patients called {surname}");
    }

    // `~~` with `%`, which must reach Cliniko as %25.
    let like = world
        .client
        .patients(
            &clinic,
            LANE,
            &ListQuery::new().filter(Filter::new("last_name", FilterOp::Like, "Wa%")),
        )
        .await
        .unwrap();
    let expected = everyone
        .iter()
        .filter(|p| {
            p.last_name
                .as_deref()
                .is_some_and(|n| n.to_lowercase().starts_with("wa"))
        })
        .count();
    assert_eq!(like.len(), expected);
    assert!(expected > 0);

    // A date range, newest date of birth first.
    let from = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let to = chrono::NaiveDate::from_ymd_opt(1979, 12, 31).unwrap();
    let seventies = world
        .client
        .patients(
            &clinic,
            LANE,
            &ListQuery::new()
                .filter(Filter::new("date_of_birth", FilterOp::Ge, &from))
                .filter(Filter::new("date_of_birth", FilterOp::Le, &to))
                .sort_by("date_of_birth", Direction::Desc),
        )
        .await
        .unwrap();
    let expected = everyone
        .iter()
        .filter(|p| p.date_of_birth.is_some_and(|d| d >= from && d <= to))
        .count();
    assert_eq!(seventies.len(), expected);
    let dates: Vec<_> = seventies.iter().map(|p| p.date_of_birth.unwrap()).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "sorted descending");

    // Archived patients are included when asked for with `*`.
    let with_archived = world
        .client
        .patients(
            &clinic,
            LANE,
            &ListQuery::new().filter(Filter::any("archived_at")),
        )
        .await
        .unwrap();
    assert_eq!(with_archived.len(), 300);
}

#[tokio::test]
async fn a_patient_is_created_read_updated_and_archived() {
    let world = world().await;
    let clinic = world.clinic("ca1");
    let created = world
        .client
        .create_patient(
            &clinic,
            LANE,
            &PatientFields {
                first_name: Some("Aurora".into()),
                last_name: Some("Borealis".into()),
                date_of_birth: chrono::NaiveDate::from_ymd_opt(1991, 2, 3),
                phone_numbers: Some(vec![PhoneNumber {
                    phone_type: Some("Mobile".into()),
                    number: Some("14165550199".into()),
                }]),
                old_reference_id: Some("PARTNER-77".into()),
                ..PatientFields::default()
            },
        )
        .await
        .unwrap();
    assert!(created.id.as_str().parse::<u64>().unwrap() > 1 << 53);
    let read = world
        .client
        .patient(&clinic, LANE, &created.id)
        .await
        .unwrap();
    assert_eq!(read.name(), "Aurora Borealis");
    assert_eq!(read.phones()[0].number.as_deref(), Some("14165550199"));

    let updated = world
        .client
        .update_patient(
            &clinic,
            LANE,
            &created.id,
            &PatientFields {
                email: Some("aurora@sky.example".into()),
                ..PatientFields::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.email.as_deref(), Some("aurora@sky.example"));
    assert_eq!(
        updated.last_name.as_deref(),
        Some("Borealis"),
        "a patch leaves other fields alone"
    );

    let by_reference = ListQuery::new().filter(Filter::eq("old_reference_id", "PARTNER-77"));
    assert_eq!(
        world
            .client
            .patients(&clinic, LANE, &by_reference)
            .await
            .unwrap()
            .len(),
        1
    );
    world
        .client
        .archive_patient(&clinic, LANE, &created.id)
        .await
        .unwrap();
    assert!(
        world
            .client
            .patients(&clinic, LANE, &by_reference)
            .await
            .unwrap()
            .is_empty()
    );
    let archived = world
        .client
        .patient(&clinic, LANE, &created.id)
        .await
        .unwrap();
    assert!(archived.archived_at.is_some());
}

#[tokio::test]
async fn clinikos_validation_messages_come_back_field_by_field() {
    let world = world().await;
    let err = world
        .client
        .create_patient(
            &world.clinic("au1"),
            LANE,
            &PatientFields {
                first_name: Some("Solo".into()),
                email: Some("not-an-email".into()),
                ..PatientFields::default()
            },
        )
        .await
        .unwrap_err();
    let Error::Validation(fields) = err else {
        panic!("expected validation, got {err:?}")
    };
    let messages: Vec<_> = fields
        .iter()
        .map(|f| (f.field.as_str(), f.message.as_str()))
        .collect();
    assert!(
        messages.contains(&("last_name", "can\u{2019}t be blank")),
        "{messages:?}"
    );
    assert!(messages.contains(&("email", "is invalid")), "{messages:?}");
}

#[tokio::test]
async fn an_appointment_is_booked_checked_for_conflicts_moved_and_cancelled() {
    let world = world().await;
    let clinic = world.clinic("uk1");
    let (business, bookable) = world.bookable_at(&clinic, "Europe/London").await;
    let zone: Tz = business.iana_time_zone().unwrap().parse().unwrap();
    let today = Utc::now().with_timezone(&zone).date_naive();
    let free = world
        .client
        .available_times(
            &clinic,
            LANE,
            &AvailabilityQuery {
                bookable: bookable.clone(),
                from: today,
                to: today + Days::new(13),
            },
        )
        .await
        .unwrap();
    let slot = free[free.len() / 2].appointment_start;
    let patient = world
        .client
        .patients(&clinic, LANE, &ListQuery::new().limit(1))
        .await
        .unwrap()
        .remove(0);
    let new = NewAppointment {
        starts_at: slot,
        ends_at: None,
        patient_id: patient.id.clone(),
        practitioner_id: bookable.practitioner_id.clone(),
        appointment_type_id: bookable.appointment_type_id.clone(),
        business_id: bookable.business_id.clone(),
        notes: Some("booked by a test".into()),
    };
    let booked = world
        .client
        .create_appointment(&clinic, LANE, &new)
        .await
        .unwrap();
    assert_eq!(booked.starts_at, slot);
    assert_eq!(
        booked.ends_at,
        Some(slot + chrono::Duration::minutes(30)),
        "the type's duration"
    );
    assert_eq!(booked.patient_id.as_ref(), Some(&patient.id));
    assert!(
        !world
            .client
            .appointment_conflicts(&clinic, LANE, &booked.id)
            .await
            .unwrap()
    );

    // Cliniko books the same slot twice; only the conflicts check tells.
    let double = world
        .client
        .create_appointment(&clinic, LANE, &new)
        .await
        .unwrap();
    assert!(
        world
            .client
            .appointment_conflicts(&clinic, LANE, &double.id)
            .await
            .unwrap()
    );
    let after = world
        .client
        .available_times(
            &clinic,
            LANE,
            &AvailabilityQuery {
                bookable: bookable.clone(),
                from: today,
                to: today + Days::new(13),
            },
        )
        .await
        .unwrap();
    assert!(
        !after.iter().any(|t| t.appointment_start == slot),
        "a booked slot is no longer free"
    );

    let moved = world
        .client
        .update_appointment(
            &clinic,
            LANE,
            &double.id,
            &AppointmentPatch {
                starts_at: Some(slot + chrono::Duration::days(1)),
                ..AppointmentPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.starts_at, slot + chrono::Duration::days(1));
    assert_eq!(
        moved.ends_at,
        Some(slot + chrono::Duration::days(1) + chrono::Duration::minutes(30))
    );

    world
        .client
        .cancel_appointment(
            &clinic,
            LANE,
            &booked.id,
            &Cancellation {
                reason: CancellationReason::Sick,
                note: Some("flu".into()),
            },
        )
        .await
        .unwrap();
    let cancelled = world
        .client
        .appointment(&clinic, LANE, &booked.id)
        .await
        .unwrap();
    assert!(cancelled.cancelled_at.is_some());
    assert_eq!(cancelled.cancellation_reason, Some(30));
    let of_patient = ListQuery::new().filter(Filter::eq("patient_id", &patient.id));
    let visible = world
        .client
        .appointments(&clinic, LANE, &of_patient)
        .await
        .unwrap();
    assert!(
        !visible.iter().any(|a| a.id == booked.id),
        "cancelled appointments are hidden by default"
    );
    let all = world
        .client
        .appointments(
            &clinic,
            LANE,
            &of_patient.filter(Filter::any("cancelled_at")),
        )
        .await
        .unwrap();
    assert!(all.iter().any(|a| a.id == booked.id));

    let again = world
        .client
        .cancel_appointment(
            &clinic,
            LANE,
            &booked.id,
            &Cancellation {
                reason: CancellationReason::Other,
                note: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(again, Error::Validation(_)), "{again:?}");
}

#[tokio::test]
async fn three_weeks_of_free_times_are_stitched_from_seven_day_windows_in_each_business_zone() {
    let world = world().await;
    // Sydney and Vancouver working hours straddle midnight UTC; Perth's do not.
    for (shard, zone_name, straddles_utc_midnight) in [
        ("au1", "Australia/Sydney", true),
        ("au1", "Australia/Perth", false),
        ("ca1", "America/Vancouver", true),
    ] {
        let clinic = world.clinic(shard);
        let (_, bookable) = world.bookable_at(&clinic, zone_name).await;
        let zone: Tz = zone_name.parse().unwrap();
        let today = Utc::now().with_timezone(&zone).date_naive();
        // Starting in the past: those days are skipped instead of failing the whole range.
        let from = today - Days::new(3);
        let to = today + Days::new(20);
        let before = world.accepted(shard);
        let times = world
            .client
            .available_times(
                &clinic,
                LANE,
                &AvailabilityQuery {
                    bookable: bookable.clone(),
                    from,
                    to,
                },
            )
            .await
            .unwrap();
        let calls = world.accepted(shard) - before;
        // Three windows (today..+6, +7..+13, +14..+20), each one or two pages of 100, plus the
        // (cached after the first) business list.
        assert!((3..=8).contains(&calls), "{zone_name}: {calls} calls");

        assert!(
            times
                .windows(2)
                .all(|w| w[0].appointment_start < w[1].appointment_start),
            "{zone_name}: ordered, no duplicates"
        );
        let local_days: HashSet<_> = times
            .iter()
            .map(|t| t.appointment_start.with_timezone(&zone).date_naive())
            .collect();
        assert!(
            local_days.iter().all(|d| *d >= today && *d <= to),
            "{zone_name}: inside the range, business-local"
        );
        for window_start in [today, today + Days::new(7), today + Days::new(14)] {
            let window_end = window_start + Days::new(6);
            assert!(
                local_days
                    .iter()
                    .any(|d| *d >= window_start && *d <= window_end),
                "{zone_name}: every window contributes"
            );
        }
        // Every free time starts within working hours on the business's clock, which in these
        // zones differs from the UTC date for some of them.
        assert!(times.iter().all(|t| {
            let local = t.appointment_start.with_timezone(&zone);
            (9..17).contains(&chrono::Timelike::hour(&local))
                && local.weekday().number_from_monday() <= 6
        }));
        assert_eq!(
            times.iter().any(|t| t.appointment_start.date_naive()
                != t.appointment_start.with_timezone(&zone).date_naive()),
            straddles_utc_midnight,
            "{zone_name}: local days differ from UTC days exactly where the zone makes them"
        );
    }
}

#[tokio::test]
async fn the_next_free_time_is_in_the_future_and_an_unknown_practitioner_is_not_found() {
    let world = world().await;
    let clinic = world.clinic("au1");
    let (_, bookable) = world.bookable_at(&clinic, "Australia/Sydney").await;
    let next = world
        .client
        .next_available_time(&clinic, LANE, &bookable)
        .await
        .unwrap()
        .unwrap();
    assert!(next.appointment_start > Utc::now());

    let unknown = Bookable {
        practitioner_id: ClinikoId::parse("12345").unwrap(),
        ..bookable
    };
    let err = world
        .client
        .next_available_time(&clinic, LANE, &unknown)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = world
        .client
        .patient(&clinic, LANE, &ClinikoId::parse("12345").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                resource: "patient"
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn reference_data_settings_and_alerts_read_as_typed_records() {
    let world = world().await;
    let clinic = world.clinic("au1");
    let businesses = world.client.businesses(&clinic, LANE).await.unwrap();
    let zones: HashSet<_> = businesses
        .iter()
        .filter_map(Business::iana_time_zone)
        .collect();
    assert_eq!(
        zones,
        HashSet::from(["Australia/Sydney", "Australia/Perth"])
    );

    let practitioners = world
        .client
        .practitioners(&clinic, LANE, &PractitionerScope::All)
        .await
        .unwrap();
    assert_eq!(
        practitioners.len(),
        4,
        "inactive practitioners are not listed"
    );
    assert!(
        practitioners
            .iter()
            .all(|p| p.active == Some(true) && p.user_id.is_some())
    );
    let perth = businesses
        .iter()
        .find(|b| b.iana_time_zone() == Some("Australia/Perth"))
        .unwrap();
    let at_perth = world
        .client
        .practitioners(
            &clinic,
            LANE,
            &PractitionerScope::AtBusiness(perth.id.clone()),
        )
        .await
        .unwrap();
    assert_eq!(at_perth.len(), 2);
    let telehealth = world
        .client
        .appointment_types(&clinic, LANE, &AppointmentTypeScope::All)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.telehealth_enabled == Some(true))
        .unwrap();
    let offering = world
        .client
        .practitioners(
            &clinic,
            LANE,
            &PractitionerScope::OfferingType(telehealth.id.clone()),
        )
        .await
        .unwrap();
    assert_eq!(offering.len(), 1);
    assert_eq!(
        world
            .client
            .appointment_type(&clinic, LANE, &telehealth.id)
            .await
            .unwrap(),
        telehealth
    );

    let settings = world.client.settings(&clinic, LANE).await.unwrap();
    assert_eq!(settings.account.time_zone.as_deref(), Some("Sydney"));
    assert_eq!(settings.account.iana_time_zone(), Some("Australia/Sydney"));

    let patients = world
        .client
        .patients(&clinic, LANE, &ListQuery::new())
        .await
        .unwrap();
    let mut with_alerts = 0;
    for patient in patients.iter().take(40) {
        let alerts = world
            .client
            .medical_alerts(&clinic, LANE, &patient.id)
            .await
            .unwrap();
        assert!(
            alerts
                .iter()
                .all(|a| a.patient_id.as_ref() == Some(&patient.id) && a.name.is_some())
        );
        with_alerts += usize::from(!alerts.is_empty());
    }
    assert!(with_alerts > 0, "some patients have alerts");
}

#[tokio::test]
async fn a_key_whose_role_may_not_see_settings_is_forbidden() {
    let world = world().await;
    let receptionist = world
        .sandbox
        .keys()
        .iter()
        .find(|k| k.shard == "au1" && k.role == "receptionist")
        .unwrap()
        .key
        .clone();
    let err = world
        .client
        .settings(&account(&receptionist), LANE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Upstream {
                failure: UpstreamFailure::Forbidden,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_sandbox_enforces_clinikos_rules_for_any_client() {
    let sandbox = start_sandbox(SandboxConfig {
        rate_limit: 4,
        ..SandboxConfig::default()
    });
    let key = admin_key(&sandbox, "au1").key;
    let base = sandbox.base_url().replace("{shard}", "au1");
    let http = reqwest::Client::new();
    let get = |path: &str, user_agent: Option<&str>| {
        let mut request = http.get(format!("{base}{path}")).basic_auth(&key, Some(""));
        if let Some(agent) = user_agent {
            request = request.header("user-agent", agent);
        }
        request.send()
    };
    let agent = Some(super::USER_AGENT);

    let no_agent = get("/user", None).await.unwrap();
    assert_eq!(no_agent.status(), 403);

    let business: serde_json::Value = get("/businesses", agent)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &business["businesses"][0];
    assert!(first["id"].is_string(), "ids are strings");
    assert!(
        first["links"]["self"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "links are absolute"
    );
    let b = first["id"].as_str().unwrap();
    let practitioners: serde_json::Value = get(&format!("/businesses/{b}/practitioners"), agent)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let p = practitioners["practitioners"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let today = Utc::now()
        .with_timezone(
            &first["time_zone_identifier"]
                .as_str()
                .unwrap()
                .parse::<Tz>()
                .unwrap(),
        )
        .date_naive();
    let types: serde_json::Value = get(&format!("/practitioners/{p}/appointment_types"), agent)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = types["appointment_types"][0]["id"].as_str().unwrap();
    let eight_days = format!(
        "/businesses/{b}/practitioners/{p}/appointment_types/{t}/available_times?from={today}&to={}",
        today + Days::new(7)
    );
    let too_long = get(&eight_days, agent).await.unwrap();
    assert_eq!(too_long.status(), 400);
    let body: serde_json::Value = too_long.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid time frame definition")
    );

    // Four calls were accepted in this minute (the 403 was not); the next is refused.
    let limited = get("/user", agent).await.unwrap();
    assert_eq!(limited.status(), 429);
    let reset: u64 = limited.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(reset > now && reset <= now + 61, "{reset} vs {now}");
}
