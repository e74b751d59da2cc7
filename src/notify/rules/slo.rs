//! Evaluating `slo.*` conditions against the SLO persister's evaluation of a cluster.
//!
//! One alert per route: the resource is `Route/<domain>/<path prefix>`, so a silence can
//! name a domain (`Route/shop.example.com/*`). A burn-rate metric's value is the smaller of
//! its two windows' burn rates (the SRE workbook's multi-window rule: both must burn at
//! least that fast); a window without requests has no burn rate, so the rule does not hold.

use atlhyper_actors::messages::RouteBurn;
use atlhyper_actors::model::StrMap;

use super::condition::{Condition, Metric};
use super::eval::Observation;
use super::scope::Scope;
use crate::notify::message::ResourceId;

/// The value of `metric` for a route, if it has one.
pub fn value(metric: Metric, r: &RouteBurn) -> Option<f64> {
    let burn = |w: &str| r.burn.iter().find(|(n, _)| n == w).map(|(_, b)| *b);
    if let Some((long, short)) = metric.burn_windows() {
        return Some(burn(long)?.min(burn(short)?));
    }
    match metric {
        Metric::SloP95OverTarget if r.target_p95_ms > 0.0 => Some(r.p95_ms? / r.target_p95_ms),
        _ => None,
    }
}

/// Every route of the evaluation for which the condition holds.
pub fn matches(
    cond: &Condition,
    scope: &Scope,
    cluster: &str,
    routes: &[RouteBurn],
) -> Vec<Observation> {
    if !cond.metric.from_slo()
        || !scope.matches_cluster(cluster)
        || !scope.matches_labels(&StrMap::default())
    {
        return Vec::new();
    }
    routes
        .iter()
        .filter(|r| scope.matches_namespace(&r.namespace))
        .filter_map(|r| {
            let v = value(cond.metric, r)?;
            cond.op
                .holds(v, cond.threshold)
                .then(|| observation(cond, r, v))
        })
        .collect()
}

fn observation(cond: &Condition, r: &RouteBurn, value: f64) -> Observation {
    let route = format!("{}{}", r.domain, r.path_prefix);
    let budget = format!(
        "{:.1}% of the 30-day error budget left (target {}%)",
        r.budget_remaining, r.target_availability
    );
    let description = match cond.metric.burn_windows() {
        Some((long, short)) => {
            let b = |w: &str| r.burn.iter().find(|(n, _)| n == w).map_or(0.0, |(_, b)| *b);
            format!(
                "{route}: error budget burning {:.1}× over {long} and {:.1}× over {short} ({} {}×); {budget}",
                b(long),
                b(short),
                cond.op,
                cond.threshold
            )
        }
        None => format!(
            "{route}: p95 {:.0} ms over the last hour, {value:.2}× the {:.0} ms target ({} {}×)",
            r.p95_ms.unwrap_or(0.0),
            r.target_p95_ms,
            cond.op,
            cond.threshold
        ),
    };
    let mut details = vec![
        ("domain".to_owned(), r.domain.clone()),
        ("path".to_owned(), r.path_prefix.clone()),
        ("service".to_owned(), r.service_key.clone()),
        (
            "error_budget_remaining".to_owned(),
            format!("{:.1}%", r.budget_remaining),
        ),
        (
            "target_availability".to_owned(),
            format!("{}%", r.target_availability),
        ),
    ];
    for (w, b) in &r.burn {
        details.push((format!("burn_rate_{w}"), format!("{b:.2}")));
    }
    if let Some(a) = r.availability_1h {
        details.push(("availability_1h".to_owned(), format!("{a:.3}%")));
    }
    if let Some(p) = r.p95_ms {
        details.push(("p95_1h_ms".to_owned(), format!("{p:.0}")));
    }
    Observation {
        resource: ResourceId {
            kind: "Route".to_owned(),
            namespace: r.domain.clone(),
            name: r.path_prefix.clone(),
        },
        subkey: String::new(),
        value,
        description,
        details,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;

    fn route(burn: &[(&str, f64)]) -> RouteBurn {
        RouteBurn {
            domain: "shop.example.com".into(),
            path_prefix: "/api".into(),
            namespace: "shop".into(),
            service_key: "shop-api-80@kubernetes".into(),
            target_availability: 99.9,
            target_p95_ms: 300.0,
            burn: burn.iter().map(|(w, b)| ((*w).to_owned(), *b)).collect(),
            budget_remaining: 62.3,
            p95_ms: Some(450.0),
            availability_1h: Some(98.5),
        }
    }

    fn cond(metric: &str, threshold: f64) -> Condition {
        Condition::parse(
            "slo",
            &serde_json::json!({"metric": metric, "op": ">=", "threshold": threshold}),
            None,
        )
        .unwrap()
    }

    #[test]
    fn both_windows_must_burn() {
        let scope = Scope::parse(None, None, None).unwrap();
        let fast = cond("slo.burn_rate_fast", 14.4);
        // Long window burning, short window recovered: no alert.
        assert!(matches(&fast, &scope, "c", &[route(&[("5m", 2.0), ("1h", 20.0)])]).is_empty());
        let hit = matches(&fast, &scope, "c", &[route(&[("5m", 30.0), ("1h", 15.2)])]);
        assert_eq!(hit.len(), 1);
        assert_eq!(hit[0].value, 15.2);
        assert_eq!(hit[0].resource.key(), "Route/shop.example.com//api");
        let d = &hit[0].description;
        assert!(d.contains("shop.example.com/api"), "{d}");
        assert!(
            d.contains("15.2× over 1h") && d.contains("30.0× over 5m"),
            "{d}"
        );
        assert!(d.contains("62.3% of the 30-day error budget left"), "{d}");
        // A window without requests has no burn rate.
        assert!(matches(&fast, &scope, "c", &[route(&[("1h", 20.0)])]).is_empty());
    }

    #[test]
    fn p95_over_target_and_scope() {
        let c = cond("slo.p95_over_target", 1.0);
        let scope = Scope::parse(None, Some("other".into()), None).unwrap();
        assert!(matches(&c, &scope, "c", &[route(&[])]).is_empty());
        let scope = Scope::parse(Some("c".into()), Some("shop".into()), None).unwrap();
        let hit = matches(&c, &scope, "c", &[route(&[])]);
        assert_eq!(hit[0].value, 1.5);
        assert!(matches(&c, &scope, "d", &[route(&[])]).is_empty());
    }
}
