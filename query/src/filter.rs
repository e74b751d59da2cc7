//! The resource filters shared by the resources API (`?namespace=&label=&phase=…`) and the
//! query DSL's arguments (`pods(namespace=…, label=…, status=…)`): one definition of which
//! objects a filter keeps.

use std::any::Any;

use chrono::{DateTime, Utc};

use atlhyper_model::{Event, Node, Pod, ResourceMeta, StrMap};

/// A label selector: `key=value`, `key!=value` or `key` (exists).
#[derive(Debug, Clone, PartialEq)]
pub enum LabelSel {
    /// `key=value`.
    Eq(String, String),
    /// `key!=value` (also true when the label is absent).
    NotEq(String, String),
    /// `key`: the label is present.
    Exists(String),
}

impl LabelSel {
    /// Parses one selector; `Err` with what to write instead.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?}: use key=value, key!=value or key");
        if let Some((k, v)) = s.split_once("!=") {
            (!k.is_empty())
                .then(|| LabelSel::NotEq(k.to_owned(), v.to_owned()))
                .ok_or_else(bad)
        } else if let Some((k, v)) = s.split_once('=') {
            (!k.is_empty())
                .then(|| LabelSel::Eq(k.to_owned(), v.to_owned()))
                .ok_or_else(bad)
        } else if s.is_empty() {
            Err(bad())
        } else {
            Ok(LabelSel::Exists(s.to_owned()))
        }
    }

    /// True when `labels` satisfy the selector.
    pub fn matches(&self, labels: &StrMap) -> bool {
        match self {
            LabelSel::Eq(k, v) => labels.get(k.as_str()).is_some_and(|x| x == v),
            LabelSel::NotEq(k, v) => labels.get(k.as_str()).is_none_or(|x| x != v),
            LabelSel::Exists(k) => labels.contains_key(k.as_str()),
        }
    }
}

/// Which objects of a list to keep. Every filter is optional; the kind-specific ones are
/// only set for their kind (the API and the DSL refuse them elsewhere).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Exact namespace.
    pub namespace: Option<String>,
    /// A substring of the name.
    pub name: Option<String>,
    /// Every selector must hold.
    pub labels: Vec<LabelSel>,
    /// Pods: the node they run on.
    pub node: Option<String>,
    /// Pods: the phase (case-insensitive).
    pub phase: Option<String>,
    /// Nodes: `Ready` / `NotReady` (case-insensitive), by the Ready condition.
    pub readiness: Option<String>,
    /// Events: `Normal` / `Warning` (case-insensitive).
    pub event_type: Option<String>,
    /// Events: the reason (case-insensitive).
    pub reason: Option<String>,
    /// Events: last seen at or after this time.
    pub since: Option<DateTime<Utc>>,
}

fn eq_ci(want: Option<&str>, have: &str) -> bool {
    want.is_none_or(|w| w.eq_ignore_ascii_case(have))
}

impl Filter {
    /// True when `r` passes every filter that is set.
    pub fn matches<T: ResourceMeta + 'static>(&self, r: &T) -> bool {
        if !(self
            .namespace
            .as_deref()
            .is_none_or(|ns| r.namespace() == ns)
            && self.name.as_deref().is_none_or(|n| r.name().contains(n))
            && self.labels.iter().all(|l| l.matches(r.labels())))
        {
            return false;
        }
        let any = r as &dyn Any;
        if let Some(p) = any.downcast_ref::<Pod>() {
            return self
                .node
                .as_deref()
                .is_none_or(|n| p.summary.node_name == n)
                && eq_ci(self.phase.as_deref(), &p.status.phase);
        }
        if let Some(n) = any.downcast_ref::<Node>() {
            let ready = if n.ready_condition() {
                "Ready"
            } else {
                "NotReady"
            };
            return eq_ci(self.readiness.as_deref(), ready);
        }
        if let Some(e) = any.downcast_ref::<Event>() {
            return eq_ci(self.event_type.as_deref(), &e.type_)
                && eq_ci(self.reason.as_deref(), &e.reason)
                && self
                    .since
                    .is_none_or(|since| e.last_seen().is_some_and(|t| t >= since));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn label_selectors() {
        assert_eq!(
            LabelSel::parse("app=web").unwrap(),
            LabelSel::Eq("app".into(), "web".into())
        );
        assert_eq!(
            LabelSel::parse("app!=web").unwrap(),
            LabelSel::NotEq("app".into(), "web".into())
        );
        assert_eq!(
            LabelSel::parse("app").unwrap(),
            LabelSel::Exists("app".into())
        );
        assert!(LabelSel::parse("=x").is_err());
        assert!(LabelSel::parse("").is_err());
    }
}
