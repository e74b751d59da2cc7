//! Duration and size settings (`MASTER_*` values, config.toml, rule `for`): nothing may
//! panic, and what parses formats back to text that parses to the same value.
#![no_main]

use atlhyper_text::units::{format_duration, parse_duration, parse_size};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = parse_duration(text) {
        let again = format_duration(d);
        assert_eq!(parse_duration(&again), Ok(d), "{text:?} -> {again:?}");
    }
    if let Ok(n) = parse_size(text) {
        assert_eq!(parse_size(&n.to_string()), Ok(n));
    }
});
