//! Writing files the lab makes: secrets (private keys, key logs) are created
//! with mode 0600 from the start, never chmod-ed afterwards.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Context, Error, Result};

/// Whether a file holds a secret (created 0600) or public material (0644).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Private keys and key logs: owner read/write only.
    Secret,
    /// Certificates, CSRs, captures.
    Public,
}

/// Opens `path` for writing with the given mode. With `overwrite` false an
/// existing file is an error that says to pass `--force`.
pub fn create(path: &Path, mode: Mode, overwrite: bool) -> Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(match mode {
            Mode::Secret => 0o600,
            Mode::Public => 0o644,
        });
    }
    let file = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::new(format!("{}: already exists", path.display()))
                .with_hint("pass --force to overwrite it, or choose another --out")
        } else {
            Error::new(format!("{}: {e}", path.display()))
        }
    })?;
    // An existing file keeps its old permissions when truncated: tighten them.
    #[cfg(unix)]
    if mode == Mode::Secret {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).context(path.display())?;
    }
    Ok(file)
}

/// Writes `contents` to a new file at `path` (see [`create`]).
pub fn write(path: &Path, contents: &[u8], mode: Mode, overwrite: bool) -> Result<()> {
    let mut f = create(path, mode, overwrite)?;
    f.write_all(contents).context(path.display())?;
    Ok(())
}

/// Opens `path` for appending (key logs), creating it 0600 if it is new.
pub fn append_secret(path: &Path) -> Result<File> {
    let mut opts = OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).context(path.display())
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
    use super::*;

    #[test]
    fn secret_files_are_0600_and_not_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("tlsscope-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("k");
        let _ = std::fs::remove_file(&p);
        write(&p, b"x", Mode::Secret, false).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = write(&p, b"y", Mode::Secret, false).unwrap_err();
        assert!(err.hint().unwrap().contains("--force"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&p, b"z", Mode::Secret, true).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read(&p).unwrap(), b"z");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
