//! [`Text`], the string type of every text field of the model, and the per-parse interner.
//!
//! A snapshot repeats its vocabulary thousands of times (label keys and values, images,
//! namespaces, node names, reasons, `True`/`False`), and a typed parse into `String`s paid
//! 24 bytes of handle plus one allocation for every occurrence. `Text` is one pointer
//! (an [`ArcStr`]: refcount, length and bytes in one allocation; the empty string is a
//! static and never allocates), and while a parse runs inside [`interned`], every string it
//! decodes is looked up in a table private to that parse, so each distinct value of the
//! snapshot is allocated once and shared.
//!
//! **Why per parse, not process-wide.** What repeats is repeated *within* a snapshot:
//! across clusters only about a tenth of the distinct bytes are common (the rest are pod
//! names, UIDs and IPs), and a process-wide table would cost about as much to index every
//! live string as it would save, need a lock on the parse path, and need sweeping to forget
//! the names of deleted pods. The per-parse table is dropped when the parse ends, so it
//! keeps nothing alive and never grows past one snapshot; the strings live exactly as long
//! as the snapshot that holds them.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use arcstr::ArcStr;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable, cheaply cloned string: one pointer, shared by every clone (and, within one
/// [`interned`] parse, by every equal value). Compares, orders and hashes like `str`.
#[derive(Clone, Default)]
pub struct Text(ArcStr);

impl Text {
    /// The empty string (no allocation).
    pub const fn new() -> Text {
        Text(ArcStr::new())
    }

    /// The text as a `&str`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `""`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when both share one allocation (or are both empty).
    pub fn ptr_eq(a: &Text, b: &Text) -> bool {
        ArcStr::ptr_eq(&a.0, &b.0)
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Text {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        Text::ptr_eq(self, other) || self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Exactly like `str`, so that `Borrow<str>` lookups find it.
        self.as_str().hash(state);
    }
}

macro_rules! eq_with {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for Text {
            fn eq(&self, other: &$t) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        }
        impl PartialEq<Text> for $t {
            fn eq(&self, other: &Text) -> bool {
                AsRef::<str>::as_ref(self) == other.as_str()
            }
        }
    )*};
}
eq_with!(str, String);

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        if s.is_empty() {
            Text::new()
        } else {
            Text(ArcStr::from(s))
        }
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text::from(s.as_str())
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::from(s.as_str())
    }
}

impl From<&Text> for Text {
    fn from(s: &Text) -> Text {
        s.clone()
    }
}

impl From<Text> for String {
    fn from(s: Text) -> String {
        s.as_str().to_owned()
    }
}

impl From<&Text> for String {
    fn from(s: &Text) -> String {
        s.as_str().to_owned()
    }
}

impl std::str::FromStr for Text {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Text, Self::Err> {
        Ok(Text::from(s))
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Accepts what `String` accepts: a string, or bytes that are UTF-8.
struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(intern(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Text, E> {
        match std::str::from_utf8(v) {
            Ok(s) => Ok(intern(s)),
            Err(_) => Err(de::Error::invalid_value(de::Unexpected::Bytes(v), &self)),
        }
    }
}

/// The table of the parse running on this thread, if any.
type Table = hashbrown::HashSet<Text>;

thread_local! {
    static TABLE: RefCell<Option<Table>> = const { RefCell::new(None) };
}

/// Rough count of distinct strings per byte of snapshot JSON (measured: about one per
/// 280 bytes), to size the table once instead of rehashing it while it grows.
const BYTES_PER_DISTINCT: usize = 256;
/// Ceiling of that first size, so a huge body cannot ask for a huge table up front.
const MAX_INITIAL_ENTRIES: usize = 1 << 18;

/// Runs `parse` with an interner on this thread: equal strings decoded as [`Text`] inside it
/// share one allocation. `json_len` sizes the table. The table is dropped when `parse`
/// returns (or unwinds), so nothing outlives the values it produced. Nested calls share
/// the outer table.
pub fn interned<R>(json_len: usize, parse: impl FnOnce() -> R) -> R {
    /// Drops the table when the outermost scope ends, even on unwind.
    struct Scope;
    impl Drop for Scope {
        fn drop(&mut self) {
            // The table is taken out first: its strings are freed outside the borrow.
            let table = TABLE.with(|t| t.borrow_mut().take());
            drop(table);
        }
    }
    let outer = TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if t.is_some() {
            return false;
        }
        let entries = (json_len / BYTES_PER_DISTINCT).min(MAX_INITIAL_ENTRIES);
        *t = Some(Table::with_capacity(entries));
        true
    });
    let _scope = outer.then_some(Scope);
    parse()
}

/// `s` as a [`Text`]: the shared copy when a parse on this thread already has it.
pub fn intern(s: &str) -> Text {
    if s.is_empty() {
        return Text::new();
    }
    TABLE.with(|t| match t.try_borrow_mut().ok().as_deref_mut() {
        Some(Some(table)) => table.get_or_insert_with(s, |s: &str| Text::from(s)).clone(),
        _ => Text::from(s),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    #[test]
    fn behaves_like_a_str() {
        let t = Text::from("kube-system");
        assert_eq!(t, "kube-system");
        assert_eq!("kube-system", t);
        assert_eq!(t, String::from("kube-system"));
        assert_eq!(t.len(), 11);
        assert!(t.starts_with("kube"));
        assert_eq!(format!("{t}|{t:?}"), "kube-system|\"kube-system\"");
        let (a, b) = (Text::from("a"), Text::from("b"));
        assert!(a < b);
        assert!(Text::default().is_empty());
        let m: BTreeMap<Text, u8> = [(Text::from("k"), 1)].into();
        assert_eq!(m.get("k"), Some(&1));
        let h: HashMap<Text, u8> = [(Text::from("k"), 1)].into();
        assert_eq!(h.get("k"), Some(&1));
        assert_eq!(std::mem::size_of::<Text>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn serializes_as_a_plain_string() {
        let t = Text::from("<b>\u{e9}\"");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, serde_json::to_string("<b>\u{e9}\"").unwrap());
        let back: Text = serde_json::from_str(r#""\u003cb\u003e\u00e9\"""#).unwrap();
        assert_eq!(back, t);
        assert!(serde_json::from_str::<Text>("null").is_err());
        assert!(serde_json::from_str::<Text>("1").is_err());
    }

    #[test]
    fn equal_strings_share_one_allocation_within_a_parse() {
        let json = r#"[["app","web"],["app","web\u0000"],["app",""]]"#;
        let v: Vec<Vec<Text>> = interned(json.len(), || serde_json::from_str(json).unwrap());
        assert!(Text::ptr_eq(&v[0][0], &v[1][0]));
        assert!(Text::ptr_eq(&v[0][0], &v[2][0]));
        assert!(!Text::ptr_eq(&v[0][1], &v[1][1]));
        assert_eq!(v[1][1], "web\u{0}");
        // Outside a parse nothing is shared and no table is kept.
        let w: Vec<Text> = serde_json::from_str(r#"["app","app"]"#).unwrap();
        assert!(!Text::ptr_eq(&w[0], &w[1]));
        assert!(TABLE.with(|t| t.borrow().is_none()));
    }

    #[test]
    fn the_table_is_gone_after_a_parse_even_a_failed_one() {
        let r: Result<Vec<Text>, _> = interned(10, || serde_json::from_str(r#"["a", 1]"#));
        assert!(r.is_err());
        assert!(TABLE.with(|t| t.borrow().is_none()));
        let nested = interned(10, || interned(10, || intern("x")) == intern("x"));
        assert!(nested);
        assert!(TABLE.with(|t| t.borrow().is_none()));
    }
}
