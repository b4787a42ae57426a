//! `--keylog` and `--rsa-key`: the secrets the analysis commands decrypt
//! with, besides those a pcapng brings in Decryption Secrets Blocks.

// What is read here comes from files and interfaces the user names:
// nothing in it may panic, and lengths are added with checked arithmetic
// (as in the capture and scope crates).
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use std::sync::Mutex;

use tlsscope_scope::diag::{Collector, Diagnostic, Location, Severity};
use tlsscope_scope::tls::crypto::{CertificateUse, Keyring};
use tlsscope_scope::tls::keys::RsaError;
use tlsscope_scope::tls::rsa_key::{self, NotRsaKey};

/// Flags shared by the commands that decrypt.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct KeyArgs {
    /// NSS key log file (SSLKEYLOGFILE format); may be given several times.
    /// Secrets embedded in a pcapng (Decryption Secrets Blocks) are used
    /// too, without this flag.
    #[arg(long = "keylog", value_name = "FILE")]
    pub keylog: Vec<PathBuf>,
    /// The server's RSA private key (PEM or DER, PKCS#8 or PKCS#1), for
    /// sessions with static-RSA key exchange; may be given several times.
    /// Anything else (a certificate, an EC key...) is an error.
    #[arg(long = "rsa-key", value_name = "FILE")]
    pub rsa_key: Vec<PathBuf>,
}

impl KeyArgs {
    /// Whether any secret was given.
    pub fn any(&self) -> bool {
        !self.keylog.is_empty() || !self.rsa_key.is_empty()
    }

    /// Reads the files into `ring`. Malformed key log lines become
    /// diagnostics (with file and line); a file that cannot be read is an
    /// error.
    pub fn load(&self, ring: &mut Keyring, diags: &mut Collector) -> anyhow::Result<()> {
        self.open()?.read_into(ring, diags)
    }

    /// Opens the key logs and reads the RSA keys: what can be wrong with
    /// the paths is said now, before any output. [`KeyFiles::read_into`]
    /// then reads the key logs (possibly on another thread).
    pub fn open(&self) -> anyhow::Result<KeyFiles> {
        let mut keylogs = Vec::new();
        for path in &self.keylog {
            let file = std::fs::File::open(path).with_context(|| cannot_read(path))?;
            // Opening a directory works; reading it would fail only later.
            if file.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(std::io::Error::from(std::io::ErrorKind::IsADirectory))
                    .with_context(|| cannot_read(path));
            }
            keylogs.push((path.clone(), file));
        }
        let mut rsa_keys = Vec::new();
        for path in &self.rsa_key {
            rsa_keys.push(read_rsa_key(path)?);
        }
        Ok(KeyFiles { keylogs, rsa_keys })
    }
}

/// What each `--rsa-key` turned out to be the key of, among the server
/// certificates of the capture: a note naming the certificate, or a
/// warning when it is the key of none of them (it decrypted nothing).
pub fn rsa_key_report(args: &KeyArgs, seen: &Mutex<Vec<CertificateUse>>) -> Vec<Diagnostic> {
    let uses = seen.lock().map(|u| u.clone()).unwrap_or_default();
    let mut out = Vec::new();
    for (i, path) in args.rsa_key.iter().enumerate() {
        let mine: Vec<String> = uses
            .iter()
            .filter(|c| c.keys.contains(&i))
            .map(|c| format!("{} ({} session{})", c.subject, c.sessions, plural(c.sessions)))
            .collect();
        let (severity, message) = if !mine.is_empty() {
            (Severity::Note, format!("is the key of the certificate {}", mine.join(", ")))
        } else if uses.is_empty() {
            (
                Severity::Note,
                "no server sent a certificate in the capture to compare it with".into(),
            )
        } else {
            let seen: Vec<&str> = uses.iter().take(5).map(|c| c.subject.as_str()).collect();
            let more = if uses.len() > 5 { ", …" } else { "" };
            (
                Severity::Warning,
                format!(
                    "is the key of none of the {} server certificate{} in the capture ({}{more}): \
                     it decrypts none of its sessions",
                    uses.len(),
                    plural(uses.len() as u64),
                    seen.join("; ")
                ),
            )
        };
        out.push(Diagnostic::new(
            severity,
            "keys.rsa_key",
            Location::default(),
            format!("--rsa-key {}: {message}", path.display()),
        ));
    }
    out
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The most read from a key log that is not a regular file (a pipe, a
/// device): the key log of a million sessions is a few hundred MiB.
const MAX_STREAMED_KEYLOG: u64 = 1 << 30;

/// The largest `--rsa-key` file read: a key with its certificate chain in
/// one PEM file is a few KiB; a capture or `/dev/zero` given by mistake
/// must not be read whole.
const MAX_RSA_KEY_FILE: u64 = 1 << 20;

/// Reads an `--rsa-key` file and checks that it holds an RSA private key
/// the decryption can use; anything else is an error (exit 2) saying what
/// the file is, as for any input that cannot be read.
fn read_rsa_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut key = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_RSA_KEY_FILE + 1).read_to_end(&mut key))
        .with_context(|| format!("{}: cannot read the RSA private key", path.display()))?;
    let what_it_takes = "--rsa-key takes the server's RSA private key (PEM or DER, PKCS#8 or \
                         PKCS#1), such as the server.key made with server.crt";
    if key.len() as u64 > MAX_RSA_KEY_FILE {
        return Err(tlsscope_lab::Error::new(format!(
            "{}: is over {} MiB, far too large for a private key",
            path.display(),
            MAX_RSA_KEY_FILE >> 20
        ))
        .with_hint(what_it_takes)
        .into());
    }
    let found = match rsa_key::check(&key) {
        Ok(_bits) => return Ok(key),
        Err(RsaError::NotAKey(found)) => found,
        Err(RsaError::Encrypted) => {
            return Err(tlsscope_lab::Error::new(format!(
                "{}: is an encrypted private key",
                path.display()
            ))
            .with_hint("decrypt a copy first: openssl pkey -in KEY -out KEY.plain")
            .into());
        }
        Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
    };
    let err = tlsscope_lab::Error::new(format!("{}: is {found}", path.display()));
    Err(match found {
        NotRsaKey::EcKey | NotRsaKey::Ed25519Key | NotRsaKey::OtherAlgorithm => err.with_hint(
            "only an RSA key decrypts, and only sessions with static-RSA key exchange; \
             sessions with (EC)DHE or TLS 1.3 need the secrets from a key log (--keylog)",
        ),
        // The sentence says what to do, or nothing can be done.
        NotRsaKey::OpenSshKey | NotRsaKey::RsaTooSmall | NotRsaKey::RsaTooLarge => err,
        _ => err.with_hint(what_it_takes),
    }
    .into())
}

fn cannot_read(path: &std::path::Path) -> String {
    format!("{}: cannot read the key log (check the path; SSLKEYLOGFILE writes it)", path.display())
}

/// The key files of [`KeyArgs`], opened and not read yet.
pub struct KeyFiles {
    keylogs: Vec<(PathBuf, std::fs::File)>,
    rsa_keys: Vec<Vec<u8>>,
}

impl KeyFiles {
    /// Whether there is a key log to read.
    pub fn has_keylog(&self) -> bool {
        !self.keylogs.is_empty()
    }

    /// Reads the key logs into `ring` and adds the RSA keys. Malformed
    /// key log lines become diagnostics (with file and line).
    pub fn read_into(self, ring: &mut Keyring, diags: &mut Collector) -> anyhow::Result<()> {
        for (path, mut file) in self.keylogs {
            // A pipe or a device has no size to trust: it is read up to a
            // cap (a key log is ~150 bytes a line; /dev/zero never ends).
            let mut cap = u64::MAX;
            if let Ok(meta) = file.metadata() {
                if meta.is_file() {
                    ring.keylog.reserve_for_bytes(meta.len());
                } else {
                    cap = MAX_STREAMED_KEYLOG;
                }
            }
            let mut total = 0u64;
            let name = path.display().to_string();
            // Read in pieces (the parser takes lines split anywhere): a key
            // log holds a line per secret of every session, and reading it
            // whole added its size to the peak memory.
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = match std::io::Read::read(&mut file, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e).with_context(|| cannot_read(&path)),
                };
                total = total.saturating_add(n as u64);
                if total > cap {
                    buf.iter_mut().for_each(|b| *b = 0);
                    anyhow::bail!(
                        "{}: not a regular file, and it gave more than {} MiB without ending: \
                         stopped (is it a key log? /dev/zero is not)",
                        path.display(),
                        MAX_STREAMED_KEYLOG >> 20
                    );
                }
                for d in ring.keylog.parse(buf.get(..n).unwrap_or_default(), &name) {
                    diags.push(d);
                }
            }
            // The buffer held secrets.
            buf.iter_mut().for_each(|b| *b = 0);
            std::hint::black_box(&buf);
            for d in ring.keylog.finish() {
                diags.push(d);
            }
        }
        ring.rsa_keys.extend(self.rsa_keys);
        Ok(())
    }
}
