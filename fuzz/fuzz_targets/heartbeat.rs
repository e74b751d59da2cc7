//! A heartbeat body (`POST /agent/heartbeat`) as the agent port parses it: nothing may
//! panic, and every kept value fits the cap.
#![no_main]

use atlhyper_model::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(meta)) = wire::parse_heartbeat(data) {
        for v in [meta.agent_version, meta.hostname, meta.ip]
            .into_iter()
            .flatten()
        {
            assert!(v.chars().count() <= wire::MAX_META_CHARS);
        }
    }
});
