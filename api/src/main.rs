//! The `clinicgate` binary.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    clinicgate_api::cli::run(clinicgate_api::cli::Cli::parse())
}
