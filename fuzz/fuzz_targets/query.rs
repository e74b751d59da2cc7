//! The query DSL on arbitrary text: parse, check and, when the query is valid, run it on the
//! small fixture snapshot and render the items. Nothing may panic, and a syntax error's
//! position must lie within the text.
#![no_main]

use std::io::Read;
use std::sync::OnceLock;

use atlhyper_model::ClusterSnapshot;
use atlhyper_query::QueryError;
use libfuzzer_sys::fuzz_target;

fn snapshot() -> &'static ClusterSnapshot {
    static SNAP: OnceLock<ClusterSnapshot> = OnceLock::new();
    SNAP.get_or_init(|| {
        let gz = include_bytes!("../../tests/fixtures/small.json.gz");
        let mut json = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut json)
            .expect("the fixture is gzip");
        serde_json::from_str(&json).expect("the fixture parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match atlhyper_query::compile(text) {
        Ok(mut plan) => {
            let now = chrono::Utc::now();
            plan.at(now);
            let snap = snapshot();
            let mut parts = vec![plan.run_snapshot("fuzz", snap, now)];
            let merged = plan.merge(&mut parts);
            let mut out = Vec::new();
            for (_, index) in merged.picks.iter().take(5) {
                plan.render("fuzz", snap, *index, now, &mut out);
            }
        }
        Err(e @ (QueryError::Syntax { .. } | QueryError::Invalid { .. })) => {
            assert!(
                e.position() <= text.len(),
                "{e:?} is past the end of {text:?}"
            );
        }
    }
});
