//! `tlsscope get`: a curl-like client that can record what it saw.

use std::process::ExitCode;

use crate::output::Output;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args, _out: &Output) -> anyhow::Result<ExitCode> {
    anyhow::bail!("get is not built yet")
}
