//! A capture file mapped into memory, read where it lies.
//!
//! Reading a file with `read` copies every byte from the page cache into
//! the reader's buffer: on a 100 MiB capture that copy took a sixth of the
//! CPU time of a decrypting run, and when the analysis runs on several
//! threads every byte handed to another thread was copied once more. A
//! mapping is read in place, and the analysis threads read the bytes of
//! their connections from it too.
//!
//! The pages already read are dropped from the mapping as the reader moves
//! on ([`Mapping::release`]): the file's pages stay in the page cache, but
//! they no longer count towards the process's memory, which stays flat
//! whatever the capture's size (a page touched again after that is read
//! back from the page cache).
//!
//! The one risk a mapping brings: if another program truncates the file
//! while it is being read, touching a page past the new end kills the
//! process with SIGBUS (a `read` would see a short file). Files that are
//! being appended to are read as far as they were when opened.
//!
//! This module holds the unsafe code of the mapping: `mmap`, `munmap`,
//! `madvise` and the slice over the mapped bytes. Each block says why it
//! is sound.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;

/// A read-only, private mapping of a whole file.
pub struct Mapping {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is read-only and never remapped while it exists; the
// bytes behind `ptr` are shared immutable data, like a `&'static [u8]`
// until drop, so sending or sharing the handle between threads is sound.
unsafe impl Send for Mapping {}
// SAFETY: as for Send: only shared reads of immutable bytes.
unsafe impl Sync for Mapping {}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping").field("len", &self.len).finish()
    }
}

/// Page size assumed when aligning ranges to release (the smallest Linux
/// uses; on larger pages a release covers less, never more).
const PAGE: usize = 4096;

impl Mapping {
    /// Maps `file` whole. `None` when it is not a regular file or is empty
    /// (a pipe or a device is read the usual way).
    pub fn of(file: &File) -> io::Result<Option<Mapping>> {
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() == 0 {
            return Ok(None);
        }
        let Ok(len) = usize::try_from(meta.len()) else { return Ok(None) };
        // SAFETY: a fresh mapping chosen by the kernel (null hint), of a
        // file descriptor that is open for reading; the result is checked
        // for MAP_FAILED before use. PROT_READ with MAP_PRIVATE: nothing
        // this process does can change the bytes.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // No MADV_SEQUENTIAL: with it every page fault ran the readahead
        // code, even for a file already in the page cache (a fifth of the
        // reading thread's time); the default maps the cached pages around
        // each fault.
        Ok(Some(Mapping { ptr: ptr.cast::<u8>().cast_const(), len }))
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` readable bytes for as long as
        // `self` lives (unmapped only in drop), and they never change
        // (private read-only mapping); the borrow ties the slice to `self`.
        // (If another program truncates the file, reading past its new end
        // raises SIGBUS: see the module documentation.)
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Drops the whole pages inside `range` from this process's memory:
    /// they are read back from the file if touched again.
    pub fn release(&self, range: Range<usize>) {
        let Some(start) = range.start.checked_next_multiple_of(PAGE) else { return };
        // PAGE is a power of two: this rounds down to a page boundary.
        let end = range.end.min(self.len) & !(PAGE - 1);
        let Some(len) = end.checked_sub(start).filter(|&len| len > 0) else { return };
        // SAFETY: `start..end` lies inside the mapping, page-aligned (the
        // mapping itself starts on a page boundary). MADV_DONTNEED on a
        // private file mapping that was never written drops the page
        // table entries only; the contents seen afterwards are the same
        // file bytes, so every slice handed out stays valid.
        unsafe {
            libc::madvise(self.ptr.add(start).cast_mut().cast(), len, libc::MADV_DONTNEED);
        }
    }

    /// Asks the CPU to start loading the cache lines of `range` (no effect
    /// on pages not mapped yet, nor past the end): the reader walks the
    /// file in order, and a frame's header missed the cache every time.
    pub fn prefetch(&self, range: Range<usize>) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let end = range.end.min(self.len);
            for at in (range.start..end).step_by(64) {
                // SAFETY: SSE is part of every x86-64 CPU; a prefetch
                // never faults nor changes memory, whatever the address
                // (this one is inside the mapping anyway).
                unsafe { _mm_prefetch::<_MM_HINT_T0>(self.ptr.wrapping_add(at).cast()) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = range;
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `of`, unmapped
        // once, here; no slice from `bytes` outlives `self`.
        unsafe {
            libc::munmap(self.ptr.cast_mut().cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maps_a_file_and_releases_pages_without_changing_it() {
        let path = std::env::temp_dir().join(format!("tlsscope-map-{}", std::process::id()));
        let data: Vec<u8> = (0..3 * PAGE + 100).map(|i| (i * 7 % 251) as u8).collect();
        File::create(&path).unwrap().write_all(&data).unwrap();
        let f = File::open(&path).unwrap();
        let m = Mapping::of(&f).unwrap().unwrap();
        assert_eq!(m.bytes(), &data[..]);
        m.release(0..2 * PAGE + 10);
        m.release(0..usize::MAX);
        assert_eq!(m.bytes(), &data[..]);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn an_empty_file_is_not_mapped() {
        let path = std::env::temp_dir().join(format!("tlsscope-map-empty-{}", std::process::id()));
        File::create(&path).unwrap();
        assert!(Mapping::of(&File::open(&path).unwrap()).unwrap().is_none());
        std::fs::remove_file(&path).unwrap();
    }
}
