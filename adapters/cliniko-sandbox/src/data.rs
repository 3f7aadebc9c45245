//! The sandbox's accounts, generated from a seed: three clinics on three shards, each with two
//! businesses in different IANA time zones, practitioners with weekly hours (served as Cliniko's
//! daily availabilities), appointment types, a few hundred patients with phones and medical
//! alerts, and appointments from two weeks before to two weeks after today. The same seed on the
//! same day gives the same data. More, small, accounts can be generated on demand
//! ([`generate_small`]) for scale tests: the same shapes with a few patients and appointments.

use std::collections::{HashMap, HashSet};

use chrono::{
    DateTime, Datelike as _, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeZone as _, Utc,
};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::records::{Record, Ref};
use crate::rng::Rng;

/// Patients per account.
pub(crate) const PATIENTS_PER_ACCOUNT: usize = 300;

/// Days of generated appointments on each side of today.
const APPOINTMENT_DAYS_AROUND_TODAY: u64 = 14;

/// How much data an account gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Size {
    /// Patients.
    patients: usize,
    /// Days of appointments on each side of today.
    appointment_days: u64,
}

/// The three demo accounts.
const FULL: Size = Size {
    patients: PATIENTS_PER_ACCOUNT,
    appointment_days: APPOINTMENT_DAYS_AROUND_TODAY,
};

/// Accounts generated on demand for scale tests: a day of appointments on each side of today.
const SMALL: Size = Size {
    patients: 12,
    appointment_days: 1,
};

/// The most accounts a sandbox holds: generated ids stay below `i64::MAX`.
pub(crate) const MAX_ACCOUNTS: usize = 5000;

/// One of the sandbox's API keys.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SandboxKey {
    /// The key, with its shard suffix, as a clinic would paste it.
    pub key: String,
    /// The shard it belongs to.
    pub shard: String,
    /// The account (clinic) it opens.
    pub account: String,
    /// The role of the key's user: `administrator` may do everything; `receptionist` is refused
    /// (403) on `/settings`, as Cliniko refuses roles that may not see a resource.
    pub role: String,
}

/// A practitioner's hours at one business on one weekday (ISO 1 = Monday), business-local.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shift {
    pub weekday: u32,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// One Cliniko account.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub name: String,
    pub keys: Vec<SandboxKey>,
    /// Users by role (`administrator`, `receptionist`).
    pub users: HashMap<String, Record>,
    pub settings: Value,
    pub businesses: Vec<Record>,
    pub practitioners: Vec<Record>,
    pub appointment_types: Vec<Record>,
    pub patients: Vec<Record>,
    pub medical_alerts: Vec<Record>,
    pub appointments: Vec<Record>,
    /// One record per practitioner, business and weekday with hours (Cliniko's
    /// `daily_availabilities`); `hours` is kept in step with them.
    pub daily_availabilities: Vec<Record>,
    /// (practitioner, business) pairs.
    pub works_at: HashSet<(i64, i64)>,
    /// (practitioner, appointment type) pairs.
    pub offers: HashSet<(i64, i64)>,
    /// (practitioner, business) → weekly hours.
    pub hours: HashMap<(i64, i64), Vec<Shift>>,
    /// business → time zone.
    pub zones: HashMap<i64, Tz>,
    next_id: i64,
}

impl Account {
    /// A fresh id, above 2^53 like Cliniko's.
    pub(crate) fn new_id(&mut self) -> i64 {
        self.next_id += 7919;
        self.next_id
    }

    /// The appointment type's duration in minutes.
    pub(crate) fn duration_of(&self, appointment_type: i64) -> Option<i64> {
        self.appointment_types
            .iter()
            .find(|t| t.id == appointment_type)
            .and_then(|t| t.fields.get("duration_in_minutes"))
            .and_then(Value::as_i64)
    }
}

struct Blueprint {
    name: &'static str,
    shard: &'static str,
    subdomain: &'static str,
    country: &'static str,
    country_code: &'static str,
    time_zone: &'static str,
    currency: &'static str,
    phone_prefix: &'static str,
    phone_digits: u32,
    businesses: [Site; 2],
}

struct Site {
    name: &'static str,
    street: &'static str,
    city: &'static str,
    state: &'static str,
    post_code: &'static str,
    label: &'static str,
    zone: Tz,
}

const BLUEPRINTS: [Blueprint; 3] = [
    Blueprint {
        name: "Harbour Physio & Allied Health",
        shard: "au1",
        subdomain: "harbourphysio",
        country: "Australia",
        country_code: "AU",
        time_zone: "Sydney",
        currency: "$",
        phone_prefix: "614",
        phone_digits: 8,
        businesses: [
            Site {
                name: "Harbour Physio Sydney CBD",
                street: "George Street",
                city: "Sydney",
                state: "NSW",
                post_code: "2000",
                label: "Sydney",
                zone: chrono_tz::Australia::Sydney,
            },
            Site {
                name: "Harbour Physio Perth",
                street: "Hay Street",
                city: "Perth",
                state: "WA",
                post_code: "6000",
                label: "Perth",
                zone: chrono_tz::Australia::Perth,
            },
        ],
    },
    Blueprint {
        name: "Thames Wellbeing Clinic",
        shard: "uk1",
        subdomain: "thameswellbeing",
        country: "United Kingdom",
        country_code: "GB",
        time_zone: "London",
        currency: "£",
        phone_prefix: "447",
        phone_digits: 9,
        businesses: [
            Site {
                name: "Thames Wellbeing London Bridge",
                street: "Tooley Street",
                city: "London",
                state: "Greater London",
                post_code: "SE1 2TF",
                label: "London",
                zone: chrono_tz::Europe::London,
            },
            Site {
                name: "Thames Wellbeing Dublin",
                street: "Grafton Street",
                city: "Dublin",
                state: "Leinster",
                post_code: "D02 VF65",
                label: "Dublin",
                zone: chrono_tz::Europe::Dublin,
            },
        ],
    },
    Blueprint {
        name: "Maple Leaf Chiropractic",
        shard: "ca1",
        subdomain: "mapleleafchiro",
        country: "Canada",
        country_code: "CA",
        time_zone: "Eastern Time (US & Canada)",
        currency: "$",
        phone_prefix: "1416",
        phone_digits: 7,
        businesses: [
            Site {
                name: "Maple Leaf Chiropractic Toronto",
                street: "Queen Street West",
                city: "Toronto",
                state: "ON",
                post_code: "M5H 2N2",
                label: "Eastern Time (US & Canada)",
                zone: chrono_tz::America::Toronto,
            },
            Site {
                name: "Maple Leaf Chiropractic Vancouver",
                street: "Granville Street",
                city: "Vancouver",
                state: "BC",
                post_code: "V6C 1T2",
                label: "Pacific Time (US & Canada)",
                zone: chrono_tz::America::Vancouver,
            },
        ],
    },
];

const FIRST_NAMES: &[&str] = &[
    "Olivia",
    "Liam",
    "Charlotte",
    "Noah",
    "Amelia",
    "Oliver",
    "Isla",
    "Jack",
    "Mia",
    "William",
    "Ava",
    "Leo",
    "Grace",
    "Lucas",
    "Chloe",
    "Henry",
    "Sophie",
    "Thomas",
    "Zoe",
    "James",
    "Ella",
    "Ethan",
    "Ruby",
    "Samuel",
    "Harper",
    "Aarav",
    "Mei",
    "Priya",
    "Mateo",
    "Aroha",
    "Siobhan",
    "Kwame",
    "Yuki",
    "Fatima",
    "Nikolai",
    "Ngaio",
    "Dmitri",
    "Ananya",
    "Tane",
    "Beatriz",
];
const LAST_NAMES: &[&str] = &[
    "Smith",
    "Jones",
    "Williams",
    "Brown",
    "Wilson",
    "Taylor",
    "Nguyen",
    "Johnson",
    "Martin",
    "White",
    "Anderson",
    "Thompson",
    "Walker",
    "Harris",
    "Lee",
    "Ryan",
    "Robinson",
    "Kelly",
    "King",
    "Davies",
    "O'Brien",
    "Murphy",
    "Patel",
    "Singh",
    "Chen",
    "Wang",
    "Tremblay",
    "Roy",
    "Gagnon",
    "MacDonald",
    "Campbell",
    "Evans",
    "Hughes",
    "Kaur",
    "Ahmed",
    "Kowalski",
    "Rossi",
    "Garcia",
    "Okafor",
    "Te Rangi",
];
const PRACTITIONERS: &[(&str, &str, &str, &str)] = &[
    ("Dr", "Eleanor", "Vance", "Physiotherapist"),
    ("", "Marcus", "Oyelaran", "Osteopath"),
    ("Dr", "Hannah", "Lindqvist", "Chiropractor"),
    ("", "Rafael", "Moreno", "Exercise Physiologist"),
    ("", "Grace", "Whitfield", "Massage Therapist"),
];
const ALERTS: &[&str] = &[
    "Penicillin allergy",
    "Latex allergy",
    "Asthma",
    "Type 2 diabetes",
    "Pacemaker fitted",
    "On anticoagulants (warfarin)",
    "Epilepsy",
    "Hypertension",
    "Pregnant",
    "Peanut allergy",
    "Osteoporosis",
    "Recent hip replacement",
];
const STREETS: &[&str] = &[
    "Acacia Avenue",
    "Victoria Road",
    "Church Street",
    "Park Lane",
    "High Street",
    "Station Road",
    "Elm Grove",
    "Harbour View",
    "Maple Drive",
    "Riverside Walk",
];

/// Appointment types: name, minutes, online bookable, telehealth, archived.
const TYPES: &[(&str, i64, bool, bool, bool)] = &[
    ("Initial Consultation", 60, true, false, false),
    ("Standard Consultation", 30, true, false, false),
    ("Extended Consultation", 45, true, false, false),
    ("Telehealth Review", 20, true, true, false),
    ("Group Pilates (retired)", 50, false, false, true),
];

/// Every account, generated for `seed` around `today` (UTC date) at `now`.
pub(crate) fn generate(seed: u64, now: DateTime<Utc>) -> Vec<Account> {
    BLUEPRINTS
        .iter()
        .zip(0_i64..)
        .map(|(blueprint, index)| {
            let mut rng = Rng::new(seed ^ (0xC11_u64 << 32) ^ u64::try_from(index).unwrap_or(0));
            Generator::new(blueprint, index, &mut rng, now, FULL).build()
        })
        .collect()
}

/// `count` small accounts numbered from `first` (the number of accounts already held), on the
/// three shards in turn, each named after its blueprint and number so names and keys are unique.
pub(crate) fn generate_small(
    seed: u64,
    now: DateTime<Utc>,
    first: usize,
    count: usize,
) -> Vec<Account> {
    (first..first + count)
        .map(|index| {
            let blueprint = &BLUEPRINTS[index % BLUEPRINTS.len()];
            let number = i64::try_from(index).unwrap_or(i64::MAX);
            let mut rng = Rng::new(seed ^ (0x5A11_u64 << 32) ^ u64::try_from(index).unwrap_or(0));
            let mut generator = Generator::new(blueprint, number, &mut rng, now, SMALL);
            generator.account.name = format!("{} #{index}", blueprint.name);
            generator.build()
        })
        .collect()
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

/// A business-local date and time in UTC (the earlier instant when clocks go back; `None` in a
/// spring-forward gap).
pub(crate) fn local_to_utc(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    zone.from_local_datetime(&local)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
}

struct Generator<'a> {
    blueprint: &'a Blueprint,
    rng: &'a mut Rng,
    now: DateTime<Utc>,
    size: Size,
    account: Account,
}

impl<'a> Generator<'a> {
    fn new(
        blueprint: &'a Blueprint,
        index: i64,
        rng: &'a mut Rng,
        now: DateTime<Utc>,
        size: Size,
    ) -> Self {
        let account = Account {
            name: blueprint.name.to_owned(),
            keys: Vec::new(),
            users: HashMap::new(),
            settings: Value::Null,
            businesses: Vec::new(),
            practitioners: Vec::new(),
            appointment_types: Vec::new(),
            patients: Vec::new(),
            medical_alerts: Vec::new(),
            appointments: Vec::new(),
            daily_availabilities: Vec::new(),
            works_at: HashSet::new(),
            offers: HashSet::new(),
            hours: HashMap::new(),
            zones: HashMap::new(),
            // Ids like Cliniko's recent ones: 18 digits, far above 2^53.
            next_id: 836_447_129_235_000_000 + index * 1_000_000_000_000_000,
        };
        Self {
            blueprint,
            rng,
            now,
            size,
            account,
        }
    }

    fn build(mut self) -> Account {
        self.keys_and_users();
        self.settings();
        let types = self.appointment_types();
        let businesses = self.businesses(&types);
        let practitioners = self.practitioners(&types, &businesses);
        self.daily_availabilities();
        self.patients();
        self.appointments(&practitioners, &businesses);
        self.account
    }

    /// Cliniko's daily availabilities: one record per practitioner, business and weekday, with
    /// that day's hours as business-local `HH:MM` pairs.
    fn daily_availabilities(&mut self) {
        let mut hours: Vec<((i64, i64), Vec<Shift>)> = self
            .account
            .hours
            .iter()
            .map(|(pair, shifts)| (*pair, shifts.clone()))
            .collect();
        hours.sort_unstable_by_key(|(pair, _)| *pair);
        for ((practitioner, business), shifts) in hours {
            let mut weekdays: Vec<u32> = shifts.iter().map(|s| s.weekday).collect();
            weekdays.sort_unstable();
            weekdays.dedup();
            for weekday in weekdays {
                let id = self.account.new_id();
                let created = self.days_ago(300);
                let record = crate::availabilities::record(
                    id,
                    (practitioner, business),
                    weekday,
                    shifts.iter().filter(|s| s.weekday == weekday),
                    &created,
                );
                self.account.daily_availabilities.push(record);
            }
        }
    }

    fn days_ago(&mut self, max_days: u64) -> String {
        let seconds = self.rng.below(max_days * 86_400) + 3600;
        timestamp(self.now - chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(3600)))
    }

    fn key(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let body: String = (0..40)
            .map(|_| char::from(*self.rng.pick(ALPHABET).unwrap_or(&b'A')))
            .collect();
        format!("MS0{body}-{}", self.blueprint.shard)
    }

    fn keys_and_users(&mut self) {
        for (role, first, last) in [
            ("administrator", "Alex", "Owner"),
            ("receptionist", "Sam", "Frontdesk"),
        ] {
            let id = self.account.new_id();
            let created = self.days_ago(900);
            let user = Record::new(
                id,
                json!({
                    "title": "", "first_name": first, "last_name": last,
                    "email": format!("{}.{}@{}.example", first.to_lowercase(), last.to_lowercase(), self.blueprint.subdomain),
                    "role": role, "time_zone": self.blueprint.time_zone, "user_active": true,
                    "created_at": created, "updated_at": created,
                }),
                Vec::new(),
            );
            self.account.users.insert(role.to_owned(), user);
            let key = self.key();
            self.account.keys.push(SandboxKey {
                key,
                shard: self.blueprint.shard.to_owned(),
                account: self.blueprint.name.to_owned(),
                role: role.to_owned(),
            });
        }
    }

    fn settings(&mut self) {
        let id = self.account.new_id();
        self.account.settings = json!({
            "account": {
                "id": id.to_string(), "name": self.blueprint.name, "country": self.blueprint.country,
                "time_zone": self.blueprint.time_zone, "currency_symbol": self.blueprint.currency,
                "subdomain": self.blueprint.subdomain,
            },
            "calendar": {"timeslot_size_in_minutes": 15, "start_hour": 7, "end_hour": 19},
            "online_bookings": {"max_appointments_per_day_segment": null, "min_hours_advance_required_to_book": 0, "max_days_in_advance": 84},
            "terminology": {"patient": "Patient", "practitioner": "Practitioner"},
        });
    }

    fn appointment_types(&mut self) -> Vec<i64> {
        let mut ids = Vec::new();
        for (name, minutes, online, telehealth, archived) in TYPES {
            let id = self.account.new_id();
            let created = self.days_ago(1200);
            let archived_at = archived.then(|| self.days_ago(100));
            self.account.appointment_types.push(Record::new(
                id,
                json!({
                    "name": name, "category": if *telehealth { "Telehealth" } else { "Clinic" },
                    "color": "#2b7de9", "description": format!("{name} ({minutes} minutes)"),
                    "duration_in_minutes": minutes, "max_attendees": 1,
                    "show_in_online_bookings": online, "telehealth_enabled": telehealth,
                    "online_bookings_lead_time_hours": 0, "online_payments_enabled": false,
                    "deposit_price": null, "archived_at": archived_at,
                    "created_at": created, "updated_at": created,
                }),
                Vec::new(),
            ));
            if !archived {
                ids.push(id);
            }
        }
        ids
    }

    fn businesses(&mut self, types: &[i64]) -> Vec<i64> {
        let mut ids = Vec::new();
        for site in &self.blueprint.businesses {
            let id = self.account.new_id();
            let created = self.days_ago(1500);
            self.account.businesses.push(Record::new(
                id,
                json!({
                    "business_name": site.name, "display_name": site.name, "label": site.name,
                    "address_1": format!("{} {}", 10 + self.rng.below(300), site.street), "address_2": "",
                    "city": site.city, "state": site.state, "post_code": site.post_code,
                    "country": self.blueprint.country, "country_code": self.blueprint.country_code,
                    "contact_information": format!("+{} 555 0100", self.blueprint.phone_prefix),
                    "email_reply_to": format!("reception@{}.example", self.blueprint.subdomain),
                    "website_address": format!("https://{}.example", self.blueprint.subdomain),
                    "show_in_online_bookings": true, "appointment_reminders_enabled": true,
                    "time_zone": site.label, "time_zone_identifier": site.zone.name(),
                    "appointment_type_ids": types.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "archived_at": null, "deleted_at": null, "created_at": created, "updated_at": created,
                }),
                Vec::new(),
            ));
            self.account.zones.insert(id, site.zone);
            ids.push(id);
        }
        ids
    }

    /// Four active practitioners (the last works at both businesses) and one inactive.
    fn practitioners(&mut self, types: &[i64], businesses: &[i64]) -> Vec<i64> {
        let (Some(&first), Some(&second)) = (businesses.first(), businesses.get(1)) else {
            return Vec::new();
        };
        let weekdays = [1, 2, 3, 4, 5];
        let morning = (time(9, 0), time(12, 30));
        let afternoon = (time(13, 30), time(17, 0));
        let mut active = Vec::new();
        for (index, (title, first_name, last_name, designation)) in PRACTITIONERS.iter().enumerate()
        {
            let id = self.account.new_id();
            let user_id = self.account.new_id();
            let is_active = index < 4;
            let created = self.days_ago(1000);
            let standard = types.get(1).copied().unwrap_or_default();
            self.account.practitioners.push(Record::new(
                id,
                json!({
                    "active": is_active, "title": title, "first_name": first_name, "last_name": last_name,
                    "display_name": format!("{first_name} {last_name}").trim(), "label": format!("{title} {first_name} {last_name}").trim(),
                    "designation": designation, "description": format!("{designation} with a special interest in sports injuries."),
                    "show_in_online_bookings": is_active, "created_at": created, "updated_at": created,
                }),
                vec![
                    Ref { name: "user", collection: "users", id: user_id },
                    Ref { name: "default_appointment_type", collection: "appointment_types", id: standard },
                ],
            ));
            if !is_active {
                continue;
            }
            active.push(id);
            // Everyone offers the initial and standard consultations; some offer more.
            let offered: Vec<i64> = types
                .iter()
                .enumerate()
                .filter(|(t, _)| *t < 2 || (*t == 2 && index % 3 == 0) || (*t == 3 && index == 1))
                .map(|(_, id)| *id)
                .collect();
            for t in offered {
                self.account.offers.insert((id, t));
            }
            let shifts = |days: &[u32]| -> Vec<Shift> {
                days.iter()
                    .flat_map(|&weekday| {
                        [morning, afternoon]
                            .into_iter()
                            .map(move |(start, end)| Shift {
                                weekday,
                                start,
                                end,
                            })
                    })
                    .collect()
            };
            match index {
                0 | 1 => {
                    self.account.works_at.insert((id, first));
                    let mut hours = shifts(&weekdays);
                    if index == 0 {
                        hours.push(Shift {
                            weekday: 6,
                            start: time(9, 0),
                            end: time(12, 0),
                        });
                    }
                    self.account.hours.insert((id, first), hours);
                }
                2 => {
                    self.account.works_at.insert((id, second));
                    self.account.hours.insert((id, second), shifts(&weekdays));
                }
                _ => {
                    self.account.works_at.insert((id, first));
                    self.account.works_at.insert((id, second));
                    self.account.hours.insert((id, first), shifts(&[1, 3, 5]));
                    self.account.hours.insert((id, second), shifts(&[2, 4]));
                }
            }
        }
        active
    }

    fn phone(&mut self) -> String {
        let digits: String = (0..self.blueprint.phone_digits)
            .map(|_| char::from(b'0' + u8::try_from(self.rng.below(10)).unwrap_or(0)))
            .collect();
        format!("{}{digits}", self.blueprint.phone_prefix)
    }

    fn patients(&mut self) {
        for index in 0..self.size.patients {
            let id = self.account.new_id();
            let first = *self.rng.pick(FIRST_NAMES).unwrap_or(&"Alex");
            let last = *self.rng.pick(LAST_NAMES).unwrap_or(&"Smith");
            let year = 1940 + i32::try_from(self.rng.below(80)).unwrap_or(0);
            let dob = NaiveDate::from_ymd_opt(
                year,
                1 + u32::try_from(self.rng.below(12)).unwrap_or(0),
                1 + u32::try_from(self.rng.below(28)).unwrap_or(0),
            );
            let created = self.days_ago(1100);
            let mut phones = vec![json!({"phone_type": "Mobile", "number": self.phone()})];
            if self.rng.chance(30) {
                phones.push(json!({"phone_type": "Home", "number": self.phone()}));
            }
            let archived = index % 30 == 29;
            let archived_at = archived.then(|| self.days_ago(200));
            let street = *self.rng.pick(STREETS).unwrap_or(&"High Street");
            let site = &self.blueprint.businesses[index % 2];
            let email_local = format!(
                "{}.{}{}",
                first.to_lowercase(),
                last.to_lowercase().replace(['\'', ' '], ""),
                index
            );
            self.account.patients.push(Record::new(
                id,
                json!({
                    "title": "", "first_name": first, "last_name": last,
                    "preferred_first_name": if self.rng.chance(10) { &first[..first.len().min(3)] } else { "" },
                    "label": format!("{first} {last}"),
                    "date_of_birth": dob.map(|d| d.format("%Y-%m-%d").to_string()),
                    "email": format!("{email_local}@mail.example"),
                    "sex": if self.rng.chance(50) { "Female" } else { "Male" },
                    "gender_identity": null, "pronouns": null,
                    "address_1": format!("{} {street}", 1 + self.rng.below(200)), "address_2": "", "address_3": "",
                    "city": site.city, "state": site.state, "post_code": site.post_code,
                    "country": self.blueprint.country, "country_code": self.blueprint.country_code,
                    "time_zone": site.zone.name(),
                    "patient_phone_numbers": phones,
                    "emergency_contact": "", "occupation": "", "notes": "",
                    "appointment_notes": "", "medicare": "", "medicare_reference_number": "",
                    "dva_card_number": "", "old_reference_id": if index % 10 == 0 { format!("EXT-{index:05}") } else { String::new() },
                    "referral_source": "", "reminder_type": "SMS & Email",
                    "receives_confirmation_emails": true, "accepted_privacy_policy": null,
                    "accepted_email_marketing": false, "accepted_sms_marketing": false,
                    "custom_fields": null, "archived_at": archived_at, "deleted_at": null,
                    "created_at": created, "updated_at": created,
                }),
                Vec::new(),
            ));
            let alerts = if self.rng.chance(25) {
                1 + usize::from(self.rng.chance(20))
            } else {
                0
            };
            for _ in 0..alerts {
                let alert_id = self.account.new_id();
                let name = *self.rng.pick(ALERTS).unwrap_or(&"Asthma");
                let at = self.days_ago(500);
                self.account.medical_alerts.push(Record::new(
                    alert_id,
                    json!({"name": name, "created_at": at, "updated_at": at, "deleted_at": null}),
                    vec![Ref {
                        name: "patient",
                        collection: "patients",
                        id,
                    }],
                ));
            }
        }
    }

    fn appointments(&mut self, practitioners: &[i64], businesses: &[i64]) {
        let today = self.now.date_naive();
        let (Some(start_day), Some(end_day)) = (
            today.checked_sub_days(Days::new(self.size.appointment_days)),
            today.checked_add_days(Days::new(self.size.appointment_days)),
        ) else {
            return;
        };
        let patient_ids: Vec<(i64, String)> = self
            .account
            .patients
            .iter()
            .filter(|p| !p.is_set("archived_at"))
            .map(|p| (p.id, p.text("label").unwrap_or_default().to_owned()))
            .collect();
        for &practitioner in practitioners {
            for &business in businesses {
                let Some(shifts) = self.account.hours.get(&(practitioner, business)).cloned()
                else {
                    continue;
                };
                let zone = self
                    .account
                    .zones
                    .get(&business)
                    .copied()
                    .unwrap_or(Tz::UTC);
                let offered: Vec<i64> = self
                    .account
                    .offers
                    .iter()
                    .filter(|(p, _)| *p == practitioner)
                    .map(|(_, t)| *t)
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let mut day = start_day;
                while day <= end_day {
                    for shift in shifts
                        .iter()
                        .filter(|s| s.weekday == day.weekday().number_from_monday())
                    {
                        self.fill_shift(
                            practitioner,
                            business,
                            zone,
                            day,
                            *shift,
                            &offered,
                            &patient_ids,
                        );
                    }
                    let Some(next) = day.succ_opt() else { break };
                    day = next;
                }
            }
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one generator step with its context"
    )]
    fn fill_shift(
        &mut self,
        practitioner: i64,
        business: i64,
        zone: Tz,
        day: NaiveDate,
        shift: Shift,
        offered: &[i64],
        patients: &[(i64, String)],
    ) {
        let mut at = day.and_time(shift.start);
        let end = day.and_time(shift.end);
        while at < end {
            if !self.rng.chance(45) {
                at += chrono::Duration::minutes(30);
                continue;
            }
            let Some(&appointment_type) = self.rng.pick(offered) else {
                return;
            };
            let minutes = self.account.duration_of(appointment_type).unwrap_or(30);
            let finish = at + chrono::Duration::minutes(minutes);
            if finish > end {
                return;
            }
            let (Some(starts), Some(ends), Some((patient, name))) = (
                local_to_utc(zone, at),
                local_to_utc(zone, finish),
                self.rng.pick(patients).cloned(),
            ) else {
                at = finish;
                continue;
            };
            let id = self.account.new_id();
            let past = starts < self.now;
            let cancelled = self.rng.chance(6);
            let reason = *self
                .rng
                .pick(&[
                    (10, "Feeling Better"),
                    (30, "Sick"),
                    (40, "Away"),
                    (50, "Other"),
                    (60, "Work"),
                ])
                .unwrap_or(&(50, "Other"));
            let created = timestamp(
                (starts - chrono::Duration::days(7)).min(self.now - chrono::Duration::hours(1)),
            );
            let arrived = past && !cancelled && self.rng.chance(92);
            self.account.appointments.push(Record::new(
                id,
                json!({
                    "starts_at": timestamp(starts), "ends_at": timestamp(ends), "patient_name": name,
                    "notes": "", "cancelled_at": if cancelled { Some(created.clone()) } else { None },
                    "cancellation_reason": if cancelled { Some(reason.0) } else { None },
                    "cancellation_reason_description": if cancelled { Some(reason.1) } else { None },
                    "cancellation_note": if cancelled { Some("Called to cancel") } else { None },
                    "did_not_arrive": past && !cancelled && !arrived, "patient_arrived": arrived,
                    "email_reminder_sent": past, "sms_reminder_sent": past, "invoice_status": null,
                    "treatment_note_status": null, "online_booking_policy_accepted": null,
                    "booking_ip_address": null, "has_patient_appointment_notes": false,
                    "telehealth_url": format!("https://{}.cliniko.example/connect/{id}", self.blueprint.subdomain),
                    "repeat_rule": {}, "archived_at": null, "deleted_at": null,
                    "created_at": created, "updated_at": created,
                }),
                vec![
                    Ref { name: "patient", collection: "patients", id: patient },
                    Ref { name: "practitioner", collection: "practitioners", id: practitioner },
                    Ref { name: "business", collection: "businesses", id: business },
                    Ref { name: "appointment_type", collection: "appointment_types", id: appointment_type },
                ],
            ));
            at = finish;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2030-03-13T01:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_accounts_and_another_seed_does_not() {
        let a = generate(7, now());
        let b = generate(7, now());
        let c = generate(8, now());
        assert_eq!(a[0].keys, b[0].keys);
        assert_eq!(a[1].patients, b[1].patients);
        assert_ne!(a[0].keys, c[0].keys);
    }

    #[test]
    fn accounts_live_on_different_shards_with_businesses_in_different_zones() {
        let accounts = generate(1, now());
        let shards: HashSet<_> = accounts.iter().map(|a| a.keys[0].shard.as_str()).collect();
        assert_eq!(shards.len(), accounts.len());
        for account in &accounts {
            let zones: HashSet<_> = account.zones.values().map(|z| z.name()).collect();
            assert_eq!(zones.len(), 2, "{}", account.name);
            assert_eq!(account.patients.len(), PATIENTS_PER_ACCOUNT);
            assert!(account.medical_alerts.len() > 30);
            assert!(
                account.appointments.len() > 100,
                "{}",
                account.appointments.len()
            );
            assert!(account.patients.iter().all(|p| p.id > 1 << 53));
            assert!(!account.daily_availabilities.is_empty());
        }
    }

    #[test]
    fn small_accounts_have_unique_names_keys_and_ids_after_the_demo_accounts() {
        let demo = generate(1, now());
        let small = generate_small(1, now(), demo.len(), 6);
        let all: Vec<&Account> = demo.iter().chain(&small).collect();
        let names: HashSet<&str> = all.iter().map(|a| a.name.as_str()).collect();
        let keys: HashSet<&str> = all
            .iter()
            .flat_map(|a| a.keys.iter().map(|k| k.key.as_str()))
            .collect();
        let ids: HashSet<i64> = all
            .iter()
            .flat_map(|a| a.patients.iter().chain(&a.appointments).map(|r| r.id))
            .collect();
        let records: usize = all
            .iter()
            .map(|a| a.patients.len() + a.appointments.len())
            .sum();
        assert_eq!(names.len(), all.len());
        assert_eq!(keys.len(), all.len() * 2);
        assert_eq!(ids.len(), records);
        assert_eq!(small[0].patients.len(), SMALL.patients);
        assert!(small.iter().all(|a| a.appointments.len() < 100));
        let last = generate_small(1, now(), MAX_ACCOUNTS - 1, 1);
        assert!(last[0].appointments.iter().all(|a| a.id > 1 << 53));
    }
}
