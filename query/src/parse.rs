//! The parser: query text to [`Query`], or a [`QueryError::Syntax`] with the byte offset of
//! the problem and what was expected there.
//!
//! Hand-written recursive descent over a token list. Every bound is checked before any work
//! is done with the input: the text's length, the nesting depth (parentheses and `not`) and
//! the number of comparisons, so no input can make it recurse deeply, allocate much or run
//! long.

use crate::ast::{Arg, Cond, Method, Op, Path, Query, Span, Spanned, Value};
use crate::error::{closest, QueryError};

/// The longest query text accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// The deepest nesting of parentheses and `not` in a condition.
pub const MAX_DEPTH: usize = 32;
/// The most comparisons a query may hold (all `.where()`s together).
pub const MAX_COMPARISONS: usize = 64;

/// The methods, in the order the error message lists them.
pub const METHODS: [&str; 6] = ["where", "sort", "limit", "count", "fields", "group_by"];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Op(Op),
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("{s:?}"),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Num(_) => "a number".to_owned(),
            Tok::LParen => "\"(\"".to_owned(),
            Tok::RParen => "\")\"".to_owned(),
            Tok::LBracket => "\"[\"".to_owned(),
            Tok::RBracket => "\"]\"".to_owned(),
            Tok::Comma => "\",\"".to_owned(),
            Tok::Dot => "\".\"".to_owned(),
            Tok::Op(op) => format!("{:?}", op.as_str()),
            Tok::End => "the end of the query".to_owned(),
        }
    }
}

fn syntax(position: usize, message: impl Into<String>) -> QueryError {
    QueryError::Syntax {
        position,
        message: message.into(),
    }
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'/')
}

/// Splits the text into tokens with their spans.
fn lex(src: &str) -> Result<Vec<(Tok, Span)>, QueryError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' | b')' | b'[' | b']' | b',' | b'.' => {
                i += 1;
                match c {
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b'[' => Tok::LBracket,
                    b']' => Tok::RBracket,
                    b',' => Tok::Comma,
                    _ => Tok::Dot,
                }
            }
            b'=' => {
                i += 1;
                match b.get(i) {
                    Some(b'~') => {
                        i += 1;
                        Tok::Op(Op::Match)
                    }
                    Some(b'=') => {
                        i += 1;
                        Tok::Op(Op::Eq)
                    }
                    _ => Tok::Op(Op::Eq),
                }
            }
            b'!' => match b.get(i + 1) {
                Some(b'=') => {
                    i += 2;
                    Tok::Op(Op::Ne)
                }
                Some(b'~') => {
                    i += 2;
                    Tok::Op(Op::NotMatch)
                }
                _ => return Err(syntax(i, "expected \"!=\" or \"!~\" after \"!\"")),
            },
            b'>' | b'<' => {
                let eq = b.get(i + 1) == Some(&b'=');
                i += if eq { 2 } else { 1 };
                Tok::Op(match (c, eq) {
                    (b'>', false) => Op::Gt,
                    (b'>', true) => Op::Ge,
                    (_, false) => Op::Lt,
                    (_, true) => Op::Le,
                })
            }
            b'"' | b'\'' => {
                let (s, next) = string(src, i)?;
                i = next;
                Tok::Str(s)
            }
            b'-' | b'0'..=b'9' => {
                let (n, next) = number(src, i)?;
                i = next;
                Tok::Num(n)
            }
            c if is_ident_start(c) => {
                while i < b.len() && is_ident_char(b[i]) {
                    i += 1;
                }
                Tok::Ident(src[start..i].to_owned())
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(syntax(i, format!("unexpected character {ch:?}")));
            }
        };
        out.push((tok, Span { start, end: i }));
    }
    out.push((
        Tok::End,
        Span {
            start: b.len(),
            end: b.len(),
        },
    ));
    Ok(out)
}

/// A quoted string from `at` (its opening quote): its value and the offset after it.
fn string(src: &str, at: usize) -> Result<(String, usize), QueryError> {
    let b = src.as_bytes();
    let quote = b[at];
    let mut out = String::new();
    let mut i = at + 1;
    let mut run = i;
    loop {
        let Some(&c) = b.get(i) else {
            return Err(syntax(at, "unterminated string: expected a closing quote"));
        };
        if c == quote {
            out.push_str(&src[run..i]);
            return Ok((out, i + 1));
        }
        if c != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&src[run..i]);
        let esc = b.get(i + 1).copied();
        i += 2;
        match esc {
            Some(b'"') => out.push('"'),
            Some(b'\'') => out.push('\''),
            Some(b'\\') => out.push('\\'),
            Some(b'/') => out.push('/'),
            Some(b'n') => out.push('\n'),
            Some(b't') => out.push('\t'),
            Some(b'r') => out.push('\r'),
            Some(b'u') => {
                let hex = src
                    .get(i..i + 4)
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
                let ch = hex
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                    .ok_or_else(|| {
                        syntax(
                            i - 2,
                            "invalid \\u escape: expected four hex digits of a character",
                        )
                    })?;
                out.push(ch);
                i += 4;
            }
            _ => {
                return Err(syntax(
                    i - 2,
                    "unknown escape: expected one of \\\" \\' \\\\ \\/ \\n \\t \\r \\uXXXX",
                ))
            }
        }
        run = i;
    }
}

/// A number from `at`, with an optional unit: `%` (the number itself), `ms`, `s`, `m`,
/// `h`, `d` (seconds). Returns the value and the offset after it.
fn number(src: &str, at: usize) -> Result<(f64, usize), QueryError> {
    let b = src.as_bytes();
    let mut i = at;
    if b[i] == b'-' {
        i += 1;
    }
    let digits_from = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == digits_from {
        return Err(syntax(at, "expected a digit after \"-\""));
    }
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E'))
        && (b.get(i + 1).is_some_and(u8::is_ascii_digit)
            || (matches!(b.get(i + 1), Some(b'+' | b'-'))
                && b.get(i + 2).is_some_and(u8::is_ascii_digit)))
    {
        i += 2;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    let n: f64 = src[at..i]
        .parse()
        .map_err(|_| syntax(at, "invalid number"))?;
    if !n.is_finite() {
        return Err(syntax(at, "number out of range"));
    }
    let unit_from = i;
    if b.get(i) == Some(&b'%') {
        return Ok((n, i + 1));
    }
    while i < b.len() && b[i].is_ascii_alphabetic() {
        i += 1;
    }
    let factor = match &src[unit_from..i] {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        other => {
            return Err(syntax(
                unit_from,
                format!("unknown unit {other:?}: expected %, ms, s, m, h or d"),
            ))
        }
    };
    if i < b.len() && is_ident_char(b[i]) {
        return Err(syntax(
            i,
            "expected an operator, \",\" or \")\" after a number",
        ));
    }
    Ok((n * factor, i))
}

/// A duration written as text (`"5m"`, `"90s"`, `"1.5h"`, `"250ms"`; a bare number is
/// seconds), in seconds; `None` when it is not one.
pub fn duration_secs(s: &str) -> Option<f64> {
    let s = s.trim();
    if !s.as_bytes().first().is_some_and(u8::is_ascii_digit) || s.ends_with('%') {
        return None;
    }
    match number(s, 0) {
        Ok((n, end)) if end == s.len() => Some(n),
        _ => None,
    }
}

struct Parser {
    toks: Vec<(Tok, Span)>,
    at: usize,
    depth: usize,
    comparisons: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.at.min(self.toks.len() - 1)].0
    }

    fn peek2(&self) -> &Tok {
        &self.toks[(self.at + 1).min(self.toks.len() - 1)].0
    }

    fn span(&self) -> Span {
        self.toks[self.at.min(self.toks.len() - 1)].1
    }

    fn bump(&mut self) -> (Tok, Span) {
        let t = self.toks[self.at.min(self.toks.len() - 1)].clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn expected(&self, what: &str) -> QueryError {
        syntax(
            self.span().start,
            format!("expected {what}, found {}", self.peek().describe()),
        )
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<Span, QueryError> {
        if self.peek() == tok {
            Ok(self.bump().1)
        } else {
            Err(self.expected(what))
        }
    }

    fn ident(&mut self, what: &str) -> Result<Spanned<String>, QueryError> {
        match self.peek() {
            Tok::Ident(_) => match self.bump() {
                (Tok::Ident(s), span) => Ok(Spanned { value: s, span }),
                _ => Err(self.expected(what)),
            },
            _ => Err(self.expected(what)),
        }
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(word))
    }

    fn query(&mut self) -> Result<Query, QueryError> {
        let kind = self.ident("a kind such as pods, nodes or events")?;
        self.expect(&Tok::LParen, "\"(\" after the kind")?;
        let mut args = Vec::new();
        while self.peek() != &Tok::RParen {
            let name = self.ident("an argument name or \")\"")?;
            self.expect(&Tok::Op(Op::Eq), "\"=\" after the argument name")?;
            let value = self.value(true)?;
            args.push(Arg { name, value });
            if self.peek() == &Tok::Comma {
                self.bump();
            } else if self.peek() != &Tok::RParen {
                return Err(self.expected("\",\" or \")\""));
            }
        }
        self.bump();
        let mut methods = Vec::new();
        while self.peek() != &Tok::End {
            self.expect(&Tok::Dot, "\".\" and a method, or the end of the query")?;
            methods.push(self.method()?);
        }
        Ok(Query {
            kind,
            args,
            methods,
        })
    }

    fn value(&mut self, list_allowed: bool) -> Result<Spanned<Value>, QueryError> {
        let span = self.span();
        let value = match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                Value::Str(s)
            }
            Tok::Num(n) => {
                self.bump();
                Value::Num(n)
            }
            Tok::Ident(s) if s == "true" || s == "false" => {
                self.bump();
                Value::Bool(s == "true")
            }
            Tok::Ident(s) if s == "null" => {
                self.bump();
                Value::Null
            }
            Tok::LBracket if list_allowed => {
                self.bump();
                let mut items = Vec::new();
                while self.peek() != &Tok::RBracket {
                    items.push(self.value(false)?);
                    if self.peek() == &Tok::Comma {
                        self.bump();
                    } else if self.peek() != &Tok::RBracket {
                        return Err(self.expected("\",\" or \"]\""));
                    }
                }
                let end = self.bump().1;
                return Ok(Spanned {
                    value: Value::List(items),
                    span: Span {
                        start: span.start,
                        end: end.end,
                    },
                });
            }
            _ => {
                let what = if list_allowed {
                    "a value (a quoted string, a number, true, false, null or a [list])"
                } else {
                    "a value (a quoted string, a number, true, false or null)"
                };
                return Err(self.expected(what));
            }
        };
        Ok(Spanned { value, span })
    }

    fn method(&mut self) -> Result<Spanned<Method>, QueryError> {
        let name = self.ident("a method name")?;
        let Some(&m) = METHODS.iter().find(|m| **m == name.value) else {
            let hint = closest(&name.value, METHODS)
                .map(|c| format!(" (did you mean {c:?}?)"))
                .unwrap_or_default();
            return Err(syntax(
                name.span.start,
                format!(
                    "unknown method {:?}: expected one of {}{hint}",
                    name.value,
                    METHODS.join(", ")
                ),
            ));
        };
        self.expect(&Tok::LParen, "\"(\" after the method name")?;
        let method = match m {
            "where" => Method::Where(self.cond()?),
            "sort" => {
                let field = self.path()?;
                let descending = if self.keyword("desc") {
                    self.bump();
                    true
                } else {
                    if self.keyword("asc") {
                        self.bump();
                    }
                    false
                };
                Method::Sort { field, descending }
            }
            "limit" => {
                let span = self.span();
                match self.peek() {
                    Tok::Num(n) => {
                        let n = *n;
                        self.bump();
                        Method::Limit(Spanned { value: n, span })
                    }
                    _ => return Err(self.expected("a number")),
                }
            }
            "count" => Method::Count,
            "fields" => {
                let mut fields = vec![self.path()?];
                while self.peek() == &Tok::Comma {
                    self.bump();
                    fields.push(self.path()?);
                }
                Method::Fields(fields)
            }
            _ => Method::GroupBy(self.path()?),
        };
        let closing = match m {
            "where" => "\")\", \"and\" or \"or\"",
            "fields" => "\",\" or \")\"",
            _ => "\")\"",
        };
        let end = self.expect(&Tok::RParen, closing)?;
        Ok(Spanned {
            value: method,
            span: Span {
                start: name.span.start,
                end: end.end,
            },
        })
    }

    fn path(&mut self) -> Result<Path, QueryError> {
        let start = self.span();
        let mut segments = Vec::new();
        let mut end;
        loop {
            match self.peek().clone() {
                Tok::Ident(s) | Tok::Str(s) => {
                    end = self.bump().1;
                    segments.push(s);
                }
                _ => {
                    let what = if segments.is_empty() {
                        "a field name"
                    } else {
                        "a field name after \".\""
                    };
                    return Err(self.expected(what));
                }
            }
            if self.peek() != &Tok::Dot {
                break;
            }
            self.bump();
        }
        Ok(Path {
            segments,
            span: Span {
                start: start.start,
                end: end.end,
            },
        })
    }

    /// One level deeper, for the `(` or `not` at `at`.
    fn nest(&mut self, at: usize) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(syntax(
                at,
                format!("conditions nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn cond(&mut self) -> Result<Cond, QueryError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.bump();
            let right = self.and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, QueryError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.bump();
            let right = self.unary()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Cond, QueryError> {
        // `not` is the operator unless it is a field name (`not = 1`, `not.x`).
        if self.keyword("not") && !matches!(self.peek2(), Tok::Op(_) | Tok::Dot) {
            let at = self.bump().1.start;
            self.nest(at)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        if self.peek() == &Tok::LParen {
            let at = self.bump().1.start;
            self.nest(at)?;
            let inner = self.cond()?;
            self.depth -= 1;
            self.expect(&Tok::RParen, "\")\", \"and\" or \"or\"")?;
            return Ok(inner);
        }
        let field = self.path()?;
        let op = match self.peek() {
            Tok::Op(op) => *op,
            _ => {
                return Err(self.expected("an operator (= != > >= < <= =~ !~)"));
            }
        };
        self.bump();
        let value = self.value(false)?;
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            return Err(syntax(
                field.span.start,
                format!("more than {MAX_COMPARISONS} comparisons in one query"),
            ));
        }
        Ok(Cond::Cmp { field, op, value })
    }
}

/// Parses one query.
pub fn parse(src: &str) -> Result<Query, QueryError> {
    if src.len() > MAX_QUERY_BYTES {
        return Err(syntax(
            MAX_QUERY_BYTES,
            format!(
                "the query is {} bytes; at most {MAX_QUERY_BYTES} are accepted",
                src.len()
            ),
        ));
    }
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        at: 0,
        depth: 0,
        comparisons: 0,
    };
    p.query()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn err(q: &str) -> (usize, String) {
        match parse(q).unwrap_err() {
            QueryError::Syntax { position, message } => (position, message),
            other => panic!("{other:?}"),
        }
    }

    fn cond(q: &str) -> Cond {
        let parsed = parse(&format!("pods().where({q})")).unwrap();
        match parsed.methods.into_iter().next().unwrap().value {
            Method::Where(c) => c,
            other => panic!("{other:?}"),
        }
    }

    /// A compact rendering of a condition: `(a & b)`, `(a | b)`, `!a`, `field op value`.
    fn show(c: &Cond) -> String {
        match c {
            Cond::And(a, b) => format!("({} & {})", show(a), show(b)),
            Cond::Or(a, b) => format!("({} | {})", show(a), show(b)),
            Cond::Not(a) => format!("!{}", show(a)),
            Cond::Cmp { field, op, value } => {
                let v = match &value.value {
                    Value::Str(s) => format!("{s:?}"),
                    Value::Num(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => "null".into(),
                    Value::List(_) => "[..]".into(),
                };
                format!("{}{}{v}", field.dotted(), op.as_str())
            }
        }
    }

    #[test]
    fn the_seed_examples_parse() {
        let q = parse(r#"pods(cluster="prod", namespace="default", status="Running")"#).unwrap();
        assert_eq!(q.kind.value, "pods");
        let names: Vec<_> = q.args.iter().map(|a| a.name.value.as_str()).collect();
        assert_eq!(names, ["cluster", "namespace", "status"]);
        assert_eq!(q.args[2].value.value, Value::Str("Running".into()));
        assert_eq!(q.args[1].value.span, Span { start: 31, end: 40 });
        let q = parse(r#"nodes(cluster="prod").where(cpu_usage > 80%)"#).unwrap();
        assert_eq!(
            show(&match &q.methods[0].value {
                Method::Where(c) => c.clone(),
                _ => unreachable!(),
            }),
            "cpu_usage>80"
        );
        let q = parse(r#"deployments(cluster="prod").count()"#).unwrap();
        assert_eq!(q.methods[0].value, Method::Count);
        let q = parse(r#"events(cluster="prod", last="5m", type="Warning")"#).unwrap();
        assert_eq!(q.args.len(), 3);
    }

    #[test]
    fn precedence_not_binds_tighter_than_and_tighter_than_or() {
        assert_eq!(show(&cond("a=1 or b=2 and c=3")), "(a=1 | (b=2 & c=3))");
        assert_eq!(show(&cond("a=1 and b=2 or c=3")), "((a=1 & b=2) | c=3)");
        assert_eq!(show(&cond("(a=1 or b=2) and c=3")), "((a=1 | b=2) & c=3)");
        assert_eq!(show(&cond("not a=1 and b=2")), "(!a=1 & b=2)");
        assert_eq!(show(&cond("not (a=1 and b=2)")), "!(a=1 & b=2)");
        assert_eq!(show(&cond("a=1 or b=2 or c=3")), "((a=1 | b=2) | c=3)");
        assert_eq!(
            show(&cond("a=1 AND b=2 OR NOT c=3")),
            "((a=1 & b=2) | !c=3)"
        );
        // `not` as a field name.
        assert_eq!(show(&cond("not = 1")), "not=1");
    }

    #[test]
    fn operators_values_and_units() {
        let ops = ["=", "==", "!=", ">", ">=", "<", "<=", "=~", "!~"];
        let want = ["=", "=", "!=", ">", ">=", "<", "<=", "=~", "!~"];
        for (op, w) in ops.iter().zip(want) {
            assert_eq!(show(&cond(&format!("x {op} 1"))), format!("x{w}1"));
        }
        assert_eq!(show(&cond("x=80%")), "x=80");
        assert_eq!(show(&cond("x=1.5e3")), "x=1500");
        assert_eq!(show(&cond("x=-2")), "x=-2");
        assert_eq!(show(&cond("age>5m")), "age>300");
        assert_eq!(show(&cond("age>2h")), "age>7200");
        assert_eq!(show(&cond("age>1d")), "age>86400");
        assert_eq!(show(&cond("age>250ms")), "age>0.25");
        assert_eq!(show(&cond("age>30s")), "age>30");
        assert_eq!(show(&cond("x=true")), "x=true");
        assert_eq!(show(&cond("x=null")), "x=null");
        assert_eq!(
            show(&cond(r#"x="a\"b\\c\n\u00e9\/""#)),
            r#"x="a\"b\\c\né/""#
        );
        assert_eq!(show(&cond(r"x='it\'s'")), r#"x="it's""#);
        assert_eq!(
            show(&cond(r#"labels."app.kubernetes.io/name"="web""#)),
            r#"labels."app.kubernetes.io/name"="web""#
        );
        assert_eq!(
            show(&cond("spec.node-selector/x = 1")),
            "spec.node-selector/x=1"
        );
    }

    #[test]
    fn methods_parse() {
        let q =
            parse("pods().where(a=1).sort(age desc).limit(5).fields(a, b.c).group_by(x)").unwrap();
        let m: Vec<_> = q.methods.into_iter().map(|m| m.value).collect();
        assert!(
            matches!(&m[1], Method::Sort { field, descending: true } if field.dotted() == "age")
        );
        assert!(matches!(&m[2], Method::Limit(n) if n.value == 5.0));
        assert!(matches!(&m[3], Method::Fields(f) if f.len() == 2 && f[1].dotted() == "b.c"));
        assert!(matches!(&m[4], Method::GroupBy(f) if f.dotted() == "x"));
        let q = parse("pods(cluster=[\"a\", \"b\"], ).sort(x asc)").unwrap();
        assert!(matches!(&q.args[0].value.value, Value::List(v) if v.len() == 2));
    }

    /// Every syntax error names its byte offset and what was expected there.
    #[test]
    fn syntax_errors_have_positions() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "expected a kind"),
            ("pods", 4, "expected \"(\" after the kind"),
            (
                "pods(",
                5,
                "expected an argument name or \")\", found the end",
            ),
            (
                "pods(cluster)",
                12,
                "expected \"=\" after the argument name",
            ),
            ("pods(cluster=)", 13, "expected a value"),
            (
                "pods(cluster=prod)",
                13,
                "expected a value (a quoted string",
            ),
            ("pods(a=1 b=2)", 9, "expected \",\" or \")\""),
            ("pods() x", 7, "expected \".\" and a method"),
            ("pods().", 7, "expected a method name"),
            (
                "pods().wher(a=1)",
                7,
                "unknown method \"wher\": expected one of where",
            ),
            ("pods().where(", 13, "expected a field name"),
            ("pods().where(a)", 14, "expected an operator"),
            ("pods().where(a=)", 15, "expected a value"),
            ("pods().where(a=1", 16, "expected \")\""),
            (
                "pods().where((a=1)",
                18,
                "expected \")\", \"and\" or \"or\"",
            ),
            ("pods().where(a=1 and)", 20, "expected a field name"),
            (
                "pods().where(a.=1)",
                15,
                "expected a field name after \".\"",
            ),
            ("pods().where(a ! 1)", 15, "expected \"!=\" or \"!~\""),
            ("pods().where(a=\"x)", 15, "unterminated string"),
            ("pods().where(a=\"\\q\")", 16, "unknown escape"),
            ("pods().where(a=\"\\u12\")", 16, "invalid \\u escape"),
            ("pods().where(a=5x)", 16, "unknown unit \"x\""),
            ("pods().where(a=5m2)", 17, "expected an operator"),
            ("pods().where(a=-)", 15, "expected a digit"),
            ("pods().where(a=1e999)", 15, "number out of range"),
            ("pods().limit(x)", 13, "expected a number"),
            ("pods().count(1)", 13, "expected \")\""),
            (
                "pods(a=[1,[2]])",
                10,
                "expected a value (a quoted string, a number, true, false or null)",
            ),
            ("pods().where(a=1) ; drop", 18, "unexpected character ';'"),
            ("pods().where(a=1 é)", 17, "unexpected character 'é'"),
        ];
        for (q, pos, msg) in cases {
            let (p, m) = err(q);
            assert_eq!((p, m.contains(msg)), (*pos, true), "{q}: {p} {m}");
        }
        // The hint.
        assert!(err("pods().wher(a=1)").1.contains("did you mean \"where\""));
    }

    #[test]
    fn hostile_inputs_are_bounded() {
        let long = format!("pods().where(a=\"{}\")", "x".repeat(100_000));
        let (p, m) = err(&long);
        assert_eq!(p, MAX_QUERY_BYTES);
        assert!(m.contains("at most 16384"), "{m}");
        let deep = format!(
            "pods().where({}a=1{})",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        assert!(err(&deep).1.contains("at most 16384") || err(&deep).1.contains("nest deeper"));
        let deep = format!("pods().where({}a=1{})", "(".repeat(40), ")".repeat(40));
        let (p, m) = err(&deep);
        assert_eq!(p, 13 + MAX_DEPTH);
        assert!(m.contains("nest deeper than 32"), "{m}");
        let nots = format!("pods().where({}a=1)", "not ".repeat(100));
        assert!(err(&nots).1.contains("nest deeper"));
        let many = format!("pods().where({})", vec!["a=1"; 65].join(" or "));
        assert!(err(&many).1.contains("more than 64 comparisons"));
        let ok = format!("pods().where({})", vec!["a=1"; 64].join(" or "));
        assert!(parse(&ok).is_ok());
    }
}
