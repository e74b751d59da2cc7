//! The syntax tree of one query, with the byte offset of every name and value (for errors).

/// A byte range of the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// A value with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where.
    pub span: Span,
}

/// `kind(args).method(...)...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The kind, as written (`pods`).
    pub kind: Spanned<String>,
    /// The arguments, in order.
    pub args: Vec<Arg>,
    /// The methods, in order.
    pub methods: Vec<Spanned<Method>>,
}

/// `name=value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// The argument's name.
    pub name: Spanned<String>,
    /// Its value.
    pub value: Spanned<Value>,
}

/// A literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `"text"` or `'text'`.
    Str(String),
    /// A number; `80%` is 80 and a duration (`5m`) is in seconds.
    Num(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `[v, ...]` (arguments only).
    List(Vec<Spanned<Value>>),
}

impl Value {
    /// What the value is, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Num(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Null => "null",
            Value::List(_) => "a list",
        }
    }
}

/// A field: a dotted path (`status.phase`, `labels."app.kubernetes.io/name"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// Its segments.
    pub segments: Vec<String>,
    /// Where it was written.
    pub span: Span,
}

impl Path {
    /// The path as `a.b.c` (a segment with a dot in it is quoted).
    pub fn dotted(&self) -> String {
        let mut s = String::new();
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                s.push('.');
            }
            if seg.contains('.') || seg.is_empty() {
                s.push('"');
                s.push_str(seg);
                s.push('"');
            } else {
                s.push_str(seg);
            }
        }
        s
    }
}

/// A method after the call.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// `.where(cond)`.
    Where(Cond),
    /// `.sort(field [asc|desc])`.
    Sort {
        /// The field.
        field: Path,
        /// True for `desc`.
        descending: bool,
    },
    /// `.limit(n)`.
    Limit(Spanned<f64>),
    /// `.count()`.
    Count,
    /// `.fields(a, b.c)`.
    Fields(Vec<Path>),
    /// `.group_by(field)`.
    GroupBy(Path),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=` (also `==`).
    Eq,
    /// `!=`.
    Ne,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `=~` (regular expression, unanchored).
    Match,
    /// `!~`.
    NotMatch,
}

impl Op {
    /// As written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Match => "=~",
            Op::NotMatch => "!~",
        }
    }
}

/// A condition of `.where()`.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `a and b`.
    And(Box<Cond>, Box<Cond>),
    /// `a or b`.
    Or(Box<Cond>, Box<Cond>),
    /// `not a`.
    Not(Box<Cond>),
    /// `field op value`.
    Cmp {
        /// The field.
        field: Path,
        /// The operator.
        op: Op,
        /// The value.
        value: Spanned<Value>,
    },
}
