//! The field tree of a type, read from its `Deserialize` impl, so that a query's dotted paths
//! are checked against the model itself (a renamed or added field needs no second list).
//!
//! [`Shape::of`] drives `T::deserialize` with a tracing deserializer: each struct reports its
//! field names (serde passes them, renames applied), each list and map one element, each
//! option its inner type. The produced value is thrown away; only the shape is kept.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

/// The shape of a value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Shape {
    /// A string, number, boolean or time.
    #[default]
    Scalar,
    /// An object with these fields.
    Struct(BTreeMap<&'static str, Shape>),
    /// A list of elements of this shape (a path goes through it to every element).
    List(Box<Shape>),
    /// A map with any keys and values of this shape (`labels.app`).
    Map(Box<Shape>),
    /// Anything: the tracer could not tell (every path below is accepted).
    Any,
}

impl Shape {
    /// The shape of `T`.
    pub fn of<T: DeserializeOwned>() -> Shape {
        let mut shape = Shape::Any;
        // The traced value is not wanted, and an error only leaves part of the tree `Any`.
        let _ = T::deserialize(Tracer {
            slot: &mut shape,
            depth: 0,
        });
        shape
    }

    /// Follows `path` from this shape: `Ok` with the shape reached, or `Err((i, names))`
    /// where segment `i` is not a field and `names` are the fields valid there (empty when
    /// the value at `i` is a scalar, which has no fields).
    pub fn walk<'a>(&'a self, path: &[String]) -> Result<&'a Shape, (usize, Vec<&'static str>)> {
        let mut at = self;
        for (i, seg) in path.iter().enumerate() {
            // Lists are transparent: a path continues into every element.
            while let Shape::List(inner) = at {
                at = inner;
            }
            at = match at {
                Shape::Struct(fields) => match fields.get(seg.as_str()) {
                    Some(s) => s,
                    None => return Err((i, fields.keys().copied().collect())),
                },
                Shape::Map(inner) => inner,
                Shape::Any => return Ok(at),
                Shape::Scalar | Shape::List(_) => return Err((i, Vec::new())),
            };
        }
        Ok(at)
    }

    /// True unless `path` surely reaches at most one scalar (it may cross a list, end on
    /// one, or reach a part the tracer could not tell).
    pub fn may_hold_many(&self, path: &[String]) -> bool {
        let mut at = self;
        for seg in path {
            at = match at {
                Shape::Struct(fields) => match fields.get(seg.as_str()) {
                    Some(s) => s,
                    None => return true,
                },
                Shape::Map(inner) => inner,
                Shape::Scalar => return false,
                Shape::List(_) | Shape::Any => return true,
            };
        }
        !matches!(at, Shape::Scalar)
    }
}

/// Nothing deeper is traced (the model is far shallower; this only stops a recursive type).
const MAX_DEPTH: usize = 16;

#[derive(Debug)]
struct TraceError(String);

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceError {}

impl de::Error for TraceError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        TraceError(msg.to_string())
    }
}

struct Tracer<'s> {
    slot: &'s mut Shape,
    depth: usize,
}

impl<'s> Tracer<'s> {
    fn scalar(self) {
        *self.slot = Shape::Scalar;
    }

    fn deeper(&self) -> Result<usize, TraceError> {
        if self.depth >= MAX_DEPTH {
            return Err(TraceError("too deep".into()));
        }
        Ok(self.depth + 1)
    }
}

macro_rules! scalar {
    ($($method:ident => $visit:ident($($value:expr)?)),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
                self.scalar();
                visitor.$visit($($value)?)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = TraceError;

    // A type that decides by the input (a time that may be a string or null): a scalar.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.scalar();
        visitor.visit_str("")
    }

    scalar! {
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i8(0),
        deserialize_i16 => visit_i16(0),
        deserialize_i32 => visit_i32(0),
        deserialize_i64 => visit_i64(0),
        deserialize_u8 => visit_u8(0),
        deserialize_u16 => visit_u16(0),
        deserialize_u32 => visit_u32(0),
        deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f32(0.0),
        deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char('a'),
        deserialize_str => visit_str(""),
        deserialize_string => visit_str(""),
        deserialize_bytes => visit_bytes(&[]),
        deserialize_byte_buf => visit_bytes(&[]),
        deserialize_unit => visit_unit(),
        deserialize_identifier => visit_str(""),
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.scalar();
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let depth = self.deeper()?;
        *self.slot = Shape::List(Box::new(Shape::Any));
        let Shape::List(inner) = self.slot else {
            return Err(TraceError("unreachable".into()));
        };
        visitor.visit_seq(One {
            slot: Some(inner),
            depth,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let depth = self.deeper()?;
        *self.slot = Shape::Map(Box::new(Shape::Any));
        let Shape::Map(inner) = self.slot else {
            return Err(TraceError("unreachable".into()));
        };
        visitor.visit_map(Entries {
            fields: &[],
            next: 0,
            map_value: Some(inner),
            struct_fields: None,
            depth,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let depth = self.deeper()?;
        // Every field is known by name even if tracing one of them fails part way.
        *self.slot = Shape::Struct(fields.iter().map(|f| (*f, Shape::Any)).collect());
        let Shape::Struct(map) = self.slot else {
            return Err(TraceError("unreachable".into()));
        };
        visitor.visit_map(Entries {
            fields,
            next: 0,
            map_value: None,
            struct_fields: Some(map),
            depth,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, TraceError> {
        // The model has no enums; one would be a scalar (a string) on the wire.
        self.scalar();
        Err(TraceError("enum".into()))
    }
}

/// A list of one element.
struct One<'s> {
    slot: Option<&'s mut Shape>,
    depth: usize,
}

impl<'de> de::SeqAccess<'de> for One<'_> {
    type Error = TraceError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TraceError> {
        match self.slot.take() {
            Some(slot) => seed
                .deserialize(Tracer {
                    slot,
                    depth: self.depth,
                })
                .map(Some),
            None => Ok(None),
        }
    }
}

/// A struct's fields, or a map's one entry.
struct Entries<'s> {
    fields: &'static [&'static str],
    next: usize,
    map_value: Option<&'s mut Shape>,
    struct_fields: Option<&'s mut BTreeMap<&'static str, Shape>>,
    depth: usize,
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        if self.struct_fields.is_some() {
            let Some(name) = self.fields.get(self.next) else {
                return Ok(None);
            };
            return seed.deserialize(name.into_deserializer()).map(Some);
        }
        if self.map_value.is_some() {
            // A key that any string-like key type accepts.
            return seed
                .deserialize(Tracer {
                    slot: &mut Shape::Any,
                    depth: self.depth,
                })
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, TraceError> {
        if let Some(fields) = self.struct_fields.as_deref_mut() {
            let name = self.fields.get(self.next).copied().unwrap_or_default();
            self.next += 1;
            let mut shape = Shape::Any;
            let out = seed.deserialize(Tracer {
                slot: &mut shape,
                depth: self.depth,
            });
            fields.insert(name, shape);
            return out;
        }
        match self.map_value.take() {
            Some(slot) => seed.deserialize(Tracer {
                slot,
                depth: self.depth,
            }),
            None => Err(TraceError("no value".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use atlhyper_model::{Node, Pod};

    fn seg(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn pod_fields_come_from_the_model() {
        let s = Shape::of::<Pod>();
        for ok in [
            "status.phase",
            "summary.name",
            "summary.createdAt",
            "containers.image",
            "containers.restartCount",
            "labels.app",
            "labels",
            "spec.tolerations.key",
            "annotations.x",
        ] {
            assert!(s.walk(&seg(ok)).is_ok(), "{ok}");
        }
        let (i, names) = s.walk(&seg("status.phse")).unwrap_err();
        assert_eq!(i, 1);
        assert!(names.contains(&"phase"), "{names:?}");
        assert_eq!(s.walk(&seg("status.phase.x")).unwrap_err(), (2, vec![]));
        let (i, top) = s.walk(&seg("metadata.name")).unwrap_err();
        assert_eq!(i, 0);
        assert_eq!(
            top,
            [
                "annotations",
                "containers",
                "initContainers",
                "labels",
                "spec",
                "status",
                "summary",
                "volumes"
            ]
        );
    }

    #[test]
    fn node_fields_come_from_the_model() {
        let s = Shape::of::<Node>();
        assert_eq!(s.walk(&seg("summary.creationTime")), Ok(&Shape::Scalar));
        assert!(s.walk(&seg("conditions.type")).is_ok());
        assert!(s.walk(&seg("metrics.cpu.utilPct")).is_ok());
        assert!(s.walk(&seg("info.kubeletVersion")).is_ok());
    }
}
