//! `tlsscope`: see inside HTTPS.
//!
//! A thin binary: flags (clap), one module per command under `cmd/`, the
//! renderers under `render/`. Exit codes: 0 success, 1 finished but found
//! problems (undecryptable sessions, malformed input), 2 error.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod input;
mod keys;
mod output;
mod render;
mod report;

/// See inside HTTPS: make certificates, serve and fetch "Hello World!",
/// capture, dissect, decrypt and explain TLS.
#[derive(Parser, Debug)]
#[command(name = "tlsscope", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    /// When to use colours: auto (on a terminal), always or never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    color: output::ColorChoice,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The whole HTTPS lab in one command: certificate, server, plain HTTP, TLS 1.2 and 1.3.
    Demo(cmd::demo::Args),
    /// Make and show keys, CSRs and certificates (the lab's openssl steps).
    #[command(subcommand)]
    Cert(cmd::cert::Command),
    /// Serve "Hello World!" over HTTP and HTTPS (HTTP/1.1 and HTTP/2, TLS 1.2 and 1.3).
    Serve(cmd::serve::Args),
    /// Fetch a URL like curl, optionally recording the traffic as pcapng with its secrets.
    Get(cmd::get::Args),
    /// List the TCP connections of a capture, with what reassembly found.
    Flows(cmd::flows::Args),
    /// Capture live traffic (loopback included) like tcpdump: list it or write pcapng.
    Capture(cmd::capture::Args),
    /// Print the bytes of each stream, per direction (like tshark's follow).
    Follow(cmd::follow::Args),
    /// Dissect every TLS session of a capture: the handshake ladder and each message's fields.
    Inspect(cmd::inspect::Args),
    /// Write one self-contained HTML page: sessions, ladder diagrams, field trees, hex, HTTP.
    Report(cmd::report::Args),
}

/// mimalloc (built from C with the crate; no system library): a decrypting
/// run allocates per record and message, and spent a quarter less time than
/// with glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = output::Output::new(cli.color);
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a, &out),
        Command::Cert(c) => cmd::cert::run(c, &out),
        Command::Serve(a) => cmd::serve::run(a, &out),
        Command::Get(a) => cmd::get::run(a, &out),
        Command::Flows(a) => cmd::flows::run(a, &out),
        Command::Capture(a) => cmd::capture::run(a, &out),
        Command::Follow(a) => cmd::follow::run(a, &out),
        Command::Inspect(a) => cmd::inspect::run(a, &out),
        Command::Report(a) => cmd::report::run(a, &out),
    };
    match result {
        Ok(code) => code,
        Err(err) => output::report_error(&err),
    }
}
