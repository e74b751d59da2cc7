//! [`StrMap`], a Go `map[string]string` (labels, annotations, selectors, quantities).
//!
//! Kept as one sorted boxed slice of pairs: a snapshot holds thousands of these maps with
//! one to five entries each, and a `BTreeMap` spends a 192-byte node on each of them
//! however few entries it has. Lookups are a binary search; iteration is in key order, as
//! Go writes map keys. The maps are built once by the parse and then only read.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Text;

/// A Go `map[string]string`, sorted by key, each key once.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StrMap(Box<[(Text, Text)]>);

impl StrMap {
    /// The empty map (no allocation).
    pub fn new() -> StrMap {
        StrMap::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the map has no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Text> {
        let i = self.position(key).ok()?;
        self.0.get(i).map(|(_, v)| v)
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Sets `key` to `value`, returning the old value. Rebuilds the slice: for building
    /// small maps by hand, not for bulk loading (collect an iterator instead).
    pub fn insert(&mut self, key: impl Into<Text>, value: impl Into<Text>) -> Option<Text> {
        let (key, value) = (key.into(), value.into());
        match self.position(&key) {
            Ok(i) => self.0.get_mut(i).map(|(_, v)| std::mem::replace(v, value)),
            Err(i) => {
                let mut v = std::mem::take(&mut self.0).into_vec();
                v.insert(i, (key, value));
                self.0 = v.into_boxed_slice();
                None
            }
        }
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Text, &Text)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Text> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }

    /// Values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Text> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }

    /// Builds the map from pairs in any order; of equal keys the last wins (like inserting
    /// them one by one, and like Go decoding a JSON object with a repeated key).
    fn from_pairs(mut pairs: Vec<(Text, Text)>) -> StrMap {
        if !pairs.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable: equal keys keep their order, so the last of a run is the last given.
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out: Vec<(Text, Text)> = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                match out.last_mut() {
                    Some(last) if last.0 == k => last.1 = v,
                    _ => out.push((k, v)),
                }
            }
            pairs = out;
        }
        StrMap(pairs.into_boxed_slice())
    }
}

impl<K: Into<Text>, V: Into<Text>> FromIterator<(K, V)> for StrMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> StrMap {
        StrMap::from_pairs(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl<K: Into<Text>, V: Into<Text>, const N: usize> From<[(K, V); N]> for StrMap {
    fn from(pairs: [(K, V); N]) -> StrMap {
        pairs.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a StrMap {
    type Item = (&'a Text, &'a Text);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Text, Text)>,
        fn(&'a (Text, Text)) -> (&'a Text, &'a Text),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl fmt::Debug for StrMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for StrMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for StrMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StrMap, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = StrMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrMap, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(pair) = map.next_entry::<Text, Text>()? {
                    pairs.push(pair);
                }
                Ok(StrMap::from_pairs(pairs))
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn behaves_like_the_btreemap_it_replaces() {
        let json = r#"{"b":"2","a":"1","c":"3","a":"again"}"#;
        let m: StrMap = serde_json::from_str(json).unwrap();
        let b: BTreeMap<String, String> = serde_json::from_str(json).unwrap();
        assert_eq!(m.len(), b.len());
        assert!(m
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .eq(b.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        assert_eq!(m.get("a").map(Text::as_str), Some("again"));
        assert!(m.contains_key("c") && !m.contains_key("d"));
        assert_eq!(format!("{m:?}"), format!("{b:?}"));
        let empty: StrMap = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty());
        assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
    }

    #[test]
    fn built_by_hand() {
        let mut m = StrMap::from([("z", "1"), ("a", "2")]);
        assert_eq!(m.keys().map(Text::as_str).collect::<Vec<_>>(), ["a", "z"]);
        assert_eq!(m.insert("m", "3"), None);
        assert_eq!(m.insert("a", "4").as_deref(), Some("2"));
        assert_eq!(
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
            ["a=4", "m=3", "z=1"]
        );
        assert_eq!(m, [("m", "3"), ("z", "1"), ("a", "4")].into());
    }
}
