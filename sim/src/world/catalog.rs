//! Names and images that make a simulated cluster look like a real one.

/// Application namespaces, used in this order.
pub const APP_NAMESPACES: &[&str] = &[
    "shop",
    "payments",
    "auth",
    "search",
    "orders",
    "inventory",
    "shipping",
    "billing",
    "media",
    "notifications",
    "analytics",
    "catalog",
    "booking",
    "chat",
    "crm",
    "reporting",
    "identity",
    "ads",
    "loyalty",
    "docs",
];

/// Component names of application deployments.
pub const COMPONENTS: &[&str] = &[
    "web",
    "api",
    "worker",
    "frontend",
    "backend",
    "cart",
    "checkout",
    "catalog-api",
    "search-api",
    "gateway",
    "notifier",
    "scheduler",
    "reports",
    "admin",
    "image-resizer",
    "recommender",
    "inventory-api",
    "billing-api",
    "mailer",
    "webhook",
    "cache-warmer",
    "uploader",
    "graphql",
    "ledger",
    "ws-hub",
    "tracker",
    "feed",
    "sitemap",
    "pdf-render",
    "auth",
];

/// Components served to browsers.
const WEB_LIKE: &[&str] = &["web", "frontend", "admin", "grafana"];
/// Components serving an HTTP API.
const API_LIKE: &[&str] = &[
    "api",
    "backend",
    "cart",
    "checkout",
    "catalog-api",
    "search-api",
    "auth",
    "gateway",
    "graphql",
    "ledger",
    "ws-hub",
    "feed",
    "recommender",
    "inventory-api",
    "billing-api",
    "tracker",
    "kube-state-metrics",
    "metrics-server",
    "traefik",
    "coredns",
    "atlhyper-agent",
];

/// What a workload does, which drives its ports, logs and traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Serves pages (nginx-like access logs).
    Web,
    /// Serves JSON over HTTP (structured request logs).
    Api,
    /// Consumes a queue (job logs).
    Worker,
    /// A database or cache of a StatefulSet.
    Data,
}

/// The role of a component from its name (`web-2` counts as `web`).
pub fn role_of(name: &str) -> Role {
    let base = base_name(name);
    if matches!(
        base,
        "postgres" | "redis" | "rabbitmq" | "kafka" | "elasticsearch"
    ) {
        Role::Data
    } else if WEB_LIKE.contains(&base) {
        Role::Web
    } else if API_LIKE.contains(&base) {
        Role::Api
    } else {
        Role::Worker
    }
}

/// `web-2` → `web`.
pub fn base_name(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((b, n)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => b,
        _ => name,
    }
}

/// A system deployment: (namespace, name, replicas, image, port).
pub const SYSTEM_DEPLOYMENTS: &[(&str, &str, i32, &str, i32)] = &[
    (
        "kube-system",
        "coredns",
        2,
        "registry.k8s.io/coredns/coredns:v1.11.1",
        53,
    ),
    (
        "kube-system",
        "traefik",
        2,
        "docker.io/traefik:v2.11.0",
        8000,
    ),
    (
        "kube-system",
        "metrics-server",
        1,
        "registry.k8s.io/metrics-server/metrics-server:v0.7.0",
        10250,
    ),
    (
        "kube-system",
        "atlhyper-agent",
        1,
        "registry.example.com/atlhyper/agent:v2.1.0",
        8082,
    ),
    (
        "monitoring",
        "grafana",
        1,
        "docker.io/grafana/grafana:10.4.1",
        3000,
    ),
    (
        "monitoring",
        "kube-state-metrics",
        1,
        "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.11.0",
        8080,
    ),
];

/// DaemonSets on every node: (namespace, name, image).
pub const DAEMONSETS: &[(&str, &str, &str)] = &[
    (
        "kube-system",
        "kube-proxy",
        "registry.k8s.io/kube-proxy:v1.29.3",
    ),
    (
        "kube-system",
        "atlhyper-metrics",
        "registry.example.com/atlhyper/metrics:v2.1.0",
    ),
];

/// StatefulSets of the first application namespace: (name, replicas, image, port, storage).
pub const STATEFULSETS: &[(&str, i32, &str, i32, &str)] = &[
    (
        "postgres",
        2,
        "docker.io/library/postgres:16.2",
        5432,
        "20Gi",
    ),
    ("redis", 1, "docker.io/library/redis:7.2.4", 6379, "5Gi"),
];

/// Kubernetes version of every node.
pub const KUBELET_VERSION: &str = "v1.29.3";

/// Common process names of a node's top list: (name, cmdline, user).
pub const PROCESSES: &[(&str, &str, &str)] = &[
    (
        "kubelet",
        "/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml",
        "root",
    ),
    ("containerd", "/usr/bin/containerd", "root"),
    ("java", "java -Xmx2g -jar /app/app.jar", "1000"),
    ("node", "node /app/server.js", "1000"),
    ("postgres", "postgres: checkpointer", "999"),
    ("python3", "python3 -m gunicorn app:app -w 4", "1000"),
    (
        "traefik",
        "traefik --entrypoints.web.address=:8000",
        "65532",
    ),
    ("coredns", "/coredns -conf /etc/coredns/Corefile", "root"),
    (
        "kube-proxy",
        "/usr/local/bin/kube-proxy --config=/var/lib/kube-proxy/config.conf",
        "root",
    ),
    ("atlhyper-metrics", "/atlhyper_metrics_v2", "root"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_the_base_name() {
        assert_eq!(role_of("web"), Role::Web);
        assert_eq!(role_of("web-2"), Role::Web);
        assert_eq!(role_of("catalog-api"), Role::Api);
        assert_eq!(role_of("mailer"), Role::Worker);
        assert_eq!(role_of("postgres"), Role::Data);
        assert_eq!(base_name("ws-hub"), "ws-hub");
    }
}
