//! The agent version policy: versions compared leniently (`v2.1.0`, `2.1`, `2.1.0-rc1`),
//! the catalogue's `minimum` and `latest`, and whether an agent is outdated.

use std::cmp::Ordering;

use crate::db::agents::VersionRow;

/// Longest version string accepted in the catalogue.
pub const MAX_VERSION_CHARS: usize = 64;

/// The numeric release parts and the pre-release tag of `v` (`v2.1.0-rc1` →
/// `([2, 1, 0], "rc1")`); `None` when it does not start with a number.
fn parts(v: &str) -> Option<(Vec<u64>, &str)> {
    let v = v.trim().trim_start_matches(['v', 'V']);
    let (release, pre) = match v.find(['-', '+']) {
        Some(i) if v.as_bytes()[i] == b'-' => {
            let rest = &v[i + 1..];
            (&v[..i], rest.split('+').next().unwrap_or(rest))
        }
        Some(i) => (&v[..i], ""),
        None => (v, ""),
    };
    let nums: Option<Vec<u64>> = release.split('.').map(|p| p.parse().ok()).collect();
    nums.filter(|n| !n.is_empty()).map(|n| (n, pre))
}

/// Compares two versions; `None` when either is not a version (a git hash, `latest`).
/// Missing parts count as 0 (`2.1` = `2.1.0`); a pre-release is older than its release.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (an, ap) = parts(a)?;
    let (bn, bp) = parts(b)?;
    let len = an.len().max(bn.len());
    let at = |n: &[u64], i: usize| n.get(i).copied().unwrap_or(0);
    for i in 0..len {
        match at(&an, i).cmp(&at(&bn, i)) {
            Ordering::Equal => {}
            o => return Some(o),
        }
    }
    Some(match (ap.is_empty(), bp.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => ap.cmp(bp),
    })
}

/// Whether `v` reads as a version at all.
pub fn is_version(v: &str) -> bool {
    parts(v).is_some()
}

/// The policy the catalogue sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Agents older than this are outdated.
    pub min_version: Option<String>,
    /// The newest release.
    pub latest_version: Option<String>,
}

impl Policy {
    /// The policy of `catalogue`.
    pub fn of(catalogue: &[VersionRow]) -> Self {
        Self {
            min_version: catalogue
                .iter()
                .find(|v| v.is_minimum)
                .map(|v| v.version.clone()),
            latest_version: catalogue
                .iter()
                .find(|v| v.is_latest)
                .map(|v| v.version.clone()),
        }
    }

    /// `Some(true)` when `version` is older than the minimum, `Some(false)` when it is
    /// not, `None` when that cannot be said (no policy, no version, or not comparable).
    pub fn outdated(&self, version: Option<&str>) -> Option<bool> {
        let min = self.min_version.as_deref()?;
        compare(version?, min).map(|o| o == Ordering::Less)
    }

    /// Whether a newer release than `version` is in the catalogue.
    pub fn update_available(&self, version: Option<&str>) -> Option<bool> {
        let latest = self.latest_version.as_deref()?;
        compare(version?, latest).map(|o| o == Ordering::Less)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_leniently() {
        assert_eq!(compare("v2.1.0", "2.1"), Some(Ordering::Equal));
        assert_eq!(compare("2.0.9", "v2.1.0"), Some(Ordering::Less));
        assert_eq!(compare("2.10.0", "2.9.1"), Some(Ordering::Greater));
        assert_eq!(compare("2.1.0-rc1", "2.1.0"), Some(Ordering::Less));
        assert_eq!(compare("2.1.0-rc2", "2.1.0-rc1"), Some(Ordering::Greater));
        assert_eq!(compare("2.1.0+build5", "2.1.0"), Some(Ordering::Equal));
        assert_eq!(compare("abc123", "2.1.0"), None);
        assert_eq!(compare("", "2.1.0"), None);
    }

    #[test]
    fn outdated_needs_a_policy_and_a_version() {
        let p = Policy {
            min_version: Some("v2.1.0".into()),
            latest_version: Some("v2.2.0".into()),
        };
        assert_eq!(p.outdated(Some("v2.0.5")), Some(true));
        assert_eq!(p.outdated(Some("2.1.0")), Some(false));
        assert_eq!(p.outdated(Some("main-abc")), None);
        assert_eq!(p.outdated(None), None);
        assert_eq!(p.update_available(Some("2.1.0")), Some(true));
        assert_eq!(Policy::default().outdated(Some("1.0")), None);
    }
}
