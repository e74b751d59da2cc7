//! Serde helpers reproducing Go `encoding/json` behaviour: `null` decodes to the zero value, and `omitempty`
//! fields are skipped when they hold their zero value.

use serde::{Deserialize, Deserializer};

/// `deserialize_with` helper: `null` decodes to `T::default()` (Go leaves the zero value for `null`).
///
/// Use together with `#[serde(default)]` so a missing key also gives the default.
pub fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// `deserialize_with` helper for list fields: like [`null_default`], and the list is
/// shrunk to its length. A growing `Vec` doubles its capacity, and starts at 4 elements,
/// so a pod's one container would otherwise keep room for four (a snapshot is parsed
/// once and then only read, for as long as it is the latest).
pub fn null_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let mut v = Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default();
    v.shrink_to_fit();
    Ok(v)
}

/// `skip_serializing_if` helper for `omitempty` `int32` fields.
pub fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}

/// `skip_serializing_if` helper for `omitempty` `int` / `int64` fields.
pub fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

/// `skip_serializing_if` helper for `omitempty` `float64` fields (Go omits `0` and `-0`).
pub fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

/// `skip_serializing_if` helper for `omitempty` `bool` fields.
pub fn is_false(v: &bool) -> bool {
    !*v
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default)]
    struct Probe {
        #[serde(default, deserialize_with = "null_vec")]
        list: Vec<i32>,
        #[serde(default, deserialize_with = "null_default")]
        map: BTreeMap<String, String>,
        #[serde(skip_serializing_if = "is_zero_i32")]
        a: i32,
        #[serde(skip_serializing_if = "is_zero_i64")]
        b: i64,
        #[serde(skip_serializing_if = "is_zero_f64")]
        c: f64,
        #[serde(skip_serializing_if = "is_false")]
        d: bool,
    }

    #[test]
    fn null_and_missing_give_defaults() {
        let p: Probe = serde_json::from_str(r#"{"list":null,"map":null}"#).unwrap();
        assert_eq!(p, Probe::default());
        let p: Probe = serde_json::from_str("{}").unwrap();
        assert_eq!(p, Probe::default());
        let p: Probe = serde_json::from_str(r#"{"list":[1,2],"map":{"k":"v"}}"#).unwrap();
        assert_eq!(p.list, vec![1, 2]);
        assert_eq!(p.list.capacity(), 2, "shrunk to fit");
        assert_eq!(p.map.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn zero_values_are_omitted() {
        assert_eq!(
            serde_json::to_string(&Probe::default()).unwrap(),
            r#"{"list":[],"map":{}}"#
        );
        let p = Probe {
            a: 1,
            b: -2,
            c: 0.5,
            d: true,
            ..Probe::default()
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"list":[],"map":{},"a":1,"b":-2,"c":0.5,"d":true}"#
        );
        assert!(is_zero_f64(&-0.0));
    }
}
