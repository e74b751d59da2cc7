//! A gzip snapshot body as the agent port decodes it: bounded inflate (`wire::inflate`,
//! 1 MiB here), then the snapshot parse. Nothing may panic, and the inflated size never
//! passes the cap.
#![no_main]

use atlhyper_model::wire::{self, WireError};
use libfuzzer_sys::fuzz_target;

const CAP: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    match wire::inflate(data, CAP) {
        Ok(json) => {
            assert!(json.len() as u64 <= CAP);
            let _ = wire::parse_snapshot(&json, None);
            let _ = wire::peek_cluster_id(&json);
        }
        Err(WireError::TooLarge { max }) => assert_eq!(max, CAP),
        Err(WireError::InvalidGzip(_)) => {}
        Err(other) => panic!("inflate cannot fail with {other:?}"),
    }
});
