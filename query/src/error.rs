//! What can go wrong with a query, before any data is read.

/// A query that cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The text does not follow the grammar.
    #[error("{message} (at byte {position})")]
    Syntax {
        /// Byte offset of the problem in the query text.
        position: usize,
        /// What was expected there.
        message: String,
    },
    /// Well-formed, but names something that does not exist or does not apply: an unknown
    /// kind, argument or field, a bad argument value, a method used twice.
    #[error("{message}")]
    Invalid {
        /// Byte offset of the name or value at fault.
        position: usize,
        /// What is wrong.
        message: String,
        /// The closest valid name, when there is one.
        hint: Option<String>,
    },
}

impl QueryError {
    /// An [`QueryError::Invalid`] about `name` (at `position`), whose closest candidate among
    /// `valid` becomes the hint.
    pub fn unknown<'a>(
        position: usize,
        what: &str,
        name: &str,
        valid: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Self {
        let hint = closest(name, valid.clone()).map(str::to_owned);
        let mut all: Vec<&str> = valid.into_iter().collect();
        all.sort_unstable();
        all.dedup();
        let listed = if all.len() <= 24 {
            format!("; valid: {}", all.join(", "))
        } else {
            String::new()
        };
        let suggestion = hint
            .as_deref()
            .map(|h| format!(" (did you mean {h:?}?)"))
            .unwrap_or_default();
        QueryError::Invalid {
            position,
            message: format!("unknown {what} {name:?}{suggestion}{listed}"),
            hint,
        }
    }

    /// An [`QueryError::Invalid`] without a hint.
    pub fn invalid(position: usize, message: impl Into<String>) -> Self {
        QueryError::Invalid {
            position,
            message: message.into(),
            hint: None,
        }
    }

    /// The byte offset the error points at.
    pub fn position(&self) -> usize {
        match self {
            QueryError::Syntax { position, .. } | QueryError::Invalid { position, .. } => *position,
        }
    }
}

/// The candidate closest to `name` (case-insensitive edit distance), if it is close enough
/// to be a likely typo: at most a third of the name's length, and at least 1 or 2 edits.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    let budget = (name.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_only() {
        let names = ["namespace", "cluster", "status", "label"];
        assert_eq!(closest("nmespace", names), Some("namespace"));
        assert_eq!(closest("Cluster", names), Some("cluster"));
        assert_eq!(closest("stauts", names), Some("status"));
        assert_eq!(closest("zzzzzzzzz", names), None);
    }
}
