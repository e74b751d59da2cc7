//! Helpers shared by the model's unit tests.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

/// Asserts that `value` serializes to a JSON object with exactly the keys `want` (sorted).
pub(crate) fn assert_keys<T: Serialize>(value: &T, want: &[&str]) {
    let v = serde_json::to_value(value).unwrap();
    let mut got: Vec<&str> = v
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    got.sort_unstable();
    let mut want = want.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "keys of {}", std::any::type_name::<T>());
}

/// Asserts that `json` decodes to `T::default()`, and that `{}` does too.
pub(crate) fn assert_default<T>(json: &str)
where
    T: DeserializeOwned + Default + PartialEq + Debug,
{
    let from_nulls: T = serde_json::from_str(json).unwrap();
    assert_eq!(
        from_nulls,
        T::default(),
        "{} from {json}",
        std::any::type_name::<T>()
    );
    let from_empty: T = serde_json::from_str("{}").unwrap();
    assert_eq!(
        from_empty,
        T::default(),
        "{} from {{}}",
        std::any::type_name::<T>()
    );
}
