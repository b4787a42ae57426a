//! `tlsscope cert`: keys, CSRs and certificates.

use std::process::ExitCode;

use crate::output::Output;

#[derive(clap::Subcommand, Debug)]
pub enum Command {}

pub fn run(cmd: Command, _out: &Output) -> anyhow::Result<ExitCode> {
    match cmd {}
}
