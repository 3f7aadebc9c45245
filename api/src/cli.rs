//! The command line: `clinicgate [--config FILE] [serve|migrate|openapi|healthcheck]`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

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
    Serve,
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
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        return print_openapi();
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init(settings.log.format);
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
            Command::Serve => serve(settings).await,
            Command::Migrate => migrate(settings).await,
            Command::Healthcheck { live } => healthcheck(&settings, live).await,
            Command::Openapi => Ok(()),
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

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let public_url = settings.public_url.as_str().to_owned();
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), public_url, "ClinicGate is listening");
    app.run_until_stopped().await.context("serving HTTP")
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let db = startup::connect_database(&settings).await?;
    startup::migrate(&db).await?;
    tracing::info!("migrations applied");
    Ok(())
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
