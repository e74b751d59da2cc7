//! Kubernetes events (reference §2.8).
//!
//! Struct definitions generated from the reference tables; keys, `omitempty` and Go `null` handling follow §0.

use super::meta::common_meta_struct;
use super::serde_util::null_default;
use super::{GoTime, Kind, ResourceRef, Text};

common_meta_struct! {
    /// One Kubernetes event (CommonMeta keys inline).
    pub struct Event: Kind::Event {
        /// Normal or Warning.
        #[serde(rename = "type")]
        pub type_: Text,
        /// Reason.
        pub reason: Text,
        /// Message.
        pub message: Text,
        /// Reporting component.
        #[serde(skip_serializing_if = "Text::is_empty")]
        pub source: Text,
        /// The object the event is about.
        #[serde(default, deserialize_with = "null_default")]
        pub involved_object: ResourceRef,
        /// Occurrence count.
        pub count: i32,
        /// First occurrence (zero for events.k8s.io events).
        pub first_timestamp: GoTime,
        /// Last occurrence (zero for events.k8s.io events).
        pub last_timestamp: GoTime,
    }
}

/// Reasons that make a Warning event `critical` in `model_v2`'s severity helper.
const CRITICAL_REASONS: [&str; 9] = [
    "Failed",
    "FailedScheduling",
    "FailedMount",
    "FailedAttachVolume",
    "OOMKilled",
    "BackOff",
    "CrashLoopBackOff",
    "Unhealthy",
    "NodeNotReady",
];

impl Event {
    /// True for `type == "Warning"` (the summary rule of §2.2).
    pub fn is_warning(&self) -> bool {
        self.type_ == "Warning"
    }

    /// When it was last seen: `last_timestamp`, else `first_timestamp`, else its creation
    /// (events.k8s.io events leave the first two zero).
    pub fn last_seen(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.last_timestamp
            .to_utc()
            .or_else(|| self.first_timestamp.to_utc())
            .or_else(|| self.created_at.to_utc())
    }

    /// `model_v2` severity: `critical`, `warning` or `info` (unused by the v2.1 master APIs).
    pub fn severity(&self) -> &'static str {
        severity(&self.type_, &self.reason)
    }
}

/// `model_v2`'s severity of an event of `event_type` with `reason`: `critical` for a
/// Warning with one of the critical reasons (OOMKilled, BackOff, …), `warning` for any
/// other Warning, otherwise `info`.
pub fn severity(event_type: &str, reason: &str) -> &'static str {
    if event_type != "Warning" {
        "info"
    } else if CRITICAL_REASONS.contains(&reason) {
        "critical"
    } else {
        "warning"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::test_support::{assert_default, assert_keys};
    use crate::ResourceMeta;

    /// Keys written for a default value: exactly the non-omitempty ones.
    #[test]
    fn default_values_write_exactly_the_non_optional_keys() {
        assert_keys(
            &Event::default(),
            &[
                "count",
                "created_at",
                "first_timestamp",
                "involved_object",
                "kind",
                "last_timestamp",
                "message",
                "name",
                "reason",
                "type",
                "uid",
            ],
        );
    }

    /// `{}` and an object with `null` in every list, map, struct and pointer field decode to the default.
    #[test]
    fn empty_and_null_objects_decode_to_default() {
        assert_default::<Event>(
            r#"{"labels":null,"created_at":null,"involved_object":null,"first_timestamp":null,"last_timestamp":null}"#,
        );
    }

    #[test]
    fn event_meta_and_severity() {
        let e: Event = serde_json::from_str(
            r#"{"uid":"e1","name":"web.1","namespace":"shop","kind":"Event","created_at":"2026-02-04T13:31:23+09:00",
                "type":"Warning","reason":"BackOff","message":"m","involved_object":{"kind":"Pod","name":"web"},
                "count":0,"first_timestamp":"0001-01-01T00:00:00Z","last_timestamp":"0001-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            (e.uid(), e.namespace(), e.name(), Event::kind_name()),
            ("e1", "shop", "web.1", "Event")
        );
        assert!(e.first_timestamp.is_zero());
        assert_eq!(e.severity(), "critical");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["first_timestamp"], "0001-01-01T00:00:00Z");
        assert_eq!(v["created_at"], "2026-02-04T13:31:23+09:00");
        assert_eq!(
            v["involved_object"],
            serde_json::json!({"kind":"Pod","name":"web"})
        );
        let info = Event {
            type_: "Normal".into(),
            ..e.clone()
        };
        assert_eq!(info.severity(), "info");
        let warn = Event {
            reason: "Evicted".into(),
            ..e
        };
        assert_eq!(warn.severity(), "warning");
    }
}
