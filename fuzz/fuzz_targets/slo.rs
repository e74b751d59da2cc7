//! An SLO push body (`POST /agent/slo`) as the agent port parses it: nothing may panic.
#![no_main]

use atlhyper_model::wire;
use atlhyper_model::SloPushRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(push) = wire::parse_object::<SloPushRequest>(data) {
        // What the master stores and relays is serialised again.
        let _ = serde_json::to_vec(&push).expect("a parsed push serialises");
    }
});
