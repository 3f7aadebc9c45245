//! [`HttpClinikoClient`]: the [`ClinikoClient`] port over Cliniko's REST API.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono_tz::Tz;
use clinicgate_core::cliniko::{
    Appointment, AppointmentPatch, AppointmentType, AppointmentTypeScope, AvailabilityQuery,
    AvailableTime, Bookable, Business, Cancellation, ChangeQuery, Changed, Changes, ClinikoAccount,
    ClinikoClient, ClinikoId, ClinikoSettings, ClinikoUsage, ClinikoUser, DailyAvailability, Feed,
    Lane, LaneUsage, ListPage, ListQuery, MedicalAlert, NewAppointment, PageRequest, Patient,
    PatientFields, Practitioner, PractitionerScope,
};
use clinicgate_core::{Error, Result};
use futures::{StreamExt as _, TryStreamExt as _};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::availability;
use super::budget::Budget;
use super::changes;
use super::config::ClinikoClientConfig;
use super::key_id::KeyId;
use super::prepaid::Prepaid;
use super::reference_cache::ReferenceCache;
use super::responses;
use super::telemetry::{Counted, Telemetry};
use super::transport::{Call, Transport};
use super::wire::{self, FromWire, ToWire, Wire};

/// Availability windows fetched at once for one range: a few in parallel keep a long range quick
/// without one request taking a clinic's whole burst.
const WINDOWS_IN_PARALLEL: usize = 3;

/// The Cliniko client every ClinicGate instance uses: one shared budget per key (in the shared
/// rate-limit store), a shared 429 pause, and reference data cached in the shared cache.
#[derive(Debug, Clone)]
pub struct HttpClinikoClient {
    transport: Transport,
    reference: ReferenceCache,
    config: Arc<ClinikoClientConfig>,
}

impl HttpClinikoClient {
    /// A client for `config`, keeping its budgets, pauses and cache in `shared` (every instance
    /// built over the same stores shares them).
    ///
    /// # Errors
    /// [`Error::Validation`] for an unusable configuration; [`Error::Internal`] when the HTTP
    /// client cannot be built.
    pub fn new(
        config: ClinikoClientConfig,
        shared: clinicgate_core::ports::SharedState,
    ) -> Result<Self> {
        config.validate()?;
        let budget = Budget::new(
            Arc::clone(&shared.rate_limiter),
            Arc::clone(&shared.cache),
            config.budget.clone(),
        );
        let telemetry = Telemetry::new(Arc::clone(&shared.rate_limiter));
        let transport = Transport::new(&config, budget, telemetry.clone())?;
        let lock_ttl = config.timeout + Duration::from_secs(5);
        let reference = ReferenceCache::new(
            Arc::clone(&shared.cache),
            config.cache_ttl,
            lock_ttl,
            telemetry,
        );
        Ok(Self {
            transport,
            reference,
            config: Arc::new(config),
        })
    }

    /// This client, also counting every call it sends in the clinics' durable usage counters
    /// (by clinic, lane and API client).
    #[must_use]
    pub fn with_usage(self, usage: clinicgate_core::usage::UsageRecorder) -> Self {
        Self {
            transport: self.transport.with_usage(usage),
            ..self
        }
    }

    fn url(&self, account: &ClinikoAccount, path: &str) -> Result<Url> {
        self.transport.url(account.key.shard(), path)
    }

    /// A reference-data list, from the cache or every page from Cliniko.
    async fn cached_list<T: FromWire>(
        &self,
        call: Call<'_>,
        resource: &str,
        path: &str,
        envelope: &'static str,
    ) -> Result<Vec<T>> {
        let url = self.url(call.account, path)?;
        let value = self
            .reference
            .get_or_fetch(call.account, resource, || async move {
                self.transport
                    .list(&call, url, envelope, None)
                    .await
                    .map(Value::Array)
            })
            .await?;
        records(value, call.operation)
    }

    /// Every record of a patient-data list (never cached).
    async fn list<T: FromWire>(
        &self,
        call: Call<'_>,
        path: &str,
        envelope: &'static str,
        query: &ListQuery,
    ) -> Result<Vec<T>> {
        let mut url = self.url(call.account, path)?;
        append(&mut url, &query.params());
        let items = self
            .transport
            .list(&call, url, envelope, query.max_records())
            .await?;
        records(Value::Array(items), call.operation)
    }

    /// One page of a list (one call) and the number of records on every page.
    async fn counted_page<T: FromWire>(
        &self,
        call: Call<'_>,
        path: &str,
        envelope: &'static str,
        query: &ListQuery,
        page: PageRequest,
    ) -> Result<ListPage<T>> {
        let mut url = self.url(call.account, path)?;
        append(&mut url, &query.params());
        url.query_pairs_mut()
            .append_pair("page", &page.number().to_string())
            .append_pair("per_page", &page.size().to_string());
        let (items, total) = self
            .transport
            .counted_page::<Wire<T>>(&call, url, envelope)
            .await?;
        Ok(ListPage {
            items: items.into_iter().map(|Wire(record)| record).collect(),
            total,
        })
    }

    async fn get<T: DeserializeOwned>(&self, call: Call<'_>, path: &str) -> Result<T> {
        let url = self.url(call.account, path)?;
        self.transport.get_json(&call, url).await
    }

    /// One record.
    async fn get_record<T: FromWire>(&self, call: Call<'_>, path: &str) -> Result<T> {
        self.get(call, path).await.map(|Wire(record)| record)
    }

    /// A write with a JSON body; the answer's body is the record written.
    async fn write<T: FromWire>(
        &self,
        call: Call<'_>,
        method: Method,
        path: &str,
        body: &(impl ToWire + Sync),
    ) -> Result<T> {
        let answer = self
            .send_body(call, method, path, Some(&Wire(body)))
            .await?;
        responses::parse(&answer, call.operation).map(|Wire(record)| record)
    }

    /// A write whose answer has no body (204).
    async fn act(
        &self,
        call: Call<'_>,
        method: Method,
        path: &str,
        body: Option<&(impl serde::Serialize + Sync)>,
    ) -> Result<()> {
        self.send_body(call, method, path, body).await.map(drop)
    }

    async fn send_body(
        &self,
        call: Call<'_>,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<Vec<u8>> {
        let url = self.url(call.account, path)?;
        let body = body
            .map(serde_json::to_value)
            .transpose()
            .map_err(Error::internal)?;
        let answer = self
            .transport
            .send(&call, method, url, body.as_ref())
            .await?;
        Ok(answer.body)
    }

    /// The business's time zone: its IANA identifier, its label, the account's zone, or UTC.
    async fn business_zone(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<Tz> {
        let business = self.business(account, lane, id).await?;
        if let Some(zone) = business
            .iana_time_zone()
            .and_then(|name| name.parse::<Tz>().ok())
        {
            return Ok(zone);
        }
        let settings = self.settings(account, lane).await?;
        Ok(settings
            .account
            .iana_time_zone()
            .and_then(|name| name.parse::<Tz>().ok())
            .unwrap_or_else(|| {
                tracing::warn!("no usable time zone on the business or the account; using UTC");
                Tz::UTC
            }))
    }

    async fn available_window(
        &self,
        call: Call<'_>,
        bookable: &Bookable,
        window: (chrono::NaiveDate, chrono::NaiveDate),
    ) -> Result<Vec<AvailableTime>> {
        let mut url = self.url(
            call.account,
            &format!("{}/available_times", bookable_path(bookable)),
        )?;
        append(
            &mut url,
            &[
                ("from", window.0.format("%Y-%m-%d").to_string()),
                ("to", window.1.format("%Y-%m-%d").to_string()),
            ],
        );
        let items = self
            .transport
            .list(&call, url, "available_times", None)
            .await?;
        records(Value::Array(items), call.operation)
    }
}

/// Names a call.
fn call<'a>(
    account: &'a ClinikoAccount,
    lane: Lane,
    operation: &'static str,
    resource: &'static str,
) -> Call<'a> {
    Call {
        account,
        lane,
        operation,
        resource,
    }
}

/// Parses a JSON array of records.
fn records<T: FromWire>(value: Value, operation: &'static str) -> Result<Vec<T>> {
    serde_json::from_value::<Vec<Wire<T>>>(value)
        .map(|records| records.into_iter().map(|Wire(record)| record).collect())
        .map_err(|err| responses::bad_json(operation, &err))
}

fn append(url: &mut Url, params: &[(&str, String)]) {
    if params.is_empty() {
        return;
    }
    let mut pairs = url.query_pairs_mut();
    for (name, value) in params {
        pairs.append_pair(name, value);
    }
}

fn bookable_path(bookable: &Bookable) -> String {
    format!(
        "/businesses/{}/practitioners/{}/appointment_types/{}",
        bookable.business_id, bookable.practitioner_id, bookable.appointment_type_id
    )
}

/// The record with `id` in a cached list, else a fetch of just that record.
async fn find_or_get<T, F, Fut>(
    list: Vec<T>,
    id: &ClinikoId,
    key: impl Fn(&T) -> &ClinikoId,
    get: F,
) -> Result<T>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    match list.into_iter().find(|item| key(item) == id) {
        Some(found) => Ok(found),
        None => get().await,
    }
}

#[async_trait]
impl ClinikoClient for HttpClinikoClient {
    async fn reserve(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        calls: u32,
    ) -> Result<Arc<dyn ClinikoClient>> {
        let key = KeyId::of(&account.key);
        let budget = self.transport.budget();
        budget
            .reserve(&key, lane, calls, account.caller.as_ref())
            .await?;
        Ok(Arc::new(Self {
            transport: self
                .transport
                .with_prepaid(Prepaid::new(key, calls, budget.clone())),
            ..self.clone()
        }))
    }

    async fn current_user(&self, account: &ClinikoAccount, lane: Lane) -> Result<ClinikoUser> {
        self.get_record(call(account, lane, "user.get", "cliniko user"), "/user")
            .await
    }

    async fn practitioners(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        scope: &PractitionerScope,
    ) -> Result<Vec<Practitioner>> {
        let (resource, path) = match scope {
            PractitionerScope::All => ("practitioners".to_owned(), "/practitioners".to_owned()),
            PractitionerScope::AtBusiness(id) => (
                format!("practitioners:business:{id}"),
                format!("/businesses/{id}/practitioners"),
            ),
            PractitionerScope::OfferingType(id) => (
                format!("practitioners:appointment_type:{id}"),
                format!("/appointment_types/{id}/practitioners"),
            ),
        };
        let call = call(account, lane, "practitioners.list", "practitioners");
        self.cached_list(call, &resource, &path, "practitioners")
            .await
    }

    async fn practitioner(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<Practitioner> {
        let all = self
            .practitioners(account, lane, &PractitionerScope::All)
            .await?;
        let path = format!("/practitioners/{id}");
        let call = call(account, lane, "practitioners.get", "practitioner");
        find_or_get(all, id, |p| &p.id, || self.get_record(call, &path)).await
    }

    async fn businesses(&self, account: &ClinikoAccount, lane: Lane) -> Result<Vec<Business>> {
        let call = call(account, lane, "businesses.list", "businesses");
        self.cached_list(call, "businesses", "/businesses", "businesses")
            .await
    }

    async fn business(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<Business> {
        let all = self.businesses(account, lane).await?;
        let path = format!("/businesses/{id}");
        let call = call(account, lane, "businesses.get", "business");
        find_or_get(all, id, |b| &b.id, || self.get_record(call, &path)).await
    }

    async fn appointment_types(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        scope: &AppointmentTypeScope,
    ) -> Result<Vec<AppointmentType>> {
        let (resource, path) = match scope {
            AppointmentTypeScope::All => (
                "appointment_types".to_owned(),
                "/appointment_types".to_owned(),
            ),
            AppointmentTypeScope::OfferedBy(id) => (
                format!("appointment_types:practitioner:{id}"),
                format!("/practitioners/{id}/appointment_types"),
            ),
        };
        let call = call(account, lane, "appointment_types.list", "appointment types");
        self.cached_list(call, &resource, &path, "appointment_types")
            .await
    }

    async fn appointment_type(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<AppointmentType> {
        let all = self
            .appointment_types(account, lane, &AppointmentTypeScope::All)
            .await?;
        let path = format!("/appointment_types/{id}");
        let call = call(account, lane, "appointment_types.get", "appointment type");
        find_or_get(all, id, |t| &t.id, || self.get_record(call, &path)).await
    }

    async fn available_times(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        query: &AvailabilityQuery,
    ) -> Result<Vec<AvailableTime>> {
        let zone = self
            .business_zone(account, lane, &query.bookable.business_id)
            .await?;
        let windows = availability::windows(query.from, query.to, availability::today_in(zone))?;
        let call = call(account, lane, "available_times.list", "available times");
        let pages: Vec<Vec<AvailableTime>> = futures::stream::iter(windows)
            .map(|window| self.available_window(call, &query.bookable, window))
            .buffered(WINDOWS_IN_PARALLEL)
            .try_collect()
            .await?;
        let mut times: Vec<AvailableTime> = pages
            .into_iter()
            .flatten()
            .filter(|time| {
                let day = availability::local_day(time.appointment_start, zone);
                (query.from..=query.to).contains(&day)
            })
            .collect();
        times.sort_unstable();
        times.dedup();
        Ok(times)
    }

    fn available_times_calls(&self, query: &AvailabilityQuery) -> u32 {
        availability::most_calls(query.from, query.to)
    }

    async fn next_available_time(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        bookable: &Bookable,
    ) -> Result<Option<AvailableTime>> {
        let next: wire::NextAvailableTime = self
            .get(
                call(
                    account,
                    lane,
                    "next_available_time.get",
                    "next available time",
                ),
                &format!("{}/next_available_time", bookable_path(bookable)),
            )
            .await?;
        Ok(next.into_time())
    }

    async fn appointments(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        query: &ListQuery,
    ) -> Result<Vec<Appointment>> {
        let call = call(account, lane, "appointments.list", "appointments");
        self.list(
            call,
            "/individual_appointments",
            "individual_appointments",
            query,
        )
        .await
    }

    async fn appointments_page(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        query: &ListQuery,
        page: PageRequest,
    ) -> Result<ListPage<Appointment>> {
        let call = call(account, lane, "appointments.list", "appointments");
        self.counted_page(
            call,
            "/individual_appointments",
            "individual_appointments",
            query,
            page,
        )
        .await
    }

    async fn appointment(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<Appointment> {
        self.get_record(
            call(account, lane, "appointments.get", "appointment"),
            &format!("/individual_appointments/{id}"),
        )
        .await
    }

    async fn create_appointment(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        appointment: &NewAppointment,
    ) -> Result<Appointment> {
        self.write(
            call(account, lane, "appointments.create", "appointment"),
            Method::POST,
            "/individual_appointments",
            appointment,
        )
        .await
    }

    async fn update_appointment(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
        patch: &AppointmentPatch,
    ) -> Result<Appointment> {
        self.write(
            call(account, lane, "appointments.update", "appointment"),
            Method::PATCH,
            &format!("/individual_appointments/{id}"),
            patch,
        )
        .await
    }

    async fn cancel_appointment(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
        cancellation: &Cancellation,
    ) -> Result<()> {
        self.act(
            call(account, lane, "appointments.cancel", "appointment"),
            Method::PATCH,
            &format!("/individual_appointments/{id}/cancel"),
            Some(&Wire(cancellation)),
        )
        .await
    }

    async fn appointment_conflicts(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<bool> {
        let answer: wire::Conflicts = self
            .get(
                call(account, lane, "appointments.conflicts", "appointment"),
                &format!("/individual_appointments/{id}/conflicts"),
            )
            .await?;
        Ok(answer.exist())
    }

    async fn changes(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        query: &ChangeQuery,
    ) -> Result<Changes> {
        let (path, _) = changes::feed_path(query.feed);
        let call = call(account, lane, "changes.list", "changes");
        let base = self.url(account, path)?;
        let (items, complete) = changes::read(&self.transport, &call, base, query).await?;
        let items = Value::Array(items);
        let records = match query.feed {
            Feed::Appointments => Changed::Appointments(records(items, call.operation)?),
            Feed::Patients => Changed::Patients(records(items, call.operation)?),
            Feed::DailyAvailabilities => {
                Changed::DailyAvailabilities(records(items, call.operation)?)
            }
        };
        Ok(Changes { records, complete })
    }

    async fn patients(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        query: &ListQuery,
    ) -> Result<Vec<Patient>> {
        let call = call(account, lane, "patients.list", "patients");
        self.list(call, "/patients", "patients", query).await
    }

    async fn patients_page(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        query: &ListQuery,
        page: PageRequest,
    ) -> Result<ListPage<Patient>> {
        let call = call(account, lane, "patients.list", "patients");
        self.counted_page(call, "/patients", "patients", query, page)
            .await
    }

    async fn patient(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<Patient> {
        self.get_record(
            call(account, lane, "patients.get", "patient"),
            &format!("/patients/{id}"),
        )
        .await
    }

    async fn create_patient(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        patient: &PatientFields,
    ) -> Result<Patient> {
        self.write(
            call(account, lane, "patients.create", "patient"),
            Method::POST,
            "/patients",
            patient,
        )
        .await
    }

    async fn update_patient(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
        patch: &PatientFields,
    ) -> Result<Patient> {
        self.write(
            call(account, lane, "patients.update", "patient"),
            Method::PATCH,
            &format!("/patients/{id}"),
            patch,
        )
        .await
    }

    async fn archive_patient(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<()> {
        self.act(
            call(account, lane, "patients.archive", "patient"),
            Method::POST,
            &format!("/patients/{id}/archive"),
            None::<&Value>,
        )
        .await
    }

    async fn medical_alerts(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        patient_id: &ClinikoId,
    ) -> Result<Vec<MedicalAlert>> {
        let query = ListQuery::new().filter(clinicgate_core::cliniko::Filter::eq(
            "patient_id",
            patient_id,
        ));
        let call = call(account, lane, "medical_alerts.list", "medical alerts");
        self.list(call, "/medical_alerts", "medical_alerts", &query)
            .await
    }

    async fn daily_availabilities(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        practitioners: &[ClinikoId],
    ) -> Result<Vec<DailyAvailability>> {
        if practitioners.is_empty() {
            return Ok(Vec::new());
        }
        let query = ListQuery::new().filter(clinicgate_core::cliniko::Filter::one_of(
            "practitioner_id",
            practitioners,
        ));
        let call = call(
            account,
            lane,
            "daily_availabilities.list",
            "daily availabilities",
        );
        self.list(
            call,
            "/daily_availabilities",
            "daily_availabilities",
            &query,
        )
        .await
    }

    async fn medical_alert(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<MedicalAlert> {
        self.get_record(
            call(account, lane, "medical_alerts.get", "medical alert"),
            &format!("/medical_alerts/{id}"),
        )
        .await
    }

    async fn settings(&self, account: &ClinikoAccount, lane: Lane) -> Result<ClinikoSettings> {
        let call = call(account, lane, "settings.get", "settings");
        let url = self.url(account, "/settings")?;
        let value = self
            .reference
            .get_or_fetch(account, "settings", || async move {
                let mut value: Value = self.transport.get_json(&call, url).await?;
                // Accept the settings either bare or wrapped in `{"settings": …}`.
                if let Some(inner) = value.get_mut("settings").map(Value::take) {
                    value = inner;
                }
                Ok(value)
            })
            .await?;
        serde_json::from_value(value)
            .map(|Wire(settings)| settings)
            .map_err(|err| responses::bad_json("settings.get", &err))
    }

    async fn invalidate_reference_data(&self, account: &ClinikoAccount) -> Result<()> {
        self.reference.invalidate(account).await
    }

    async fn usage(&self, account: &ClinikoAccount) -> Result<ClinikoUsage> {
        let key = KeyId::of(&account.key);
        let budget = self.transport.budget();
        let telemetry = self.transport.telemetry();
        let tenant = &account.tenant_id;
        let mut lanes = Vec::with_capacity(Lane::ALL.len());
        for lane in Lane::ALL {
            let (sent_this, sent_last, refused_this, refused_last) = futures::try_join!(
                telemetry.shared_count(tenant, lane, Counted::Sent, 0),
                telemetry.shared_count(tenant, lane, Counted::Sent, 1),
                telemetry.shared_count(tenant, lane, Counted::Refused, 0),
                telemetry.shared_count(tenant, lane, Counted::Refused, 1),
            )?;
            lanes.push(LaneUsage {
                lane,
                sent_this_minute: sent_this,
                sent_last_minute: sent_last,
                refused_this_minute: refused_this,
                refused_last_minute: refused_last,
            });
        }
        let per_minute = budget_per_minute(&self.config);
        Ok(ClinikoUsage {
            budget_per_minute: per_minute,
            available_now: budget.available(&key).await?,
            paused_for: budget.paused_for(&key).await?,
            lanes,
        })
    }
}

/// The sustained budget expressed per minute (the configured period is a minute except in
/// tests), rounded down: never promise more than the budget gives.
fn budget_per_minute(config: &ClinikoClientConfig) -> u32 {
    let period_us = config.budget.period.as_micros().max(1);
    let per_minute = u128::from(config.budget.limit) * 60_000_000 / period_us;
    u32::try_from(per_minute).unwrap_or(u32::MAX)
}
