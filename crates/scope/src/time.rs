//! Capture timestamps.

use std::fmt;

/// A capture timestamp: nanoseconds since the Unix epoch (1970-01-01 UTC).
///
/// i64 nanoseconds reach the year 2262; capture files can hold anything, so
/// converters saturate instead of overflowing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From seconds and nanoseconds, saturating.
    pub fn from_parts(secs: i64, nanos: u32) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(i64::from(nanos)))
    }

    /// From a count of `units` per second (pcapng if_tsresol), saturating.
    pub fn from_units(value: u64, units_per_sec: u64) -> Self {
        if units_per_sec == 0 {
            return Timestamp(0);
        }
        let secs = value.checked_div(units_per_sec).unwrap_or(0);
        let frac = value.checked_rem(units_per_sec).unwrap_or(0);
        // frac < units_per_sec, so frac * 1e9 / units fits in u128 without loss.
        let nanos = u128::from(frac)
            .saturating_mul(1_000_000_000)
            .checked_div(u128::from(units_per_sec))
            .unwrap_or(0) as u32;
        Timestamp::from_parts(i64::try_from(secs).unwrap_or(i64::MAX), nanos)
    }

    /// Whole seconds since the epoch.
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// Nanoseconds within the second.
    pub fn subsec_nanos(self) -> u32 {
        self.0.rem_euclid(1_000_000_000) as u32
    }

    /// Seconds from `earlier` to `self` as a float (negative if earlier is later).
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.0.saturating_sub(earlier.0)) as f64 / 1e9
    }
}

impl fmt::Display for Timestamp {
    /// `secs.nanos` since the epoch, as tshark's `frame.time_epoch`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.secs(), self.subsec_nanos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_pcapng_resolutions() {
        assert_eq!(Timestamp::from_units(1_500_000, 1_000_000), Timestamp(1_500_000_000));
        assert_eq!(Timestamp::from_units(3, 2), Timestamp(1_500_000_000));
        assert_eq!(Timestamp::from_units(u64::MAX, 1), Timestamp(i64::MAX));
        assert_eq!(Timestamp::from_units(5, 0), Timestamp(0));
    }

    #[test]
    fn splits_negative_times() {
        let t = Timestamp(-1);
        assert_eq!(t.secs(), -1);
        assert_eq!(t.subsec_nanos(), 999_999_999);
    }
}
