//! Writing the files tlsscope makes. Secrets ([`Mode::Secret`]: private
//! keys, key logs, recordings that carry a key log, reports with decrypted
//! data) are created mode 0600 from the start and never written through a
//! symbolic link; public material ([`Mode::Public`]) gets 0644.
//!
//! # A secrets file that already exists
//!
//! Appending to a key log (`get --keylog`, `serve --keylog`, the
//! `$SSLKEYLOGFILE` that browsers and curl share) or overwriting a secrets
//! file (`--force`, a report or recording written again) finds the mode the
//! file already has. When group or others have any access to it (0644,
//! 0666...), the mode is fixed to 0600 before anything is written, and the
//! caller gets a [`ModeFixed`] to warn about (`sslkeylog.txt was readable by
//! others (0644): now 0600`). We fix rather than refuse: the usual cause is
//! a key log another program created with the default umask, and refusing
//! would only make the user type the `chmod` we can do; what others could
//! read before is out already, and the warning says so, while refusing
//! would protect nothing of it. We refuse only when the mode cannot be
//! fixed (a file of another user): writing secrets into a file others can
//! read is what this module exists to prevent.
//!
//! Only regular files are checked and fixed: a device or a pipe
//! (`/dev/null`, a FIFO a reader drains) keeps nothing to be read later,
//! and changing the mode of `/dev/null` would break the system for others.
//!
//! A symbolic link at the path of a secret is refused (`O_NOFOLLOW`, so no
//! check-then-open race): one planted where a key is written would send the
//! secret wherever it points. The checks and the fix are made on the open
//! file (`fstat`, `fchmod`), never again by path, and an overwritten secrets
//! file is emptied only once its mode is right.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};

/// Whether a file holds a secret (created 0600) or public material (0644).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Private keys, key logs, recordings with secrets inside, reports with
    /// decrypted data: owner read/write only, never through a symbolic link.
    Secret,
    /// Certificates, CSRs, captures without secrets.
    Public,
}

/// The mode of a new secrets file.
const SECRET_MODE: u32 = 0o600;
/// The mode of a new public file (before the umask).
const PUBLIC_MODE: u32 = 0o644;
/// The permission bits that give group or others any access.
const OTHERS: u32 = 0o077;

/// An existing secrets file that group or others had access to, made
/// owner-only (0600) before anything was written to it. Its display is the
/// warning to show: `keys.log was readable by others (0644): now 0600`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModeFixed {
    /// The file, as it was named.
    pub path: PathBuf,
    /// Its permission bits before (e.g. `0o644`).
    pub was: u32,
}

impl fmt::Display for ModeFixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} was {} by others ({:04o}): now {SECRET_MODE:04o}",
            self.path.display(),
            access(self.was),
            self.was
        )
    }
}

/// What group or others could do with a file of mode `bits`, in a word.
fn access(bits: u32) -> &'static str {
    if bits & 0o044 != 0 {
        "readable"
    } else if bits & 0o022 != 0 {
        "writable"
    } else {
        "accessible"
    }
}

/// A file opened for writing, and the mode fixed on the way (secrets only).
#[derive(Debug)]
pub struct Opened {
    /// The file, ready to write.
    pub file: File,
    /// Set when an existing secrets file had to be made owner-only: the
    /// caller warns about it.
    pub mode_fixed: Option<ModeFixed>,
}

/// Opens `path` for writing with the given mode. With `overwrite` false an
/// existing file is an error that says to pass `--force`; with it, the file
/// is emptied (a secret one once its mode is right: see the module doc).
pub fn create(path: &Path, mode: Mode, overwrite: bool) -> Result<Opened> {
    let mut opts = OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true);
        // A secret file is emptied below, after its mode was checked: one
        // we refuse to write keeps its content.
        opts.truncate(mode == Mode::Public);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match mode {
            Mode::Secret => opts.mode(SECRET_MODE).custom_flags(libc::O_NOFOLLOW),
            Mode::Public => opts.mode(PUBLIC_MODE),
        };
    }
    let file = opts.open(path).map_err(|e| open_error(path, e))?;
    if mode == Mode::Public {
        return Ok(Opened { file, mode_fixed: None });
    }
    let (mode_fixed, regular) = secure(&file, path)?;
    // Devices and pipes cannot be truncated (and O_TRUNC does nothing to
    // them either).
    if overwrite && regular {
        file.set_len(0).context(path.display())?;
    }
    Ok(Opened { file, mode_fixed })
}

/// Writes `contents` to `path` (see [`create`]); returns the mode fixed on
/// the way, if any: a caller writing a secret warns about it (a public
/// file's mode is never changed, so it gets `None`).
pub fn write(
    path: &Path,
    contents: &[u8],
    mode: Mode,
    overwrite: bool,
) -> Result<Option<ModeFixed>> {
    let Opened { mut file, mode_fixed } = create(path, mode, overwrite)?;
    file.write_all(contents).context(path.display())?;
    Ok(mode_fixed)
}

/// Opens `path` for appending (key logs), creating it 0600 if it is new.
/// An existing one is a secrets file like any other: no symbolic link, and
/// its mode fixed when others could read it.
pub fn append_secret(path: &Path) -> Result<Opened> {
    let mut opts = OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(SECRET_MODE).custom_flags(libc::O_NOFOLLOW);
    }
    let file = opts.open(path).map_err(|e| open_error(path, e))?;
    let (mode_fixed, _) = secure(&file, path)?;
    Ok(Opened { file, mode_fixed })
}

/// The error for a file that could not be opened for writing, with what to
/// do about it.
fn open_error(path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::AlreadyExists {
        return Error::new(format!("{}: already exists", path.display()))
            .with_hint("pass --force to overwrite it, or choose another --out");
    }
    // O_NOFOLLOW fails with ELOOP on a symbolic link; ELOOP also means a
    // loop of links in the directories above, so look before saying which.
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP)
        && path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink())
    {
        return Error::new(format!(
            "{}: is a symbolic link, and secrets are not written through one",
            path.display()
        ))
        .with_hint(
            "give the path of the file itself, or remove the link (a link where a secret is \
             written would send the secret wherever it points)",
        );
    }
    Error::new(format!("{}: {e}", path.display()))
}

/// Makes an open secrets file owner-only if it is a regular file that group
/// or others can access. Returns what was fixed, and whether it is a
/// regular file.
#[cfg(unix)]
fn secure(file: &File, path: &Path) -> Result<(Option<ModeFixed>, bool)> {
    use std::os::unix::fs::PermissionsExt;
    let meta = file.metadata().context(path.display())?;
    if !meta.is_file() {
        return Ok((None, false));
    }
    let was = meta.permissions().mode() & 0o7777;
    if was & OTHERS == 0 {
        return Ok((None, true));
    }
    file.set_permissions(std::fs::Permissions::from_mode(SECRET_MODE)).map_err(|e| {
        Error::new(format!(
            "{}: is {} by others ({was:04o}) and its mode cannot be made {SECRET_MODE:04o}: {e}",
            path.display(),
            access(was)
        ))
        .with_hint(
            "secrets are not written where others can read them: choose another file, or \
             have its owner run chmod 600 on it",
        )
    })?;
    Ok((Some(ModeFixed { path: path.to_path_buf(), was }), true))
}

#[cfg(not(unix))]
fn secure(file: &File, path: &Path) -> Result<(Option<ModeFixed>, bool)> {
    let meta = file.metadata().context(path.display())?;
    Ok((None, meta.is_file()))
}

/// Reads a whole input file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        let err = Error::new(format!("{}: {e}", path.display()));
        if e.kind() == std::io::ErrorKind::NotFound { err.with_hint("check the path") } else { err }
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A directory of its own per test, removed at the end.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("tlsscope-files-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn secret_files_are_0600_and_not_overwritten() {
        let dir = TempDir::new("create");
        let p = dir.0.join("k");
        assert_eq!(write(&p, b"x", Mode::Secret, false).unwrap(), None);
        assert_eq!(mode_of(&p), 0o600);
        let err = write(&p, b"y", Mode::Secret, false).unwrap_err();
        assert!(err.hint().unwrap().contains("--force"));
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
    }

    #[test]
    fn overwriting_a_world_readable_secret_fixes_its_mode_and_says_so() {
        let dir = TempDir::new("overwrite");
        let p = dir.0.join("server.key");
        std::fs::write(&p, b"an older, longer key").unwrap();
        chmod(&p, 0o644);
        let fixed = write(&p, b"z", Mode::Secret, true).unwrap().expect("the mode was fixed");
        assert_eq!(fixed.was, 0o644);
        assert_eq!(
            fixed.to_string(),
            format!("{} was readable by others (0644): now 0600", p.display())
        );
        assert_eq!(mode_of(&p), 0o600);
        assert_eq!(std::fs::read(&p).unwrap(), b"z");
        // Already right: nothing to say.
        assert_eq!(write(&p, b"w", Mode::Secret, true).unwrap(), None);
    }

    #[test]
    fn appending_to_a_group_writable_key_log_fixes_its_mode_and_keeps_its_lines() {
        let dir = TempDir::new("append");
        let p = dir.0.join("keys.log");
        std::fs::write(&p, b"CLIENT_RANDOM 01 02\n").unwrap();
        chmod(&p, 0o620);
        let Opened { mut file, mode_fixed } = append_secret(&p).unwrap();
        let fixed = mode_fixed.expect("the mode was fixed");
        assert_eq!(fixed.was, 0o620);
        assert!(fixed.to_string().contains("was writable by others (0620): now 0600"), "{fixed}");
        file.write_all(b"CLIENT_RANDOM 03 04\n").unwrap();
        assert_eq!(mode_of(&p), 0o600);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "CLIENT_RANDOM 01 02\nCLIENT_RANDOM 03 04\n"
        );
        // A new key log is created 0600, with nothing to fix.
        let q = dir.0.join("new.log");
        assert!(append_secret(&q).unwrap().mode_fixed.is_none());
        assert_eq!(mode_of(&q), 0o600);
    }

    #[test]
    fn public_files_keep_the_mode_they_have() {
        let dir = TempDir::new("public");
        let p = dir.0.join("server.crt");
        std::fs::write(&p, b"old").unwrap();
        chmod(&p, 0o640);
        assert_eq!(write(&p, b"new", Mode::Public, true).unwrap(), None);
        assert_eq!(mode_of(&p), 0o640);
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }

    #[test]
    fn secrets_are_not_written_through_a_symbolic_link() {
        let dir = TempDir::new("symlink");
        let target = dir.0.join("elsewhere");
        std::fs::write(&target, b"untouched").unwrap();
        chmod(&target, 0o644);
        let link = dir.0.join("server.key");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for err in [
            write(&link, b"secret", Mode::Secret, true).unwrap_err(),
            append_secret(&link).unwrap_err(),
        ] {
            assert!(err.message().contains("server.key: is a symbolic link"), "{}", err.message());
            assert!(err.hint().unwrap().contains("remove the link"), "{:?}", err.hint());
        }
        // Nothing written, nothing emptied, no mode changed where it points.
        assert_eq!(std::fs::read(&target).unwrap(), b"untouched");
        assert_eq!(mode_of(&target), 0o644);
        // Without --force the link is an existing file, as before.
        let err = write(&link, b"secret", Mode::Secret, false).unwrap_err();
        assert!(err.message().ends_with("already exists"), "{}", err.message());
        // A dangling link is refused too (O_CREAT would create its target).
        let dangling = dir.0.join("dangling.log");
        std::os::unix::fs::symlink(dir.0.join("nowhere"), &dangling).unwrap();
        assert!(append_secret(&dangling).unwrap_err().message().contains("symbolic link"));
        assert!(!dir.0.join("nowhere").exists());
    }

    #[test]
    fn a_device_is_written_without_touching_its_mode() {
        // /dev/null is 0666 and must stay so: only regular files are fixed.
        let before = mode_of(Path::new("/dev/null"));
        let opened = append_secret(Path::new("/dev/null")).unwrap();
        assert!(opened.mode_fixed.is_none());
        assert_eq!(write(Path::new("/dev/null"), b"x", Mode::Secret, true).unwrap(), None);
        assert_eq!(mode_of(Path::new("/dev/null")), before);
    }
}
