//! Reusing the previous parse of objects an agent sends again unchanged.
//!
//! An agent pushes its whole cluster every few seconds, and most objects are byte for byte
//! what it sent the time before: a pod's JSON changes when its phase, restarts or usage
//! do, not on every push (about 85 % of the bytes under the simulator). Parsing is most of
//! the cost of a push, so [`parse_reusing`] does not parse the lists of a snapshot as a
//! whole:
//!
//! 1. the top-level object is split into its members by a structural scan (strings,
//!    escapes and bracket depth; `memchr` inside strings), and each list into the raw
//!    bytes of its elements. An unchanged element is not even scanned: when the hash of
//!    the next 32 bytes is the start of an element the cluster's previous snapshot had in
//!    that list, the bytes of that element's length are hashed (xxh3, 128 bits) and, when
//!    they match and a separator follows, taken as that element;
//! 2. a scanned element is hashed too: when the previous snapshot had it, it is cloned,
//!    otherwise its bytes are parsed (and so validated) by sonic-rs;
//! 3. the other members (`cluster_id`, `fetched_at`, `summary`, `node_metrics`, and any
//!    unknown key) are copied into a small document that is parsed as a
//!    [`ClusterSnapshot`], which validates them too.
//!
//! Equal bytes parse to equal values, and a reused element's bytes are exactly those of an
//! element that was parsed and validated before, so the result equals a full parse field for
//! field, and the body is accepted exactly when a full parse accepts it: whenever the fast
//! path meets anything unusual (a key with an escape, a list given twice or not as a list,
//! an element that does not parse, a separator out of place), it gives up and the caller
//! parses the whole body the usual way, whose answer (and error) is final.
//!
//! A hash collision between two different objects of one cluster's list would give the
//! older object: with 128 bits and a few thousand objects per list that is far below the
//! chance of a memory error, and an agent can only ever reach its own cluster's objects.

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::ClusterSnapshot;

/// The lists of a [`ClusterSnapshot`] that are memoized.
const LISTS: usize = 20;

/// Bytes of an element's start that locate it (see [`Memo`]).
const PREFIX: usize = 32;

/// Where one element of a previous snapshot was: its length, its hash, its index.
#[derive(Debug, Clone, Copy)]
struct Known {
    len: u32,
    hash: u128,
    index: u32,
}

/// Every list element of one snapshot, for the next parse of the same cluster: by the hash
/// of its first [`PREFIX`] bytes (to find an unchanged element without scanning it: hash
/// that many bytes where the next element starts, and if a known element starts so, hash
/// its length and compare), and by the hash of all its bytes (for an element found by
/// scanning).
#[derive(Debug, Default, Clone)]
pub struct Memo {
    lists: Vec<List>,
}

#[derive(Debug, Default, Clone)]
struct List {
    by_prefix: HashMap<u64, Known>,
    by_hash: HashMap<u128, u32>,
}

impl Memo {
    /// How many elements are remembered in all.
    pub fn len(&self) -> usize {
        self.lists.iter().map(|l| l.by_hash.len()).sum()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn from_seen(seen: Vec<Vec<Seen>>) -> Self {
        let lists = seen
            .into_iter()
            .map(|h| {
                let mut l = List {
                    by_prefix: HashMap::with_capacity(h.len()),
                    by_hash: HashMap::with_capacity(h.len()),
                };
                for (i, seen) in h.into_iter().enumerate() {
                    let index = u32::try_from(i).unwrap_or(u32::MAX);
                    // A repeated object keeps its first position.
                    l.by_hash.entry(seen.hash).or_insert(index);
                    if let Some(p) = seen.prefix {
                        l.by_prefix.entry(p).or_insert(Known {
                            len: seen.len,
                            hash: seen.hash,
                            index,
                        });
                    }
                }
                l
            })
            .collect();
        Memo { lists }
    }
}

/// One element as this parse saw it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    prefix: Option<u64>,
    len: u32,
    hash: u128,
}

/// A list element: the index of an unchanged one in the base, or raw bytes to parse.
enum Elem<'a> {
    Reused(u32),
    Raw(&'a [u8]),
}

/// The previous snapshot of a cluster and its [`Memo`].
#[derive(Debug, Clone)]
pub struct Base {
    /// The snapshot the memo indexes.
    pub snapshot: Arc<ClusterSnapshot>,
    /// Its element hashes.
    pub memo: Arc<Memo>,
}

/// What one [`parse_reusing`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    /// Elements cloned from the base.
    pub reused: u64,
    /// Elements parsed.
    pub parsed: u64,
    /// Raw JSON bytes of the reused elements.
    pub reused_bytes: u64,
    /// Raw JSON bytes of the parsed elements.
    pub parsed_bytes: u64,
}

/// An element type of a memoized [`ClusterSnapshot`] list.
pub trait Memoized: DeserializeOwned + Clone {
    /// Position of its list among the memoized lists.
    const LIST: usize;
    /// The list's JSON key.
    const KEY: &'static str;
    /// Its list in a snapshot.
    fn list(s: &ClusterSnapshot) -> &[Self];
    /// Its list in a snapshot, to fill.
    fn list_mut(s: &mut ClusterSnapshot) -> &mut Vec<Self>;
}

macro_rules! memoized {
    ($($i:literal $t:ty => $field:ident $key:literal),* $(,)?) => {
        $(impl Memoized for $t {
            const LIST: usize = $i;
            const KEY: &'static str = $key;
            fn list(s: &ClusterSnapshot) -> &[Self] {
                &s.$field
            }
            fn list_mut(s: &mut ClusterSnapshot) -> &mut Vec<Self> {
                &mut s.$field
            }
        })*

        /// The memoized list a top-level key names.
        fn list_of(key: &[u8]) -> Option<usize> {
            match key {
                $(k if k == $key.as_bytes() => Some($i),)*
                _ => None,
            }
        }

        /// Fills list `list` of `s` from its raw elements.
        fn fill(
            list: usize,
            s: &mut ClusterSnapshot,
            elems: &[Elem<'_>],
            st: &mut State<'_>,
        ) -> Option<()> {
            match list {
                $($i => take::<$t>(s, elems, st),)*
                _ => None,
            }
        }

        #[cfg(test)]
        const MEMOIZED: &[&str] = &[$($key),*];
    };
}

use super::{
    ConfigMap, CronJob, DaemonSet, Deployment, Event, Ingress, Job, LimitRange, Namespace,
    NetworkPolicy, Node, PersistentVolume, PersistentVolumeClaim, Pod, ReplicaSet, ResourceQuota,
    Secret, Service, ServiceAccount, StatefulSet,
};

memoized! {
    0 Pod => pods "pods",
    1 Deployment => deployments "deployments",
    2 StatefulSet => statefulsets "statefulsets",
    3 DaemonSet => daemonsets "daemonsets",
    4 ReplicaSet => replicasets "replicasets",
    5 Job => jobs "jobs",
    6 CronJob => cronjobs "cronjobs",
    7 Service => services "services",
    8 Ingress => ingresses "ingresses",
    9 Namespace => namespaces "namespaces",
    10 ConfigMap => configmaps "configmaps",
    11 Secret => secrets "secrets",
    12 ResourceQuota => resource_quotas "resourceQuotas",
    13 LimitRange => limit_ranges "limitRanges",
    14 NetworkPolicy => network_policies "networkPolicies",
    15 ServiceAccount => service_accounts "serviceAccounts",
    16 PersistentVolume => pvs "pvs",
    17 PersistentVolumeClaim => pvcs "pvcs",
    18 Node => nodes "nodes",
    19 Event => events "events",
}

/// What a parse carries from list to list.
struct State<'b> {
    base: Option<&'b Base>,
    seen: Vec<Vec<Seen>>,
    reuse: Reuse,
}

/// Parses a snapshot body, reusing `base`'s unchanged list elements (see the module
/// docs). `None`: the fast path gave up, so parse the whole body the usual way. Run it
/// inside `interned` so that the parsed elements share their strings.
pub fn parse_reusing(json: &[u8], base: Option<&Base>) -> Option<(ClusterSnapshot, Memo, Reuse)> {
    let mut st = State {
        base,
        seen: vec![Vec::new(); LISTS],
        reuse: Reuse::default(),
    };
    let mut given = [false; LISTS];
    let mut rest: Vec<u8> = Vec::with_capacity(4096);
    rest.push(b'{');
    let mut lists: Vec<(usize, Vec<Elem<'_>>)> = Vec::new();
    let mut i = ws(json, 0);
    if json.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(json, i + 1);
    if json.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            // "key"
            if json.get(i) != Some(&b'"') {
                return None;
            }
            let key_start = i;
            let key_end = string_end(json, i)?;
            let key = json.get(i + 1..key_end - 1)?;
            if key.contains(&b'\\') {
                return None;
            }
            i = ws(json, key_end);
            if json.get(i) != Some(&b':') {
                return None;
            }
            let v = ws(json, i + 1);
            let v_end = match list_of(key) {
                Some(l) => {
                    if std::mem::replace(given.get_mut(l)?, true) {
                        return None;
                    }
                    let (elems, end) = walk_list(json, v, l, &mut st)?;
                    lists.push((l, elems));
                    end
                }
                None => {
                    let end = value_end(json, v)?;
                    if rest.len() > 1 {
                        rest.push(b',');
                    }
                    rest.extend_from_slice(json.get(key_start..key_end)?);
                    rest.push(b':');
                    rest.extend_from_slice(json.get(v..end)?);
                    end
                }
            };
            i = ws(json, v_end);
            match json.get(i) {
                Some(b',') => i = ws(json, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    if ws(json, i) != json.len() {
        return None;
    }
    rest.push(b'}');
    let mut snap: ClusterSnapshot = sonic_rs::from_slice(&rest).ok()?;
    for (l, elems) in lists {
        fill(l, &mut snap, &elems, &mut st)?;
    }
    Some((snap, Memo::from_seen(st.seen), st.reuse))
}

/// Walks the list value at `v` of memoized list `l`: each element is either recognised as
/// an unchanged element of the base without being scanned (the hash of its first
/// [`PREFIX`] bytes names a known element; the hash of that element's length matches; a
/// separator follows), or scanned to its end. Returns the elements and the end of the
/// list value; `null` is an empty list; anything else gives up.
fn walk_list<'a>(
    json: &'a [u8],
    v: usize,
    l: usize,
    st: &mut State<'_>,
) -> Option<(Vec<Elem<'a>>, usize)> {
    if json.get(v..v + 4) == Some(b"null") {
        return Some((Vec::new(), v + 4));
    }
    if json.get(v) != Some(&b'[') {
        return None;
    }
    let known = st.base.and_then(|b| b.memo.lists.get(l));
    let seen = st.seen.get_mut(l)?;
    let mut out = Vec::new();
    let mut i = ws(json, v + 1);
    if json.get(i) == Some(&b']') {
        return Some((out, i + 1));
    }
    loop {
        let prefix = json.get(i..i + PREFIX).map(xxhash_rust::xxh3::xxh3_64);
        let guess = known
            .zip(prefix)
            .and_then(|(k, p)| k.by_prefix.get(&p))
            .filter(|k| {
                let end = i + k.len as usize;
                matches!(json.get(ws(json, end)), Some(b',' | b']'))
                    && json
                        .get(i..end)
                        .is_some_and(|e| xxhash_rust::xxh3::xxh3_128(e) == k.hash)
            });
        let end = match guess {
            Some(k) => {
                out.push(Elem::Reused(k.index));
                st.reuse.reused_bytes += u64::from(k.len);
                seen.push(Seen {
                    prefix,
                    len: k.len,
                    hash: k.hash,
                });
                i + k.len as usize
            }
            None => {
                let end = value_end(json, i)?;
                let raw = json.get(i..end)?;
                let hash = xxhash_rust::xxh3::xxh3_128(raw);
                seen.push(Seen {
                    prefix: prefix.filter(|_| raw.len() >= PREFIX),
                    len: u32::try_from(raw.len()).ok()?,
                    hash,
                });
                match known.and_then(|k| k.by_hash.get(&hash)) {
                    Some(&index) => {
                        st.reuse.reused_bytes += raw.len() as u64;
                        out.push(Elem::Reused(index));
                    }
                    None => out.push(Elem::Raw(raw)),
                }
                end
            }
        };
        i = ws(json, end);
        match json.get(i) {
            Some(b',') => i = ws(json, i + 1),
            Some(b']') => return Some((out, i + 1)),
            _ => return None,
        }
    }
}

/// Fills `T`'s list of `s`: reused elements cloned from the base, the others parsed.
fn take<T: Memoized>(
    s: &mut ClusterSnapshot,
    elems: &[Elem<'_>],
    st: &mut State<'_>,
) -> Option<()> {
    let prev = st.base.map(|b| T::list(&b.snapshot));
    let mut out = Vec::with_capacity(elems.len());
    for e in elems {
        match e {
            Elem::Reused(i) => {
                out.push(prev?.get(*i as usize)?.clone());
                st.reuse.reused += 1;
            }
            Elem::Raw(raw) => {
                out.push(sonic_rs::from_slice::<T>(raw).ok()?);
                st.reuse.parsed += 1;
                st.reuse.parsed_bytes += raw.len() as u64;
            }
        }
    }
    *T::list_mut(s) = out;
    Some(())
}

/// The first index at or after `i` that is not JSON whitespace.
fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The end (exclusive) of the string that starts with the quote at `i`.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        let k = j + memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[k] == b'"' {
            return Some(k + 1);
        }
        j = k + 2;
    }
}

/// The end (exclusive) of the value that starts at `i`: a string, a container (to its
/// matching bracket, strings skipped), or a scalar (to the next delimiter). Only finds the
/// extent; the bytes are validated by whoever parses them.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match *b.get(j)? {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while let Some(c) = b.get(j) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::interned;

    fn parse(json: &[u8], base: Option<&Base>) -> (ClusterSnapshot, Memo, Reuse) {
        interned(json.len(), || parse_reusing(json, base)).expect("the fast path takes it")
    }

    fn base_of(json: &[u8]) -> Base {
        let (s, memo, _) = parse(json, None);
        Base {
            snapshot: Arc::new(s),
            memo: Arc::new(memo),
        }
    }

    fn gunzip(name: &str) -> Vec<u8> {
        let raw = std::fs::read(format!(
            "{}/../../shared/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&raw[..]), &mut out)
            .unwrap();
        out
    }

    fn fixtures() -> Vec<(String, Vec<u8>)> {
        let dir = format!("{}/../../shared/fixtures", env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".json.gz") && !name.contains("slo") {
                let json = gunzip(&name);
                if serde_json::from_slice::<ClusterSnapshot>(&json).is_ok() {
                    out.push((name, json));
                }
            }
        }
        assert!(!out.is_empty());
        out
    }

    #[test]
    fn every_list_of_the_snapshot_is_memoized() {
        // A new list field must be added to `memoized!` with its own index.
        let fields: Vec<String> = serde_json::to_value(ClusterSnapshot {
            replicasets: vec![ReplicaSet::default()],
            jobs: vec![Job::default()],
            cronjobs: vec![CronJob::default()],
            secrets: vec![Secret::default()],
            resource_quotas: vec![ResourceQuota::default()],
            limit_ranges: vec![LimitRange::default()],
            network_policies: vec![NetworkPolicy::default()],
            service_accounts: vec![ServiceAccount::default()],
            pvs: vec![PersistentVolume::default()],
            pvcs: vec![PersistentVolumeClaim::default()],
            ..ClusterSnapshot::default()
        })
        .unwrap()
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.is_array())
        .map(|(k, _)| k.clone())
        .collect();
        let mut want: Vec<&str> = MEMOIZED.to_vec();
        let mut got: Vec<&str> = fields.iter().map(String::as_str).collect();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(MEMOIZED.len(), LISTS);
    }

    #[test]
    fn every_fixture_parses_to_what_a_full_parse_gives_cold_and_warm() {
        for (name, json) in fixtures() {
            let full: ClusterSnapshot = serde_json::from_slice(&json).unwrap();
            let (cold, memo, reuse) = parse(&json, None);
            assert_eq!(cold, full, "{name}");
            assert_eq!(reuse.reused, 0);
            assert!(memo.len() as u64 <= reuse.parsed);
            let base = Base {
                snapshot: Arc::new(cold),
                memo: Arc::new(memo),
            };
            let (warm, _, again) = parse(&json, Some(&base));
            assert_eq!(warm, full, "{name}");
            assert_eq!(again.parsed, 0, "{name}: the same bytes are all reused");
            assert_eq!(again.reused, reuse.parsed);
        }
    }

    #[test]
    fn only_changed_elements_are_parsed() {
        let json = gunzip("medium-go.json.gz");
        let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let base = base_of(&serde_json::to_vec(&v).unwrap());
        v["pods"][3]["status"]["phase"] = "Failed".into();
        v["events"][0]["count"] = 999.into();
        let changed = serde_json::to_vec(&v).unwrap();
        let (snap, _, reuse) = parse(&changed, Some(&base));
        assert_eq!(
            snap,
            serde_json::from_slice::<ClusterSnapshot>(&changed).unwrap()
        );
        assert_eq!(snap.pods[3].status.phase.as_str(), "Failed");
        assert_eq!(reuse.parsed, 2);
        assert!(reuse.reused > 100);
    }

    #[test]
    fn a_known_element_followed_by_garbage_falls_back() {
        let good = br#"{"pods":[{"summary":{"name":"abcdefghijklmnopqrstuvwxyz0123456789"}}]}"#;
        let base = base_of(good);
        for bad in [
            &br#"{"pods":[{"summary":{"name":"abcdefghijklmnopqrstuvwxyz0123456789"}}x]}"#[..],
            br#"{"pods":[{"summary":{"name":"abcdefghijklmnopqrstuvwxyz0123456789"}}"#,
            br#"{"pods":[{"summary":{"name":"abcdefghijklmnopqrstuvwxyz0123456789"}},]}"#,
        ] {
            assert!(serde_json::from_slice::<ClusterSnapshot>(bad).is_err());
            assert!(parse_reusing(bad, Some(&base)).is_none());
        }
        // Same start, other length: scanned and parsed, not mistaken for the known one.
        let longer =
            br#"{"pods":[{"summary":{"name":"abcdefghijklmnopqrstuvwxyz0123456789","namespace":"n"}}]}"#;
        let (s, _, r) = parse(longer, Some(&base));
        assert_eq!(s.pods[0].summary.namespace.as_str(), "n");
        assert_eq!((r.parsed, r.reused), (1, 0));
        let (_, _, r) = parse(good, Some(&base));
        assert_eq!((r.parsed, r.reused), (0, 1));
    }

    /// The fast path either gives what serde_json gives, or gives up; it never accepts
    /// what serde_json rejects.
    #[test]
    fn odd_bodies_parse_as_serde_json_does_or_fall_back() {
        let cases: &[&[u8]] = &[
            br#"{}"#,
            br#" { } "#,
            br#"{"cluster_id":"a"}"#,
            br#"{"cluster_id":"a","pods":null,"events":[]}"#,
            br#"{"pods":[{"summary":{"name":"p","namespace":"n"}} , {"summary":null}],"x":[1,{"y":"]"}]}"#,
            br#"{"pods":[{"summary":{"name":"a\"]}"}}]}"#,
            br#"{"pods":[{"summary":{"name":"a\\"}}]}"#,
            br#"{"pods":[],"pods":[]}"#,
            br#"{"cluster_id":"a","cluster_id":"b"}"#,
            br#"{"pod\u0073":[]}"#,
            br#"{"pods":[1]}"#,
            br#"{"pods":[null]}"#,
            br#"{"pods":[{}],}"#,
            br#"{"pods":[{},]}"#,
            br#"{"pods":[{} {}]}"#,
            br#"{"pods":[{}}"#,
            br#"{"pods":{}}"#,
            br#"{"pods":[{"summary":{"name":"x"}]}]}"#,
            br#"{"x":[1 2]}"#,
            br#"{"x":tru}"#,
            br#"{"summary":{"total_pods":3},"node_metrics":{"n1":{"cpu":{"usage_percent":1.5}}}}"#,
            br#"{"pods":[]} x"#,
            br#"{"pods":[]"#,
            br#"{"pods"[]}"#,
            br#"["pods"]"#,
            b"{\"pods\":[{\"summary\":{\"name\":\"\xff\"}}]}",
        ];
        for c in cases {
            let text = String::from_utf8_lossy(c);
            let full = serde_json::from_slice::<ClusterSnapshot>(c);
            let fast = interned(c.len(), || parse_reusing(c, None));
            match (&full, fast) {
                (Ok(f), Some((s, _, _))) => assert_eq!(&s, f, "{text}"),
                (Err(_), Some(_)) => panic!("accepted what serde_json rejects: {text}"),
                (_, None) => {}
            }
        }
        // The usual bodies do not fall back.
        for c in &cases[..7] {
            let text = String::from_utf8_lossy(c);
            assert!(parse_reusing(c, None).is_some(), "{text}");
        }
    }
}
