//! An alert rule's condition and scope as the rules API validates them, on arbitrary JSON:
//! nothing may panic; a condition that is accepted is accepted again from its canonical
//! JSON, as the same condition, and describes itself.
#![no_main]

use atlhyper_text::condition::{Condition, RESOURCE_TYPES};
use atlhyper_text::scope::Scope;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let Ok(v) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let resource_type = RESOURCE_TYPES[usize::from(pick) % RESOURCE_TYPES.len()];
    let top_for = v.get("for").and_then(Value::as_str);
    if let Ok(c) = Condition::parse(resource_type, v.get("condition").unwrap_or(&v), top_for) {
        let canonical = c.to_json();
        let again = Condition::parse(resource_type, &canonical, None)
            .expect("a condition's canonical JSON is accepted");
        assert_eq!(again.to_json(), canonical);
        let _ = c.describe(1.5);
    }
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Ok(s) = Scope::parse(text("cluster_id"), text("namespace"), v.get("labels")) {
        let _ = s.labels_json();
    }
});
