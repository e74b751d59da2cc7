//! Time ranges, and which stored periods answer a window.
//!
//! Each push is added to the row of its route's current clock minute (the raw tier). When
//! a minute is over (the first push of a later minute), it is added to its hour's and its
//! day's rows, and the cluster's *roll-up mark* moves to the new minute: hourly and daily
//! rows hold every minute before the mark, the minute rows from the mark on hold the rest.
//! A window is answered from the coarsest rows that fit before the mark, plus the minute
//! rows after it, so a 30-day query reads about 54 rows per route (30 days, then the hours
//! of the current day, then the current minute) instead of 43,200 minutes, and the newest
//! push always counts. Writing the hour and day rows once a minute instead of with every
//! push is what keeps a push cheap.
//!
//! A window's start is aligned down to the resolution it is read at (a minute up to two
//! hours, an hour beyond), so it covers up to one period more than asked. Rates divide by
//! the time the pushes really covered, so the alignment does not bias them.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// Seconds of the raw tier's periods.
pub const MINUTE: i32 = 60;
/// Seconds of the hourly tier's periods.
pub const HOUR: i32 = 3_600;
/// Seconds of the daily tier's periods.
pub const DAY: i32 = 86_400;

/// Windows up to this long are read from the minute rows (at most 120 per route).
const MINUTES_UP_TO: TimeDelta = TimeDelta::hours(2);

/// Windows at least this long read whole days from the daily rows.
const DAYS_FROM: TimeDelta = TimeDelta::days(3);

/// The time ranges of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Range {
    /// The last hour.
    H1,
    /// The last day.
    D1,
    /// The last 7 days.
    D7,
    /// The last 30 days.
    D30,
}

impl Range {
    /// Every range, shortest first.
    pub const ALL: [Range; 4] = [Range::H1, Range::D1, Range::D7, Range::D30];

    /// The API text.
    pub fn as_str(self) -> &'static str {
        match self {
            Range::H1 => "1h",
            Range::D1 => "1d",
            Range::D7 => "7d",
            Range::D30 => "30d",
        }
    }

    /// Parses the API text.
    pub fn parse(s: &str) -> Option<Range> {
        Range::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Its length.
    pub fn length(self) -> TimeDelta {
        match self {
            Range::H1 => TimeDelta::hours(1),
            Range::D1 => TimeDelta::days(1),
            Range::D7 => TimeDelta::days(7),
            Range::D30 => TimeDelta::days(30),
        }
    }

    /// The resolution of its history points: minutes for an hour, hours up to a week,
    /// days for 30 days.
    pub fn history_resolution(self) -> i32 {
        match self {
            Range::H1 => MINUTE,
            Range::D1 | Range::D7 => HOUR,
            Range::D30 => DAY,
        }
    }
}

/// Rows of one resolution whose period starts in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Period length in seconds.
    pub resolution: i32,
    /// First period start (inclusive).
    pub from: DateTime<Utc>,
    /// Last period start (exclusive).
    pub to: DateTime<Utc>,
}

/// The start of the period of `resolution` seconds that holds `t`.
pub fn floor(t: DateTime<Utc>, resolution: i32) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::seconds(i64::from(resolution)))
        .unwrap_or(t)
}

/// The first period start of `resolution` at or after `t`.
fn ceil(t: DateTime<Utc>, resolution: i32) -> DateTime<Utc> {
    let f = floor(t, resolution);
    if f == t {
        f
    } else {
        f + TimeDelta::seconds(i64::from(resolution))
    }
}

/// Where the window `[from, to)` really starts once aligned: the previous window of the
/// same length must end here, or both would read the period that holds `from`.
pub fn aligned_start(from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    cover(from, to, None).first().map_or(from, |s| s.from)
}

/// The spans that answer the window `[from, to)` given the cluster's roll-up mark
/// (`None`: nothing rolled up yet, so everything is in minute rows). No span overlaps
/// another.
pub fn cover(from: DateTime<Utc>, to: DateTime<Utc>, rolled: Option<DateTime<Utc>>) -> Vec<Span> {
    if to <= from {
        return Vec::new();
    }
    let span = |resolution, from, to| Span {
        resolution,
        from,
        to,
    };
    let len = to - from;
    if len <= MINUTES_UP_TO {
        return vec![span(MINUTE, floor(from, MINUTE), to)];
    }
    let start = floor(from, HOUR);
    // Coarse rows up to the mark (never past the window), minute rows from it on.
    let mark = rolled.map_or(start, |r| r.clamp(start, to));
    let mut out = Vec::with_capacity(4);
    let (d1, d2) = (ceil(start, DAY), floor(mark, DAY));
    if len >= DAYS_FROM && d1 < d2 {
        if start < d1 {
            out.push(span(HOUR, start, d1));
        }
        out.push(span(DAY, d1, d2));
        if d2 < mark {
            out.push(span(HOUR, d2, mark));
        }
    } else if start < mark {
        out.push(span(HOUR, start, mark));
    }
    if mark < to {
        out.push(span(MINUTE, mark, to));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn short_windows_read_minutes() {
        let now = t("2026-12-03T10:17:42Z");
        assert_eq!(
            cover(now - TimeDelta::minutes(5), now, None),
            vec![Span {
                resolution: MINUTE,
                from: t("2026-12-03T10:12:00Z"),
                to: now
            }]
        );
        assert_eq!(
            cover(now - TimeDelta::hours(1), now, None)[0].resolution,
            MINUTE
        );
    }

    #[test]
    fn a_day_reads_hours_and_a_month_reads_days_then_hours_then_the_current_minute() {
        let now = t("2026-12-03T10:17:42Z");
        let mark = Some(t("2026-12-03T10:17:00Z"));
        assert_eq!(
            cover(now - TimeDelta::days(1), now, mark),
            vec![
                Span {
                    resolution: HOUR,
                    from: t("2026-12-02T10:00:00Z"),
                    to: t("2026-12-03T10:17:00Z")
                },
                Span {
                    resolution: MINUTE,
                    from: t("2026-12-03T10:17:00Z"),
                    to: now
                },
            ]
        );
        assert_eq!(
            cover(now - TimeDelta::days(30), now, mark),
            vec![
                Span {
                    resolution: HOUR,
                    from: t("2026-11-03T10:00:00Z"),
                    to: t("2026-11-04T00:00:00Z")
                },
                Span {
                    resolution: DAY,
                    from: t("2026-11-04T00:00:00Z"),
                    to: t("2026-12-03T00:00:00Z")
                },
                Span {
                    resolution: HOUR,
                    from: t("2026-12-03T00:00:00Z"),
                    to: t("2026-12-03T10:17:00Z")
                },
                Span {
                    resolution: MINUTE,
                    from: t("2026-12-03T10:17:00Z"),
                    to: now
                },
            ]
        );
        // An agent silent since 09:40: the hour rows hold everything before 09:40.
        let quiet = cover(
            now - TimeDelta::days(1),
            now,
            Some(t("2026-12-03T09:40:00Z")),
        );
        assert_eq!(quiet[0].to, t("2026-12-03T09:40:00Z"));
        assert_eq!(quiet[1].resolution, MINUTE);
        // Nothing rolled up yet: only minute rows.
        assert_eq!(
            cover(now - TimeDelta::days(1), now, None)[0].resolution,
            MINUTE
        );
    }

    #[test]
    fn spans_never_overlap_and_cover_the_window() {
        // At midnight, rolled up to midnight, a week is exactly seven daily rows.
        let now = t("2026-12-03T00:00:00Z");
        let c = cover(now - TimeDelta::days(7), now, Some(now));
        assert_eq!(
            c,
            vec![Span {
                resolution: DAY,
                from: t("2026-11-26T00:00:00Z"),
                to: now
            }]
        );
        let later = now + TimeDelta::minutes(90);
        let c = cover(
            later - TimeDelta::days(7),
            later,
            Some(later - TimeDelta::seconds(30)),
        );
        assert_eq!(c.len(), 4, "{c:?}");
        for w in c.windows(2) {
            assert_eq!(w[0].to, w[1].from);
        }
        assert_eq!(c[3].to, later);
        assert!(cover(now, now, None).is_empty());
        // A mark past the window's end (an older window) is clamped to it.
        let old = cover(
            now - TimeDelta::days(2),
            now - TimeDelta::days(1),
            Some(now),
        );
        assert_eq!(
            old,
            vec![Span {
                resolution: HOUR,
                from: t("2026-12-01T00:00:00Z"),
                to: t("2026-12-02T00:00:00Z")
            }]
        );
    }

    #[test]
    fn the_previous_window_ends_where_the_current_one_starts() {
        let now = t("2026-12-03T10:17:42Z");
        let len = TimeDelta::days(1);
        let start = aligned_start(now - len, now);
        assert_eq!(start, t("2026-12-02T10:00:00Z"));
        let mark = Some(t("2026-12-03T10:17:00Z"));
        let prev = cover(start - len, start, mark);
        assert_eq!(prev.last().unwrap().to, start);
        assert!(cover(now - len, now, mark).iter().all(|s| s.from >= start));
    }

    #[test]
    fn ranges_parse_and_reject_the_unknown() {
        for r in Range::ALL {
            assert_eq!(Range::parse(r.as_str()), Some(r));
        }
        assert_eq!(Range::parse("2h"), None);
        assert_eq!(Range::parse(""), None);
    }
}
