//! `tlsscope cert`: keys, CSRs and certificates, the lab's openssl steps.
//!
//! `new` does all three at once; `key`, `csr` and `sign` are the steps one at
//! a time (`openssl genrsa`, `openssl req -new`, `openssl x509 -req
//! -signkey`); `show` prints any of them as text. The work is in
//! `tlsscope_lab::cert` and `tlsscope_lab::cert_show`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use owo_colors::OwoColorize;
use tlsscope_lab::cert::{self, KeyType, San};
use tlsscope_lab::cert_show::{self, ShowOptions};
use tlsscope_lab::files::{self, Mode};

use crate::output::{EXIT_OK, EXIT_PROBLEMS, Output, warn_mode_fixed};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Make a private key, a CSR and a self-signed certificate in one go
    /// (DIR/server.key, DIR/server.csr, DIR/server.crt).
    New(NewArgs),
    /// Make a private key (like `openssl genrsa -out server.key 2048`).
    Key(KeyArgs),
    /// Make a certificate signing request for a key (like `openssl req -new -key server.key`).
    Csr(CsrArgs),
    /// Self-sign a CSR with its key (like `openssl x509 -req -in server.csr -signkey server.key
    /// -extfile SAN.txt`).
    Sign(SignArgs),
    /// Print a key, CSR or certificate as text (like `openssl x509 -text -noout`), with
    /// signature check, validity and fingerprint.
    ///
    /// Exit status 1 when a signature does not verify or a block of a bundle does not decode;
    /// 2 when nothing could be shown.
    Show(ShowArgs),
}

/// `--key-type` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KeyTypeArg {
    /// RSA 2048-bit (the lab's default).
    #[default]
    Rsa2048,
    /// RSA 3072-bit.
    Rsa3072,
    /// RSA 4096-bit.
    Rsa4096,
    /// ECDSA on P-256.
    P256,
    /// ECDSA on P-384.
    P384,
    /// Ed25519.
    Ed25519,
}

impl From<KeyTypeArg> for KeyType {
    fn from(k: KeyTypeArg) -> KeyType {
        match k {
            KeyTypeArg::Rsa2048 => KeyType::Rsa2048,
            KeyTypeArg::Rsa3072 => KeyType::Rsa3072,
            KeyTypeArg::Rsa4096 => KeyType::Rsa4096,
            KeyTypeArg::P256 => KeyType::P256,
            KeyTypeArg::P384 => KeyType::P384,
            KeyTypeArg::Ed25519 => KeyType::Ed25519,
        }
    }
}

/// Subject and names, shared by `new` and `csr`.
#[derive(clap::Args, Debug)]
pub struct NameArgs {
    /// Subject common name.
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    cn: String,
    /// subjectAltName entries, as openssl writes them: `DNS:name,IP:addr,...`. Default: for
    /// CN=localhost `DNS:localhost,IP:127.0.0.1,IP:::1`, otherwise the CN itself.
    #[arg(long, value_name = "LIST")]
    san: Option<String>,
}

impl NameArgs {
    fn sans(&self) -> anyhow::Result<Vec<San>> {
        Ok(match &self.san {
            Some(list) => cert::parse_san_list(list)?,
            None => cert::default_sans_for(&self.cn),
        })
    }
}

/// Days a certificate is valid: at least one, at most 100 years.
fn days_arg() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=36525)
}

#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// Directory to write server.key, server.csr and server.crt into (made if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Key algorithm and size.
    #[arg(long, value_name = "TYPE", value_enum, default_value_t)]
    key_type: KeyTypeArg,
    #[command(flatten)]
    names: NameArgs,
    /// Days the certificate is valid.
    #[arg(long, value_name = "N", default_value_t = 365, value_parser = days_arg())]
    days: u32,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args, Debug)]
pub struct KeyArgs {
    /// Key algorithm and size.
    #[arg(long, value_name = "TYPE", value_enum, default_value_t)]
    key_type: KeyTypeArg,
    /// Where to write the key (PKCS#8 PEM, mode 0600).
    #[arg(short, long, value_name = "FILE", default_value = "server.key")]
    out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args, Debug)]
pub struct CsrArgs {
    /// The private key (PKCS#8, PKCS#1 or SEC1; PEM or DER; ours or openssl's).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[command(flatten)]
    names: NameArgs,
    /// Where to write the CSR (PEM).
    #[arg(short, long, value_name = "FILE", default_value = "server.csr")]
    out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args, Debug)]
pub struct SignArgs {
    /// The certificate signing request (PEM or DER).
    #[arg(long, value_name = "FILE")]
    csr: PathBuf,
    /// The key the CSR was made with; it signs the certificate.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// subjectAltName entries (`DNS:name,IP:addr,...`); default: the ones the CSR asks for.
    #[arg(long, value_name = "LIST")]
    san: Option<String>,
    /// Days the certificate is valid.
    #[arg(long, value_name = "N", default_value_t = 365, value_parser = days_arg())]
    days: u32,
    /// Where to write the certificate (PEM).
    #[arg(short, long, value_name = "FILE", default_value = "server.crt")]
    out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// A key, CSR or certificate (PEM, with any number of blocks, or DER); `-` reads stdin.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Also print private key components (the secret numbers).
    #[arg(long)]
    private: bool,
}

pub fn run(cmd: Command, out: &Output) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::New(a) => new(a, out),
        Command::Key(a) => key(a, out),
        Command::Csr(a) => csr(a, out),
        Command::Sign(a) => sign(a, out),
        Command::Show(a) => show(a, out),
    }
}

fn new(a: NewArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let sans = a.names.sans()?;
    let key_path = a.out.join("server.key");
    let csr_path = a.out.join("server.csr");
    let crt_path = a.out.join("server.crt");
    // All three or none: check before writing anything.
    if !a.force {
        for p in [&key_path, &csr_path, &crt_path] {
            if p.symlink_metadata().is_ok() {
                return Err(tlsscope_lab::Error::new(format!("{}: already exists", p.display()))
                    .with_hint("pass --force to overwrite it, or choose another --out")
                    .into());
            }
        }
    }
    std::fs::create_dir_all(&a.out)
        .map_err(|e| tlsscope_lab::Error::new(format!("{}: {e}", a.out.display())))?;
    let key = cert::generate_key(a.key_type.into())?;
    let csr = cert::make_csr(&key, &a.names.cn, &sans)?;
    let signed = cert::sign_csr(&csr.der, &key, Some(&sans), a.days)?;
    let fixed = files::write(&key_path, key.serialize_pem().as_bytes(), Mode::Secret, a.force)?;
    warn_mode_fixed(out, fixed.as_ref());
    files::write(&csr_path, csr.pem.as_bytes(), Mode::Public, a.force)?;
    files::write(&crt_path, signed.cert_pem.as_bytes(), Mode::Public, a.force)?;

    let mut r = Report::new(out);
    r.wrote(&key_path, &key_summary(&key, &key_path));
    r.wrote(&csr_path, &format!("certificate signing request for {}", signed.subject));
    r.wrote(&crt_path, &cert_summary(&signed));
    r.detail(&format!("subjectAltName: {}", cert::san_list_text(&signed.sans)));
    r.detail(&format!("SHA-256 fingerprint: {}", cert::sha256_fingerprint(&signed.cert_der)));
    r.detail(&format!("see it: tlsscope cert show {}", crt_path.display()));
    r.finish()
}

fn key(a: KeyArgs, out: &Output) -> anyhow::Result<ExitCode> {
    refuse_existing(&a.out, a.force)?;
    let key = cert::generate_key(a.key_type.into())?;
    let fixed = files::write(&a.out, key.serialize_pem().as_bytes(), Mode::Secret, a.force)?;
    warn_mode_fixed(out, fixed.as_ref());
    let mut r = Report::new(out);
    r.wrote(&a.out, &key_summary(&key, &a.out));
    r.detail(&format!("next: tlsscope cert csr --key {}", a.out.display()));
    r.finish()
}

fn csr(a: CsrArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let sans = a.names.sans()?;
    refuse_existing(&a.out, a.force)?;
    let loaded = cert::load_key(&a.key)?;
    let csr = cert::make_csr(&loaded.key, &a.names.cn, &sans)?;
    files::write(&a.out, csr.pem.as_bytes(), Mode::Public, a.force)?;
    let mut r = Report::new(out);
    r.wrote(
        &a.out,
        &format!(
            "certificate signing request for CN={} ({} key from {})",
            a.names.cn,
            cert::describe_key(&loaded.key),
            a.key.display()
        ),
    );
    r.detail(&format!("subjectAltName requested: {}", cert::san_list_text(&sans)));
    r.detail(&format!(
        "next: tlsscope cert sign --csr {} --key {}",
        a.out.display(),
        a.key.display()
    ));
    r.finish()
}

fn sign(a: SignArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let sans = a.san.as_deref().map(cert::parse_san_list).transpose()?;
    refuse_existing(&a.out, a.force)?;
    let csr_der = cert::load_csr(&a.csr)?;
    let loaded = cert::load_key(&a.key)?;
    let signed = cert::sign_csr(&csr_der, &loaded.key, sans.as_deref(), a.days)
        .map_err(|e| e.context(a.csr.display()))?;
    files::write(&a.out, signed.cert_pem.as_bytes(), Mode::Public, a.force)?;
    let mut r = Report::new(out);
    r.wrote(&a.out, &cert_summary(&signed));
    let from = match (signed.sans_from_csr, signed.sans.is_empty()) {
        (true, true) => " (the CSR asks for none)",
        (true, false) => " (as the CSR asks)",
        (false, _) => "",
    };
    r.detail(&format!("subjectAltName: {}{from}", cert::san_list_text(&signed.sans)));
    r.detail(&format!("SHA-256 fingerprint: {}", cert::sha256_fingerprint(&signed.cert_der)));
    if signed.sans.is_empty() {
        r.warn(
            "no subjectAltName: browsers and curl match host names only against it, so they \
             will reject this certificate; pass --san DNS:localhost,IP:127.0.0.1",
        );
    }
    r.finish()
}

fn show(a: ShowArgs, out: &Output) -> anyhow::Result<ExitCode> {
    let (name, data) = if a.file.as_os_str() == "-" {
        ("(stdin)".to_string(), read_stdin()?)
    } else {
        (a.file.display().to_string(), cert::read_input(&a.file)?)
    };
    let opts = ShowOptions { private: a.private, color: out.color };
    let shown = cert_show::show(&data, &name, &opts).map_err(|e| e.context(&name))?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(shown.text.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::from(if shown.problems > 0 { EXIT_PROBLEMS } else { EXIT_OK }))
}

/// All of stdin, up to the same limit as files.
fn read_stdin() -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut data = Vec::new();
    std::io::stdin().lock().take(cert::MAX_INPUT + 1).read_to_end(&mut data)?;
    if data.len() as u64 > cert::MAX_INPUT {
        anyhow::bail!(
            "(stdin): more than {} MiB, too big for a key, CSR or certificate",
            cert::MAX_INPUT >> 20
        );
    }
    Ok(data)
}

/// `--force` or nothing there yet; checked before the (slow) key generation.
fn refuse_existing(path: &Path, force: bool) -> anyhow::Result<()> {
    if !force && path.symlink_metadata().is_ok() {
        return Err(tlsscope_lab::Error::new(format!("{}: already exists", path.display()))
            .with_hint("pass --force to overwrite it, or choose another -o")
            .into());
    }
    Ok(())
}

/// What was written to `path`: the key, and its mode when it is a file (a
/// device or a pipe has the mode it had, which the key is not said to have).
fn key_summary(key: &cert::KeyPair, path: &Path) -> String {
    let mode = match path.metadata() {
        Ok(m) if m.is_file() => ", mode 0600",
        _ => "",
    };
    format!("{} private key, PKCS#8 PEM{mode}", cert::describe_key(key))
}

fn cert_summary(signed: &cert::Signed) -> String {
    format!(
        "self-signed certificate for {}, valid until {}",
        signed.subject,
        signed.not_after_text()
    )
}

/// What a command prints on stdout: one line per file written, details
/// indented below; warnings on stderr.
struct Report<'a> {
    out: &'a Output,
    text: String,
}

impl<'a> Report<'a> {
    fn new(out: &'a Output) -> Self {
        Report { out, text: String::new() }
    }

    fn wrote(&mut self, path: &Path, what: &str) {
        let verb = if self.out.color { "wrote".green().bold().to_string() } else { "wrote".into() };
        self.text.push_str(&format!("{verb} {}: {what}\n", path.display()));
    }

    fn detail(&mut self, line: &str) {
        self.text.push_str(&format!("      {line}\n"));
    }

    fn warn(&mut self, line: &str) {
        crate::output::warn(self.out, &line);
    }

    fn finish(self) -> anyhow::Result<ExitCode> {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(self.text.as_bytes())?;
        stdout.flush()?;
        Ok(ExitCode::from(EXIT_OK))
    }
}
