//! `--keylog` and `--rsa-key`: the secrets the analysis commands decrypt
//! with, besides those a pcapng brings in Decryption Secrets Blocks.

use std::path::PathBuf;

use anyhow::Context as _;
use tlsscope_scope::diag::Collector;
use tlsscope_scope::tls::crypto::Keyring;

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
            let key = std::fs::read(path)
                .with_context(|| format!("{}: cannot read the RSA private key", path.display()))?;
            rsa_keys.push(key);
        }
        Ok(KeyFiles { keylogs, rsa_keys })
    }
}

/// The most read from a key log that is not a regular file (a pipe, a
/// device): the key log of a million sessions is a few hundred MiB.
const MAX_STREAMED_KEYLOG: u64 = 1 << 30;

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
