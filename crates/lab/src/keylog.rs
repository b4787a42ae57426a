//! The NSS key log writer: a rustls [`KeyLog`] that appends
//! `LABEL <client_random hex> <secret hex>` lines to a file of our choice
//! (created mode 0600) and/or hands them to a callback (the recorder puts
//! them into the pcapng Decryption Secrets Block).
//!
//! rustls's own `KeyLogFile` only reads `$SSLKEYLOGFILE`; here an explicit
//! path wins and `$SSLKEYLOGFILE` is the fallback, as curl and browsers do.
//! Format: <https://nss-crypto.org/reference/security/nss/legacy/key_log_format/index.html>
//! (also draft-ietf-tls-keylogfile).

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::KeyLog;

use crate::error::Result;
use crate::files::{self, ModeFixed};

/// The environment variable browsers, curl and rustls read.
pub const ENV_VAR: &str = "SSLKEYLOGFILE";

/// Receives each key log line (without the newline).
pub type LineCallback = Arc<dyn Fn(&str) + Send + Sync>;

/// Where the key log goes: the file given, else `$SSLKEYLOGFILE` if set and
/// not empty, else nowhere.
pub fn resolve_path(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => std::env::var_os(ENV_VAR).filter(|v| !v.is_empty()).map(PathBuf::from),
    }
}

/// A rustls [`KeyLog`] writing NSS key log lines to a file and/or a callback.
pub struct KeyLogWriter {
    file: Option<(PathBuf, Mutex<File>)>,
    /// Set when the file existed and others could read it (see
    /// [`files::append_secret`]): the caller warns about it.
    mode_fixed: Option<ModeFixed>,
    callback: Option<LineCallback>,
    /// The first write error, kept so the caller can report it: `KeyLog::log`
    /// cannot return one, and a TLS handshake must not fail for it.
    error: Mutex<Option<String>>,
}

impl fmt::Debug for KeyLogWriter {
    // Never prints secrets: only where they go.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLogWriter")
            .field("file", &self.file.as_ref().map(|(p, _)| p))
            .field("callback", &self.callback.is_some())
            .finish()
    }
}

impl KeyLogWriter {
    /// Appends to `path` (created 0600 if new; an existing one made 0600
    /// if others could read it; never through a symbolic link) and/or
    /// calls `callback`.
    pub fn new(path: Option<&Path>, callback: Option<LineCallback>) -> Result<KeyLogWriter> {
        let (file, mode_fixed) = match path {
            Some(p) => {
                let opened = files::append_secret(p)?;
                (Some((p.to_path_buf(), Mutex::new(opened.file))), opened.mode_fixed)
            }
            None => (None, None),
        };
        Ok(KeyLogWriter { file, mode_fixed, callback, error: Mutex::new(None) })
    }

    /// A writer for [`resolve_path`]`(explicit)` and the callback, or `None`
    /// when there is nowhere to write.
    pub fn open(
        explicit: Option<&Path>,
        callback: Option<LineCallback>,
    ) -> Result<Option<Arc<KeyLogWriter>>> {
        let path = resolve_path(explicit);
        if path.is_none() && callback.is_none() {
            return Ok(None);
        }
        Ok(Some(Arc::new(KeyLogWriter::new(path.as_deref(), callback)?)))
    }

    /// The file being written, if any.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    /// The existing key log's mode, when it had to be made owner-only
    /// before the first line was written: a warning for the user.
    pub fn mode_fixed(&self) -> Option<&ModeFixed> {
        self.mode_fixed.as_ref()
    }

    /// The first error writing the file, if there was one.
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }
}

/// One NSS key log line, without the newline.
pub fn format_line(label: &str, client_random: &[u8], secret: &[u8]) -> String {
    let mut line =
        String::with_capacity(label.len() + 2 + 2 * (client_random.len() + secret.len()));
    line.push_str(label);
    line.push(' ');
    push_hex(&mut line, client_random);
    line.push(' ');
    push_hex(&mut line, secret);
    line
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

impl KeyLog for KeyLogWriter {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let line = format_line(label, client_random, secret);
        if let Some((path, file)) = &self.file {
            // One write per line (the file is in append mode), flushed at
            // once, so a reader such as Wireshark sees whole lines and a
            // killed server loses nothing.
            let result = match file.lock() {
                Ok(mut f) => f.write_all(format!("{line}\n").as_bytes()).and_then(|()| f.flush()),
                Err(_) => Ok(()),
            };
            if let Err(e) = result
                && let Ok(mut slot) = self.error.lock()
                && slot.is_none()
            {
                *slot = Some(format!("{}: {e}", path.display()));
            }
        }
        if let Some(cb) = &self.callback {
            cb(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tlsscope-keylog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn formats_nss_lines_in_lower_case_hex() {
        assert_eq!(
            format_line("CLIENT_RANDOM", &[0x00, 0xab, 0xff], &[0x10, 0x0f]),
            "CLIENT_RANDOM 00abff 100f"
        );
    }

    #[test]
    fn appends_lines_to_a_0600_file_and_calls_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("append");
        let path = dir.join("keys.log");
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen2 = seen.clone();
        let cb: LineCallback = Arc::new(move |l: &str| seen2.lock().unwrap().push(l.to_string()));
        let w = KeyLogWriter::new(Some(&path), Some(cb)).unwrap();
        w.log("CLIENT_RANDOM", &[1; 32], &[2; 48]);
        let w2 = KeyLogWriter::new(Some(&path), None).unwrap();
        w2.log("SERVER_TRAFFIC_SECRET_0", &[3; 32], &[4; 32]);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], format!("CLIENT_RANDOM {} {}", "01".repeat(32), "02".repeat(48)));
        assert!(lines[1].starts_with("SERVER_TRAFFIC_SECRET_0 0303"));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(seen.lock().unwrap().as_slice(), &[lines[0].to_string()]);
        assert!(w.error().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_output_shows_no_secrets() {
        let w = KeyLogWriter::new(None, Some(Arc::new(|_: &str| {}))).unwrap();
        let d = format!("{w:?}");
        assert!(d.contains("callback: true"), "{d}");
    }

    #[test]
    fn explicit_path_wins_over_nothing() {
        let p = Path::new("/x/keys");
        assert_eq!(resolve_path(Some(p)).as_deref(), Some(p));
    }

    #[test]
    fn unwritable_path_is_an_error_naming_it() {
        let err =
            KeyLogWriter::new(Some(Path::new("/nonexistent-dir/keys.log")), None).unwrap_err();
        assert!(err.message().contains("/nonexistent-dir/keys.log"), "{}", err.message());
    }

    #[test]
    fn a_world_readable_key_log_is_made_0600_before_the_first_line() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("mode");
        let path = dir.join("sslkeylog.txt");
        std::fs::write(&path, "CLIENT_RANDOM 00 00\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let w = KeyLogWriter::new(Some(&path), None).unwrap();
        let fixed = w.mode_fixed().expect("the mode was fixed");
        assert_eq!(fixed.was, 0o666);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        w.log("CLIENT_RANDOM", &[1; 32], &[2; 48]);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_key_log_behind_a_symbolic_link_is_refused() {
        let dir = temp_dir("link");
        let target = dir.join("real.log");
        let link = dir.join("keys.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = KeyLogWriter::new(Some(&link), None).unwrap_err();
        assert!(err.message().contains("is a symbolic link"), "{}", err.message());
        assert!(!target.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
