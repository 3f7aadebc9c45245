//! The command line: `clinicgate [--config FILE] [serve|migrate|openapi|healthcheck|rotate-master-key|rotate-signing-key|cliniko-sandbox|partner-stub]`.
//!
//! `cliniko-sandbox`, `partner-stub` and `serve --demo` exist only with the default cargo feature `cliniko-sandbox`
//! (the Cliniko look-alike server, `clinicgate-cliniko-sandbox`); a build without it has neither.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use clinicgate_adapters::secrets::SeaDataKeyRepository;
use clinicgate_adapters::service_keys::SeaServiceKeyRepository;
use clinicgate_core::crypto::MasterKey;
use clinicgate_core::secrets;
use clinicgate_core::tokens::SigningKeys;

use crate::config::{Settings, local_address};
use crate::startup::{self, Application};

/// ClinicGate: the integration gateway between Cliniko, third-party apps and HL7 FHIR.
#[derive(Debug, Parser)]
#[command(name = "clinicgate", version, about)]
pub struct Cli {
    /// A TOML file overriding the embedded defaults (see config/default.toml).
    #[arg(long, global = true, env = "CLINICGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve {
        /// Also run the Cliniko sandbox in-process and create a `demo` clinic connected to it, so
        /// the whole product works with no Cliniko account (prints the demo login once).
        #[cfg(feature = "cliniko-sandbox")]
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (as committed in openapi/openapi.json) and exit.
    Openapi,
    /// Ask the running service whether it is ready; exit 0 if so (for container health checks).
    Healthcheck {
        /// Only check that the process answers (`/healthz`), not its dependencies (`/readyz`).
        #[arg(long)]
        live: bool,
    },
    #[cfg(feature = "cliniko-sandbox")]
    /// Run the Cliniko sandbox: a local server that behaves like Cliniko (several demo accounts on
    /// different shards), for demos, tests and partners without a Cliniko account. Point
    /// CLINICGATE_CLINIKO__BASE_URL at the base URL it prints.
    ClinikoSandbox {
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 8090)]
        port: u16,
        /// Address to listen on; loopback by default because the demo keys are published.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// Calls accepted per key per minute (Cliniko allows 200).
        #[arg(long, default_value_t = 200)]
        rate_limit: u32,
        /// Seed of the generated data (the same seed gives the same accounts and keys).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    #[cfg(feature = "cliniko-sandbox")]
    /// Run a partner's patient API in memory (the contract of docs/partner-sync.md), to try
    /// outbound patient sync: configure it as a client's patient sync with the token it prints,
    /// and `GET /patients` on it shows what ClinicGate sent.
    PartnerStub {
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 8091)]
        port: u16,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// The bearer token the stub requires.
        #[arg(
            long,
            env = "CLINICGATE_PARTNER_STUB_TOKEN",
            default_value = "partner-stub-token"
        )]
        token: String,
    },
    /// Re-wrap every clinic's data key under a new master key, while the service keeps running
    /// (see "Rotating the master key" in the README for the whole procedure).
    RotateMasterKey {
        /// A file holding the new master key: base64 of 32 random bytes (`openssl rand -base64 32`).
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
    },
    /// Create a new token signing key now, whatever the schedule (e.g. after a suspected
    /// compromise). Running instances load it within `tokens.key_check_secs` and sign with it
    /// after `tokens.signing_key_activation_secs`; tokens signed by the previous key keep
    /// validating until they expire.
    RotateSigningKey,
}

/// Runs the command line; the exit code is 0 on success, 1 on failure, 2 for bad configuration.
pub fn run(cli: Cli) -> ExitCode {
    // Both aws-lc-rs and ring end up in the dependency graph; rustls needs one chosen explicitly.
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        // Already installed by an embedding test harness: nothing to do.
    }
    let command = cli.command.unwrap_or(Command::Serve {
        #[cfg(feature = "cliniko-sandbox")]
        demo: false,
    });
    if let Command::Openapi = command {
        return print_openapi();
    }
    #[cfg(feature = "cliniko-sandbox")]
    if let Command::ClinikoSandbox {
        port,
        bind,
        rate_limit,
        seed,
    } = command
    {
        return cliniko_sandbox(std::net::SocketAddr::new(bind, port), rate_limit, seed);
    }
    #[cfg(feature = "cliniko-sandbox")]
    if let Command::PartnerStub { port, bind, token } = command {
        return partner_stub(std::net::SocketAddr::new(bind, port), &token);
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let _log = crate::telemetry::init(settings.log.format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match command {
            #[cfg(feature = "cliniko-sandbox")]
            Command::Serve { demo } => serve(settings, demo).await,
            #[cfg(not(feature = "cliniko-sandbox"))]
            Command::Serve {} => serve(settings).await,
            Command::Migrate => migrate(settings).await,
            Command::Healthcheck { live } => healthcheck(&settings, live).await,
            Command::RotateMasterKey { new_key_file } => {
                rotate_master_key(&settings, &new_key_file).await
            }
            Command::RotateSigningKey => rotate_signing_key(&settings).await,
            Command::Openapi => Ok(()),
            #[cfg(feature = "cliniko-sandbox")]
            Command::ClinikoSandbox { .. } | Command::PartnerStub { .. } => Ok(()),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "clinicgate failed");
            eprintln!("clinicgate: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the Cliniko sandbox until SIGINT/SIGTERM, after printing its base URL and demo keys.
#[cfg(feature = "cliniko-sandbox")]
fn cliniko_sandbox(address: std::net::SocketAddr, rate_limit: u32, seed: u64) -> ExitCode {
    use clinicgate_cliniko_sandbox::{Sandbox, SandboxConfig};
    let _log = crate::telemetry::init(crate::config::LogFormat::Pretty);
    let config = SandboxConfig {
        rate_limit,
        seed,
        ..SandboxConfig::default()
    };
    let outcome = actix_web::rt::System::new().block_on(async move {
        let listener =
            std::net::TcpListener::bind(address).with_context(|| format!("binding {address}"))?;
        let (sandbox, server) = Sandbox::bind(listener, &config, true)?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "Cliniko sandbox listening on http://{}",
            sandbox.address()
        )?;
        writeln!(out, "CLINICGATE_CLINIKO__BASE_URL={}", sandbox.base_url())?;
        writeln!(
            out,
            "Rate limit: {rate_limit} calls per minute per key; seed {seed}"
        )?;
        writeln!(out, "Demo keys (also at GET /__sandbox/keys):")?;
        for key in sandbox.keys() {
            writeln!(
                out,
                "  {}  {}  {} ({})",
                key.key, key.shard, key.account, key.role
            )?;
        }
        drop(out);
        server.await.context("serving the Cliniko sandbox")
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("clinicgate cliniko-sandbox: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the partner stub until SIGINT/SIGTERM, after printing how to point patient sync at it.
#[cfg(feature = "cliniko-sandbox")]
fn partner_stub(address: std::net::SocketAddr, token: &str) -> ExitCode {
    use clinicgate_cliniko_sandbox::PartnerStub;
    let _log = crate::telemetry::init(crate::config::LogFormat::Pretty);
    let outcome = actix_web::rt::System::new().block_on(async move {
        let listener =
            std::net::TcpListener::bind(address).with_context(|| format!("binding {address}"))?;
        let (stub, server) = PartnerStub::bind(listener, token, true)?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "Partner stub listening on {}", stub.base_url())?;
        writeln!(
            out,
            "Patient sync: base_url {}, auth {{\"type\":\"bearer\",\"token\":\"{token}\"}}",
            stub.base_url()
        )?;
        writeln!(
            out,
            "See what it holds: curl -H 'Authorization: Bearer {token}' {}/patients",
            stub.base_url()
        )?;
        drop(out);
        server.await.context("serving the partner stub")
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("clinicgate partner-stub: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_openapi() -> ExitCode {
    let written = crate::openapi::spec_json()
        .map_err(anyhow::Error::from)
        .and_then(|json| {
            std::io::stdout()
                .lock()
                .write_all(json.as_bytes())
                .map_err(anyhow::Error::from)
        });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("clinicgate openapi: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "cliniko-sandbox")]
async fn serve(mut settings: Settings, demo: bool) -> anyhow::Result<()> {
    let public_url = settings.public_url.as_str().to_owned();
    let sandbox = if demo {
        Some(crate::demo::start_sandbox(&mut settings)?)
    } else {
        None
    };
    let app = Application::build(settings).await?;
    announce_listening(&app, &public_url);
    if let Some(sandbox) = &sandbox {
        let login = crate::demo::ensure_demo_clinic(app.state(), sandbox).await?;
        // A closed standard output (piped to `head`, say) must not stop the service.
        if let Err(err) = crate::demo::announce(&login, sandbox) {
            tracing::warn!(error = %err, "could not print the demo login");
        }
    }
    let served = app.run_until_stopped().await.context("serving HTTP");
    if let Some(sandbox) = sandbox {
        sandbox.stop().await;
    }
    served
}

/// Built without the Cliniko sandbox: there is no `--demo` to ask for.
#[cfg(not(feature = "cliniko-sandbox"))]
async fn serve(settings: Settings) -> anyhow::Result<()> {
    let public_url = settings.public_url.as_str().to_owned();
    let app = Application::build(settings).await?;
    announce_listening(&app, &public_url);
    app.run_until_stopped().await.context("serving HTTP")
}

/// Says where to point a browser: the public URL, not the bind address, because pages on any
/// other host (`127.0.0.1:8080`, say) are not ClinicGate's root or any clinic's.
fn announce_listening(app: &Application, public_url: &str) {
    tracing::info!(
        port = app.port(),
        public_url,
        "ClinicGate is listening; open {public_url}/ in a browser"
    );
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let db = startup::connect_database(&settings).await?;
    startup::migrate(&db).await?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn rotate_master_key(settings: &Settings, new_key_file: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        settings.master_key.is_some() || settings.master_key_file().exists(),
        "no current master key: set CLINICGATE_MASTER_KEY (or _FILE) to the key the service runs with"
    );
    let encoded = std::fs::read_to_string(new_key_file)
        .with_context(|| format!("reading {}", new_key_file.display()))?;
    let new = MasterKey::from_base64(&encoded.into()).with_context(|| {
        format!(
            "the key in {} is invalid (generate one with `openssl rand -base64 32`)",
            new_key_file.display()
        )
    })?;
    let new_id = new.id();
    let keyring = startup::load_keyring(settings)?;
    let db = startup::connect_database(settings).await?;
    // The deployment's own keys (client-secret hashing, token signing) are sealed by the master
    // key too; they are re-wrapped first, with the same guarantees.
    let service =
        secrets::rotate_service_keys(&keyring, &new, &SeaServiceKeyRepository::new(db.clone()))
            .await
            .map_err(|err| anyhow::anyhow!("{err}: {}", cause_chain(&err)))?;
    let clinics = secrets::rotate_master_key(&keyring, new, &SeaDataKeyRepository::new(db))
        .await
        .map_err(|err| anyhow::anyhow!("{err}: {}", cause_chain(&err)))?;
    let report = secrets::RotationReport {
        rewrapped: clinics.rewrapped,
        skipped: clinics.skipped + service.skipped,
    };
    tracing::info!(
        master_key_id = %new_id,
        rewrapped = report.rewrapped,
        service_keys_rewrapped = service.rewrapped,
        skipped = report.skipped,
        "master key rotation finished"
    );
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Re-wrapped {} data key(s) under master key {new_id}.",
        report.rewrapped
    )?;
    writeln!(
        out,
        "Re-wrapped {} service key(s) (token signing, client-secret hashing).",
        service.rewrapped
    )?;
    if report.skipped > 0 {
        writeln!(
            out,
            "{} data key(s) changed while rotating and were left alone: run the command again.",
            report.skipped
        )?;
    } else {
        writeln!(
            out,
            "Every data key is now wrapped by {new_id}. Once every instance runs with this key as \
             CLINICGATE_MASTER_KEY, remove CLINICGATE_PREVIOUS_MASTER_KEY and retire the old key."
        )?;
    }
    Ok(())
}

async fn rotate_signing_key(settings: &Settings) -> anyhow::Result<()> {
    let keyring = Arc::new(startup::load_keyring(settings)?);
    let db = startup::connect_database(settings).await?;
    let keys = SigningKeys::start(
        keyring,
        Arc::new(SeaServiceKeyRepository::new(db)),
        settings.tokens.key_policy(),
    )
    .await
    .map_err(|err| anyhow::anyhow!("{err}: {}", cause_chain(&err)))?;
    let kid = keys
        .rotate()
        .await
        .map_err(|err| anyhow::anyhow!("{err}: {}", cause_chain(&err)))?;
    tracing::info!(kid = kid.as_str(), "signing key created");
    writeln!(
        std::io::stdout().lock(),
        "Created signing key {}. It is published at once and signs new tokens from {} seconds \
         from now; tokens signed by the previous key keep validating until they expire.",
        kid.as_str(),
        settings.tokens.signing_key_activation_secs
    )?;
    Ok(())
}

/// The causes of a core error, for an operator's terminal (the message names what to fix).
fn cause_chain(err: &clinicgate_core::Error) -> String {
    let mut chain = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    chain.join(": ")
}

async fn healthcheck(settings: &Settings, live: bool) -> anyhow::Result<()> {
    let path = if live { "healthz" } else { "readyz" };
    let url = format!("http://{}/{path}", local_address(settings.bind));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "GET {url} answered {}",
        response.status()
    );
    Ok(())
}
