//! `GoTime`: a Go `time.Time` as it travels in JSON (RFC 3339 with nanoseconds and the sender's offset).
//!
//! Decoding accepts RFC 3339 with or without a fraction (1 to 9 digits; more are truncated like Go does), any
//! `±hh:mm` offset or `Z`, the zero time `0001-01-01T00:00:00Z`, `null` and `""` (both give the zero time).
//! Encoding is byte-identical to Go's `time.Time.MarshalJSON` (RFC3339Nano): trailing zeros of the fraction are
//! trimmed, no fraction when it is 0, `Z` when the offset is 0, otherwise `±hh:mm`. The original offset is kept.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Seconds from the Unix epoch to Go's zero time, `0001-01-01T00:00:00Z`.
const ZERO_UNIX_SECS: i64 = -62_135_596_800;
const SECS_PER_DAY: i64 = 86_400;

/// A Go `time.Time` on the wire: an instant plus the UTC offset it was written with (16 bytes, `Copy`).
///
/// Equality and hashing compare the instant **and** the offset (like Go's `==`); use [`GoTime::same_instant`]
/// to compare instants only. Ordering is by instant (the zero time first), with the offset as a tie-breaker
/// so that `Ord` agrees with `Eq`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GoTime {
    /// Seconds since the Unix epoch (UTC).
    secs: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    nanos: u32,
    /// UTC offset of the original text, in minutes east of UTC.
    offset_min: i16,
}

/// Why a string is not a valid Go time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid time {input:?}: {reason} (want RFC 3339, e.g. 2026-02-04T13:31:23.123456789+09:00)"
)]
pub struct GoTimeError {
    /// The rejected text.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl GoTime {
    /// Go's zero time, `0001-01-01T00:00:00Z` (also the `Default`).
    pub const ZERO: GoTime = GoTime {
        secs: ZERO_UNIX_SECS,
        nanos: 0,
        offset_min: 0,
    };

    /// True for the zero instant (whatever the offset), like Go's `Time.IsZero`.
    pub fn is_zero(&self) -> bool {
        self.secs == ZERO_UNIX_SECS && self.nanos == 0
    }

    /// The current time, in UTC.
    pub fn now() -> GoTime {
        GoTime::from_utc(Utc::now())
    }

    /// Converts a chrono UTC time (written back with `Z`).
    pub fn from_utc(t: DateTime<Utc>) -> GoTime {
        GoTime {
            secs: t.timestamp(),
            // chrono represents a leap second as nanos >= 1e9; Go has no leap seconds.
            nanos: t.timestamp_subsec_nanos().min(999_999_999),
            offset_min: 0,
        }
    }

    /// Converts to a chrono UTC time; `None` for the zero time (or an instant chrono cannot represent).
    pub fn to_utc(&self) -> Option<DateTime<Utc>> {
        if self.is_zero() {
            return None;
        }
        DateTime::from_timestamp(self.secs, self.nanos)
    }

    /// Milliseconds since the Unix epoch (floored); `None` for the zero time.
    pub fn unix_millis(&self) -> Option<i64> {
        if self.is_zero() {
            return None;
        }
        Some(self.secs * 1000 + i64::from(self.nanos / 1_000_000))
    }

    /// Whole seconds since the Unix epoch (floored); `None` for the zero time.
    pub fn unix_secs(&self) -> Option<i64> {
        (!self.is_zero()).then_some(self.secs)
    }

    /// The UTC offset the time was written with, in minutes east of UTC.
    pub fn offset_minutes(&self) -> i16 {
        self.offset_min
    }

    /// True when both denote the same instant, whatever their offsets.
    pub fn same_instant(&self, other: &GoTime) -> bool {
        self.secs == other.secs && self.nanos == other.nanos
    }

    /// Parses an RFC 3339 time; `""` gives the zero time.
    pub fn parse(s: &str) -> Result<GoTime, GoTimeError> {
        parse_rfc3339(s.as_bytes()).map_err(|reason| GoTimeError {
            input: s.to_owned(),
            reason,
        })
    }
}

impl Default for GoTime {
    fn default() -> Self {
        GoTime::ZERO
    }
}

impl Ord for GoTime {
    fn cmp(&self, other: &Self) -> Ordering {
        // The zero time sorts first, then by instant, then by offset (only to agree with `Eq`).
        (!self.is_zero(), self.secs, self.nanos, self.offset_min).cmp(&(
            !other.is_zero(),
            other.secs,
            other.nanos,
            other.offset_min,
        ))
    }
}

impl PartialOrd for GoTime {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for GoTime {
    type Err = GoTimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GoTime::parse(s)
    }
}

impl From<DateTime<Utc>> for GoTime {
    fn from(t: DateTime<Utc>) -> Self {
        GoTime::from_utc(t)
    }
}

/// Formats exactly like Go's `time.Time.Format(time.RFC3339Nano)`.
impl fmt::Display for GoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = self.secs + i64::from(self.offset_min) * 60;
        let (year, month, day) = civil_from_days(local.div_euclid(SECS_PER_DAY));
        let sod = local.rem_euclid(SECS_PER_DAY);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        )?;
        if self.nanos != 0 {
            let mut frac = self.nanos;
            let mut width = 9;
            while frac % 10 == 0 {
                frac /= 10;
                width -= 1;
            }
            write!(f, ".{frac:0width$}")?;
        }
        if self.offset_min == 0 {
            f.write_str("Z")
        } else {
            let sign = if self.offset_min < 0 { '-' } else { '+' };
            let abs = self.offset_min.unsigned_abs();
            write!(f, "{sign}{:02}:{:02}", abs / 60, abs % 60)
        }
    }
}

impl fmt::Debug for GoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GoTime({self})")
    }
}

impl Serialize for GoTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(GoTimeVisitor)
    }
}

/// Accepts a string, or `null` (Go leaves the zero value in place).
struct GoTimeVisitor;

impl<'de> Visitor<'de> for GoTimeVisitor {
    type Value = GoTime;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 time string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<GoTime, E> {
        GoTime::parse(v).map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<GoTime, E> {
        Ok(GoTime::ZERO)
    }

    fn visit_none<E: de::Error>(self) -> Result<GoTime, E> {
        Ok(GoTime::ZERO)
    }
}

/// Reads exactly `n` ASCII digits at `pos`.
fn digits(b: &[u8], pos: usize, n: usize) -> Result<u32, &'static str> {
    let field = b.get(pos..pos + n).ok_or("too short")?;
    field.iter().try_fold(0u32, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + u32::from(c - b'0'))
        } else {
            Err("expected a digit")
        }
    })
}

/// Checks that the byte at `pos` is `want`.
fn expect(b: &[u8], pos: usize, want: u8) -> Result<(), &'static str> {
    match b.get(pos) {
        Some(&c) if c == want => Ok(()),
        Some(_) => Err("unexpected character"),
        None => Err("too short"),
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn parse_rfc3339(b: &[u8]) -> Result<GoTime, &'static str> {
    if b.is_empty() {
        return Ok(GoTime::ZERO);
    }
    let year = i64::from(digits(b, 0, 4)?);
    expect(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    match b.get(10) {
        Some(b'T' | b't') => {}
        Some(_) => return Err("expected 'T' between date and time"),
        None => return Err("too short"),
    }
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b':')?;
    let minute = digits(b, 14, 2)?;
    expect(b, 16, b':')?;
    let second = digits(b, 17, 2)?;
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("time of day out of range");
    }

    let mut pos = 19;
    let mut nanos = 0u32;
    if matches!(b.get(pos), Some(b'.' | b',')) {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            if pos - start < 9 {
                nanos = nanos * 10 + u32::from(b[pos] - b'0');
            }
            pos += 1;
        }
        let n = pos - start;
        if n == 0 {
            return Err("empty fractional second");
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }

    let offset_min: i32 = match b.get(pos) {
        Some(b'Z' | b'z') => {
            pos += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, pos + 1, 2)?;
            expect(b, pos + 3, b':')?;
            let om = digits(b, pos + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err("offset out of range");
            }
            pos += 6;
            let m = (oh * 60 + om) as i32;
            if sign == b'-' {
                -m
            } else {
                m
            }
        }
        Some(_) => return Err("expected 'Z' or a ±hh:mm offset"),
        None => return Err("missing offset"),
    };
    if pos != b.len() {
        return Err("trailing characters");
    }

    let local = days_from_civil(year, month, day) * SECS_PER_DAY
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second);
    Ok(GoTime {
        secs: local - i64::from(offset_min) * 60,
        nanos,
        offset_min: offset_min as i16,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;

    fn t(s: &str) -> GoTime {
        GoTime::parse(s).unwrap()
    }

    fn round_trip(s: &str) {
        assert_eq!(t(s).to_string(), s, "round trip of {s}");
    }

    #[test]
    fn fits_in_16_bytes_and_is_copy() {
        assert!(std::mem::size_of::<GoTime>() <= 16);
        let a = GoTime::ZERO;
        let b = a;
        assert_eq!(a, b);
    }

    #[test]
    fn go_outputs_round_trip_byte_identically() {
        for s in [
            "2026-02-04T13:31:23.608382836+09:00",
            "2026-02-04T13:31:23+09:00",
            "2026-02-04T04:31:23Z",
            "2026-02-04T04:31:23.1Z",
            "2026-02-04T04:31:23.000000001Z",
            "2026-02-03T23:01:23.12-05:30",
            "2026-02-04T10:16:23.5+05:45",
            "0001-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999999Z",
            "2024-02-29T23:59:59-12:00",
            "9999-12-31T23:59:59.999999999+14:00",
        ] {
            round_trip(s);
        }
    }

    #[test]
    fn formatting_trims_trailing_zeros_and_normalises_utc() {
        assert_eq!(
            t("2026-02-04T04:31:23.120000000Z").to_string(),
            "2026-02-04T04:31:23.12Z"
        );
        assert_eq!(
            t("2026-02-04T04:31:23.000Z").to_string(),
            "2026-02-04T04:31:23Z"
        );
        assert_eq!(
            t("2026-02-04T04:31:23.5+00:00").to_string(),
            "2026-02-04T04:31:23.5Z"
        );
        assert_eq!(
            t("2026-02-04T04:31:23-00:00").to_string(),
            "2026-02-04T04:31:23Z"
        );
        assert_eq!(
            t("2026-02-04t04:31:23z").to_string(),
            "2026-02-04T04:31:23Z"
        );
        // Go truncates digits beyond the nanosecond.
        assert_eq!(
            t("2026-02-04T04:31:23.1234567891Z").to_string(),
            "2026-02-04T04:31:23.123456789Z"
        );
    }

    #[test]
    fn negative_offsets_keep_their_local_date() {
        let x = t("2026-01-01T00:30:00-05:30");
        assert_eq!(x.offset_minutes(), -330);
        assert_eq!(x.to_string(), "2026-01-01T00:30:00-05:30");
        assert_eq!(
            x.to_utc().unwrap().to_rfc3339(),
            "2026-01-01T06:00:00+00:00"
        );
    }

    #[test]
    fn ordering_is_by_instant_across_offsets() {
        let tokyo = t("2026-02-04T13:31:23+09:00"); // 04:31:23Z
        let utc_later = t("2026-02-04T04:31:24Z");
        let ny_earlier = t("2026-02-03T23:31:22-05:00"); // 04:31:22Z
        assert!(ny_earlier < tokyo);
        assert!(tokyo < utc_later);
        let mut v = vec![utc_later, tokyo, ny_earlier, GoTime::ZERO];
        v.sort();
        assert_eq!(v, vec![GoTime::ZERO, ny_earlier, tokyo, utc_later]);
        assert!(tokyo.same_instant(&t("2026-02-04T04:31:23Z")));
        assert_ne!(tokyo, t("2026-02-04T04:31:23Z"));
        assert_eq!(tokyo.cmp(&t("2026-02-04T04:31:23Z")), Ordering::Greater);
        assert!(t("2026-02-04T04:31:23.000000001Z") > t("2026-02-04T04:31:23Z"));
    }

    #[test]
    fn zero_time() {
        assert!(GoTime::ZERO.is_zero());
        assert_eq!(GoTime::default(), GoTime::ZERO);
        assert_eq!(GoTime::ZERO.to_string(), "0001-01-01T00:00:00Z");
        assert_eq!(t("0001-01-01T00:00:00Z"), GoTime::ZERO);
        assert_eq!(t(""), GoTime::ZERO);
        assert!(t("0001-01-01T09:00:00+09:00").is_zero());
        assert_eq!(GoTime::ZERO.to_utc(), None);
        assert_eq!(GoTime::ZERO.unix_millis(), None);
        assert_eq!(GoTime::ZERO.unix_secs(), None);
        assert!(GoTime::ZERO < t("0001-01-01T00:00:00.000000001Z"));
    }

    #[test]
    fn chrono_conversions() {
        let x = t("2026-02-04T13:31:23.608382836+09:00");
        let utc = x.to_utc().unwrap();
        assert_eq!(utc.to_rfc3339(), "2026-02-04T04:31:23.608382836+00:00");
        assert_eq!(x.unix_millis(), Some(utc.timestamp_millis()));
        assert_eq!(x.unix_secs(), Some(utc.timestamp()));
        let back = GoTime::from_utc(utc);
        assert!(back.same_instant(&x));
        assert_eq!(back.to_string(), "2026-02-04T04:31:23.608382836Z");
        assert_eq!(t("1969-12-31T23:59:59.999Z").unix_millis(), Some(-1));
        let now = GoTime::now();
        assert!(!now.is_zero());
        assert!(now > x);
    }

    #[test]
    fn garbage_is_rejected_with_the_value_in_the_message() {
        for bad in [
            "yesterday",
            "2026-02-04",
            "2026-02-04T04:31:23",
            "2026-02-04 04:31:23Z",
            "2026-13-04T04:31:23Z",
            "2023-02-29T04:31:23Z",
            "2026-02-04T24:00:00Z",
            "2026-02-04T04:31:23.Z",
            "2026-02-04T04:31:23+0900",
            "2026-02-04T04:31:23Zjunk",
        ] {
            let err = GoTime::parse(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
        let err = serde_json::from_str::<GoTime>(r#""not-a-time""#).unwrap_err();
        assert!(err.to_string().contains("not-a-time"), "{err}");
        assert!(serde_json::from_str::<GoTime>("12").is_err());
    }

    #[test]
    fn serde_json_forms() {
        assert_eq!(
            serde_json::from_str::<GoTime>("null").unwrap(),
            GoTime::ZERO
        );
        assert_eq!(
            serde_json::from_str::<GoTime>(r#""""#).unwrap(),
            GoTime::ZERO
        );
        let s = r#""2026-02-04T13:31:23.608382836+09:00""#;
        assert_eq!(
            serde_json::to_string(&serde_json::from_str::<GoTime>(s).unwrap()).unwrap(),
            s
        );
        assert_eq!(
            serde_json::from_str::<Option<GoTime>>("null").unwrap(),
            None
        );
        assert_eq!(
            serde_json::from_str::<Option<GoTime>>(r#""2026-02-04T04:31:23Z""#).unwrap(),
            Some(t("2026-02-04T04:31:23Z"))
        );
        let v = serde_json::Value::String("2026-02-04T04:31:23Z".into());
        assert_eq!(
            serde_json::from_value::<GoTime>(v).unwrap(),
            t("2026-02-04T04:31:23Z")
        );
        assert_eq!(
            "2026-02-04T04:31:23Z".parse::<GoTime>().unwrap(),
            t("2026-02-04T04:31:23Z")
        );
    }

    #[test]
    fn civil_day_conversions_agree() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1, 1, 1) * SECS_PER_DAY, ZERO_UNIX_SECS);
    }
}
