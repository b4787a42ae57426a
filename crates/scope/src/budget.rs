//! One memory budget for a whole analysis run.
//!
//! Everything that holds data from one frame to the next draws on a
//! [`Budget`]: TCP reassembly buffers, records and handshake messages split
//! over segments, HTTP header lists and bodies, the sessions and exchanges
//! kept until their connection is reported, key log secrets. Each holding
//! owns a [`Lease`] that counts its bytes and gives them back when it is
//! dropped, so nothing can be forgotten in the count.
//!
//! What a holding may do without (a body's bytes, a header list, an
//! exchange past the first ones, a message's field tree) asks with
//! [`Lease::try_grow`] and is not kept past three quarters of the limit
//! (the rest is room for what follows); what the analysis cannot go on
//! without (the record being read) is counted with [`Lease::grow`]
//! whatever the limit, and when the total passes the limit the longest-idle
//! connections are ended early (reported as they stand) to bring it back
//! under.
//! Every cut is counted by [`Cut`] for the run's closing diagnostic.
//!
//! The counts are estimates of heap bytes (lengths and capacities of what
//! is held, plus a fixed cost per item), not allocator statistics: they
//! bound memory to within a small factor of the budget, which is what it is
//! for. A budget can be shared by threads; a [`Budget::unlimited`] one (the
//! default) counts nothing.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::diag::{Diagnostic, Location, Severity};
use crate::tree::Field;

/// The default budget: enough for captures of thousands of concurrent
/// connections with their exchanges, small next to a machine's memory.
pub const DEFAULT_BUDGET: usize = 256 << 20;

/// What was cut to stay within the budget, for the closing diagnostic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// A message body's bytes (kept as far as they fit).
    Body,
    /// A header list or trailers.
    Headers,
    /// A whole HTTP exchange (counted, not kept).
    Exchange,
    /// A handshake message's field tree or an HTTP/2 frame's details.
    Details,
    /// Out-of-order TCP segments (the hole became a gap).
    Reassembly,
    /// A record or handshake message split over segments.
    Record,
    /// Key log secrets.
    Secrets,
    /// A connection ended early (reported, its holdings freed).
    Connection,
}

impl Cut {
    const ALL: [Cut; 8] = [
        Cut::Body,
        Cut::Headers,
        Cut::Exchange,
        Cut::Details,
        Cut::Reassembly,
        Cut::Record,
        Cut::Secrets,
        Cut::Connection,
    ];

    /// What was cut, in words, for a count (`3 bodies`).
    pub fn name(self, n: u64) -> &'static str {
        let one = n == 1;
        match self {
            Cut::Body if one => "body",
            Cut::Body => "bodies",
            Cut::Headers if one => "header list",
            Cut::Headers => "header lists",
            Cut::Exchange if one => "HTTP exchange",
            Cut::Exchange => "HTTP exchanges",
            Cut::Details => "message details",
            Cut::Reassembly if one => "out-of-order segment",
            Cut::Reassembly => "out-of-order segments",
            Cut::Record if one => "split record",
            Cut::Record => "split records",
            Cut::Secrets => "key log secrets",
            Cut::Connection if one => "connection ended early",
            Cut::Connection => "connections ended early",
        }
    }

    fn index(self) -> usize {
        Cut::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

struct Shared {
    limit: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
    cuts: [AtomicU64; 8],
    /// A connection was ended early (said once for the run).
    connection_cut: std::sync::atomic::AtomicBool,
    /// Decoder work done for display so far (see [`Budget::take_decode_work`]).
    decode_work: AtomicU64,
}

/// The decoder work a run may do to show bodies decoded: bytes a decoder
/// passes over, estimated. A brotli decoder fills its whole window (up to
/// 16 MiB) before it gives its first byte, so a body of a few dozen bytes
/// can cost 16 MiB of work, whatever little of it is shown; a capture of
/// thousands of them would take minutes (this much is a second or two).
/// A body that decodes whole costs little; this is enough for about 250
/// bodies too large to show whole with the commonest brotli window (4 MiB).
pub const DECODE_WORK_PER_RUN: u64 = 2 << 30;

/// A run's memory budget: a limit and what is held against it. Cloning
/// shares it.
#[derive(Clone, Default)]
pub struct Budget(Option<Arc<Shared>>);

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Budget(unlimited)"),
            Some(s) => write!(f, "Budget({} of {} bytes)", s.used.load(Ordering::Relaxed), s.limit),
        }
    }
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Budget {
        Budget(Some(Arc::new(Shared {
            limit,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            cuts: Default::default(),
            connection_cut: Default::default(),
            decode_work: AtomicU64::new(0),
        })))
    }

    /// A budget that counts nothing and refuses nothing (tests, fuzzing,
    /// callers that bound memory otherwise).
    pub fn unlimited() -> Budget {
        Budget(None)
    }

    /// The limit, if there is one.
    pub fn limit(&self) -> Option<usize> {
        self.0.as_ref().map(|s| s.limit)
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.used.load(Ordering::Relaxed))
    }

    /// The most held at once.
    pub fn peak(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.peak.load(Ordering::Relaxed))
    }

    /// Whether more is held than the limit allows (forced holdings).
    pub fn over(&self) -> bool {
        self.0.as_ref().is_some_and(|s| s.used.load(Ordering::Relaxed) > s.limit)
    }

    /// Whether `n` more bytes of something that can be done without would
    /// be taken now.
    pub fn has_room(&self, n: usize) -> bool {
        self.0.as_ref().is_none_or(|s| {
            let soft = Self::soft_limit(s.limit);
            s.used.load(Ordering::Relaxed).checked_add(n).is_some_and(|u| u <= soft)
        })
    }

    /// Whether the total is back under what connections are ended early
    /// down to (seven eighths of the limit, so that one ended connection
    /// does not leave the next frame over again).
    pub fn settled(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|s| s.used.load(Ordering::Relaxed) <= s.limit.saturating_sub(s.limit / 8))
    }

    /// A new, empty holding.
    pub fn lease(&self) -> Lease {
        Lease { budget: self.clone(), bytes: 0 }
    }

    /// Counts a cut of `kind`.
    pub fn cut(&self, kind: Cut) {
        if let Some(s) = &self.0
            && let Some(c) = s.cuts.get(kind.index())
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts `n` bytes of decoder work against the run's allowance
    /// ([`DECODE_WORK_PER_RUN`]); false when it was used up already (a
    /// body is then shown as sent). Work is counted after it is done, so
    /// the allowance is passed by at most one body's.
    pub fn take_decode_work(&self, n: u64) -> bool {
        let Some(s) = &self.0 else { return true };
        s.decode_work.fetch_add(n, Ordering::Relaxed) < DECODE_WORK_PER_RUN
    }

    /// Ends a connection early for the budget: counts it, and returns
    /// whether it is the run's first (to be said once, by whichever part
    /// of the analysis does it).
    pub fn cut_connection(&self) -> bool {
        self.cut(Cut::Connection);
        self.0.as_ref().is_some_and(|s| !s.connection_cut.swap(true, Ordering::Relaxed))
    }

    /// The diagnostic for the run's first connection ended early.
    pub fn connection_cut_diagnostic(&self, id: u64, now: crate::time::Timestamp) -> Diagnostic {
        Diagnostic::new(
            Severity::Warning,
            "memory.budget",
            Location::default(),
            format!(
                "the memory budget of {} MiB is used up (at capture time {now}): ending the \
                 longest-idle connections early, first TCP connection {id} (--max-memory raises \
                 it)",
                self.limit().unwrap_or(0) >> 20
            ),
        )
    }

    /// What was cut so far, by kind (kinds never cut left out).
    pub fn cuts(&self) -> Vec<(Cut, u64)> {
        let Some(s) = &self.0 else { return Vec::new() };
        Cut::ALL
            .iter()
            .zip(&s.cuts)
            .map(|(k, c)| (*k, c.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// What holdings that can be done without may take in all: the rest
    /// of the limit is kept for those that cannot.
    fn soft_limit(limit: usize) -> usize {
        limit.saturating_sub(limit / 4)
    }

    /// Takes `n` bytes if they fit under the soft limit.
    fn try_take(&self, n: usize) -> bool {
        let Some(s) = &self.0 else { return true };
        let soft = Self::soft_limit(s.limit);
        let taken = s.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            used.checked_add(n).filter(|&u| u <= soft)
        });
        match taken {
            Ok(before) => {
                s.peak.fetch_max(before.saturating_add(n), Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Takes `n` bytes whatever the limit.
    fn take(&self, n: usize) {
        if n == 0 {
            return;
        }
        if let Some(s) = &self.0 {
            let before = s.used.fetch_add(n, Ordering::Relaxed);
            s.peak.fetch_max(before.saturating_add(n), Ordering::Relaxed);
        }
    }

    fn give(&self, n: usize) {
        if n == 0 {
            return;
        }
        if let Some(s) = &self.0 {
            // Never below zero, whatever a caller does.
            let _ = s.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(n))
            });
        }
    }
}

/// The bytes one holding counts against a [`Budget`], given back when it
/// is dropped. A clone counts as much again (whatever the limit: it is a
/// copy of something already held). Two leases compare equal whatever
/// they hold, so that plain data holding one keeps its equality.
pub struct Lease {
    budget: Budget,
    bytes: usize,
}

impl Lease {
    /// Grows the holding by `n` bytes if they fit; false (nothing held)
    /// when the budget is used up.
    pub fn try_grow(&mut self, n: usize) -> bool {
        if n == 0 {
            return true;
        }
        let ok = self.budget.try_take(n);
        if ok {
            self.bytes = self.bytes.saturating_add(n);
        }
        ok
    }

    /// Grows the holding by `n` bytes whatever the limit: for what the
    /// analysis cannot go on without.
    pub fn grow(&mut self, n: usize) {
        self.budget.take(n);
        self.bytes = self.bytes.saturating_add(n);
    }

    /// Gives back up to `n` bytes.
    pub fn shrink(&mut self, n: usize) {
        let n = n.min(self.bytes);
        self.budget.give(n);
        self.bytes = self.bytes.saturating_sub(n);
    }

    /// Makes the holding exactly `n` bytes, whatever the limit (nothing
    /// to do, and no shared count touched, when it is already).
    pub fn set(&mut self, n: usize) {
        if n > self.bytes {
            self.grow(n.abs_diff(self.bytes));
        } else if n < self.bytes {
            self.shrink(n.abs_diff(self.bytes));
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The budget it counts against.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

impl Default for Lease {
    /// A lease of an unlimited budget.
    fn default() -> Self {
        Budget::unlimited().lease()
    }
}

impl Clone for Lease {
    fn clone(&self) -> Self {
        let mut l = self.budget.lease();
        l.grow(self.bytes);
        l
    }
}

/// Shows no count: like equality, a value's `Debug` does not depend on
/// what it holds against the budget (what is held with field trees on
/// differs from the same analysis without).
impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lease")
    }
}

impl PartialEq for Lease {
    fn eq(&self, _: &Lease) -> bool {
        true
    }
}

impl Eq for Lease {}

/// What an item costs besides its heap bytes: the allocator's own
/// bookkeeping and the item's place in its container, roughly.
pub const ITEM_COST: usize = 64;

/// The heap bytes a value holds, estimated (see the module doc).
pub trait HeapSize {
    /// Bytes on the heap, roughly.
    fn heap_size(&self) -> usize;
}

impl HeapSize for Vec<u8> {
    fn heap_size(&self) -> usize {
        self.capacity()
    }
}

impl HeapSize for String {
    fn heap_size(&self) -> usize {
        self.capacity()
    }
}

impl<T: HeapSize> HeapSize for Option<T> {
    fn heap_size(&self) -> usize {
        self.as_ref().map_or(0, HeapSize::heap_size)
    }
}

impl HeapSize for Field {
    fn heap_size(&self) -> usize {
        // An estimate: saturating, as no count near usize::MAX could be held.
        std::mem::size_of::<Field>()
            .saturating_add(self.label.capacity())
            .saturating_add(self.value.capacity())
            .saturating_add(self.children.iter().map(HeapSize::heap_size).sum::<usize>())
            .saturating_add(
                self.notes.iter().map(|n| n.capacity().saturating_add(ITEM_COST)).sum::<usize>(),
            )
    }
}

impl HeapSize for Vec<Field> {
    fn heap_size(&self) -> usize {
        self.iter().map(HeapSize::heap_size).sum()
    }
}

impl HeapSize for Vec<(String, Vec<u8>)> {
    fn heap_size(&self) -> usize {
        let items = self.capacity().saturating_mul(std::mem::size_of::<(String, Vec<u8>)>());
        let held = self
            .iter()
            .map(|(n, v)| n.capacity().saturating_add(v.capacity()).saturating_add(ITEM_COST));
        items.saturating_add(held.sum::<usize>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_give_back_what_they_hold_when_dropped() {
        let b = Budget::new(100);
        let mut a = b.lease();
        assert!(a.try_grow(60));
        assert!(!a.try_grow(16), "past three quarters of the limit");
        assert_eq!((a.bytes(), b.used()), (60, 60));
        let mut c = b.lease();
        assert!(c.try_grow(15));
        assert_eq!(b.used(), 75);
        drop(a);
        assert_eq!(b.used(), 15);
        c.shrink(1000);
        assert_eq!((c.bytes(), b.used()), (0, 0));
        assert_eq!(b.peak(), 75);
    }

    #[test]
    fn forced_holdings_count_past_the_limit_and_say_so() {
        let b = Budget::new(16);
        let mut a = b.lease();
        a.grow(20);
        assert!(b.over() && !b.settled());
        let mut c = b.lease();
        assert!(!c.try_grow(1), "nothing fits while over");
        a.set(15);
        assert!(!b.over() && !b.settled());
        a.set(5);
        assert!(b.settled());
        assert!(c.try_grow(5));
        let d = c.clone();
        assert_eq!((d.bytes(), b.used()), (5, 15), "a clone counts again");
        drop((a, c, d));
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn an_unlimited_budget_refuses_nothing_and_counts_nothing() {
        let b = Budget::unlimited();
        let mut a = b.lease();
        assert!(a.try_grow(usize::MAX));
        assert_eq!((b.used(), b.over(), b.cuts().len()), (0, false, 0));
        b.cut(Cut::Body);
        assert!(b.cuts().is_empty());
    }

    #[test]
    fn cuts_are_counted_by_kind() {
        let b = Budget::new(1);
        b.cut(Cut::Body);
        b.cut(Cut::Body);
        b.cut(Cut::Connection);
        assert_eq!(b.cuts(), vec![(Cut::Body, 2), (Cut::Connection, 1)]);
        assert_eq!(Cut::Body.name(2), "bodies");
    }

    #[test]
    fn threads_share_one_count() {
        let b = Budget::new(1 << 20);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let mut l = b.lease();
                        assert!(l.try_grow(100));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(b.used(), 0);
        assert!(b.peak() <= 400);
    }
}
