//! Every route, registered in one place so the server and the OpenAPI document can never
//! disagree about what exists. HTML pages and static assets are registered here too, through
//! `map`, which keeps them out of the API document.

use utoipa_actix_web::service_config::ServiceConfig;

use crate::{
    audit, auth, clients, clinic, cliniko_key, ops, pages, patients, public, session, signup, users,
};

/// Registers the documented routes, then the pages.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(signup::sign_up)
        .service(session::api::create_session)
        .service(session::api::current_session)
        .service(session::api::delete_session)
        .service(clinic::get_tenant)
        .service(users::list_users)
        .service(users::create_user)
        .service(users::update_user)
        .service(users::delete_user)
        .service(cliniko_key::get_cliniko_key)
        .service(cliniko_key::put_cliniko_key)
        .service(cliniko_key::delete_cliniko_key)
        .service(clients::list_clients)
        .service(clients::create_client)
        .service(clients::update_client)
        .service(clients::rotate_client_secret)
        .service(clients::delete_client)
        .service(auth::issue_token)
        .service(auth::validate)
        .service(auth::revoke)
        .service(auth::jwks)
        .service(public::me)
        .service(patients::get_patient)
        .service(audit::list_audit)
        .service(audit::export_audit)
        .service(public::list_doctors)
        .service(public::get_doctor)
        .service(public::list_specialties)
        .service(public::list_clinics)
        .service(public::list_appointment_types)
        .service(public::available_slots)
        .service(public::create_appointment)
        .service(public::update_appointment)
        .service(public::appointment_status)
        .map(|cfg| {
            pages::configure(cfg);
            cfg
        });
}
