//! `clinicgate serve --demo`: the whole product on a fresh machine with no Cliniko account.
//!
//! Runs the Cliniko sandbox inside the process, points the Cliniko client at it, and creates (once)
//! a `demo` clinic connected to one of the sandbox's accounts, going through the same services a
//! clinic owner uses: sign-up, a login, then connecting the key (which verifies it with `GET /user`).
//! The demo login is printed once, to standard output, never to the logs.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, TcpListener};

use anyhow::Context as _;
use clinicgate_cliniko_sandbox::{Sandbox, SandboxConfig};
use clinicgate_core::clinics::{SignupRequest, Subdomain};
use clinicgate_core::sessions::LoginAttempt;
use rand::Rng as _;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret as _, SecretString};

use crate::config::{Environment, Settings};
use crate::state::AppState;

/// The demo clinic's subdomain.
pub const DEMO_SUBDOMAIN: &str = "demo";
/// The demo owner's e-mail.
pub const DEMO_EMAIL: &str = "owner@demo-clinic.example";

/// Starts the sandbox on an ephemeral loopback port and points `settings` at it.
///
/// # Errors
/// In production (the demo is for evaluation only), or when the sandbox cannot start.
pub fn start_sandbox(settings: &mut Settings) -> anyhow::Result<Sandbox> {
    anyhow::ensure!(
        settings.env != Environment::Production,
        "--demo is for evaluation and refuses CLINICGATE_ENV=production"
    );
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the Cliniko sandbox")?;
    let sandbox = Sandbox::start(listener, &SandboxConfig::default())
        .context("starting the Cliniko sandbox")?;
    settings.cliniko.base_url = sandbox.base_url();
    Ok(sandbox)
}

/// What to tell the person who started the demo.
#[derive(Debug)]
pub struct DemoLogin {
    /// The clinic's home page.
    pub clinic_url: String,
    /// The owner's password, when the clinic was created by this run.
    pub password: Option<SecretString>,
}

/// Creates the demo clinic and connects it to the sandbox, unless an earlier run already did.
///
/// # Errors
/// When a service refuses (it should not on a fresh data directory).
pub async fn ensure_demo_clinic(state: &AppState, sandbox: &Sandbox) -> anyhow::Result<DemoLogin> {
    let clinic_url = state.settings.public_url.tenant_url(DEMO_SUBDOMAIN);
    let subdomain = Subdomain::parse(DEMO_SUBDOMAIN).map_err(|e| anyhow::anyhow!("{e}"))?;
    if state.clinics.find_by_subdomain(&subdomain).await?.is_some() {
        return Ok(DemoLogin {
            clinic_url,
            password: None,
        });
    }
    let password = SecretString::from(
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(20)
            .map(char::from)
            .collect::<String>(),
    );
    let (clinic, _owner) = state
        .signup
        .sign_up(SignupRequest {
            clinic_name: "Demo Clinic".to_owned(),
            subdomain: DEMO_SUBDOMAIN.to_owned(),
            email: DEMO_EMAIL.to_owned(),
            password: password.clone(),
        })
        .await
        .context("creating the demo clinic")?;
    // Connecting a key needs an owner's context, which only a login creates.
    let login = state
        .sessions
        .login(LoginAttempt {
            tenant_id: clinic.id,
            email: DEMO_EMAIL.to_owned(),
            password: password.clone(),
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            previous: None,
        })
        .await
        .context("logging in to the demo clinic")?;
    // A receptionist's key, as the settings page recommends (not an administrator).
    let key = sandbox
        .keys()
        .iter()
        .find(|k| k.role == "receptionist")
        .or_else(|| sandbox.keys().first())
        .context("the sandbox has no keys")?;
    let connected = state
        .cliniko_keys
        .connect(&login.session.context, &SecretString::from(key.key.clone()))
        .await;
    state
        .sessions
        .logout(&login.token)
        .await
        .context("ending the set-up session")?;
    connected.context("connecting the demo clinic to the sandbox")?;
    Ok(DemoLogin {
        clinic_url,
        password: Some(password),
    })
}

/// Prints how to use the demo.
pub fn announce(login: &DemoLogin, sandbox: &Sandbox) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nClinicGate demo")?;
    writeln!(out, "  clinic:   {}/", login.clinic_url)?;
    match &login.password {
        Some(password) => writeln!(
            out,
            "  log in:   {DEMO_EMAIL} / {} (shown once)",
            password.expose_secret()
        )?,
        None => writeln!(
            out,
            "  log in:   {DEMO_EMAIL} with the password printed when the demo clinic was created"
        )?,
    }
    writeln!(
        out,
        "  Cliniko sandbox: http://{} (demo keys at /__sandbox/keys)",
        sandbox.address()
    )?;
    writeln!(out)
}
