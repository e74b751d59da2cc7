//! Renders a [`Message`] as plain text, chat markdown or HTML.
//!
//! The content and its order live in one place, [`Doc`]: heading (severity emoji and
//! title), summary, cluster and rule, then per alert its resource key, status,
//! description, value, fired/resolved times (RFC 3339 UTC), detail pairs and link, then
//! "… and N more" when alerts were left out, then the time. The three formats only differ
//! in markup and escaping:
//! - [`text`]: plain text, for the email text part;
//! - [`markdown`]: Slack mrkdwn ([`Flavor::Slack`]) or the simple markdown DingTalk and
//!   Feishu/Lark understand ([`Flavor::Standard`]);
//! - [`html`]: the email HTML part; everything that comes from a message is escaped.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::message::{severity_emoji, AlertLine, Message};

/// Which markdown dialect [`markdown`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Slack mrkdwn: `*bold*`, `•` bullets, `&`, `<` and `>` escaped.
    Slack,
    /// CommonMark-like markdown as DingTalk and Feishu/Lark render it: `**bold**`, `- `
    /// lists, blank lines between paragraphs (DingTalk folds single newlines).
    Standard,
}

/// The message as plain text.
pub fn text(m: &Message) -> String {
    let doc = Doc::new(m);
    let mut out = String::new();
    line(&mut out, &doc.heading);
    if !doc.summary.is_empty() {
        line(&mut out, doc.summary);
    }
    if !doc.meta.is_empty() {
        out.push('\n');
        for (label, value) in &doc.meta {
            line(&mut out, &format!("{label}: {value}"));
        }
    }
    for item in &doc.alerts {
        out.push('\n');
        line(&mut out, &format!("{} [{}]", item.key, item.status));
        if !item.description.is_empty() {
            line(&mut out, &format!("  {}", item.description));
        }
        for (label, value) in &item.fields {
            line(&mut out, &format!("  {label}: {value}"));
        }
        if let Some(link) = &item.link {
            line(&mut out, &format!("  Link: {link}"));
        }
    }
    if let Some(more) = doc.more() {
        out.push('\n');
        line(&mut out, &more);
    }
    out.push('\n');
    line(&mut out, &format!("Time: {}", doc.at));
    out
}

/// The message as chat markdown of the given flavor.
pub fn markdown(m: &Message, flavor: Flavor) -> String {
    let doc = Doc::new(m);
    let esc = |s: &str| match flavor {
        Flavor::Slack => slack_escape(s),
        Flavor::Standard => s.to_owned(),
    };
    let bold = |s: &str| match flavor {
        Flavor::Slack => format!("*{}*", slack_escape(s)),
        Flavor::Standard => format!("**{s}**"),
    };
    let bullet = match flavor {
        Flavor::Slack => "• ",
        Flavor::Standard => "- ",
    };
    let mut paragraphs: Vec<String> = vec![bold(&doc.heading)];
    if !doc.summary.is_empty() {
        paragraphs.push(esc(doc.summary));
    }
    if !doc.meta.is_empty() {
        let mut p = String::new();
        for (label, value) in &doc.meta {
            line(
                &mut p,
                &format!("{bullet}{} {}", bold(&format!("{label}:")), esc(value)),
            );
        }
        paragraphs.push(p.trim_end().to_owned());
    }
    for item in &doc.alerts {
        paragraphs.push(format!("{} · {}", bold(&item.key), esc(&item.status)));
        if !item.description.is_empty() {
            paragraphs.push(esc(&item.description));
        }
        let mut p = String::new();
        for (label, value) in &item.fields {
            line(&mut p, &format!("{bullet}{}: {}", esc(label), esc(value)));
        }
        if let Some(link) = &item.link {
            // A path under the operator's base URL, which the master does not know:
            // show it as code rather than as a link that would not resolve.
            line(&mut p, &format!("{bullet}Link: `{}`", esc(link)));
        }
        if !p.is_empty() {
            paragraphs.push(p.trim_end().to_owned());
        }
    }
    if let Some(more) = doc.more() {
        paragraphs.push(esc(&more));
    }
    paragraphs.push(format!("Time: {}", doc.at));
    paragraphs.join("\n\n")
}

/// The message as an HTML document; every text from the message is escaped.
pub fn html(m: &Message) -> String {
    let doc = Doc::new(m);
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n\
         <body style=\"font-family:sans-serif\">\n",
    );
    let _ = writeln!(out, "<h2>{}</h2>", escape_html(&doc.heading));
    if !doc.summary.is_empty() {
        let _ = writeln!(
            out,
            "<p>{}</p>",
            escape_html(doc.summary).replace('\n', "<br>")
        );
    }
    if !doc.meta.is_empty() {
        out.push_str("<table>\n");
        for (label, value) in &doc.meta {
            let _ = writeln!(
                out,
                "<tr><th align=\"left\">{label}</th><td>{}</td></tr>",
                escape_html(value)
            );
        }
        out.push_str("</table>\n");
    }
    for item in &doc.alerts {
        let _ = writeln!(
            out,
            "<h3>{} &middot; {}</h3>",
            escape_html(&item.key),
            escape_html(&item.status)
        );
        if !item.description.is_empty() {
            let _ = writeln!(out, "<p>{}</p>", escape_html(&item.description));
        }
        out.push_str("<ul>\n");
        for (label, value) in &item.fields {
            let _ = writeln!(
                out,
                "<li><b>{}:</b> {}</li>",
                escape_html(label),
                escape_html(value)
            );
        }
        if let Some(link) = &item.link {
            let _ = writeln!(
                out,
                "<li><b>Link:</b> <code>{}</code></li>",
                escape_html(link)
            );
        }
        out.push_str("</ul>\n");
    }
    if let Some(more) = doc.more() {
        let _ = writeln!(out, "<p>{}</p>", escape_html(&more));
    }
    let _ = writeln!(out, "<p><small>Time: {}</small></p>", escape_html(&doc.at));
    out.push_str("</body></html>\n");
    out
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Slack mrkdwn gives `&`, `<` and `>` a meaning (links, mentions); everything else is
/// shown as typed.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// RFC 3339 in UTC with whole seconds, e.g. `2024-05-01T12:00:00Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A measured value without float noise: at most two decimals, trailing zeros dropped.
fn value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// A line that must stay one line: embedded line breaks would let message text forge
/// structure in the rendered output.
fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn line(out: &mut String, s: &str) {
    out.push_str(s);
    out.push('\n');
}

/// What every format shows, in order; the single home of the message layout.
struct Doc<'a> {
    heading: String,
    summary: &'a str,
    meta: Vec<(&'static str, String)>,
    alerts: Vec<Item>,
    omitted: usize,
    at: String,
}

struct Item {
    key: String,
    status: String,
    description: String,
    fields: Vec<(String, String)>,
    link: Option<String>,
}

impl<'a> Doc<'a> {
    fn new(m: &'a Message) -> Self {
        let mut meta = Vec::new();
        if !m.cluster_id.is_empty() {
            meta.push(("Cluster", one_line(&m.cluster_id)));
        }
        if !m.rule.is_empty() {
            meta.push(("Rule", one_line(&m.rule)));
        }
        Doc {
            heading: format!(
                "{} {}",
                severity_emoji(m.severity, m.kind),
                one_line(&m.title)
            ),
            summary: m.summary.trim(),
            meta,
            alerts: m.alerts.iter().map(Item::new).collect(),
            omitted: m.omitted,
            at: timestamp(m.at),
        }
    }

    fn more(&self) -> Option<String> {
        (self.omitted > 0).then(|| format!("… and {} more", self.omitted))
    }
}

impl Item {
    fn new(a: &AlertLine) -> Self {
        let mut fields = Vec::new();
        if let Some(v) = a.value {
            fields.push(("Value".to_owned(), value(v)));
        }
        fields.push(("Fired at".to_owned(), timestamp(a.fired_at)));
        if let Some(t) = a.resolved_at {
            fields.push(("Resolved at".to_owned(), timestamp(t)));
        }
        fields.extend(a.details.iter().map(|(k, v)| (one_line(k), one_line(v))));
        Item {
            key: one_line(&a.resource.key()),
            status: one_line(&a.status),
            description: one_line(&a.description),
            fields,
            link: a.link.as_deref().map(one_line),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use chrono::TimeZone as _;

    use super::*;
    use crate::notify::message::{MessageKind, ResourceId, Severity};

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, h, 0, 0).unwrap()
    }

    fn alert(name: &str) -> AlertLine {
        let resource = ResourceId {
            kind: "Pod".into(),
            namespace: "shop".into(),
            name: name.into(),
        };
        AlertLine {
            alert_uid: format!("uid-{name}"),
            link: resource.link("prod-eu"),
            resource,
            status: "firing".into(),
            description: "restarts 7 >= 5 for 5m".into(),
            value: Some(7.0),
            fired_at: at(10),
            resolved_at: None,
            details: vec![
                ("phase".into(), "Running".into()),
                ("node".into(), "node-1".into()),
            ],
        }
    }

    fn message() -> Message {
        let mut resolved = alert("api-2");
        resolved.status = "resolved".into();
        resolved.resolved_at = Some(at(11));
        resolved.value = None;
        Message {
            kind: MessageKind::Firing,
            severity: Severity::Critical,
            title: "[FIRING:2] prod-eu · pod_restarts".into(),
            summary: "Pods restart in a loop.".into(),
            cluster_id: "prod-eu".into(),
            rule: "pod_restarts".into(),
            alerts: vec![alert("api-1"), resolved],
            omitted: 3,
            at: at(12),
        }
    }

    #[test]
    fn text_lists_everything_in_order() {
        let t = text(&message());
        let order = [
            "🔴 [FIRING:2] prod-eu · pod_restarts",
            "Pods restart in a loop.",
            "Cluster: prod-eu",
            "Rule: pod_restarts",
            "Pod/shop/api-1 [firing]",
            "restarts 7 >= 5 for 5m",
            "Value: 7",
            "Fired at: 2024-05-01T10:00:00Z",
            "phase: Running",
            "node: node-1",
            "Link: /api/v2/clusters/prod-eu/resources/pods/shop/api-1",
            "Pod/shop/api-2 [resolved]",
            "Resolved at: 2024-05-01T11:00:00Z",
            "… and 3 more",
            "Time: 2024-05-01T12:00:00Z",
        ];
        let mut from = 0;
        for needle in order {
            let pos = t[from..]
                .find(needle)
                .unwrap_or_else(|| panic!("{needle:?} missing after byte {from} in:\n{t}"));
            from += pos + needle.len();
        }
        // The resolved alert has no value line.
        assert_eq!(t.matches("Value:").count(), 1);
    }

    #[test]
    fn empty_parts_are_left_out() {
        let mut m = message();
        m.cluster_id.clear();
        m.rule.clear();
        m.summary.clear();
        m.omitted = 0;
        m.alerts.clear();
        m.kind = MessageKind::Test;
        m.severity = Severity::Info;
        let t = text(&m);
        assert!(!t.contains("Cluster:"));
        assert!(!t.contains("Rule:"));
        assert!(!t.contains("more"));
        assert!(t.starts_with("🟢 "));
        assert!(markdown(&m, Flavor::Standard).starts_with("**🟢 "));
    }

    #[test]
    fn resolved_messages_use_the_check_mark() {
        let mut m = message();
        m.kind = MessageKind::Resolved;
        assert!(text(&m).starts_with("✅ "));
    }

    #[test]
    fn slack_markdown_bolds_with_single_stars_and_escapes() {
        let mut m = message();
        m.alerts[0].description = "a <b> & c".into();
        let md = markdown(&m, Flavor::Slack);
        assert!(
            md.starts_with("*🔴 [FIRING:2] prod-eu · pod_restarts*"),
            "{md}"
        );
        assert!(md.contains("*Cluster:* prod-eu"));
        assert!(md.contains("a &lt;b&gt; &amp; c"));
        assert!(!md.contains("**"));
        assert!(md.contains("• Value: 7"));
        assert!(md.contains("`/api/v2/clusters/prod-eu/resources/pods/shop/api-1`"));
        assert!(md.contains("… and 3 more"));
        assert!(md.ends_with("Time: 2024-05-01T12:00:00Z"));
    }

    #[test]
    fn standard_markdown_bolds_with_double_stars() {
        let md = markdown(&message(), Flavor::Standard);
        assert!(
            md.starts_with("**🔴 [FIRING:2] prod-eu · pod_restarts**"),
            "{md}"
        );
        assert!(md.contains("- **Cluster:** prod-eu"));
        assert!(md.contains("**Pod/shop/api-1** · firing"));
        assert!(md.contains("- Fired at: 2024-05-01T10:00:00Z"));
        assert!(md.contains("- phase: Running"));
        // Paragraphs are separated by blank lines for DingTalk.
        assert!(md.contains("\n\n"));
    }

    #[test]
    fn html_escapes_everything_from_the_message() {
        let mut m = message();
        m.title = "<script>alert(1)</script>".into();
        m.summary = "x & \"y\"\nz".into();
        m.cluster_id = "<c>".into();
        m.alerts[0].details.push(("<k>".into(), "'v'".into()));
        m.alerts[0].status = "<s>".into();
        let h = html(&m);
        assert!(!h.contains("<script>"));
        assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(h.contains("x &amp; &quot;y&quot;<br>z"));
        assert!(h.contains("<td>&lt;c&gt;</td>"));
        assert!(h.contains("<b>&lt;k&gt;:</b> &#39;v&#39;"));
        assert!(h.contains("&lt;s&gt;"));
        assert!(h.contains("… and 3 more"));
        assert!(h.contains("Time: 2024-05-01T12:00:00Z"));
    }

    #[test]
    fn line_breaks_cannot_forge_lines() {
        let mut m = message();
        m.title = "a\r\nTime: forged".into();
        m.alerts[0].description = "x\nCluster: forged".into();
        let t = text(&m);
        assert!(t.starts_with("🔴 a Time: forged\n"));
        assert!(!t.contains("\nCluster: forged"));
    }

    #[test]
    fn values_are_short() {
        assert_eq!(value(93.1), "93.1");
        assert_eq!(value(100.0), "100");
        assert_eq!(value(0.333333), "0.33");
        assert_eq!(value(-0.001), "0");
        assert_eq!(value(f64::NAN), "NaN");
    }
}
