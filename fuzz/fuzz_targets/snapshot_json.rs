//! A snapshot body as the agent port parses it (`wire::parse_snapshot`), on arbitrary
//! bytes: nothing may panic, and the three ways to parse must agree — the fast path with
//! no base, the fast path reusing a previous snapshot's elements, and the plain parse
//! (`wire::parse_object`) whose verdict is final. Same acceptance, same snapshot.
#![no_main]

use std::io::Read;
use std::sync::{Arc, OnceLock};

use atlhyper_model::wire;
use atlhyper_model::{Base, ClusterSnapshot};
use libfuzzer_sys::fuzz_target;

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let gz = include_bytes!("../../tests/fixtures/edge-empty-go.json.gz");
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut json)
            .expect("the fixture is gzip");
        let (snapshot, memo, _) = wire::parse_snapshot(&json, None).expect("the fixture parses");
        Base {
            snapshot: Arc::new(snapshot),
            memo: Arc::new(memo.expect("the fast path takes the fixture")),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let plain = wire::parse_snapshot(data, None).map(|(s, _, _)| s);
    let reused = wire::parse_snapshot(data, Some(base())).map(|(s, _, _)| s);
    let full = wire::parse_object::<ClusterSnapshot>(data);
    match (&plain, &reused, &full) {
        (Ok(a), Ok(b), Ok(c)) => {
            assert!(a == b, "reusing a base changed the snapshot");
            assert!(a == c, "the fast path and the plain parse disagree");
        }
        (Err(_), Err(_), Err(_)) => {}
        _ => panic!(
            "verdicts differ: fast {:?}, reusing {:?}, plain {:?}",
            plain.as_ref().err(),
            reused.as_ref().err(),
            full.as_ref().err()
        ),
    }
});
