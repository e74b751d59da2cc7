//! Running a [`Plan`]: over one cluster's snapshot ([`Plan::run_snapshot`]) or over
//! persisted event items ([`Plan::run_values`]), each giving a [`Partial`]; then
//! [`Plan::merge`] across clusters and [`Plan::render`] of the items picked.
//!
//! A cluster's run reads its snapshot through a shared reference and allocates only for the
//! hits it keeps (at most `limit` per cluster, sort keys included), so clusters can run in
//! parallel and the merge is proportional to clusters × limit, not to the objects read.

use std::any::Any;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use atlhyper_model::{
    ClusterSnapshot, Deployment, GoTime, KeyMetrics, Node, Pod, ResourceMeta, VisitItems,
};

use crate::ast::Op;
use crate::path::{visit, Leaves, Scalar, Stop, Values};
use crate::plan::{Check, Computed, Field, Lit, Output, Plan};

/// What one cluster contributes.
#[derive(Debug, Default)]
pub struct Partial {
    /// Objects that passed the filters and the condition.
    pub matched: usize,
    hits: Vec<Hit>,
    /// With a sort: the best `limit` so far, the worst on top.
    top: BinaryHeap<Ranked>,
    /// `.group_by()` counts of string values (looked up by `&str`: no copy per object).
    group_strs: HashMap<String, u64>,
    /// `.group_by()` counts of other values.
    groups: HashMap<GroupKey, u64>,
    /// `.group_by()` met more than [`MAX_GROUPS`] distinct values.
    too_many_groups: bool,
}

/// The most distinct `.group_by()` values a query may count (per cluster and merged); past
/// it the query is refused rather than holding a copy of every value of a unique field.
pub const MAX_GROUPS: usize = 10_000;

/// A string sort or group value longer than this is cut here (at a character boundary):
/// keys are copied, and a field such as an annotation can be megabytes.
pub const MAX_KEY_BYTES: usize = 256;

/// `s` cut to [`MAX_KEY_BYTES`] at a character boundary.
fn cut(s: &str) -> &str {
    if s.len() <= MAX_KEY_BYTES {
        return s;
    }
    let mut end = MAX_KEY_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Partial {
    /// Counts one object under the value `s`.
    fn count_group(&mut self, s: Scalar<'_>) {
        match s {
            Scalar::Str(v) => {
                let v = cut(v);
                let full = self.group_strs.len() + self.groups.len() >= MAX_GROUPS;
                match self.group_strs.get_mut(v) {
                    Some(n) => *n += 1,
                    None if full => self.too_many_groups = true,
                    None => {
                        self.group_strs.insert(v.to_owned(), 1);
                    }
                }
            }
            other => *self.groups.entry(GroupKey::of(other)).or_default() += 1,
        }
    }

    /// Offers object `index` with sort value `s`: kept while fewer than `limit` are, or when
    /// it beats the worst one kept (which it replaces; a max-heap in sort order keeps the
    /// worst on top). The key is copied only then, so a sort over a big list allocates for
    /// few of its objects. Objects come in index order, so on equal keys the earlier one
    /// stays.
    fn offer(&mut self, s: Scalar<'_>, index: usize, descending: bool, limit: usize) {
        if self.top.len() < limit {
            self.top.push(Ranked {
                hit: Hit {
                    key: SortKey::of(s),
                    index,
                },
                descending,
            });
            return;
        }
        if let Some(mut worst) = self.top.peek_mut() {
            if cmp_keys(KeyRef::of(s), worst.hit.key.as_ref(), descending) == Ordering::Less {
                // Replaced in place; the heap sifts it down when `worst` drops.
                worst.hit = Hit {
                    key: SortKey::of(s),
                    index,
                };
            }
        }
    }
}

/// A hit ordered by its sort key in the query's direction, then by position.
#[derive(Debug)]
struct Ranked {
    hit: Hit,
    descending: bool,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.hit
            .key
            .cmp(&other.hit.key, self.descending)
            .then(self.hit.index.cmp(&other.hit.index))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

/// A sort value borrowed from the object.
#[derive(Debug, Clone, Copy)]
enum KeyRef<'a> {
    Num(f64),
    Str(&'a str),
    Bool(bool),
    Missing,
}

impl<'a> KeyRef<'a> {
    fn of(s: Scalar<'a>) -> Self {
        match s {
            Scalar::Num(n) => KeyRef::Num(n),
            Scalar::Str(s) => KeyRef::Str(cut(s)),
            Scalar::Bool(b) => KeyRef::Bool(b),
            Scalar::Null | Scalar::Object => KeyRef::Missing,
        }
    }

    fn rank(self) -> u8 {
        match self {
            KeyRef::Num(_) => 0,
            KeyRef::Str(_) => 1,
            KeyRef::Bool(_) => 2,
            KeyRef::Missing => 3,
        }
    }
}

/// Numbers before strings before booleans; a missing value sorts last in either
/// direction.
fn cmp_keys(a: KeyRef<'_>, b: KeyRef<'_>, descending: bool) -> Ordering {
    let by_value = match (a, b) {
        (KeyRef::Num(a), KeyRef::Num(b)) => a.total_cmp(&b),
        (KeyRef::Str(a), KeyRef::Str(b)) => a.cmp(b),
        (KeyRef::Bool(a), KeyRef::Bool(b)) => a.cmp(&b),
        (KeyRef::Missing, KeyRef::Missing) => Ordering::Equal,
        (KeyRef::Missing, _) => return Ordering::Greater,
        (_, KeyRef::Missing) => return Ordering::Less,
        (a, b) => a.rank().cmp(&b.rank()),
    };
    if descending {
        by_value.reverse()
    } else {
        by_value
    }
}

#[derive(Debug)]
struct Hit {
    key: SortKey,
    index: usize,
}

/// A sort key kept with a hit (see [`cmp_keys`] for the order).
#[derive(Debug, Clone, PartialEq)]
enum SortKey {
    Num(f64),
    Str(String),
    Bool(bool),
    Missing,
}

impl SortKey {
    fn of(s: Scalar<'_>) -> SortKey {
        match s {
            Scalar::Num(n) => SortKey::Num(n),
            Scalar::Str(s) => SortKey::Str(cut(s).to_owned()),
            Scalar::Bool(b) => SortKey::Bool(b),
            Scalar::Null | Scalar::Object => SortKey::Missing,
        }
    }

    fn as_ref(&self) -> KeyRef<'_> {
        match self {
            SortKey::Num(n) => KeyRef::Num(*n),
            SortKey::Str(s) => KeyRef::Str(s),
            SortKey::Bool(b) => KeyRef::Bool(*b),
            SortKey::Missing => KeyRef::Missing,
        }
    }

    fn cmp(&self, other: &SortKey, descending: bool) -> Ordering {
        cmp_keys(self.as_ref(), other.as_ref(), descending)
    }
}

/// A `.group_by()` value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum GroupKey {
    Null,
    Bool(bool),
    /// The number's bits (`-0` made `0`), so that it hashes.
    Num(u64),
    Str(String),
}

impl GroupKey {
    fn of(s: Scalar<'_>) -> GroupKey {
        match s {
            Scalar::Null | Scalar::Object => GroupKey::Null,
            Scalar::Bool(b) => GroupKey::Bool(b),
            Scalar::Num(n) => GroupKey::Num((n + 0.0).to_bits()),
            Scalar::Str(s) => GroupKey::Str(cut(s).to_owned()),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            GroupKey::Null => serde_json::Value::Null,
            GroupKey::Bool(b) => serde_json::Value::Bool(*b),
            GroupKey::Num(bits) => serde_json::json!(f64::from_bits(*bits)),
            GroupKey::Str(s) => serde_json::Value::String(s.clone()),
        }
    }
}

/// The clusters' partial results merged.
#[derive(Debug, Default)]
pub struct Merged {
    /// Matches over every cluster.
    pub total: usize,
    /// The items to render, in order: `(part, index)` (the part's position in the list
    /// given to [`Plan::merge`], the item's index in its list).
    pub picks: Vec<(usize, usize)>,
    /// `.group_by()`: `(value, count)`, most frequent first.
    pub groups: Vec<(serde_json::Value, u64)>,
    /// `.group_by()` met more than [`MAX_GROUPS`] distinct values (no groups then).
    pub too_many_groups: bool,
}

/// Name and namespace of the item being looked at.
#[derive(Clone, Copy)]
struct Meta<'a> {
    name: &'a str,
    namespace: &'a str,
}

/// Where an item comes from.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    cluster: &'a str,
    snap: Option<&'a ClusterSnapshot>,
    now: DateTime<Utc>,
}

#[allow(
    clippy::cast_precision_loss,
    reason = "ages in milliseconds are far below 2^53"
)]
fn seconds_since(t: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    (now - t).num_milliseconds() as f64 / 1000.0
}

fn node_metric(ctx: &Ctx<'_>, node: &Node, c: &Computed) -> Option<f64> {
    if let Some(m) = ctx
        .snap
        .and_then(|s| s.node_metrics.get(node.summary.name.as_str()))
    {
        let k = KeyMetrics::of(m);
        return Some(match c {
            Computed::CpuUsage => k.cpu,
            Computed::MemUsage => k.mem,
            Computed::DiskUsage => k.disk,
            _ => k.temp,
        });
    }
    // Without the node collector, the metrics-server figures the agent puts on the node.
    let m = node.metrics.as_ref()?;
    match c {
        Computed::CpuUsage if m.cpu.util_pct > 0.0 => Some(m.cpu.util_pct),
        Computed::MemUsage if m.memory.util_pct > 0.0 => Some(m.memory.util_pct),
        _ => None,
    }
}

fn computed<'a, T: Serialize + 'static>(
    c: &Computed,
    item: &'a T,
    meta: Meta<'a>,
    ctx: &Ctx<'a>,
) -> Scalar<'a> {
    let any = item as &dyn Any;
    let num = |v: Option<f64>| v.map_or(Scalar::Null, Scalar::Num);
    match c {
        Computed::ClusterId => Scalar::Str(ctx.cluster),
        Computed::Name => Scalar::Str(meta.name),
        Computed::Namespace => Scalar::Str(meta.namespace),
        Computed::Age(path) => {
            let mut age = None;
            visit(
                item,
                path,
                &mut Leaves(|s: Scalar<'_>| {
                    if let Scalar::Str(t) = s {
                        age = GoTime::parse(t)
                            .ok()
                            .and_then(|g| g.to_utc())
                            .map(|t| seconds_since(t, ctx.now));
                    }
                    Err(Stop::Found)
                }),
            );
            num(age)
        }
        Computed::Restarts => num(any
            .downcast_ref::<Pod>()
            .map(|p| f64::from(p.status.restarts))),
        Computed::Ready => {
            if let Some(p) = any.downcast_ref::<Pod>() {
                Scalar::Bool(!p.is_not_ready())
            } else if let Some(n) = any.downcast_ref::<Node>() {
                Scalar::Bool(n.ready_condition())
            } else if let Some(d) = any.downcast_ref::<Deployment>() {
                Scalar::Bool(d.unavailable_replicas() == 0)
            } else {
                Scalar::Null
            }
        }
        Computed::UnavailableReplicas => num(any
            .downcast_ref::<Deployment>()
            .map(|d| f64::from(d.unavailable_replicas()))),
        Computed::CpuUsage | Computed::MemUsage | Computed::DiskUsage | Computed::Temperature => {
            num(any
                .downcast_ref::<Node>()
                .and_then(|n| node_metric(ctx, n, c)))
        }
    }
}

/// Feeds each value of `field` in `item` to `f` (which may stop the walk).
fn each<T: Serialize + 'static>(
    field: &Field,
    item: &T,
    meta: Meta<'_>,
    ctx: &Ctx<'_>,
    f: &mut dyn FnMut(Scalar<'_>) -> Result<(), Stop>,
) {
    match field {
        Field::Path(p) => {
            visit(item, p, &mut Leaves(|s: Scalar<'_>| f(s)));
        }
        Field::Computed(c) => {
            let _ = f(computed(c, item, meta, ctx));
        }
    }
}

fn equals(s: Scalar<'_>, lit: &Lit) -> bool {
    match (s, lit) {
        (Scalar::Null, Lit::Null) => true,
        (Scalar::Bool(a), Lit::Bool(b)) => a == *b,
        (Scalar::Num(a), Lit::Num(b)) => a == *b,
        (Scalar::Str(a), Lit::Str(b, _)) => a == b,
        (Scalar::Str(a), Lit::Num(b)) => a.trim().parse::<f64>().is_ok_and(|a| a == *b),
        (Scalar::Num(a), Lit::Str(_, Some(b))) => a == *b,
        (Scalar::Bool(a), Lit::Str(b, _)) => b == if a { "true" } else { "false" },
        _ => false,
    }
}

fn order(s: Scalar<'_>, lit: &Lit) -> Option<Ordering> {
    match (s, lit) {
        (Scalar::Num(a), Lit::Num(b)) => a.partial_cmp(b),
        (Scalar::Num(a), Lit::Str(_, Some(b))) => a.partial_cmp(b),
        (Scalar::Str(a), Lit::Num(b)) => a.trim().parse::<f64>().ok()?.partial_cmp(b),
        (Scalar::Str(a), Lit::Str(b, _)) => Some(a.cmp(b.as_str())),
        _ => None,
    }
}

fn holds(op: Op, s: Scalar<'_>, lit: &Lit) -> bool {
    match op {
        Op::Match => match (s, lit) {
            (Scalar::Str(a), Lit::Regex(r)) => r.is_match(a),
            (Scalar::Num(n), Lit::Regex(r)) => r.is_match(&n.to_string()),
            (Scalar::Bool(b), Lit::Regex(r)) => r.is_match(if b { "true" } else { "false" }),
            _ => false,
        },
        Op::Gt => order(s, lit) == Some(Ordering::Greater),
        Op::Ge => matches!(order(s, lit), Some(Ordering::Greater | Ordering::Equal)),
        Op::Lt => order(s, lit) == Some(Ordering::Less),
        Op::Le => matches!(order(s, lit), Some(Ordering::Less | Ordering::Equal)),
        _ => equals(s, lit),
    }
}

fn test<T: Serialize + 'static>(c: &Check, item: &T, meta: Meta<'_>, ctx: &Ctx<'_>) -> bool {
    match c {
        Check::And(a, b) => test(a, item, meta, ctx) && test(b, item, meta, ctx),
        Check::Or(a, b) => test(a, item, meta, ctx) || test(b, item, meta, ctx),
        Check::Not(a) => !test(a, item, meta, ctx),
        Check::Cmp {
            field,
            op,
            negate,
            lit,
        } => {
            // True when any value the field reaches (any element of a list) satisfies it,
            // `!=` and `!~` included; a field that reaches nothing is null.
            let mut seen = false;
            let mut hit = false;
            each(field, item, meta, ctx, &mut |s| {
                seen = true;
                if holds(*op, s, lit) != *negate {
                    hit = true;
                    Err(Stop::Found)
                } else {
                    Ok(())
                }
            });
            if !seen {
                hit = holds(*op, Scalar::Null, lit) != *negate;
            }
            hit
        }
    }
}

fn json_of(s: Scalar<'_>) -> serde_json::Value {
    match s {
        Scalar::Null | Scalar::Object => serde_json::Value::Null,
        Scalar::Bool(b) => serde_json::Value::Bool(b),
        Scalar::Num(n) => serde_json::json!(n),
        Scalar::Str(s) => serde_json::Value::String(s.to_owned()),
    }
}

impl Plan {
    /// Runs on one cluster's snapshot, at `now` (ages).
    pub fn run_snapshot(
        &self,
        cluster: &str,
        snap: &ClusterSnapshot,
        now: DateTime<Utc>,
    ) -> Partial {
        struct Run<'p, 'c> {
            plan: &'p Plan,
            ctx: Ctx<'c>,
        }
        impl<'c> VisitItems<'c> for Run<'_, 'c> {
            type Output = Partial;
            fn visit<T: ResourceMeta + Serialize + DeserializeOwned + 'static>(
                self,
                items: &'c [T],
            ) -> Partial {
                self.plan.run_items(
                    items,
                    |r| self.plan.filter.matches(r),
                    |r| Meta {
                        name: r.name(),
                        namespace: r.namespace(),
                    },
                    &self.ctx,
                )
            }
        }
        let ctx = Ctx {
            cluster,
            snap: Some(snap),
            now,
        };
        self.kind.visit(snap, Run { plan: self, ctx })
    }

    /// Runs on persisted event items (their JSON; the storage layer applied the
    /// arguments already).
    pub fn run_values(
        &self,
        cluster: &str,
        items: &[serde_json::Value],
        now: DateTime<Utc>,
    ) -> Partial {
        let ctx = Ctx {
            cluster,
            snap: None,
            now,
        };
        self.run_items(items, |_| true, value_meta, &ctx)
    }

    fn run_items<'a, T: Serialize + 'static>(
        &self,
        items: &'a [T],
        keep: impl Fn(&T) -> bool,
        meta: impl Fn(&'a T) -> Meta<'a>,
        ctx: &Ctx<'_>,
    ) -> Partial {
        let mut p = Partial::default();
        for (index, item) in items.iter().enumerate() {
            if !keep(item) {
                continue;
            }
            let m = meta(item);
            if let Some(c) = &self.check {
                if !test(c, item, m, ctx) {
                    continue;
                }
            }
            p.matched += 1;
            match &self.output {
                Output::Count => {}
                Output::Groups(field, many) => {
                    let mut seen: HashSet<GroupKey> = HashSet::new();
                    let mut reached = false;
                    each(field, item, m, ctx, &mut |s| {
                        reached = true;
                        if *many {
                            // Each distinct value counts once per object.
                            if seen.insert(GroupKey::of(s)) {
                                p.count_group(s);
                            }
                        } else {
                            p.count_group(s);
                        }
                        Ok(())
                    });
                    if !reached {
                        p.count_group(Scalar::Null);
                    }
                }
                Output::Items(_) => match &self.sort {
                    Some((field, descending)) => {
                        let mut reached = false;
                        each(field, item, m, ctx, &mut |s| {
                            reached = true;
                            p.offer(s, index, *descending, self.limit);
                            Err(Stop::Found)
                        });
                        if !reached {
                            p.offer(Scalar::Null, index, *descending, self.limit);
                        }
                    }
                    None if p.hits.len() < self.limit => p.hits.push(Hit {
                        key: SortKey::Missing,
                        index,
                    }),
                    None => {}
                },
            }
        }
        if self.sort.is_some() {
            p.hits = std::mem::take(&mut p.top)
                .into_sorted_vec()
                .into_iter()
                .map(|r| r.hit)
                .collect();
        }
        p
    }

    /// Merges the clusters' results, in the order given (clusters in id order).
    pub fn merge(&self, parts: &mut [Partial]) -> Merged {
        let total = parts.iter().map(|p| p.matched).sum();
        let mut merged = Merged {
            total,
            ..Merged::default()
        };
        match &self.output {
            Output::Count => {}
            Output::Groups(..) => {
                let mut all: HashMap<GroupKey, u64> = HashMap::new();
                for p in parts.iter_mut() {
                    merged.too_many_groups |= p.too_many_groups;
                    for (k, n) in p.groups.drain() {
                        *all.entry(k).or_default() += n;
                    }
                    for (k, n) in p.group_strs.drain() {
                        *all.entry(GroupKey::Str(k)).or_default() += n;
                    }
                    if merged.too_many_groups || all.len() > MAX_GROUPS {
                        merged.too_many_groups = true;
                        return merged;
                    }
                }
                let mut groups: Vec<(GroupKey, u64)> = all.into_iter().collect();
                groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                groups.truncate(self.limit);
                merged.groups = groups.into_iter().map(|(k, n)| (k.to_json(), n)).collect();
            }
            Output::Items(_) => {
                let mut hits: Vec<(usize, Hit)> = parts
                    .iter_mut()
                    .enumerate()
                    .flat_map(|(i, p)| std::mem::take(&mut p.hits).into_iter().map(move |h| (i, h)))
                    .collect();
                if let Some((_, descending)) = &self.sort {
                    let order = |a: &(usize, Hit), b: &(usize, Hit)| {
                        a.1.key
                            .cmp(&b.1.key, *descending)
                            .then(a.0.cmp(&b.0))
                            .then(a.1.index.cmp(&b.1.index))
                    };
                    // Each cluster gave its best `limit`: pick the global best `limit`
                    // (linear), and sort only those.
                    if hits.len() > self.limit && self.limit > 0 {
                        hits.select_nth_unstable_by(self.limit - 1, order);
                    }
                    hits.truncate(self.limit);
                    hits.sort_by(order);
                }
                hits.truncate(self.limit);
                merged.picks = hits.into_iter().map(|(i, h)| (i, h.index)).collect();
            }
        }
        merged
    }

    /// Appends the JSON of item `index` of the plan's kind in `snap` to `out`: the object
    /// with `"cluster_id"` first, or with `.fields()` an object of `cluster_id` and the
    /// fields. Nothing is written when the index is out of range.
    pub fn render(
        &self,
        cluster: &str,
        snap: &ClusterSnapshot,
        index: usize,
        now: DateTime<Utc>,
        out: &mut Vec<u8>,
    ) {
        struct Render<'p, 'c, 'o> {
            plan: &'p Plan,
            ctx: Ctx<'c>,
            index: usize,
            out: &'o mut Vec<u8>,
        }
        impl<'c> VisitItems<'c> for Render<'_, 'c, '_> {
            type Output = ();
            fn visit<T: ResourceMeta + Serialize + DeserializeOwned + 'static>(
                self,
                items: &'c [T],
            ) {
                if let Some(item) = items.get(self.index) {
                    let meta = Meta {
                        name: item.name(),
                        namespace: item.namespace(),
                    };
                    self.plan.write(item, meta, &self.ctx, true, self.out);
                }
            }
        }
        let ctx = Ctx {
            cluster,
            snap: Some(snap),
            now,
        };
        self.kind.visit(
            snap,
            Render {
                plan: self,
                ctx,
                index,
                out,
            },
        );
    }

    /// Appends the JSON of a persisted event item (it carries its `cluster_id`).
    pub fn render_value(
        &self,
        cluster: &str,
        item: &serde_json::Value,
        now: DateTime<Utc>,
        out: &mut Vec<u8>,
    ) {
        let ctx = Ctx {
            cluster,
            snap: None,
            now,
        };
        self.write(item, value_meta(item), &ctx, false, out);
    }

    fn write<T: Serialize + 'static>(
        &self,
        item: &T,
        meta: Meta<'_>,
        ctx: &Ctx<'_>,
        tag: bool,
        out: &mut Vec<u8>,
    ) {
        // Writing JSON into a Vec fails only for values the model does not have (maps
        // with non-string keys), which would leave the reply unchanged.
        if let Output::Items(Some(fields)) = &self.output {
            // `cluster_id` first, unless the query lists it (then where it lists it).
            let mut first = true;
            out.push(b'{');
            if !fields.iter().any(|(l, _)| l == "cluster_id") {
                out.extend_from_slice(b"\"cluster_id\":");
                let _ = serde_json::to_writer(&mut *out, ctx.cluster);
                first = false;
            }
            for (label, field) in fields {
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, label);
                out.push(b':');
                let value = match field {
                    Field::Computed(c) => json_of(computed(c, item, meta, ctx)),
                    Field::Path(p) => {
                        let mut values = Values::default();
                        visit(item, p, &mut values);
                        values.into_json()
                    }
                };
                let _ = serde_json::to_writer(&mut *out, &value);
            }
            out.push(b'}');
            return;
        }
        if !tag {
            let _ = serde_json::to_writer(&mut *out, item);
            return;
        }
        out.extend_from_slice(b"{\"cluster_id\":");
        let _ = serde_json::to_writer(&mut *out, ctx.cluster);
        let comma = out.len();
        out.push(b',');
        let _ = serde_json::to_writer(&mut *out, item);
        // `,{"a":1}` becomes `,"a":1}`, and `,{}` becomes `}`.
        match out.get(comma + 1..comma + 3) {
            Some(b"{}") => {
                out.truncate(comma);
                out.push(b'}');
            }
            Some([b'{', _]) => {
                out.remove(comma + 1);
            }
            _ => {}
        }
    }
}

fn value_meta(v: &serde_json::Value) -> Meta<'_> {
    Meta {
        name: v.get("name").and_then(|n| n.as_str()).unwrap_or_default(),
        namespace: v
            .get("namespace")
            .and_then(|n| n.as_str())
            .unwrap_or_default(),
    }
}
