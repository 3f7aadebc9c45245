//! The sandbox's HTTP surface: Cliniko's checks in Cliniko's order (User-Agent, Basic auth,
//! shard, rate limit), then the `/v1/...` routes ClinicGate uses, each answering in Cliniko's
//! shapes. Paths are accepted as `/v1/...` (any shard) or `/{shard}/v1/...` (the key must belong
//! to that shard, else 401 — Cliniko's answer to a key sent to the wrong shard).

use std::sync::{Arc, Mutex, PoisonError};

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde_json::{Map, Value, json};
use url::Url;

use crate::availabilities::{self, PatchError};
use crate::data::{self, Account, SandboxKey};
use crate::free_times::{NEXT_HORIZON_DAYS, free_starts};
use crate::limits::SlidingWindows;
use crate::query::{Collection, ListRequest, respond_items};
use crate::records::{Record, Ref};

/// Everything the sandbox serves, behind locks held only while a request is computed.
#[derive(Debug)]
pub(crate) struct SandboxState {
    pub accounts: Mutex<Vec<Account>>,
    pub limits: Mutex<SlidingWindows>,
    /// The demo accounts' keys.
    pub keys: Vec<SandboxKey>,
    /// Keys of accounts generated later (`POST /__sandbox/accounts`).
    pub generated_keys: Mutex<Vec<SandboxKey>>,
    pub rate_limit: u32,
    pub window_secs: u64,
    /// The seed generated accounts are made from.
    pub seed: u64,
    /// Failures to answer instead of the next Cliniko calls (`POST /__sandbox/faults`).
    pub faults: Mutex<Vec<u16>>,
}

const PATIENTS: Collection = Collection {
    name: "patients",
    filters: &[
        "created_at",
        "date_of_birth",
        "email",
        "first_name",
        "last_name",
        "id",
        "old_reference_id",
        "updated_at",
        "archived_at",
        "deleted_at",
    ],
    hidden_when: &["archived_at", "deleted_at"],
};
const APPOINTMENTS: Collection = Collection {
    name: "individual_appointments",
    filters: &[
        "appointment_type_id",
        "business_id",
        "patient_id",
        "practitioner_id",
        "repeated_from_id",
        "id",
        "starts_at",
        "ends_at",
        "created_at",
        "updated_at",
        "cancelled_at",
        "archived_at",
        "deleted_at",
        "did_not_arrive",
    ],
    hidden_when: &["cancelled_at", "archived_at", "deleted_at"],
};
const PRACTITIONERS: Collection = Collection {
    name: "practitioners",
    filters: &["created_at", "id", "updated_at", "user_id"],
    hidden_when: &[],
};
const BUSINESSES: Collection = Collection {
    name: "businesses",
    filters: &["created_at", "id", "updated_at", "archived_at"],
    hidden_when: &["archived_at"],
};
const APPOINTMENT_TYPES: Collection = Collection {
    name: "appointment_types",
    filters: &[
        "archived_at",
        "category",
        "created_at",
        "id",
        "show_in_online_bookings",
        "updated_at",
    ],
    hidden_when: &["archived_at"],
};
const DAILY_AVAILABILITIES: Collection = Collection {
    name: "daily_availabilities",
    filters: &[
        "business_id",
        "created_at",
        "id",
        "practitioner_id",
        "updated_at",
    ],
    hidden_when: &[],
};
const MEDICAL_ALERTS: Collection = Collection {
    name: "medical_alerts",
    filters: &["created_at", "id", "patient_id", "updated_at", "deleted_at"],
    hidden_when: &["deleted_at"],
};

/// Patient fields a client may write.
const PATIENT_FIELDS: &[&str] = &[
    "title",
    "first_name",
    "last_name",
    "preferred_first_name",
    "date_of_birth",
    "email",
    "sex",
    "gender_identity",
    "pronouns",
    "address_1",
    "address_2",
    "address_3",
    "city",
    "state",
    "post_code",
    "country",
    "country_code",
    "time_zone",
    "patient_phone_numbers",
    "emergency_contact",
    "occupation",
    "notes",
    "appointment_notes",
    "medicare",
    "medicare_reference_number",
    "dva_card_number",
    "old_reference_id",
    "referral_source",
    "reminder_type",
    "receives_confirmation_emails",
    "accepted_privacy_policy",
    "accepted_email_marketing",
    "accepted_sms_marketing",
];

/// Cliniko's cancellation reasons.
const REASONS: &[(i64, &str)] = &[
    (10, "Feeling Better"),
    (20, "Condition Worse"),
    (30, "Sick"),
    (31, "COVID-19 related"),
    (40, "Away"),
    (50, "Other"),
    (60, "Work"),
];

/// Cliniko's wording (note the typographic apostrophe).
const BLANK: &str = "can\u{2019}t be blank";

/// What a handler knows about the request.
struct Ctx {
    /// `http://host[/shard]/v1`, for links.
    base: String,
    /// The request's absolute URL.
    url: Url,
    pairs: Vec<(String, String)>,
    role: String,
    now: DateTime<Utc>,
}

/// `GET /__sandbox/keys`: every key, the demo accounts' first.
pub(crate) async fn keys(req: HttpRequest, state: web::Data<Arc<SandboxState>>) -> HttpResponse {
    let generated = lock(&state.generated_keys).clone();
    HttpResponse::Ok().json(json!({"keys": described(&req, state.keys.iter().chain(&generated))}))
}

/// Keys as the sandbox's own endpoints list them, with the base URL of each key's shard.
fn described<'a>(req: &HttpRequest, keys: impl Iterator<Item = &'a SandboxKey>) -> Vec<Value> {
    let host = req.connection_info().host().to_owned();
    keys.map(|k| {
        json!({"key": k.key, "shard": k.shard, "account": k.account, "role": k.role,
               "base_url": format!("http://{host}/{}/v1", k.shard)})
    })
    .collect()
}

/// `POST /__sandbox/faults {"status": 503, "count": n}`: the next `n` authenticated Cliniko calls
/// (of any key) answer `status` instead — 429 with `X-RateLimit-Reset` a second ahead, 5xx with a
/// JSON message — so tests can fail a poll at a moment they choose.
pub(crate) async fn inject_faults(
    body: web::Bytes,
    state: web::Data<Arc<SandboxState>>,
) -> HttpResponse {
    let asked = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
        let status = u16::try_from(v.get("status")?.as_u64()?).ok()?;
        let count = usize::try_from(v.get("count")?.as_u64()?).ok()?;
        Some((status, count))
    });
    match asked {
        Some((status, count))
            if (status == 429 || (500..600).contains(&status)) && count <= 1000 =>
        {
            lock(&state.faults).extend(std::iter::repeat_n(status, count));
            HttpResponse::NoContent().finish()
        }
        _ => message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "send {\"status\": 429 or 5xx, \"count\": n} with n <= 1000",
        ),
    }
}

/// An injected failure, if one is waiting.
fn injected(state: &SandboxState) -> Option<HttpResponse> {
    let status = lock(&state.faults).pop()?;
    if status == 429 {
        let reset = Utc::now().timestamp() + 1;
        return Some(
            HttpResponse::TooManyRequests()
                .insert_header(("X-RateLimit-Reset", reset.to_string()))
                .json(json!({"message": "Too many requests"})),
        );
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    Some(message(status, "Injected failure"))
}

/// The most accounts one `POST /__sandbox/accounts` generates.
const MAX_GENERATED_PER_CALL: u64 = 2000;

/// `POST /__sandbox/accounts {"count": n}`: generates `n` small accounts (for scale tests) and
/// answers their keys as `GET /__sandbox/keys` does.
pub(crate) async fn generate_accounts(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<SandboxState>>,
) -> HttpResponse {
    let count = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("count")?.as_u64())
        .filter(|n| (1..=MAX_GENERATED_PER_CALL).contains(n))
        .and_then(|n| usize::try_from(n).ok());
    let Some(count) = count else {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("send {{\"count\": n}} with 1 <= n <= {MAX_GENERATED_PER_CALL}"),
        );
    };
    let mut accounts = lock(&state.accounts);
    if accounts.len() + count > data::MAX_ACCOUNTS {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("the sandbox holds at most {} accounts", data::MAX_ACCOUNTS),
        );
    }
    let fresh = data::generate_small(state.seed, Utc::now(), accounts.len(), count);
    let keys: Vec<SandboxKey> = fresh.iter().flat_map(|a| a.keys.clone()).collect();
    accounts.extend(fresh);
    drop(accounts);
    lock(&state.generated_keys).extend(keys.iter().cloned());
    HttpResponse::Created().json(json!({"keys": described(&req, keys.iter())}))
}

/// `GET /__sandbox/stats`.
pub(crate) async fn stats(state: web::Data<Arc<SandboxState>>) -> HttpResponse {
    let accounts = lock(&state.limits).stats();
    HttpResponse::Ok().json(json!({
        "rate_limit": state.rate_limit, "window_secs": state.window_secs, "accounts": accounts,
    }))
}

/// Every Cliniko route.
pub(crate) async fn dispatch(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<SandboxState>>,
) -> HttpResponse {
    let path = req.path().trim_matches('/').to_owned();
    let segments: Vec<&str> = path.split('/').collect();
    let (shard, rest) = match segments.as_slice() {
        ["v1", rest @ ..] => (None, rest),
        [shard, "v1", rest @ ..] => (Some(*shard), rest),
        _ => return message(StatusCode::NOT_FOUND, "Not found"),
    };
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !user_agent.contains('@') {
        // Cliniko blocks clients that do not say who they are and how to reach them.
        return text(StatusCode::FORBIDDEN, "Requires a user agent");
    }
    let Some(user) = basic_user(&req) else {
        return denied();
    };
    let matches = |k: &&SandboxKey| {
        k.key == user || k.key.rsplit_once('-').is_some_and(|(body, _)| body == user)
    };
    let found = state.keys.iter().find(matches).cloned();
    let Some(key) = found.or_else(|| lock(&state.generated_keys).iter().find(matches).cloned())
    else {
        return denied();
    };
    if shard.is_some_and(|shard| shard != key.shard) {
        return denied();
    }
    if let Some(failure) = injected(&state) {
        return failure;
    }
    if let Err(refusal) = lock(&state.limits).admit(&key.key, &key.account) {
        return HttpResponse::TooManyRequests()
            .insert_header(("X-RateLimit-Reset", refusal.reset_epoch_secs.to_string()))
            .json(json!({"message": "Too many requests"}));
    }
    let host = req.connection_info().host().to_owned();
    let prefix = shard.map_or_else(|| "/v1".to_owned(), |shard| format!("/{shard}/v1"));
    let Ok(url) = Url::parse(&format!("http://{host}{}", req.uri())) else {
        return message(StatusCode::BAD_REQUEST, "Bad request");
    };
    let ctx = Ctx {
        base: format!("http://{host}{prefix}"),
        pairs: url
            .query_pairs()
            .map(|(a, b)| (a.into_owned(), b.into_owned()))
            .collect(),
        url,
        role: key.role.clone(),
        now: Utc::now(),
    };
    let mut accounts = lock(&state.accounts);
    let Some(account) = accounts.iter_mut().find(|a| a.name == key.account) else {
        return denied();
    };
    route(account, &ctx, req.method(), rest, &body)
}

fn route(
    account: &mut Account,
    ctx: &Ctx,
    method: &Method,
    path: &[&str],
    body: &[u8],
) -> HttpResponse {
    let id = |raw: &str| raw.parse::<i64>().ok();
    match (method.as_str(), path) {
        ("GET", ["user"]) => match account.users.get(&ctx.role) {
            Some(user) => HttpResponse::Ok().json(user.render(&ctx.base, "users")),
            None => denied(),
        },
        ("GET", ["settings"]) if ctx.role == "administrator" => {
            HttpResponse::Ok().json(&account.settings)
        }
        ("GET", ["settings"]) => message(
            StatusCode::FORBIDDEN,
            "You do not have permission to see this",
        ),
        ("GET", ["practitioners"]) => practitioners(account, ctx, |_, p| is_active(p)),
        ("GET", ["practitioners", "inactive"]) => practitioners(account, ctx, |_, p| !is_active(p)),
        ("GET", ["practitioners", raw]) => {
            one(&account.practitioners, id(raw), ctx, "practitioners")
        }
        ("GET", ["practitioners", raw, "appointment_types"]) => {
            let Some(p) = id(raw).filter(|p| account.practitioners.iter().any(|r| r.id == *p))
            else {
                return not_found();
            };
            let offered: Vec<&Record> = account
                .appointment_types
                .iter()
                .filter(|t| account.offers.contains(&(p, t.id)))
                .collect();
            list(&APPOINTMENT_TYPES, offered.into_iter(), ctx)
        }
        ("GET", ["businesses"]) => list(&BUSINESSES, account.businesses.iter(), ctx),
        ("GET", ["businesses", raw]) => one(&account.businesses, id(raw), ctx, "businesses"),
        ("GET", ["businesses", raw, "practitioners"]) => {
            let Some(b) = id(raw).filter(|b| account.zones.contains_key(b)) else {
                return not_found();
            };
            practitioners(account, ctx, |a, p| {
                is_active(p) && a.works_at.contains(&(p.id, b))
            })
        }
        (
            "GET",
            [
                "businesses",
                b,
                "practitioners",
                p,
                "appointment_types",
                t,
                what @ ("available_times" | "next_available_time"),
            ],
        ) => availability(
            account,
            ctx,
            (id(b), id(p), id(t)),
            *what == "next_available_time",
        ),
        ("GET", ["appointment_types"]) => {
            list(&APPOINTMENT_TYPES, account.appointment_types.iter(), ctx)
        }
        ("GET", ["appointment_types", raw]) => one(
            &account.appointment_types,
            id(raw),
            ctx,
            "appointment_types",
        ),
        ("GET", ["appointment_types", raw, "practitioners"]) => {
            let Some(t) = id(raw).filter(|t| account.appointment_types.iter().any(|r| r.id == *t))
            else {
                return not_found();
            };
            practitioners(account, ctx, |a, p| {
                is_active(p) && a.offers.contains(&(p.id, t))
            })
        }
        ("GET", ["individual_appointments"]) => {
            list(&APPOINTMENTS, account.appointments.iter(), ctx)
        }
        ("POST", ["individual_appointments"]) => {
            with_object(body, |fields| create_appointment(account, ctx, fields))
        }
        ("GET", ["individual_appointments", raw]) => one(
            &account.appointments,
            id(raw),
            ctx,
            "individual_appointments",
        ),
        ("PATCH" | "PUT", ["individual_appointments", raw]) => with_object(body, |fields| {
            update_appointment(account, ctx, id(raw), fields)
        }),
        ("PATCH", ["individual_appointments", raw, "cancel"]) => with_object(body, |fields| {
            cancel_appointment(account, ctx, id(raw), fields)
        }),
        ("GET", ["individual_appointments", raw, "conflicts"]) => conflicts(account, id(raw)),
        ("POST", ["individual_appointments", raw, "archive"]) => {
            archive(&mut account.appointments, id(raw), ctx)
        }
        ("GET", ["daily_availabilities"]) => list(
            &DAILY_AVAILABILITIES,
            account.daily_availabilities.iter(),
            ctx,
        ),
        ("GET", ["daily_availabilities", raw]) => one(
            &account.daily_availabilities,
            id(raw),
            ctx,
            "daily_availabilities",
        ),
        ("PATCH" | "PUT", ["daily_availabilities", raw]) => with_object(body, |fields| {
            match availabilities::patch(
                account,
                id(raw).unwrap_or_default(),
                fields,
                &stamp(ctx.now),
            ) {
                Ok(record) => HttpResponse::Ok().json(render(record, ctx, "daily_availabilities")),
                Err(PatchError::NotFound) => not_found(),
                Err(PatchError::Invalid(errors)) => unprocessable(errors),
            }
        }),
        ("GET", ["patients"]) => list(&PATIENTS, account.patients.iter(), ctx),
        ("POST", ["patients"]) => {
            with_object(body, |fields| write_patient(account, ctx, None, fields))
        }
        ("GET", ["patients", raw]) => one(&account.patients, id(raw), ctx, "patients"),
        ("PATCH" | "PUT", ["patients", raw]) => match id(raw) {
            Some(p) => with_object(body, |fields| write_patient(account, ctx, Some(p), fields)),
            None => not_found(),
        },
        ("POST", ["patients", raw, "archive"]) => archive(&mut account.patients, id(raw), ctx),
        ("GET", ["patients", raw, "medical_alerts"]) => {
            let Some(p) = id(raw).filter(|p| account.patients.iter().any(|r| r.id == *p)) else {
                return not_found();
            };
            let alerts: Vec<&Record> = account
                .medical_alerts
                .iter()
                .filter(|a| a.ref_id("patient") == Some(p))
                .collect();
            list(&MEDICAL_ALERTS, alerts.into_iter(), ctx)
        }
        ("GET", ["medical_alerts"]) => list(&MEDICAL_ALERTS, account.medical_alerts.iter(), ctx),
        ("GET", ["medical_alerts", raw]) => {
            one(&account.medical_alerts, id(raw), ctx, "medical_alerts")
        }
        _ => not_found(),
    }
}

/// `POST /{collection}/{id}/archive`: sets `archived_at` (which hides the record from lists
/// unless asked for with `q[]=archived_at:*`) and bumps `updated_at`.
fn archive(records: &mut [Record], id: Option<i64>, ctx: &Ctx) -> HttpResponse {
    match records.iter_mut().find(|r| Some(r.id) == id) {
        Some(record) => {
            let at = stamp(ctx.now);
            record.fields.insert("archived_at".into(), json!(at));
            record.fields.insert("updated_at".into(), json!(at));
            HttpResponse::NoContent().finish()
        }
        None => not_found(),
    }
}

fn is_active(practitioner: &Record) -> bool {
    practitioner
        .fields
        .get("active")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

fn practitioners(
    account: &Account,
    ctx: &Ctx,
    keep: impl Fn(&Account, &Record) -> bool,
) -> HttpResponse {
    let chosen: Vec<&Record> = account
        .practitioners
        .iter()
        .filter(|p| keep(account, p))
        .collect();
    list(&PRACTITIONERS, chosen.into_iter(), ctx)
}

fn list<'a>(
    collection: &Collection,
    records: impl Iterator<Item = &'a Record>,
    ctx: &Ctx,
) -> HttpResponse {
    match ListRequest::parse(&ctx.pairs, collection) {
        Ok(request) => {
            HttpResponse::Ok().json(request.respond(collection, records, &ctx.url, |r| {
                render(r, ctx, collection.name)
            }))
        }
        Err(why) => message(StatusCode::BAD_REQUEST, &why),
    }
}

fn one(records: &[Record], id: Option<i64>, ctx: &Ctx, collection: &str) -> HttpResponse {
    match records.iter().find(|r| Some(r.id) == id) {
        Some(record) => HttpResponse::Ok().json(render(record, ctx, collection)),
        None => not_found(),
    }
}

/// A record with its links, plus the collection links Cliniko adds to some resources.
fn render(record: &Record, ctx: &Ctx, collection: &str) -> Value {
    let mut value = record.render(&ctx.base, collection);
    let nested: &[&str] = match collection {
        "patients" => &["appointments", "medical_alerts", "invoices"],
        "practitioners" => &["appointment_types", "appointments"],
        "businesses" => &["practitioners", "appointments"],
        _ => &[],
    };
    for name in nested {
        value[*name] =
            json!({"links": {"self": format!("{}/{collection}/{}/{name}", ctx.base, record.id)}});
    }
    if collection == "appointment_types" {
        value["practitioners"] = json!({"links": {"self": format!("{}/practitioners?q%5B%5D=appointment_type_id%3A%3D{}", ctx.base, record.id)}});
    }
    value
}

fn availability(
    account: &Account,
    ctx: &Ctx,
    ids: (Option<i64>, Option<i64>, Option<i64>),
    next_only: bool,
) -> HttpResponse {
    let (Some(business), Some(practitioner), Some(appointment_type)) = ids else {
        return not_found();
    };
    let known = account.zones.contains_key(&business)
        && account.practitioners.iter().any(|p| p.id == practitioner)
        && account
            .appointment_types
            .iter()
            .any(|t| t.id == appointment_type);
    if !known {
        return not_found();
    }
    let zone = account
        .zones
        .get(&business)
        .copied()
        .unwrap_or(chrono_tz::Tz::UTC);
    let today = ctx.now.with_timezone(&zone).date_naive();
    let bookable = account.works_at.contains(&(practitioner, business))
        && account.offers.contains(&(practitioner, appointment_type));
    if next_only {
        let horizon = today
            .checked_add_days(Days::new(NEXT_HORIZON_DAYS))
            .unwrap_or(today);
        let next = bookable
            .then(|| {
                free_starts(
                    account,
                    business,
                    practitioner,
                    appointment_type,
                    today,
                    horizon,
                    ctx.now,
                )
                .into_iter()
                .next()
            })
            .flatten();
        return HttpResponse::Ok().json(
            json!({"appointment_start": next.map(stamp), "links": {"self": ctx.url.as_str()}}),
        );
    }
    let param = |name: &str| {
        ctx.pairs
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
    };
    let (Some(from), Some(to)) = (param("from"), param("to")) else {
        return invalid_time_frame();
    };
    // Seven days at most, counted inclusively (to = from + 6), none before today.
    if to < from || (to - from).num_days() > 6 || from < today {
        return invalid_time_frame();
    }
    let times: Vec<Value> = if bookable {
        free_starts(
            account,
            business,
            practitioner,
            appointment_type,
            from,
            to,
            ctx.now,
        )
        .into_iter()
        .map(|at| json!({"appointment_start": stamp(at)}))
        .collect()
    } else {
        Vec::new()
    };
    match respond_items("available_times", times, &ctx.pairs, &ctx.url) {
        Ok(page) => HttpResponse::Ok().json(page),
        Err(why) => message(StatusCode::BAD_REQUEST, &why),
    }
}

fn invalid_time_frame() -> HttpResponse {
    message(
        StatusCode::BAD_REQUEST,
        "Invalid time frame definition. Please check from/to param limitations.",
    )
}

fn write_patient(
    account: &mut Account,
    ctx: &Ctx,
    id: Option<i64>,
    input: &Map<String, Value>,
) -> HttpResponse {
    let errors = patient_errors(input, id.is_none());
    if !errors.is_empty() {
        return unprocessable(errors);
    }
    let at = stamp(ctx.now);
    let fields: Map<String, Value> = input
        .iter()
        .filter(|(k, _)| PATIENT_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match id {
        Some(id) => {
            let Some(patient) = account.patients.iter_mut().find(|p| p.id == id) else {
                return not_found();
            };
            patient.fields.extend(fields);
            patient.fields.insert("updated_at".into(), json!(at));
            HttpResponse::Ok().json(render(patient, ctx, "patients"))
        }
        None => {
            let id = account.new_id();
            let mut record = Record::new(
                id,
                json!({"title": "", "preferred_first_name": "", "date_of_birth": null, "email": "", "patient_phone_numbers": [], "old_reference_id": "", "archived_at": null, "deleted_at": null, "created_at": at, "updated_at": at}),
                Vec::new(),
            );
            record.fields.extend(fields);
            let rendered = render(&record, ctx, "patients");
            account.patients.push(record);
            created(ctx, "patients", id, rendered)
        }
    }
}

/// What is wrong with a patient body, by field: the names are required on create (`creating`)
/// and may not be blanked on update; a date of birth, an e-mail address and phone numbers must
/// be well formed when given.
fn patient_errors(input: &Map<String, Value>, creating: bool) -> Map<String, Value> {
    let mut errors = Map::new();
    for name in ["first_name", "last_name"] {
        let given = input.get(name);
        let blank = given.is_none_or(|v| v.as_str().is_none_or(|s| s.trim().is_empty()));
        if blank && (creating || given.is_some()) {
            errors.insert(name.into(), json!(BLANK));
        }
    }
    let bad_date = input
        .get("date_of_birth")
        .filter(|v| !v.is_null() && v.as_str() != Some(""))
        .is_some_and(|dob| {
            dob.as_str()
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .is_none()
        });
    if bad_date {
        errors.insert("date_of_birth".into(), json!("is not a valid date"));
    }
    let bad_email = input
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .is_some_and(|email| {
            !email.contains('@') || !email.rsplit('@').next().is_some_and(|d| d.contains('.'))
        });
    if bad_email {
        errors.insert("email".into(), json!("is invalid"));
    }
    if let Some(phones) = input.get("patient_phone_numbers").filter(|v| !v.is_null()) {
        let valid = phones.as_array().is_some_and(|items| {
            items
                .iter()
                .all(|p| p.get("number").and_then(Value::as_str).is_some())
        });
        if !valid {
            errors.insert("patient_phone_numbers".into(), json!("is invalid"));
        }
    }
    errors
}

/// An id field of a write body: a string of digits or a JSON integer.
fn id_field(input: &Map<String, Value>, name: &str) -> Option<Option<i64>> {
    let value = input.get(name)?;
    Some(match value {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    })
}

fn time_field(input: &Map<String, Value>, name: &str) -> Option<Option<DateTime<Utc>>> {
    let value = input.get(name)?;
    Some(value.as_str().and_then(|s| s.parse().ok()))
}

/// Checks the related records named in an appointment body; returns the refs to set.
fn appointment_refs(
    account: &Account,
    input: &Map<String, Value>,
    required: bool,
    errors: &mut Map<String, Value>,
) -> Vec<(&'static str, &'static str, i64)> {
    let mut refs = Vec::new();
    for (field, name, collection) in [
        ("patient_id", "patient", "patients"),
        ("practitioner_id", "practitioner", "practitioners"),
        (
            "appointment_type_id",
            "appointment_type",
            "appointment_types",
        ),
        ("business_id", "business", "businesses"),
    ] {
        match id_field(input, field) {
            None if required => {
                errors.insert(field.into(), json!(BLANK));
            }
            None => {}
            Some(None) => {
                errors.insert(field.into(), json!("is not a number"));
            }
            Some(Some(id)) => {
                let exists = match collection {
                    "patients" => account.patients.iter().any(|r| r.id == id),
                    "practitioners" => account
                        .practitioners
                        .iter()
                        .any(|r| r.id == id && is_active(r)),
                    "appointment_types" => account.appointment_types.iter().any(|r| r.id == id),
                    _ => account.zones.contains_key(&id),
                };
                if exists {
                    refs.push((name, collection, id));
                } else {
                    errors.insert(name.into(), json!("must exist"));
                }
            }
        }
    }
    refs
}

fn create_appointment(
    account: &mut Account,
    ctx: &Ctx,
    input: &Map<String, Value>,
) -> HttpResponse {
    let mut errors = Map::new();
    let starts = match time_field(input, "starts_at") {
        None => {
            errors.insert("starts_at".into(), json!(BLANK));
            None
        }
        Some(None) => {
            errors.insert("starts_at".into(), json!("is invalid"));
            None
        }
        Some(at) => at,
    };
    let refs = appointment_refs(account, input, true, &mut errors);
    let (Some(starts), true) = (starts, errors.is_empty()) else {
        return unprocessable(errors);
    };
    let type_id = refs
        .iter()
        .find(|(name, _, _)| *name == "appointment_type")
        .map_or(0, |r| r.2);
    let minutes = account.duration_of(type_id).unwrap_or(30);
    let ends = match time_field(input, "ends_at") {
        Some(Some(ends)) => ends,
        _ => starts + chrono::Duration::minutes(minutes),
    };
    if ends <= starts {
        return unprocessable(Map::from_iter([(
            "ends_at".to_owned(),
            json!("must be after the start time"),
        )]));
    }
    let patient_id = refs
        .iter()
        .find(|(name, _, _)| *name == "patient")
        .map_or(0, |r| r.2);
    let patient_name = account
        .patients
        .iter()
        .find(|p| p.id == patient_id)
        .and_then(|p| p.text("label").map(str::to_owned))
        .unwrap_or_default();
    let id = account.new_id();
    let at = stamp(ctx.now);
    let record = Record::new(
        id,
        json!({
            "starts_at": stamp(starts), "ends_at": stamp(ends), "patient_name": patient_name,
            "notes": input.get("notes").cloned().unwrap_or(json!("")), "cancelled_at": null,
            "cancellation_reason": null, "cancellation_reason_description": null, "cancellation_note": null,
            "did_not_arrive": false, "patient_arrived": false, "telehealth_url": format!("https://sandbox.cliniko.example/connect/{id}"),
            "repeat_rule": {}, "archived_at": null, "deleted_at": null, "created_at": at, "updated_at": at,
        }),
        refs.into_iter()
            .map(|(name, collection, id)| Ref {
                name,
                collection,
                id,
            })
            .collect(),
    );
    let rendered = render(&record, ctx, "individual_appointments");
    account.appointments.push(record);
    created(ctx, "individual_appointments", id, rendered)
}

fn update_appointment(
    account: &mut Account,
    ctx: &Ctx,
    id: Option<i64>,
    input: &Map<String, Value>,
) -> HttpResponse {
    let mut errors = Map::new();
    let refs = appointment_refs(account, input, false, &mut errors);
    let starts = time_field(input, "starts_at");
    if matches!(starts, Some(None)) {
        errors.insert("starts_at".into(), json!("is invalid"));
    }
    if !errors.is_empty() {
        return unprocessable(errors);
    }
    let durations: Vec<(i64, i64)> = account
        .appointment_types
        .iter()
        .filter_map(|t| Some((t.id, t.fields.get("duration_in_minutes")?.as_i64()?)))
        .collect();
    let Some(appointment) = account.appointments.iter_mut().find(|a| Some(a.id) == id) else {
        return not_found();
    };
    let old_start: Option<DateTime<Utc>> =
        appointment.text("starts_at").and_then(|s| s.parse().ok());
    let old_end: Option<DateTime<Utc>> = appointment.text("ends_at").and_then(|s| s.parse().ok());
    for (name, collection, related) in refs {
        appointment.set_ref(name, collection, related);
    }
    let new_start = starts.flatten().or(old_start).unwrap_or(ctx.now);
    let new_end = match input.get("ends_at") {
        // An explicit null recomputes the end from the type's duration.
        Some(Value::Null) => {
            let type_id = appointment.ref_id("appointment_type").unwrap_or_default();
            let minutes = durations
                .iter()
                .find(|(t, _)| *t == type_id)
                .map_or(30, |(_, m)| *m);
            new_start + chrono::Duration::minutes(minutes)
        }
        Some(value) => match value.as_str().and_then(|s| s.parse().ok()) {
            Some(end) => end,
            None => {
                return unprocessable(Map::from_iter([(
                    "ends_at".to_owned(),
                    json!("is invalid"),
                )]));
            }
        },
        // Moving the start keeps the length.
        None => match (old_start, old_end) {
            (Some(start), Some(end)) => new_start + (end - start),
            _ => new_start + chrono::Duration::minutes(30),
        },
    };
    if new_end <= new_start {
        return unprocessable(Map::from_iter([(
            "ends_at".to_owned(),
            json!("must be after the start time"),
        )]));
    }
    appointment
        .fields
        .insert("starts_at".into(), json!(stamp(new_start)));
    appointment
        .fields
        .insert("ends_at".into(), json!(stamp(new_end)));
    for name in ["notes", "patient_arrived", "did_not_arrive"] {
        if let Some(value) = input.get(name) {
            appointment.fields.insert(name.into(), value.clone());
        }
    }
    appointment
        .fields
        .insert("updated_at".into(), json!(stamp(ctx.now)));
    HttpResponse::Ok().json(render(appointment, ctx, "individual_appointments"))
}

fn cancel_appointment(
    account: &mut Account,
    ctx: &Ctx,
    id: Option<i64>,
    input: &Map<String, Value>,
) -> HttpResponse {
    let Some(appointment) = account.appointments.iter_mut().find(|a| Some(a.id) == id) else {
        return not_found();
    };
    let reason = input
        .get("cancellation_reason")
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()));
    let Some(&(code, description)) = reason.and_then(|r| REASONS.iter().find(|(c, _)| *c == r))
    else {
        let text = if input.contains_key("cancellation_reason") {
            "is not included in the list"
        } else {
            BLANK
        };
        return unprocessable(Map::from_iter([(
            "cancellation_reason".to_owned(),
            json!(text),
        )]));
    };
    if appointment.is_set("cancelled_at") {
        return unprocessable(Map::from_iter([(
            "base".to_owned(),
            json!("Appointment has already been cancelled"),
        )]));
    }
    let at = stamp(ctx.now);
    appointment.fields.insert("cancelled_at".into(), json!(at));
    appointment
        .fields
        .insert("cancellation_reason".into(), json!(code));
    appointment
        .fields
        .insert("cancellation_reason_description".into(), json!(description));
    appointment.fields.insert(
        "cancellation_note".into(),
        input
            .get("cancellation_note")
            .cloned()
            .unwrap_or(Value::Null),
    );
    appointment.fields.insert("updated_at".into(), json!(at));
    HttpResponse::NoContent().finish()
}

fn conflicts(account: &Account, id: Option<i64>) -> HttpResponse {
    let Some(appointment) = account.appointments.iter().find(|a| Some(a.id) == id) else {
        return not_found();
    };
    let span = |a: &Record| -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        Some((
            a.text("starts_at")?.parse().ok()?,
            a.text("ends_at")?.parse().ok()?,
        ))
    };
    let Some((start, end)) = span(appointment) else {
        return not_found();
    };
    let practitioner = appointment.ref_id("practitioner");
    let exist = account.appointments.iter().any(|other| {
        other.id != appointment.id
            && other.ref_id("practitioner") == practitioner
            && !other.is_set("cancelled_at")
            && !other.is_set("archived_at")
            && span(other).is_some_and(|(s, e)| s < end && start < e)
    });
    HttpResponse::Ok().json(json!({"conflicts": {"exist": exist}}))
}

/// Parses a JSON object body and hands it to `write`.
fn with_object(
    body: &[u8],
    write: impl FnOnce(&Map<String, Value>) -> HttpResponse,
) -> HttpResponse {
    if body.is_empty() {
        return write(&Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => write(&fields),
        Ok(_) => HttpResponse::UnprocessableEntity().json(json!({"message": "must be an object"})),
        Err(_) => message(
            StatusCode::BAD_REQUEST,
            "There was a problem in the JSON you submitted",
        ),
    }
}

fn created(ctx: &Ctx, collection: &str, id: i64, body: Value) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, format!("{}/{collection}/{id}", ctx.base)))
        .json(body)
}

fn unprocessable(errors: Map<String, Value>) -> HttpResponse {
    HttpResponse::UnprocessableEntity()
        .json(json!({"message": "Validation Failed", "errors": errors}))
}

/// The user from `Authorization: Basic base64(user:password)`.
fn basic_user(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, _password) = text.split_once(':')?;
    (!user.is_empty()).then(|| user.to_owned())
}

/// Cliniko's 401: Rails' plain text, not JSON.
fn denied() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"Application\""))
        .content_type("text/plain; charset=utf-8")
        .body("HTTP Basic: Access denied.\n")
}

fn text(status: StatusCode, body: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

fn message(status: StatusCode, text: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"message": text}))
}

fn not_found() -> HttpResponse {
    message(StatusCode::NOT_FOUND, "Not found")
}

fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
