//! The master secrets of TLS 1.2 sessions, remembered for resumption, as
//! the parts of a capture split over threads share them ([`Shared`]): a
//! part that looks one up at step S waits until every other part has
//! analysed its steps before S, then sees exactly what a single analysis
//! would have learned by then. The analysis core only sees a
//! [`SessionMemory`]; the waiting is here, beside the threads.

use std::sync::Arc;

use crate::tls::crypto::{By, MAX_REMEMBERED_SESSIONS, SessionMemory};
use crate::tls::secret::Secret;

/// Where the analysis of one part of a capture stands: the number of the
/// step (a connection event, in the order of the capture) being analysed,
/// and how many steps each part had been given before it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Position {
    /// The step's number, counted over all parts.
    step: u64,
    /// Steps given to each part before this one.
    before: Vec<u64>,
}

/// The sessions remembered by the analyses of one capture split over
/// threads (each analysing its own share of the connections). A session
/// resumed in one part may have been learned in another: a lookup at step
/// S waits until every other part has analysed all its steps before S, then
/// sees exactly what a single analysis would have learned by then (the
/// newest entry learned before S).
pub struct Shared {
    maps: std::sync::Mutex<SharedMaps>,
    /// Steps each part has analysed.
    done: Vec<std::sync::atomic::AtomicU64>,
}

#[derive(Default)]
struct SharedMaps {
    by_session_id: foldhash::HashMap<Vec<u8>, Vec<(u64, Secret)>>,
    by_ticket: foldhash::HashMap<Vec<u8>, Vec<(u64, Secret)>>,
}

impl Shared {
    /// For a capture split into `parts`.
    pub fn new(parts: usize) -> Arc<Shared> {
        Arc::new(Shared {
            maps: std::sync::Mutex::new(SharedMaps::default()),
            done: (0..parts).map(|_| std::sync::atomic::AtomicU64::new(0)).collect(),
        })
    }

    /// Part `part` has analysed `steps` steps.
    pub fn set_done(&self, part: usize, steps: u64) {
        if let Some(d) = self.done.get(part) {
            d.store(steps, std::sync::atomic::Ordering::Release);
        }
    }

    /// Waits until every part other than `me` has analysed the steps it
    /// was given before `at`.
    fn wait_for_others(&self, me: usize, at: &Position) {
        let mut spins = 0u32;
        for (part, (done, before)) in self.done.iter().zip(&at.before).enumerate() {
            if part == me {
                continue;
            }
            while done.load(std::sync::atomic::Ordering::Acquire) < *before {
                spins = spins.saturating_add(1);
                if spins < 64 {
                    std::hint::spin_loop();
                } else if spins < 1024 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
            }
        }
    }

    fn maps(&self) -> std::sync::MutexGuard<'_, SharedMaps> {
        // A part that panicked left the maps as they were: still usable.
        self.maps.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Adds `(step, master)` under `key`; past [`MAX_REMEMBERED_SESSIONS`] keys,
/// the older half is forgotten.
fn remember_shared(
    map: &mut foldhash::HashMap<Vec<u8>, Vec<(u64, Secret)>>,
    key: &[u8],
    step: u64,
    master: &Secret,
) {
    if map.len() >= MAX_REMEMBERED_SESSIONS && !map.contains_key(key) {
        let mut newest: Vec<u64> =
            map.values().filter_map(|v| v.iter().map(|(s, _)| *s).max()).collect();
        let mid = newest.len() / 2;
        let (_, median, _) = newest.select_nth_unstable(mid);
        let median = *median;
        map.retain(|_, v| v.iter().any(|(s, _)| *s >= median));
    }
    let entries = map.entry(key.to_vec()).or_default();
    // Entries from before the earliest step any part may still look up
    // from cannot matter once a newer one exists; keep the list short.
    if entries.len() >= 8 {
        entries.remove(0);
    }
    entries.push((step, master.clone()));
}

/// The newest entry learned at or before `step`.
fn recall_shared(
    map: &foldhash::HashMap<Vec<u8>, Vec<(u64, Secret)>>,
    key: &[u8],
    step: u64,
) -> Option<Secret> {
    map.get(key)?.iter().rev().find(|(s, _)| *s <= step).map(|(_, m)| m.clone())
}

/// What part `me` remembers through: [`Shared`], at the step it analyses.
pub struct PartMemory {
    shared: Arc<Shared>,
    me: usize,
    at: Position,
}

impl PartMemory {
    /// Part `me`'s view of `shared`.
    pub fn new(shared: Arc<Shared>, me: usize) -> PartMemory {
        PartMemory { shared, me, at: Position::default() }
    }
}

impl SessionMemory for PartMemory {
    fn remember(&mut self, by: By, key: &[u8], master: &Secret) {
        let mut maps = self.shared.maps();
        let SharedMaps { by_session_id, by_ticket } = &mut *maps;
        remember_shared(by.pick(by_session_id, by_ticket), key, self.at.step, master);
    }

    fn recall(&self, by: By, key: &[u8]) -> Option<Secret> {
        self.shared.wait_for_others(self.me, &self.at);
        let maps = self.shared.maps();
        recall_shared(by.pick_ref(&maps.by_session_id, &maps.by_ticket), key, self.at.step)
    }

    fn at_step(&mut self, step: u64, before: &[u64]) {
        self.at.step = step;
        self.at.before.clear();
        self.at.before.extend_from_slice(before);
    }
}
