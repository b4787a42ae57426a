//! `tlsscope serve`: the lab's "Hello World!" server.

use std::process::ExitCode;

use crate::output::Output;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args, _out: &Output) -> anyhow::Result<ExitCode> {
    anyhow::bail!("serve is not built yet")
}
