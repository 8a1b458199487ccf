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

impl Timestamp {
    /// As people read it, in UTC and labelled so: `2026-06-01 12:00 UTC`, or
    /// `2026-06-01 UTC` at midnight (an expiry chosen as a date), so the same
    /// date shows whatever the reader's time zone.
    pub fn utc_text(self) -> String {
        let iso = self.to_rfc3339();
        let (date, time) = (&iso[..10], &iso[11..16]);
        if self.0.rem_euclid(86_400 * Self::MICROS_PER_SEC) == 0 {
            format!("{date} UTC")
        } else {
            format!("{date} {time} UTC")
        }
    }

    /// Parses RFC 3339 (`2026-06-01T12:00:00Z`, fractions and `±HH:MM` offsets
    /// allowed), a bare date (`2026-06-01`, midnight UTC) or whole Unix seconds.
    /// `None` when the text is none of these.
    pub fn parse(text: &str) -> Option<Self> {
        let s = text.trim();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse::<i64>().ok().map(Self::from_secs);
        }
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let part = s.get(r)?;
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().ok()
            } else {
                None
            }
        };
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
            return None;
        }
        let days = days_from_civil(y, mo, d);
        if b.len() == 10 {
            return Some(Self::from_secs(days * 86_400));
        }
        if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let mut i = 19;
        let mut micros = 0i64;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return None;
            }
            let frac = &s[start..i.min(start + 6)];
            micros = frac.parse::<i64>().ok()? * 10i64.pow(6 - frac.len() as u32);
        }
        let offset = match s.get(i..)? {
            "Z" | "z" => 0,
            tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
                let sign = if tz.starts_with('-') { -1 } else { 1 };
                if tz.as_bytes()[3] != b':' {
                    return None;
                }
                sign * (num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60)
            }
            _ => return None,
        };
        let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset;
        Some(Self(secs * Self::MICROS_PER_SEC + micros))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

    #[test]
    fn utc_text_is_a_date_at_midnight_and_a_time_otherwise() {
        let day = Timestamp::parse("2026-06-01").unwrap_or(Timestamp(0));
        assert_eq!(day.utc_text(), "2026-06-01 UTC");
        assert_eq!(
            day.plus_secs(12 * 3600 + 300).utc_text(),
            "2026-06-01 12:05 UTC"
        );
        assert_eq!(day.plus_secs(-1).utc_text(), "2026-05-31 23:59 UTC");
    }

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

    #[test]
    fn parses_what_it_formats_and_common_shapes() {
        for t in [0, 1_780_315_200_123_456, -1, 951_782_400_000_000] {
            let ts = Timestamp(t);
            assert_eq!(Timestamp::parse(&ts.to_rfc3339()), Some(ts));
        }
        assert_eq!(
            Timestamp::parse("2026-06-01T14:00:00+02:00"),
            Some(Timestamp(1_780_315_200_000_000))
        );
        assert_eq!(
            Timestamp::parse("2026-06-01"),
            Some(Timestamp(1_780_272_000_000_000))
        );
        assert_eq!(
            Timestamp::parse("1780315200"),
            Some(Timestamp(1_780_315_200_000_000))
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-06-01T12:00",
            "2026-06-01T12:00:00+0200",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }
}
