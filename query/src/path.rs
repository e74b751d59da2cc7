//! Reading a dotted path out of any `Serialize` value without building its JSON.
//!
//! [`visit`] serializes the object through [`PathSer`], which looks only at the fields named
//! by the path (comparing keys, skipping every other field's value), goes through lists to
//! every element, and hands whatever the path reaches to a [`Sink`]. A sink may stop the walk
//! early (a condition that already matched). The paths the resources API shows are exactly
//! the ones it follows, because it walks the same `Serialize` impls.

use std::fmt;

use serde::ser::{self, Impossible, Serialize};

/// One value a path reached, as a comparison sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    /// `null`, an absent option.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (integers are exact up to 2^53).
    Num(f64),
    /// A string.
    Str(&'a str),
    /// An object or map (only `!= null` and `= null` say anything about it).
    Object,
}

/// Why a walk stopped before the end.
#[derive(Debug)]
pub enum Stop {
    /// The sink has what it wanted.
    Found,
    /// The object being walked holds nothing more on the path (its one field or entry of
    /// that name is done): the walk resumes at the list element or top level around it.
    Done,
    /// A serializer error (not expected from the model).
    Failed(String),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Found => f.write_str("found"),
            Stop::Done => f.write_str("done"),
            Stop::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Stop::Failed(msg.to_string())
    }
}

/// What receives the values a path reaches.
pub trait Sink {
    /// Called with each value at the end of the path (once per list element passed
    /// through). `Err(Stop::Found)` ends the walk.
    fn take<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop>;
    /// Called when the path goes through a list (so it may reach several values).
    fn through_list(&mut self) {}
}

/// Walks `path` in `item`, feeding `sink`. Returns true when the sink stopped it early.
pub fn visit<T: Serialize + ?Sized, S: Sink>(item: &T, path: &[String], sink: &mut S) -> bool {
    if path.is_empty() {
        return matches!(sink.take(item), Err(Stop::Found));
    }
    // `Done` at the top: the path's field was walked and the object ended early.
    matches!(item.serialize(PathSer { path, sink }), Err(Stop::Found))
}

/// Feeds every scalar a path reaches to a closure (lists at the end are expanded, nested
/// objects are [`Scalar::Object`]).
pub struct Leaves<F>(pub F);

impl<F: FnMut(Scalar<'_>) -> Result<(), Stop>> Sink for Leaves<F> {
    fn take<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        value.serialize(ScalarSer { f: &mut self.0 })
    }
}

/// Collects the JSON of what a path reaches (for `.fields()`).
#[derive(Debug, Default)]
pub struct Values {
    /// Each value reached.
    pub values: Vec<serde_json::Value>,
    /// True when the path went through a list.
    pub many: bool,
}

impl Values {
    /// One JSON value: the list of values when the path went through a list, else the
    /// value (or `null` when absent).
    pub fn into_json(mut self) -> serde_json::Value {
        if self.many {
            serde_json::Value::Array(self.values)
        } else {
            self.values.pop().unwrap_or(serde_json::Value::Null)
        }
    }
}

impl Sink for Values {
    fn take<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        let v = serde_json::to_value(value).map_err(|e| Stop::Failed(e.to_string()))?;
        self.values.push(v);
        Ok(())
    }
    fn through_list(&mut self) {
        self.many = true;
    }
}

struct PathSer<'p, 's, S> {
    path: &'p [String],
    sink: &'s mut S,
}

impl<S: Sink> PathSer<'_, '_, S> {
    /// A field or map entry named like the path's first segment.
    fn enter<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        match self.path {
            [_] => self.sink.take(value),
            [_, rest @ ..] => value.serialize(PathSer {
                path: rest,
                sink: &mut *self.sink,
            }),
            [] => Ok(()),
        }
    }
}

/// `SerializeSeq`, `SerializeTuple` and `SerializeTupleStruct` for a list walker: each
/// element goes to its `element` method.
macro_rules! list_impls {
    (impl[$($g:tt)*] for $ty:ty) => {
        impl<$($g)*> ser::SerializeSeq for $ty {
            type Ok = ();
            type Error = Stop;
            fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
                self.element(value)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        }

        impl<$($g)*> ser::SerializeTuple for $ty {
            type Ok = ();
            type Error = Stop;
            fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
                self.element(value)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        }

        impl<$($g)*> ser::SerializeTupleStruct for $ty {
            type Ok = ();
            type Error = Stop;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
                self.element(value)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        }
    };
}

/// A walker that ignores what it is given (variants, which the model does not have).
struct Skip;

macro_rules! skip_impl {
    ($($trait:ident: $method:ident $(($key:ident))?),* $(,)?) => {
        $(
            impl ser::$trait for Skip {
                type Ok = ();
                type Error = Stop;
                fn $method<T: Serialize + ?Sized>(&mut self, $($key: &'static str,)? _: &T) -> Result<(), Stop> {
                    Ok(())
                }
                fn end(self) -> Result<(), Stop> {
                    Ok(())
                }
            }
        )*
    };
}

skip_impl! {
    SerializeTupleVariant: serialize_field,
    SerializeStructVariant: serialize_field(_k),
}

macro_rules! ignore_scalars {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method(self, _: $ty) -> Result<(), Stop> {
                Ok(())
            }
        )*
    };
}

impl<'p, 's, S: Sink> ser::Serializer for PathSer<'p, 's, S> {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Elems<'p, 's, S>;
    type SerializeTuple = Elems<'p, 's, S>;
    type SerializeTupleStruct = Elems<'p, 's, S>;
    type SerializeTupleVariant = Skip;
    type SerializeMap = Entries<'p, 's, S>;
    type SerializeStruct = Fields<'p, 's, S>;
    type SerializeStructVariant = Skip;

    ignore_scalars! {
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_f32: f32, serialize_f64: f64, serialize_char: char,
        serialize_str: &str, serialize_bytes: &[u8], serialize_unit_struct: &'static str,
    }

    fn serialize_none(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Elems<'p, 's, S>, Stop> {
        self.sink.through_list();
        Ok(Elems(self))
    }
    fn serialize_tuple(self, len: usize) -> Result<Elems<'p, 's, S>, Stop> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Elems<'p, 's, S>, Stop> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Skip, Stop> {
        Ok(Skip)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Entries<'p, 's, S>, Stop> {
        Ok(Entries {
            walk: self,
            matched: false,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Fields<'p, 's, S>, Stop> {
        Ok(Fields(self))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Skip, Stop> {
        Ok(Skip)
    }
}

/// A list: the same path continues into every element.
struct Elems<'p, 's, S>(PathSer<'p, 's, S>);

impl<S: Sink> Elems<'_, '_, S> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        match value.serialize(PathSer {
            path: self.0.path,
            sink: &mut *self.0.sink,
        }) {
            // That element is done; the next one may hold the path too.
            Err(Stop::Done) => Ok(()),
            other => other,
        }
    }
}

list_impls!(impl[S: Sink] for Elems<'_, '_, S>);

/// A struct: only the field named like the first segment is followed.
struct Fields<'p, 's, S>(PathSer<'p, 's, S>);

impl<S: Sink> ser::SerializeStruct for Fields<'_, '_, S> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        if self.0.path.first().is_some_and(|p| p == key) {
            // Keys are unique: once this field is walked, the rest of the struct (whose
            // fields serde would still offer one by one) cannot matter.
            self.0.enter(value)?;
            Err(Stop::Done)
        } else {
            Ok(())
        }
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

/// A map: only the entry whose key is the first segment is followed.
struct Entries<'p, 's, S> {
    walk: PathSer<'p, 's, S>,
    matched: bool,
}

impl<S: Sink> ser::SerializeMap for Entries<'_, '_, S> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        let want = self.walk.path.first().map_or("", String::as_str);
        self.matched = key.serialize(KeyIs(want)).unwrap_or(false);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        if std::mem::take(&mut self.matched) {
            self.walk.enter(value)?;
            Err(Stop::Done)
        } else {
            Ok(())
        }
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

/// Answers whether a map key equals the wanted string (non-string keys never do).
struct KeyIs<'w>(&'w str);

impl ser::Serializer for KeyIs<'_> {
    type Ok = bool;
    type Error = Stop;
    type SerializeSeq = Impossible<bool, Stop>;
    type SerializeTuple = Impossible<bool, Stop>;
    type SerializeTupleStruct = Impossible<bool, Stop>;
    type SerializeTupleVariant = Impossible<bool, Stop>;
    type SerializeMap = Impossible<bool, Stop>;
    type SerializeStruct = Impossible<bool, Stop>;
    type SerializeStructVariant = Impossible<bool, Stop>;

    fn serialize_str(self, v: &str) -> Result<bool, Stop> {
        Ok(v == self.0)
    }
    fn serialize_bool(self, _: bool) -> Result<bool, Stop> {
        Ok(false)
    }
    fn serialize_i8(self, v: i8) -> Result<bool, Stop> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<bool, Stop> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<bool, Stop> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<bool, Stop> {
        Ok(self.0.parse::<i64>() == Ok(v))
    }
    fn serialize_u8(self, v: u8) -> Result<bool, Stop> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<bool, Stop> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<bool, Stop> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<bool, Stop> {
        Ok(self.0.parse::<u64>() == Ok(v))
    }
    fn serialize_f32(self, _: f32) -> Result<bool, Stop> {
        Ok(false)
    }
    fn serialize_f64(self, _: f64) -> Result<bool, Stop> {
        Ok(false)
    }
    fn serialize_char(self, v: char) -> Result<bool, Stop> {
        let mut b = [0; 4];
        Ok(v.encode_utf8(&mut b) == self.0)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<bool, Stop> {
        Ok(false)
    }
    fn serialize_none(self) -> Result<bool, Stop> {
        Ok(false)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<bool, Stop> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<bool, Stop> {
        Ok(false)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<bool, Stop> {
        Ok(false)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
    ) -> Result<bool, Stop> {
        Ok(v == self.0)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<bool, Stop> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<bool, Stop> {
        Ok(false)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Stop> {
        Err(Stop::Failed("key".into()))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Stop> {
        Err(Stop::Failed("key".into()))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Stop> {
        Err(Stop::Failed("key".into()))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Stop> {
        Err(Stop::Failed("key".into()))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Stop> {
        Err(Stop::Failed("key".into()))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Stop> {
        Err(Stop::Failed("key".into()))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Stop> {
        Err(Stop::Failed("key".into()))
    }
}

/// `ScalarSer` methods for the number types `f64` holds exactly.
macro_rules! exact_numbers {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method(self, v: $ty) -> Result<(), Stop> {
                (self.f)(Scalar::Num(f64::from(v)))
            }
        )*
    };
}

/// Turns a value into [`Scalar`]s: lists are expanded (nested lists flattened), objects are
/// [`Scalar::Object`] and not entered.
struct ScalarSer<'f, F> {
    f: &'f mut F,
}

impl<'f, F: FnMut(Scalar<'_>) -> Result<(), Stop>> ser::Serializer for ScalarSer<'f, F> {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = ScalarElems<'f, F>;
    type SerializeTuple = ScalarElems<'f, F>;
    type SerializeTupleStruct = ScalarElems<'f, F>;
    type SerializeTupleVariant = Skip;
    type SerializeMap = SkipMap;
    type SerializeStruct = SkipStruct;
    type SerializeStructVariant = Skip;

    fn serialize_bool(self, v: bool) -> Result<(), Stop> {
        (self.f)(Scalar::Bool(v))
    }
    exact_numbers! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_u8: u8,
        serialize_u16: u16, serialize_u32: u32, serialize_f32: f32,
    }
    #[allow(
        clippy::cast_precision_loss,
        reason = "counts and sizes are far below 2^53"
    )]
    fn serialize_i64(self, v: i64) -> Result<(), Stop> {
        (self.f)(Scalar::Num(v as f64))
    }
    #[allow(
        clippy::cast_precision_loss,
        reason = "counts and sizes are far below 2^53"
    )]
    fn serialize_u64(self, v: u64) -> Result<(), Stop> {
        (self.f)(Scalar::Num(v as f64))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Stop> {
        (self.f)(Scalar::Num(v))
    }
    fn serialize_char(self, v: char) -> Result<(), Stop> {
        let mut b = [0; 4];
        (self.f)(Scalar::Str(v.encode_utf8(&mut b)))
    }
    fn serialize_str(self, v: &str) -> Result<(), Stop> {
        (self.f)(Scalar::Str(v))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Stop> {
        (self.f)(Scalar::Object)
    }
    fn serialize_none(self) -> Result<(), Stop> {
        (self.f)(Scalar::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        (self.f)(Scalar::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Stop> {
        (self.f)(Scalar::Null)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> Result<(), Stop> {
        (self.f)(Scalar::Str(v))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Stop> {
        (self.f)(Scalar::Object)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<ScalarElems<'f, F>, Stop> {
        Ok(ScalarElems { f: self.f })
    }
    fn serialize_tuple(self, _: usize) -> Result<ScalarElems<'f, F>, Stop> {
        Ok(ScalarElems { f: self.f })
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<ScalarElems<'f, F>, Stop> {
        Ok(ScalarElems { f: self.f })
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Skip, Stop> {
        (self.f)(Scalar::Object)?;
        Ok(Skip)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<SkipMap, Stop> {
        (self.f)(Scalar::Object)?;
        Ok(SkipMap)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<SkipStruct, Stop> {
        (self.f)(Scalar::Object)?;
        Ok(SkipStruct)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Skip, Stop> {
        (self.f)(Scalar::Object)?;
        Ok(Skip)
    }
}

struct ScalarElems<'f, F> {
    f: &'f mut F,
}

impl<F: FnMut(Scalar<'_>) -> Result<(), Stop>> ScalarElems<'_, F> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        value.serialize(ScalarSer { f: &mut *self.f })
    }
}

list_impls!(impl[F: FnMut(Scalar<'_>) -> Result<(), Stop>] for ScalarElems<'_, F>);

/// Ignores a map's entries.
struct SkipMap;

impl ser::SerializeMap for SkipMap {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), Stop> {
        Ok(())
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

/// Ignores a struct's fields.
struct SkipStruct;

impl ser::SerializeStruct for SkipStruct {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        _: &T,
    ) -> Result<(), Stop> {
        Ok(())
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    fn leaves(v: &serde_json::Value, path: &str) -> Vec<String> {
        let path: Vec<String> = path.split('.').map(str::to_owned).collect();
        let mut out = Vec::new();
        visit(
            v,
            &path,
            &mut Leaves(|s: Scalar<'_>| {
                out.push(format!("{s:?}"));
                Ok(())
            }),
        );
        out
    }

    #[test]
    fn paths_reach_nested_values_through_lists_and_maps() {
        let v = json!({
            "status": {"phase": "Running", "restarts": 3},
            "containers": [{"image": "a", "ports": [{"port": 80}, {"port": 443}]}, {"image": "b"}],
            "labels": {"app": "web", "app.kubernetes.io/name": "shop"},
            "empty": null,
        });
        assert_eq!(leaves(&v, "status.phase"), ["Str(\"Running\")"]);
        assert_eq!(leaves(&v, "status.restarts"), ["Num(3.0)"]);
        assert_eq!(leaves(&v, "containers.image"), ["Str(\"a\")", "Str(\"b\")"]);
        assert_eq!(
            leaves(&v, "containers.ports.port"),
            ["Num(80.0)", "Num(443.0)"]
        );
        assert_eq!(leaves(&v, "labels.app"), ["Str(\"web\")"]);
        let dotted = vec!["labels".to_owned(), "app.kubernetes.io/name".to_owned()];
        let mut got = Values::default();
        visit(&v, &dotted, &mut got);
        assert_eq!(got.into_json(), json!("shop"));
        assert_eq!(leaves(&v, "status"), ["Object"]);
        assert_eq!(leaves(&v, "missing.x"), Vec::<String>::new());
        assert_eq!(leaves(&v, "empty"), ["Null"]);
        let mut got = Values::default();
        visit(&v, &["containers".into(), "image".into()], &mut got);
        assert_eq!(got.into_json(), json!(["a", "b"]));
    }

    #[test]
    fn a_sink_can_stop_the_walk() {
        let v = json!({"a": [1, 2, 3, 4]});
        let mut seen = 0;
        let stopped = visit(
            &v,
            &["a".to_owned()],
            &mut Leaves(|s: Scalar<'_>| {
                seen += 1;
                if s == Scalar::Num(2.0) {
                    Err(Stop::Found)
                } else {
                    Ok(())
                }
            }),
        );
        assert!(stopped);
        assert_eq!(seen, 2);
    }
}
