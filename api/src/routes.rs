//! Every route, registered in one place so the server and the OpenAPI document can never
//! disagree about what exists. HTML pages and static assets are registered here too, through
//! [`Routes::pages`], which keeps them out of the API document.

use actix_web::dev::HttpServiceFactory;
use actix_web::web;
use utoipa_actix_web::OpenApiFactory;

use crate::{
    audit, auth, calendar_feeds, clients, clinic_settings, clinics, cliniko_key, dashboard, fhir,
    fhir_destinations, login, mfa, notifications, ops, pages, patients, public, signup, sso,
    suspensions, usage, users, webhooks,
};

/// Where routes are registered: utoipa-actix-web's config when building the OpenAPI document
/// (it collects each route's annotations), actix's own in the HTTP workers. Each worker builds
/// its own `App`, and collecting the document there too cost every worker megabytes of memory it
/// then kept (glibc does not return a thread arena's freed pages), for a document built once at
/// start-up anyway.
pub trait Routes {
    /// Registers one documented route.
    fn route<F: HttpServiceFactory + OpenApiFactory + 'static>(&mut self, factory: F) -> &mut Self;
    /// Registers a route kept out of the document: not part of the JSON API (a calendar feed
    /// that calendar applications fetch).
    fn unlisted<F: HttpServiceFactory + 'static>(&mut self, factory: F) -> &mut Self;
    /// Registers the HTML pages and assets (never in the document).
    fn pages(&mut self) -> &mut Self;
    /// Registers the FHIR facade (described by its own CapabilityStatement, not the document).
    fn fhir(&mut self) -> &mut Self;
}

impl Routes for web::ServiceConfig {
    fn route<F: HttpServiceFactory + OpenApiFactory + 'static>(&mut self, factory: F) -> &mut Self {
        self.service(factory)
    }

    fn unlisted<F: HttpServiceFactory + 'static>(&mut self, factory: F) -> &mut Self {
        self.service(factory)
    }

    fn pages(&mut self) -> &mut Self {
        pages::configure(self);
        self
    }

    fn fhir(&mut self) -> &mut Self {
        fhir::configure(self);
        self
    }
}

impl Routes for utoipa_actix_web::service_config::ServiceConfig<'_> {
    fn route<F: HttpServiceFactory + OpenApiFactory + 'static>(&mut self, factory: F) -> &mut Self {
        self.service(factory)
    }

    fn unlisted<F: HttpServiceFactory + 'static>(&mut self, factory: F) -> &mut Self {
        self.map(|cfg| cfg.service(factory))
    }

    fn pages(&mut self) -> &mut Self {
        self.map(|cfg| {
            pages::configure(cfg);
            cfg
        })
    }

    fn fhir(&mut self) -> &mut Self {
        self.map(|cfg| {
            fhir::configure(cfg);
            cfg
        })
    }
}

/// Registers the documented routes, then the FHIR facade and the pages.
pub fn configure(cfg: &mut impl Routes) {
    cfg.route(ops::healthz)
        .route(ops::readyz)
        .route(ops::metrics)
        .route(signup::sign_up)
        .route(login::create_session)
        .route(login::current_session)
        .route(login::delete_session)
        .route(login::complete_session_mfa)
        .route(login::request_password_reset)
        .route(mfa::start_enrolment)
        .route(mfa::confirm_enrolment)
        .route(mfa::disable_mfa)
        .route(mfa::reset_user_mfa)
        .route(clinics::get_tenant)
        .route(clinic_settings::get_clinic_settings)
        .route(clinic_settings::update_clinic_settings)
        .route(sso::get_sso)
        .route(sso::put_sso)
        .route(sso::delete_sso)
        .route(users::list_users)
        .route(users::create_user)
        .route(users::update_user)
        .route(users::delete_user)
        .route(users::create_reset_link)
        .route(users::change_own_password)
        .route(cliniko_key::get_cliniko_key)
        .route(cliniko_key::put_cliniko_key)
        .route(cliniko_key::delete_cliniko_key)
        .route(clients::list_clients)
        .route(clients::create_client)
        .route(clients::update_client)
        .route(clients::rotate_client_secret)
        .route(clients::delete_client)
        .route(clients::put_patient_sync)
        .route(clients::get_patient_sync)
        .route(clients::delete_patient_sync)
        .route(clients::backfill_patient_sync)
        .route(clients::list_patient_sync_deliveries)
        .route(clients::retry_patient_sync_delivery)
        .route(clients::list_patient_links)
        .route(clients::put_client_jwks)
        .route(clients::get_client_jwks)
        .route(clients::delete_client_jwks)
        .route(clients::suspend_client)
        .route(clients::resume_client)
        .route(suspensions::list_suspensions)
        .route(suspensions::suspend_integrations)
        .route(suspensions::resume_integrations)
        .route(usage::get_usage)
        .route(dashboard::get_dashboard)
        .route(calendar_feeds::list_calendar_feeds)
        .route(calendar_feeds::create_calendar_feed)
        .route(calendar_feeds::get_calendar_feed_settings)
        .route(calendar_feeds::put_calendar_feed_settings)
        .route(calendar_feeds::list_calendar_feed_doctors)
        .route(calendar_feeds::revoke_calendar_feed)
        .route(fhir_destinations::list_fhir_destinations)
        .route(fhir_destinations::create_fhir_destination)
        .route(fhir_destinations::get_fhir_destination)
        .route(fhir_destinations::update_fhir_destination)
        .route(fhir_destinations::delete_fhir_destination)
        .route(fhir_destinations::test_fhir_destination)
        .route(fhir_destinations::list_fhir_destination_deliveries)
        .route(fhir_destinations::retry_fhir_destination_delivery)
        .route(fhir_destinations::start_fhir_destination_backfill)
        .route(fhir_destinations::get_fhir_destination_backfill)
        .route(fhir_destinations::fhir_destination_jwks)
        .route(notifications::get_notification_settings)
        .route(notifications::put_notification_settings)
        .route(notifications::preview_notification)
        .route(notifications::notification_history)
        .route(notifications::list_notification_templates)
        .route(notifications::put_notification_template)
        .route(notifications::delete_notification_template)
        .route(notifications::list_notification_opt_outs)
        .route(notifications::clear_notification_opt_out)
        .route(notifications::get_sms_settings)
        .route(notifications::put_sms_settings)
        .route(webhooks::list_clinic_webhooks)
        .route(webhooks::list_clinic_webhook_deliveries)
        .route(webhooks::disable_clinic_webhook)
        .route(webhooks::enable_clinic_webhook)
        .route(webhooks::resend_clinic_webhook_delivery)
        .route(auth::issue_token)
        .route(auth::validate)
        .route(auth::revoke)
        .route(auth::jwks)
        .route(auth::smart_configuration)
        .route(public::me)
        .route(patients::get_patient)
        .route(audit::list_audit)
        .route(audit::export_audit)
        .route(public::list_doctors)
        .route(public::get_doctor)
        .route(public::list_specialties)
        .route(public::list_clinics)
        .route(public::list_appointment_types)
        .route(public::available_slots)
        .route(public::doctor_freebusy)
        .route(public::doctor_freebusy_ics)
        .route(public::list_appointments)
        .route(public::get_appointment)
        .route(public::create_appointment)
        .route(public::update_appointment)
        .route(public::appointment_status)
        .route(public::create_patient)
        .route(public::list_patients)
        .route(public::get_patient)
        .route(public::update_patient)
        .route(public::list_event_types)
        .route(public::list_webhooks)
        .route(public::create_webhook)
        .route(public::get_webhook)
        .route(public::update_webhook)
        .route(public::delete_webhook)
        .route(public::rotate_webhook_secret)
        .route(public::test_webhook)
        .route(public::list_webhook_deliveries)
        .route(public::resend_webhook_delivery)
        .route(public::recover_webhook)
        .unlisted(calendar_feeds::doctor_feed)
        // Before the FHIR scope, which would answer it with its own 404.
        .unlisted(auth::fhir_smart_configuration)
        .fhir()
        .pages();
}
