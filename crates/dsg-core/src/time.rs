//! Instants as whole microseconds since the Unix epoch (UTC).
//!
//! Both databases store times this way, so comparisons in SQL are exact and
//! portable, and the domain can reason about "the instant a grant expires"
//! without a calendar library.

use serde::{Deserialize, Serialize};

/// A UTC instant in microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Microseconds in one second.
    pub const MICROS_PER_SEC: i64 = 1_000_000;

    /// The instant `secs` whole seconds after the epoch.
    pub fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(Self::MICROS_PER_SEC))
    }

    /// Whole seconds since the epoch (rounded down).
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(Self::MICROS_PER_SEC)
    }

    /// This instant moved by `secs` seconds (saturating).
    pub fn plus_secs(self, secs: i64) -> Self {
        Self(
            self.0
                .saturating_add(secs.saturating_mul(Self::MICROS_PER_SEC)),
        )
    }

    /// RFC 3339 text with microseconds, `Z` suffix, e.g. `2026-06-01T12:00:00.123456Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.as_secs();
        let micros = self.0.rem_euclid(Self::MICROS_PER_SEC);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

/// Converts days since 1970-01-01 into a proleptic Gregorian (year, month, day).
/// Howard Hinnant's civil-from-days algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_and_a_known_instant() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000000Z");
        // 2026-06-01T12:00:00.123456Z
        assert_eq!(
            Timestamp(1_780_315_200_123_456).to_rfc3339(),
            "2026-06-01T12:00:00.123456Z"
        );
        assert_eq!(Timestamp(-1).to_rfc3339(), "1969-12-31T23:59:59.999999Z");
    }
}
