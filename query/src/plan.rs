//! From a parsed [`Query`] to a checked [`Plan`]: the kind, its arguments as a [`Filter`],
//! every field resolved against the kind's model (or a computed field), the regular
//! expressions compiled with their bounds, and the output (items, count or groups).
//!
//! Everything that can be wrong with a query is found here, before any snapshot is read.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use regex::{Regex, RegexBuilder};
use serde::de::DeserializeOwned;
use serde::Serialize;

use atlhyper_model::{ClusterSnapshot, Kind, ResourceMeta, VisitItems};

use crate::ast::{Cond, Method, Op, Path, Query, Span, Spanned, Value};
use crate::error::QueryError;
use crate::filter::{Filter, LabelSel};
use crate::schema::Shape;

/// `.limit()` when none is given.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `.limit()`.
pub const MAX_LIMIT: usize = 1000;
/// The longest regular expression, in bytes.
pub const MAX_REGEX_BYTES: usize = 1024;
/// The most regular expressions in one query.
pub const MAX_REGEXES: usize = 16;
/// The compiled size one regular expression may take (the `regex` crate's `size_limit`).
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// The longest `last=` window.
pub const MAX_LAST: Duration = Duration::days(90);

/// The fields of a persisted event item (`GET /api/v2/clusters/{id}/events`), which is what
/// `events(history=true)` returns; the storage layer's test holds its JSON to this list.
pub const HISTORY_EVENT_FIELDS: [&str; 16] = [
    "event_uid",
    "cluster_id",
    "namespace",
    "name",
    "type",
    "reason",
    "message",
    "source_component",
    "source_host",
    "involved_kind",
    "involved_name",
    "involved_namespace",
    "involved_uid",
    "first_timestamp",
    "last_timestamp",
    "count",
];

/// The fields of a change item (`GET /api/v2/clusters/{id}/changes`), which is what
/// `changes(...)` returns; the storage layer's test holds its JSON to this list.
pub const CHANGE_FIELDS: [&str; 14] = [
    "id",
    "cluster_id",
    "time",
    "last_time",
    "kind",
    "namespace",
    "name",
    "change_type",
    "summary",
    "before",
    "after",
    "count",
    "command_id",
    "tier",
];

/// The arguments `changes(...)` may have.
const CHANGE_ARGS: [&str; 5] = ["cluster", "namespace", "name", "type", "last"];

/// The arguments a call may have, for the hint.
pub const ARGS: [&str; 10] = [
    "cluster",
    "namespace",
    "name",
    "label",
    "status",
    "node",
    "type",
    "reason",
    "last",
    "history",
];

/// Which clusters a query reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Clusters {
    /// No `cluster=`: allowed when exactly one cluster exists.
    Unspecified,
    /// `cluster="*"`.
    All,
    /// `cluster="a"`, `cluster="a,b"` or `cluster=["a","b"]`.
    Named(Vec<String>),
}

/// A value computed from the object and its cluster rather than read from its JSON.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Computed {
    /// The cluster the item comes from.
    ClusterId,
    /// The object's name.
    Name,
    /// The object's namespace.
    Namespace,
    /// Seconds since creation; the path of the kind's creation time.
    Age(Vec<String>),
    /// Pods: total container restarts.
    Restarts,
    /// Pods: Running with every container ready (or Succeeded); nodes: the Ready
    /// condition; deployments: no unavailable replica.
    Ready,
    /// Nodes: CPU usage in % (node metrics).
    CpuUsage,
    /// Nodes: memory usage in %.
    MemUsage,
    /// Nodes: the primary disk's usage in %.
    DiskUsage,
    /// Nodes: CPU temperature in °C.
    Temperature,
    /// Deployments: desired replicas that are not available.
    UnavailableReplicas,
}

/// The computed fields and the kinds they apply to (`None`: every kind).
const COMPUTED: [(&str, Option<&[Kind]>); 11] = [
    ("cluster_id", None),
    ("name", None),
    ("namespace", None),
    ("age", None),
    ("restarts", Some(&[Kind::Pod])),
    ("ready", Some(&[Kind::Pod, Kind::Node, Kind::Deployment])),
    ("cpu_usage", Some(&[Kind::Node])),
    ("mem_usage", Some(&[Kind::Node])),
    ("disk_usage", Some(&[Kind::Node])),
    ("temperature", Some(&[Kind::Node])),
    ("unavailable_replicas", Some(&[Kind::Deployment])),
];

/// A field of a condition, sort, projection or grouping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    /// Computed.
    Computed(Computed),
    /// A dotted path into the object's JSON.
    Path(Vec<String>),
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone)]
pub(crate) enum Lit {
    /// A string, and its value as a number when it reads as one.
    Str(String, Option<f64>),
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// `null`.
    Null,
    /// A compiled regular expression.
    Regex(Regex),
}

/// A checked condition.
#[derive(Debug, Clone)]
pub(crate) enum Check {
    /// Both.
    And(Box<Check>, Box<Check>),
    /// Either.
    Or(Box<Check>, Box<Check>),
    /// Not.
    Not(Box<Check>),
    /// `field op lit`; `negate` for `!=` and `!~` (the negation of `=` and `=~`).
    Cmp {
        /// The field.
        field: Field,
        /// `Eq`, `Gt`, `Ge`, `Lt`, `Le` or `Match`.
        op: Op,
        /// True for `!=` / `!~`.
        negate: bool,
        /// The literal.
        lit: Lit,
    },
}

/// What the query returns.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    /// The objects, or with `.fields()` the listed fields of each (`(label, field)`).
    Items(Option<Vec<(String, Field)>>),
    /// `.count()`.
    Count,
    /// `.group_by(field)`: counts per value; true when the field may reach several values
    /// of one object (each distinct one counts once).
    Groups(Field, bool),
}

/// A checked query, ready to run on snapshots.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The kind.
    pub kind: Kind,
    /// The clusters to read.
    pub clusters: Clusters,
    /// The argument filters.
    pub filter: Filter,
    /// `events(history=true)`: read persisted events instead of the live snapshot.
    pub history: bool,
    /// `changes(...)`: read the change history (`kind` is then a placeholder). Its
    /// `type=` is in `filter.event_type` and matches the change type.
    pub changes: bool,
    /// `last=`: the window (events, changes).
    pub last: Option<Duration>,
    pub(crate) check: Option<Check>,
    pub(crate) sort: Option<(Field, bool)>,
    /// How many items (or groups) the reply holds at most.
    pub limit: usize,
    pub(crate) output: Output,
}

impl Plan {
    /// What the query reads, as the reply names it: `pods`, `events`, … or `changes`.
    pub fn source(&self) -> &'static str {
        if self.changes {
            "changes"
        } else {
            self.kind.plural()
        }
    }

    /// True when the query has a `.where()`.
    pub fn has_condition(&self) -> bool {
        self.check.is_some()
    }

    /// True for `.count()`.
    pub fn is_count(&self) -> bool {
        matches!(self.output, Output::Count)
    }

    /// True for `.group_by()`.
    pub fn is_groups(&self) -> bool {
        matches!(self.output, Output::Groups(..))
    }

    /// Sets `filter.since` from `last` at `now` (the caller's clock, once per query).
    pub fn at(&mut self, now: DateTime<Utc>) {
        self.filter.since = self.last.map(|d| now - d);
    }
}

/// Each kind's field tree, traced once from the model.
fn shapes() -> &'static [Shape] {
    static SHAPES: OnceLock<Vec<Shape>> = OnceLock::new();
    SHAPES.get_or_init(|| {
        struct ShapeOf;
        impl VisitItems<'_> for ShapeOf {
            type Output = Shape;
            fn visit<T: ResourceMeta + Serialize + DeserializeOwned + 'static>(
                self,
                _: &[T],
            ) -> Shape {
                Shape::of::<T>()
            }
        }
        let empty = ClusterSnapshot::default();
        Kind::ALL.iter().map(|k| k.visit(&empty, ShapeOf)).collect()
    })
}

fn change_shape() -> &'static Shape {
    static SHAPE: OnceLock<Shape> = OnceLock::new();
    SHAPE.get_or_init(|| Shape::Struct(CHANGE_FIELDS.iter().map(|f| (*f, Shape::Scalar)).collect()))
}

fn history_shape() -> &'static Shape {
    static SHAPE: OnceLock<Shape> = OnceLock::new();
    SHAPE.get_or_init(|| {
        Shape::Struct(
            HISTORY_EVENT_FIELDS
                .iter()
                .map(|f| (*f, Shape::Scalar))
                .collect(),
        )
    })
}

/// Where a kind keeps its creation time, if it has one (`created_at`, `summary.createdAt`,
/// `summary.creationTime`, …).
fn creation_path(shape: &Shape) -> Option<Vec<String>> {
    const NAMES: [&str; 4] = [
        "created_at",
        "createdAt",
        "creationTime",
        "creationTimestamp",
    ];
    let Shape::Struct(top) = shape else {
        return None;
    };
    for n in NAMES {
        if top.get(n) == Some(&Shape::Scalar) {
            return Some(vec![n.to_owned()]);
        }
    }
    if let Some(Shape::Struct(summary)) = top.get("summary") {
        for n in NAMES {
            if summary.get(n) == Some(&Shape::Scalar) {
                return Some(vec!["summary".to_owned(), n.to_owned()]);
            }
        }
    }
    None
}

/// Reads a duration written as a string (`"5m"`, `"90s"`, `"1h"`) or a number of seconds.
fn duration_of(v: &Spanned<Value>) -> Result<Duration, QueryError> {
    let secs = match &v.value {
        Value::Num(n) => Some(*n),
        Value::Str(s) => crate::parse::duration_secs(s),
        _ => None,
    };
    let secs = secs.filter(|s| *s > 0.0).ok_or_else(|| {
        QueryError::invalid(
            v.span.start,
            "last must be a positive duration such as \"5m\", \"90s\", \"1h\" or \"2d\"",
        )
    })?;
    #[allow(
        clippy::cast_possible_truncation,
        reason = "bounded by MAX_LAST just below"
    )]
    let ms = (secs * 1000.0).min(MAX_LAST.num_milliseconds() as f64 + 1.0) as i64;
    let d = Duration::milliseconds(ms);
    if d > MAX_LAST {
        return Err(QueryError::invalid(v.span.start, "last is at most 90 days"));
    }
    Ok(d)
}

fn string_arg(arg: &crate::ast::Arg) -> Result<String, QueryError> {
    match &arg.value.value {
        Value::Str(s) => Ok(s.clone()),
        other => Err(QueryError::invalid(
            arg.value.span.start,
            format!(
                "{} takes a quoted string, not {}",
                arg.name.value,
                other.describe()
            ),
        )),
    }
}

/// The strings of a list argument; `what` names them in the error.
fn strings(items: &[Spanned<Value>], what: &str) -> Result<Vec<String>, QueryError> {
    items
        .iter()
        .map(|i| match &i.value {
            Value::Str(s) => Ok(s.clone()),
            other => Err(QueryError::invalid(
                i.span.start,
                format!("{what} are strings, not {}", other.describe()),
            )),
        })
        .collect()
}

struct Builder {
    kind: Kind,
    /// What errors call the items (`pods`, …, `changes`).
    source: &'static str,
    shape: &'static Shape,
    history: bool,
    regexes: usize,
}

impl Builder {
    fn computed_names(&self) -> Vec<&'static str> {
        COMPUTED
            .iter()
            .filter(|(_, kinds)| kinds.is_none_or(|k| k.contains(&self.kind)))
            .map(|(n, _)| *n)
            .collect()
    }

    fn field(&self, path: &Path) -> Result<Field, QueryError> {
        if let [one] = path.segments.as_slice() {
            if !self.history {
                if let Some(c) = self.computed(one, path.span)? {
                    return Ok(Field::Computed(c));
                }
            }
        }
        match self.shape.walk(&path.segments) {
            Ok(_) => Ok(Field::Path(path.segments.clone())),
            Err((0, mut names)) => {
                if !self.history {
                    names.extend(self.computed_names());
                }
                Err(QueryError::unknown(
                    path.span.start,
                    &format!("field of {}:", self.source),
                    &path.segments[0],
                    names,
                ))
            }
            Err((i, names)) if names.is_empty() => {
                let parent = Path {
                    segments: path.segments[..i].to_vec(),
                    span: path.span,
                };
                Err(QueryError::invalid(
                    path.span.start,
                    format!(
                        "{} of {} is a value, not an object: it has no field {:?}",
                        parent.dotted(),
                        self.source,
                        path.segments[i]
                    ),
                ))
            }
            Err((i, names)) => {
                let parent = Path {
                    segments: path.segments[..i].to_vec(),
                    span: path.span,
                };
                Err(QueryError::unknown(
                    path.span.start,
                    &format!("field of {}.{}:", self.source, parent.dotted()),
                    &path.segments[i],
                    names,
                ))
            }
        }
    }

    fn computed(&self, name: &str, span: Span) -> Result<Option<Computed>, QueryError> {
        let Some((_, kinds)) = COMPUTED.iter().find(|(n, _)| *n == name) else {
            return Ok(None);
        };
        if let Some(kinds) = kinds {
            if !kinds.contains(&self.kind) {
                // A real field of that name wins; otherwise say where it applies.
                if self.shape.walk(&[name.to_owned()]).is_ok() {
                    return Ok(None);
                }
                let names: Vec<&str> = kinds.iter().map(|k| k.plural()).collect();
                return Err(QueryError::invalid(
                    span.start,
                    format!(
                        "{name} is computed for {} only, not for {}",
                        names.join(", "),
                        self.source
                    ),
                ));
            }
        }
        Ok(Some(match name {
            "cluster_id" => Computed::ClusterId,
            "name" => Computed::Name,
            "namespace" => Computed::Namespace,
            "age" => match creation_path(self.shape) {
                Some(p) => Computed::Age(p),
                None => {
                    return Err(QueryError::invalid(
                        span.start,
                        format!("{} carry no creation time: age is unknown", self.source),
                    ))
                }
            },
            "restarts" => Computed::Restarts,
            "ready" => Computed::Ready,
            "cpu_usage" => Computed::CpuUsage,
            "mem_usage" => Computed::MemUsage,
            "disk_usage" => Computed::DiskUsage,
            "temperature" => Computed::Temperature,
            _ => Computed::UnavailableReplicas,
        }))
    }

    fn check(&mut self, c: &Cond) -> Result<Check, QueryError> {
        Ok(match c {
            Cond::And(a, b) => Check::And(Box::new(self.check(a)?), Box::new(self.check(b)?)),
            Cond::Or(a, b) => Check::Or(Box::new(self.check(a)?), Box::new(self.check(b)?)),
            Cond::Not(a) => Check::Not(Box::new(self.check(a)?)),
            Cond::Cmp { field, op, value } => {
                let f = self.field(field)?;
                let (op, negate) = match op {
                    Op::Ne => (Op::Eq, true),
                    Op::NotMatch => (Op::Match, true),
                    other => (*other, false),
                };
                let lit = match (&value.value, op) {
                    (Value::Str(s), Op::Match) => Lit::Regex(self.regex(s, value.span)?),
                    (other, Op::Match) => {
                        return Err(QueryError::invalid(
                            value.span.start,
                            format!(
                                "=~ and !~ take a regular expression in quotes, not {}",
                                other.describe()
                            ),
                        ))
                    }
                    (Value::Str(s), _) => Lit::Str(s.clone(), s.trim().parse::<f64>().ok()),
                    (Value::Num(n), _) => Lit::Num(*n),
                    (Value::Bool(b), Op::Eq) => Lit::Bool(*b),
                    (Value::Null, Op::Eq) => Lit::Null,
                    (other, _) => {
                        return Err(QueryError::invalid(
                            value.span.start,
                            format!(
                                "{} cannot be compared with {}",
                                other.describe(),
                                op.as_str()
                            ),
                        ))
                    }
                };
                Check::Cmp {
                    field: f,
                    op,
                    negate,
                    lit,
                }
            }
        })
    }

    fn regex(&mut self, pattern: &str, span: Span) -> Result<Regex, QueryError> {
        self.regexes += 1;
        if self.regexes > MAX_REGEXES {
            return Err(QueryError::invalid(
                span.start,
                format!("at most {MAX_REGEXES} regular expressions in one query"),
            ));
        }
        if pattern.len() > MAX_REGEX_BYTES {
            return Err(QueryError::invalid(
                span.start,
                format!(
                    "the regular expression is {} bytes; at most {MAX_REGEX_BYTES} are accepted",
                    pattern.len()
                ),
            ));
        }
        RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .nest_limit(32)
            .build()
            .map_err(|e| {
                let msg = match e {
                    regex::Error::CompiledTooBig(_) => {
                        "the regular expression is too large once compiled".to_owned()
                    }
                    other => format!("invalid regular expression: {other}"),
                };
                QueryError::invalid(span.start, msg)
            })
    }
}

/// Checks a parsed query and turns it into a [`Plan`].
pub fn plan(q: &Query) -> Result<Plan, QueryError> {
    let changes = q.kind.value == "changes";
    // `changes(...)` reads stored rows as `events(history=true)` does; its kind is only a
    // placeholder the arguments below are checked against.
    let kind = if changes {
        Kind::Event
    } else {
        Kind::from_plural(&q.kind.value).ok_or_else(|| {
            QueryError::unknown(
                q.kind.span.start,
                "kind",
                &q.kind.value,
                Kind::ALL
                    .iter()
                    .map(|k| k.plural())
                    .chain(std::iter::once("changes")),
            )
        })?
    };
    let source = if changes { "changes" } else { kind.plural() };
    let mut clusters = Clusters::Unspecified;
    let mut filter = Filter::default();
    let mut history = false;
    let mut last = None;
    let mut seen: Vec<&str> = Vec::new();
    let applies = |arg: &crate::ast::Arg, ok: bool, to: &str| -> Result<(), QueryError> {
        if ok {
            Ok(())
        } else {
            Err(QueryError::invalid(
                arg.name.span.start,
                format!("{} applies to {to}, not to {source}", arg.name.value),
            ))
        }
    };
    for arg in &q.args {
        let name = arg.name.value.as_str();
        if !ARGS.contains(&name) {
            return Err(QueryError::unknown(
                arg.name.span.start,
                "argument",
                name,
                ARGS,
            ));
        }
        if seen.contains(&name) {
            return Err(QueryError::invalid(
                arg.name.span.start,
                format!("{name} is given twice"),
            ));
        }
        seen.push(name);
        if changes && !CHANGE_ARGS.contains(&name) {
            return Err(QueryError::invalid(
                arg.name.span.start,
                format!(
                    "{name} does not apply to changes (arguments: {}); use .where()",
                    CHANGE_ARGS.join(", ")
                ),
            ));
        }
        match name {
            "cluster" => {
                clusters = match &arg.value.value {
                    Value::Str(s) if s.trim() == "*" => Clusters::All,
                    Value::Str(s) => Clusters::Named(
                        s.split(',')
                            .map(|c| c.trim().to_owned())
                            .filter(|c| !c.is_empty())
                            .collect(),
                    ),
                    Value::List(items) => Clusters::Named(
                        strings(items, "cluster names")?
                            .into_iter()
                            .map(|s| s.trim().to_owned())
                            .collect(),
                    ),
                    other => {
                        return Err(QueryError::invalid(
                            arg.value.span.start,
                            format!(
                                "cluster takes a name, \"*\" or a list of names, not {}",
                                other.describe()
                            ),
                        ))
                    }
                };
                if let Clusters::Named(names) = &mut clusters {
                    // A name given twice is read once.
                    names.retain(|n| !n.is_empty());
                    names.sort_unstable();
                    names.dedup();
                }
                if clusters == Clusters::Named(Vec::new()) {
                    return Err(QueryError::invalid(
                        arg.value.span.start,
                        "cluster names no cluster",
                    ));
                }
            }
            "namespace" => {
                applies(arg, kind.is_namespaced(), "namespaced kinds")?;
                filter.namespace = Some(string_arg(arg)?);
            }
            "name" => filter.name = Some(string_arg(arg)?),
            "label" => {
                let sels: Vec<String> = match &arg.value.value {
                    Value::List(items) => strings(items, "label selectors")?,
                    _ => vec![string_arg(arg)?],
                };
                for s in sels {
                    filter.labels.push(
                        LabelSel::parse(&s)
                            .map_err(|m| QueryError::invalid(arg.value.span.start, m))?,
                    );
                }
            }
            "status" => {
                applies(
                    arg,
                    matches!(kind, Kind::Pod | Kind::Node),
                    "pods and nodes",
                )?;
                let s = string_arg(arg)?;
                if kind == Kind::Node {
                    if !(s.eq_ignore_ascii_case("Ready") || s.eq_ignore_ascii_case("NotReady")) {
                        return Err(QueryError::invalid(
                            arg.value.span.start,
                            format!("a node's status is Ready or NotReady, not {s:?}"),
                        ));
                    }
                    filter.readiness = Some(s);
                } else {
                    filter.phase = Some(s);
                }
            }
            "node" => {
                applies(arg, kind == Kind::Pod, "pods")?;
                filter.node = Some(string_arg(arg)?);
            }
            "type" => {
                applies(arg, kind == Kind::Event, "events")?;
                filter.event_type = Some(string_arg(arg)?);
            }
            "reason" => {
                applies(arg, kind == Kind::Event, "events")?;
                filter.reason = Some(string_arg(arg)?);
            }
            "last" => {
                applies(arg, kind == Kind::Event, "events")?;
                last = Some(duration_of(&arg.value)?);
            }
            _ => {
                applies(arg, kind == Kind::Event, "events")?;
                history = match arg.value.value {
                    Value::Bool(b) => b,
                    ref other => {
                        return Err(QueryError::invalid(
                            arg.value.span.start,
                            format!("history is true or false, not {}", other.describe()),
                        ))
                    }
                };
            }
        }
    }
    if changes {
        history = true;
    } else if history {
        for a in &q.args {
            if matches!(a.name.value.as_str(), "label" | "name") {
                return Err(QueryError::invalid(
                    a.name.span.start,
                    format!(
                        "{} does not apply to persisted events (history=true); use .where()",
                        a.name.value
                    ),
                ));
            }
        }
    }
    let mut b = Builder {
        kind,
        source,
        shape: if changes {
            change_shape()
        } else if history {
            history_shape()
        } else {
            &shapes()[kind as usize]
        },
        history,
        regexes: 0,
    };
    let mut check: Option<Check> = None;
    let mut sort = None;
    let mut limit = None;
    let mut output = None;
    let mut fields = None;
    for m in &q.methods {
        let limits_groups =
            matches!(output, Some(Output::Groups(..))) && matches!(m.value, Method::Limit(_));
        if output.is_some() && !limits_groups {
            return Err(QueryError::invalid(
                m.span.start,
                "nothing may follow .count(), and only .limit() may follow .group_by()",
            ));
        }
        let twice =
            |what: &str| QueryError::invalid(m.span.start, format!(".{what}() is given twice"));
        match &m.value {
            Method::Where(c) => {
                let c = b.check(c)?;
                check = Some(match check.take() {
                    Some(prev) => Check::And(Box::new(prev), Box::new(c)),
                    None => c,
                });
            }
            Method::Sort { field, descending } => {
                if sort.is_some() {
                    return Err(twice("sort"));
                }
                let f = b.field(field)?;
                if let Field::Path(segments) = &f {
                    if b.shape.may_hold_many(segments) {
                        return Err(QueryError::invalid(
                            field.span.start,
                            format!(
                                "{} can hold several values (a list, or an object): sort by a \
                                 field with one value per object",
                                field.dotted()
                            ),
                        ));
                    }
                }
                sort = Some((f, *descending));
            }
            Method::Limit(n) => {
                if limit.is_some() {
                    return Err(twice("limit"));
                }
                let v = n.value;
                if v.fract() != 0.0 || v < 0.0 || v > MAX_LIMIT as f64 {
                    return Err(QueryError::invalid(
                        n.span.start,
                        format!("limit is a whole number from 0 to {MAX_LIMIT}"),
                    ));
                }
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "checked just above"
                )]
                {
                    limit = Some(v as usize);
                }
            }
            Method::Count => {
                if fields.is_some() || sort.is_some() {
                    return Err(QueryError::invalid(
                        m.span.start,
                        ".count() counts every match: drop .fields() and .sort()",
                    ));
                }
                output = Some(Output::Count);
            }
            Method::Fields(paths) => {
                if fields.is_some() {
                    return Err(twice("fields"));
                }
                let mut out: Vec<(String, Field)> = Vec::new();
                for p in paths {
                    let label = p.dotted();
                    if out.iter().any(|(l, _)| *l == label) {
                        return Err(QueryError::invalid(
                            p.span.start,
                            format!("{label} is listed twice"),
                        ));
                    }
                    let f = b.field(p)?;
                    out.push((label, f));
                }
                fields = Some(out);
            }
            Method::GroupBy(p) => {
                if fields.is_some() {
                    return Err(QueryError::invalid(
                        m.span.start,
                        ".group_by() returns counts: drop .fields()",
                    ));
                }
                let field = b.field(p)?;
                if let Field::Path(segments) = &field {
                    if matches!(b.shape.walk(segments), Ok(Shape::Struct(_) | Shape::Map(_))) {
                        return Err(QueryError::invalid(
                            p.span.start,
                            format!("{} is an object: group by one of its fields", p.dotted()),
                        ));
                    }
                }
                let many = match &field {
                    Field::Computed(_) => false,
                    Field::Path(segments) => b.shape.may_hold_many(segments),
                };
                output = Some(Output::Groups(field, many));
            }
        }
    }
    Ok(Plan {
        kind,
        clusters,
        filter,
        history: history && !changes,
        changes,
        last,
        check,
        sort,
        limit: limit.unwrap_or(DEFAULT_LIMIT),
        output: output.unwrap_or(Output::Items(fields)),
    })
}
