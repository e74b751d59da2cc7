//! The silence matcher's resource patterns (`*` = any run of characters): nothing may
//! panic, and the answer equals a plain dynamic-programming matcher's.
#![no_main]

use atlhyper_text::glob::glob;
use libfuzzer_sys::fuzz_target;

/// Reference: does `p` (with `*`) match all of `t`? Character by character.
fn reference(p: &[char], t: &[char]) -> bool {
    // m[j] = p[..i] matches t[..j]
    let mut m = vec![false; t.len() + 1];
    m[0] = true;
    for &pc in p {
        let mut next = vec![false; t.len() + 1];
        if pc == '*' {
            let mut any = false;
            for j in 0..=t.len() {
                any |= m[j];
                next[j] = any;
            }
        } else {
            for j in 1..=t.len() {
                next[j] = m[j - 1] && t[j - 1] == pc;
            }
        }
        m = next;
    }
    m[t.len()]
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Some((pattern, text)) = s.split_once('\n') else {
        return;
    };
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    assert_eq!(
        glob(pattern, text),
        reference(&p, &t),
        "{pattern:?} vs {text:?}"
    );
});
