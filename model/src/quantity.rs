//! Kubernetes resource quantities (`"250m"`, `"123456789n"`, `"2"`, `"16Gi"`, `"1e3"`), as
//! nodes report capacity and metrics-server reports usage.

/// The value of a quantity in its base unit (cores for CPU, bytes for memory), or `None`
/// when `q` is not a quantity. Binary suffixes (`Ki` … `Ei`) are powers of 1024, decimal
/// ones (`n`, `u`, `m`, `k`, `M` … `E`) powers of 1000, and an exponent (`1e3`) is read
/// as such.
pub fn parse(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    if number.is_empty() {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0_f64.powi(2),
        "Gi" => 1024.0_f64.powi(3),
        "Ti" => 1024.0_f64.powi(4),
        "Pi" => 1024.0_f64.powi(5),
        "Ei" => 1024.0_f64.powi(6),
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    let v = value * factor;
    v.is_finite().then_some(v)
}

/// A CPU quantity in millicores.
pub fn cpu_millis(q: &str) -> Option<f64> {
    parse(q).map(|cores| cores * 1000.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::float_cmp, reason = "tests")]
    use super::*;

    #[test]
    fn kubernetes_quantities() {
        assert_eq!(cpu_millis("250m").unwrap(), 250.0);
        assert_eq!(cpu_millis("2").unwrap(), 2000.0);
        assert!((cpu_millis("123456789n").unwrap() - 123.456_789).abs() < 1e-9);
        assert_eq!(cpu_millis("1.5").unwrap(), 1500.0);
        assert_eq!(parse("16Gi").unwrap(), 16.0 * 1024.0 * 1024.0 * 1024.0);
        assert_eq!(parse("123456Ki").unwrap(), 123_456.0 * 1024.0);
        assert_eq!(parse("500M").unwrap(), 5e8);
        assert_eq!(parse("1e3").unwrap(), 1000.0);
        assert_eq!(parse(" 3k ").unwrap(), 3000.0);
        for bad in ["", "Gi", "12Qi", "abc", "1e", "1e99999", "--1"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
