//! Durations and sizes as operators write them in settings and alert rules.

use std::time::Duration;

/// A kibibyte.
pub const KIB: u64 = 1024;
/// A mebibyte.
pub const MIB: u64 = 1024 * KIB;

/// Parses a Go-syntax duration: a sequence of decimal numbers, each with an optional
/// fraction and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g. `45s`, `1h30m`,
/// `1.5h`, `300ms`; `0` needs no unit. Negative durations are rejected.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err("empty duration".to_owned());
    }
    let out_of_range = || "duration out of range".to_owned();
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (int_part, after) = split_digits(rest);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(after_dot) => split_digits(after_dot),
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(format!("expected a number at {rest:?}"));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err("missing unit (e.g. \"45s\")".to_owned()),
            other => {
                return Err(format!(
                    "unknown unit {other:?} (valid units: ns, us, µs, ms, s, m, h)"
                ))
            }
        };
        let int_value: u128 = match int_part {
            "" => 0,
            digits => digits.parse().map_err(|_| out_of_range())?,
        };
        let mut value = int_value
            .checked_mul(nanos_per_unit)
            .ok_or_else(out_of_range)?;
        // Sub-nanosecond digits cannot matter; keeping 18 avoids overflow.
        let frac_digits = &frac_part[..frac_part.len().min(18)];
        if !frac_digits.is_empty() {
            let frac: u128 = frac_digits.parse().map_err(|_| out_of_range())?;
            let scale = 10u128.pow(frac_digits.len() as u32);
            value = value
                .checked_add(frac * nanos_per_unit / scale)
                .ok_or_else(out_of_range)?;
        }
        total = total.checked_add(value).ok_or_else(out_of_range)?;
        rest = after;
    }
    if negative && total != 0 {
        return Err("negative durations are not allowed".to_owned());
    }
    u64::try_from(total)
        .map(Duration::from_nanos)
        .map_err(|_| out_of_range())
}

fn split_digits(s: &str) -> (&str, &str) {
    s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()))
}

/// Parses a byte size: a whole number with an optional unit, case-insensitive:
/// `B`, `KB`/`MB`/`GB`/`TB` (powers of 1000) or `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024),
/// e.g. `1MiB`, `64MiB`, `10KB`; a plain integer is bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = split_digits(s);
    if digits.is_empty() {
        return Err(if s.is_empty() {
            "empty size".to_owned()
        } else {
            "a size must start with a whole number".to_owned()
        });
    }
    if unit.starts_with('.') {
        return Err(
            "a size must be a whole number (use a smaller unit, e.g. \"1536KiB\")".to_owned(),
        );
    }
    let multiplier: u64 = match unit.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => KIB,
        "mib" => MIB,
        "gib" => 1024 * MIB,
        "tib" => 1024 * 1024 * MIB,
        _ => {
            return Err(format!(
                "unknown unit {:?} (valid units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)",
                unit.trim_start()
            ))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| "size out of range".to_owned())
}

/// Formats a duration compactly in Go syntax, parseable by [`parse_duration`]: `0s`,
/// `45s`, `1m30s`, `5m`, `1h30m`, `24h`; sub-second parts as `ms`, `us`, `ns`.
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    let parts = [
        (secs / 3600, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
        (u64::from(nanos / 1_000_000), "ms"),
        (u64::from(nanos / 1_000 % 1_000), "us"),
        (u64::from(nanos % 1_000), "ns"),
    ];
    let mut out = String::new();
    for (n, unit) in parts {
        if n != 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
        }
    }
    out
}
