//! A command result body (`POST /agent/result`) as the agent port parses it, and the
//! output cut to the configured cap on a character boundary (what is stored): nothing may
//! panic, and the cut is a prefix no longer than the cap.
#![no_main]

use atlhyper_model::wire;
use atlhyper_model::CommandResultBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cap, body)) = data.split_first() else {
        return;
    };
    if let Ok(r) = wire::parse_object::<CommandResultBody>(body) {
        for text in [r.output.as_str(), r.error.as_str()] {
            let kept = wire::cut(text, usize::from(cap));
            assert!(kept.len() <= usize::from(cap).max(0));
            assert!(text.starts_with(kept));
        }
        let _ = r.executed_at.to_string();
    }
});
