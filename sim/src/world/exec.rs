//! Agent commands (reference §1.9), executed against the simulated cluster so that the next
//! snapshot shows their effect. The output and error texts follow the v2.1 agent's and
//! client-go's wording.

use atlhyper_actors::model::{Command, Pod, ReplicaSetBrief, ResourceRef, Text};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::catalog::{role_of, Role};
use super::{gt, set_label, st, ts, World};

/// Most log lines the agent returns (it caps `tailLines` at 200).
const MAX_TAIL: i64 = 200;
/// Lines returned without `tailLines`.
const DEFAULT_TAIL: i64 = 100;
/// Most items a `dynamic` list returns.
const MAX_LIST: usize = 200;
/// ReplicaSets a Deployment keeps (briefs and objects) after a rollout.
const KEEP_REPLICASETS: usize = 4;

/// A command's outcome: `Ok(output)` or `Err(error)`.
pub type ExecResult = Result<String, String>;

impl World {
    /// Runs one command at `now`. The world is consistent afterwards (finalized).
    pub fn execute(&mut self, cmd: &Command, now: DateTime<Utc>) -> ExecResult {
        self.advance_clock(now);
        let ns = st(&cmd.namespace).to_owned();
        let name = st(&cmd.name).to_owned();
        let p = &cmd.params;
        let out = match st(&cmd.action) {
            "scale" => self.scale(&ns, &name, p),
            "restart" => self.rollout(&ns, &name, None),
            "update_image" => match p.get("image").and_then(Value::as_str) {
                Some(image) if !image.is_empty() => {
                    let container = p.get("container").and_then(Value::as_str);
                    self.rollout(&ns, &name, Some((image, container)))
                }
                _ => Err("image is required".to_owned()),
            },
            "delete" => self.delete(st(&cmd.kind), &ns, &name),
            "cordon" => self.cordon(&name, true),
            "uncordon" => self.cordon(&name, false),
            "get_logs" => self.logs(&ns, &name, p),
            "get_configmap" => self.configmap_data(&ns, &name),
            "get_secret" => self.secret_data(&ns, &name),
            "dynamic" => self.dynamic(cmd),
            other => Err(format!("unknown action: {other}")),
        };
        if out.is_ok() {
            self.reconcile();
            self.finalize();
        }
        out
    }

    fn deployment_index(&self, ns: &str, name: &str) -> Result<usize, String> {
        self.snap
            .deployments
            .iter()
            .position(|d| st(&d.summary.namespace) == ns && st(&d.summary.name) == name)
            .ok_or_else(|| format!("deployments.apps \"{name}\" not found"))
    }

    fn pod_index(&self, ns: &str, name: &str) -> Result<usize, String> {
        self.snap
            .pods
            .iter()
            .position(|p| st(&p.summary.namespace) == ns && st(&p.summary.name) == name)
            .ok_or_else(|| format!("pods \"{name}\" not found"))
    }

    fn scale(&mut self, ns: &str, name: &str, p: &Map<String, Value>) -> ExecResult {
        let replicas = match p.get("replicas") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse::<i64>().ok(),
            _ => None,
        };
        let Some(replicas) = replicas
            .and_then(|r| i32::try_from(r).ok())
            .filter(|r| *r >= 0)
        else {
            return Err("replicas is required and must be a non-negative integer".to_owned());
        };
        let i = self.deployment_index(ns, name)?;
        let Some(d) = self.snap.deployments.get_mut(i) else {
            return Err(format!("deployments.apps \"{name}\" not found"));
        };
        let before = d.spec.replicas.unwrap_or(1);
        d.spec.replicas = Some(replicas);
        d.summary.replicas = replicas;
        d.status.observed_generation += 1;
        let rs = d
            .replica_sets
            .first()
            .map(|b| st(&b.name).to_owned())
            .unwrap_or_default();
        if before != replicas {
            let dir = if replicas > before { "up" } else { "down" };
            self.emit(
                false,
                "ScalingReplicaSet",
                format!("Scaled {dir} replica set {rs} to {replicas} from {before}"),
                "deployment-controller",
                deployment_ref(ns, name),
            );
        }
        Ok(String::new())
    }

    /// A rolling restart (or an image update): a new ReplicaSet takes over all pods.
    fn rollout(&mut self, ns: &str, name: &str, image: Option<(&str, Option<&str>)>) -> ExecResult {
        let i = self.deployment_index(ns, name)?;
        let now = self.now;
        let hash = self.rng.k8s_suffix(10);
        let new_rs = format!("{name}-{hash}");
        let Some(d) = self.snap.deployments.get_mut(i) else {
            return Err(format!("deployments.apps \"{name}\" not found"));
        };
        match image {
            None => {
                set_label(
                    &mut d.template.annotations,
                    "kubectl.kubernetes.io/restartedAt",
                    st(&ts(now)),
                );
            }
            Some((image, container)) => {
                let target = match container {
                    Some(c) if !c.is_empty() => d
                        .template
                        .containers
                        .iter_mut()
                        .find(|x| st(&x.name) == c)
                        .ok_or_else(|| format!("container {c} not found in deployment {name}"))?,
                    _ => d
                        .template
                        .containers
                        .first_mut()
                        .ok_or_else(|| format!("deployment {name} has no containers"))?,
                };
                target.image = image.into();
            }
        }
        let revision = d
            .replica_sets
            .first()
            .and_then(|b| st(&b.revision).parse::<u64>().ok())
            .unwrap_or(1)
            + 1;
        let old = d
            .replica_sets
            .first()
            .map(|b| (st(&b.name).to_owned(), b.replicas))
            .unwrap_or_default();
        let image_now = d
            .template
            .containers
            .first()
            .map(|c| c.image.clone())
            .unwrap_or_default();
        d.replica_sets.insert(
            0,
            ReplicaSetBrief {
                name: new_rs.clone().into(),
                namespace: ns.into(),
                revision: revision.to_string().into(),
                image: image_now,
                created_at: gt(now),
                ..Default::default()
            },
        );
        let dropped: Vec<String> = d
            .replica_sets
            .iter()
            .skip(KEEP_REPLICASETS)
            .map(|b| st(&b.name).to_owned())
            .collect();
        d.replica_sets.truncate(KEEP_REPLICASETS);
        set_label(
            &mut d.annotations,
            "deployment.kubernetes.io/revision",
            &revision.to_string(),
        );
        d.status.observed_generation += 1;
        let replicas = d.spec.replicas.unwrap_or(1);
        let template = d.template.clone();
        self.snap
            .replicasets
            .retain(|r| !(st(&r.namespace) == ns && dropped.iter().any(|x| x == st(&r.name))));
        self.push_replicaset(ns, name, &new_rs, &hash, now, &template);
        let r = deployment_ref(ns, name);
        self.emit(
            false,
            "ScalingReplicaSet",
            format!("Scaled up replica set {new_rs} to {replicas}"),
            "deployment-controller",
            r.clone(),
        );
        if !old.0.is_empty() {
            self.emit(
                false,
                "ScalingReplicaSet",
                format!("Scaled down replica set {} to 0 from {}", old.0, old.1),
                "deployment-controller",
                r,
            );
        }
        Ok(String::new())
    }

    fn delete(&mut self, kind: &str, ns: &str, name: &str) -> ExecResult {
        match kind.to_ascii_lowercase().as_str() {
            "pod" | "pods" => {
                let i = self.pod_index(ns, name)?;
                let has_owner = self
                    .snap
                    .pods
                    .get(i)
                    .is_some_and(|p| !p.summary.owner_kind.is_empty());
                if has_owner {
                    self.replace_pod(i);
                } else {
                    self.snap.pods.remove(i);
                }
                Ok(String::new())
            }
            "deployment" | "deployments" => {
                let i = self.deployment_index(ns, name)?;
                self.snap.deployments.remove(i);
                self.snap.replicasets.retain(|r| {
                    !(st(&r.namespace) == ns
                        && st(&r.owner_kind) == "Deployment"
                        && st(&r.owner_name) == name)
                });
                Ok(String::new())
            }
            "service" | "services" => remove_one(
                &mut self.snap.services,
                |s| st(&s.summary.namespace) == ns && st(&s.summary.name) == name,
                "services",
                name,
            ),
            "configmap" | "configmaps" => remove_one(
                &mut self.snap.configmaps,
                |c| st(&c.namespace) == ns && st(&c.name) == name,
                "configmaps",
                name,
            ),
            "secret" | "secrets" => remove_one(
                &mut self.snap.secrets,
                |c| st(&c.namespace) == ns && st(&c.name) == name,
                "secrets",
                name,
            ),
            "ingress" | "ingresses" => remove_one(
                &mut self.snap.ingresses,
                |c| st(&c.summary.namespace) == ns && st(&c.summary.name) == name,
                "ingresses.networking.k8s.io",
                name,
            ),
            _ => Err(format!(
                "the server doesn't have a resource type \"{kind}\""
            )),
        }
    }

    fn cordon(&mut self, name: &str, on: bool) -> ExecResult {
        let i = self
            .snap
            .nodes
            .iter()
            .position(|n| st(&n.summary.name) == name)
            .ok_or_else(|| format!("nodes \"{name}\" not found"))?;
        let now = self.now;
        let uid = self.nodes.get(i).map(|a| a.uid.clone()).unwrap_or_default();
        let Some(n) = self.snap.nodes.get_mut(i) else {
            return Err(format!("nodes \"{name}\" not found"));
        };
        if n.spec.unschedulable == on {
            return Ok(String::new());
        }
        n.spec.unschedulable = on;
        n.summary.schedulable = !on;
        n.taints
            .retain(|t| st(&t.key) != "node.kubernetes.io/unschedulable");
        n.summary.badges.retain(|b| st(b) != "SchedulingDisabled");
        if on {
            n.taints.push(atlhyper_actors::model::NodeTaint {
                key: "node.kubernetes.io/unschedulable".into(),
                value: Text::default(),
                effect: "NoSchedule".into(),
                time_added: Some(gt(now)),
            });
            n.summary.badges.push("SchedulingDisabled".into());
        }
        let reason = if on {
            "NodeNotSchedulable"
        } else {
            "NodeSchedulable"
        };
        self.emit(
            false,
            reason,
            format!("Node {name} status is now: {reason}"),
            "kubelet",
            super::evolve::node_ref(name, &uid),
        );
        Ok(String::new())
    }

    /// Plausible container logs, honouring `container`, `tailLines`, `timestamps` and
    /// `previous`.
    fn logs(&mut self, ns: &str, name: &str, p: &Map<String, Value>) -> ExecResult {
        let i = self.pod_index(ns, name)?;
        let Some(pod) = self.snap.pods.get(i) else {
            return Err(format!("pods \"{name}\" not found"));
        };
        let container = match p.get("container").and_then(Value::as_str) {
            Some(c) if !c.is_empty() => pod
                .containers
                .iter()
                .find(|x| st(&x.name) == c)
                .ok_or_else(|| {
                    let names: Vec<&str> = pod.containers.iter().map(|x| st(&x.name)).collect();
                    format!(
                        "container {c} is not valid for pod {name}; valid containers: [{}]",
                        names.join(" ")
                    )
                })?,
            _ => pod
                .containers
                .first()
                .ok_or_else(|| format!("pod {name} has no containers"))?,
        };
        if st(&pod.status.phase) == "Pending" {
            return Err(format!(
                "container \"{}\" in pod \"{name}\" is waiting to start: ContainerCreating",
                st(&container.name)
            ));
        }
        let previous = p.get("previous").and_then(Value::as_bool).unwrap_or(false);
        if previous && container.restart_count == 0 {
            return Err(format!(
                "previous terminated container \"{}\" in pod \"{name}\" not found",
                st(&container.name)
            ));
        }
        let tail = p
            .get("tailLines")
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_TAIL)
            .clamp(1, MAX_TAIL) as usize;
        let stamps = p
            .get("timestamps")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let owner = st(&pod.summary.owner_name).to_owned();
        let role = role_of(deployment_of(&owner));
        let crash = st(&container.state_reason) == "CrashLoopBackOff";
        let cname = st(&container.name).to_owned();
        let ip = st(&pod.status.pod_ip).to_owned();
        let mut seed = crate::rng::Rng::derive(
            self.now.timestamp() as u64,
            &format!("{ns}/{name}/{previous}"),
        );
        let mut lines = Vec::with_capacity(tail);
        let start = self.now - chrono::TimeDelta::seconds(tail as i64 * 3);
        for k in 0..tail {
            let at = start
                + chrono::TimeDelta::milliseconds(k as i64 * 3000 + seed.range(0, 2999) as i64);
            let last = k + 1 == tail;
            let line = log_line(
                &mut seed,
                role,
                &cname,
                &ip,
                at,
                (previous || crash) && last,
            );
            if stamps {
                lines.push(format!(
                    "{} {line}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                ));
            } else {
                lines.push(line);
            }
        }
        let mut out = lines.join("\n");
        out.push('\n');
        Ok(out)
    }

    fn configmap_data(&mut self, ns: &str, name: &str) -> ExecResult {
        let cm = self
            .snap
            .configmaps
            .iter()
            .find(|c| st(&c.namespace) == ns && st(&c.name) == name)
            .ok_or_else(|| format!("configmaps \"{name}\" not found"))?;
        let mut data = Map::new();
        for k in &cm.data_keys {
            data.insert(st(k).to_owned(), Value::String(config_value(name, st(k))));
        }
        Ok(Value::Object(data).to_string())
    }

    fn secret_data(&mut self, ns: &str, name: &str) -> ExecResult {
        let keys: Vec<String> = self
            .snap
            .secrets
            .iter()
            .find(|c| st(&c.namespace) == ns && st(&c.name) == name)
            .ok_or_else(|| format!("secrets \"{name}\" not found"))?
            .data_keys
            .iter()
            .map(|k| st(k).to_owned())
            .collect();
        let mut r = crate::rng::Rng::derive(0, &format!("secret/{ns}/{name}"));
        let mut data = Map::new();
        for k in keys {
            let v = match k.as_str() {
                "tls.crt" => {
                    "-----BEGIN CERTIFICATE-----\nMIIB…(simulated)\n-----END CERTIFICATE-----\n"
                        .to_owned()
                }
                "tls.key" => {
                    "-----BEGIN PRIVATE KEY-----\nMIIE…(simulated)\n-----END PRIVATE KEY-----\n"
                        .to_owned()
                }
                "DATABASE_URL" => format!(
                    "postgres://app:{}@postgres.{ns}.svc:5432/app?sslmode=disable",
                    r.hex(16)
                ),
                "POSTGRES_USER" => "app".to_owned(),
                _ => r.hex(32),
            };
            data.insert(k, Value::String(v));
        }
        Ok(Value::Object(data).to_string())
    }

    /// The AI's read-only queries: `get`, `describe`, `list` and `get_events`.
    fn dynamic(&mut self, cmd: &Command) -> ExecResult {
        let p = &cmd.params;
        let sub = p.get("command").and_then(Value::as_str).unwrap_or("");
        let kind = p
            .get("kind")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .unwrap_or(st(&cmd.kind))
            .to_ascii_lowercase();
        let ns = st(&cmd.namespace);
        let name = st(&cmd.name);
        match sub {
            "get" | "describe" => {
                let v = self.object_json(&kind, ns, name)?;
                serde_json::to_string_pretty(&v).map_err(|e| e.to_string())
            }
            "list" => {
                let rows = self.list_rows(&kind, ns)?;
                Ok(rows.join("\n"))
            }
            "get_events" => {
                let ik = p.get("involved_kind").and_then(Value::as_str).unwrap_or("");
                let iname = p
                    .get("involved_name")
                    .and_then(Value::as_str)
                    .unwrap_or(name);
                let evs: Vec<Value> = self
                    .snap
                    .events
                    .iter()
                    .filter(|e| {
                        (ik.is_empty() || st(&e.involved_object.kind).eq_ignore_ascii_case(ik))
                            && (iname.is_empty() || st(&e.involved_object.name) == iname)
                            && (ns.is_empty() || st(&e.namespace) == ns)
                    })
                    .take(MAX_LIST)
                    .map(|e| {
                        json!({"type": st(&e.type_), "reason": st(&e.reason), "message": st(&e.message),
                               "count": e.count, "lastTimestamp": e.last_timestamp,
                               "involvedObject": {"kind": st(&e.involved_object.kind), "name": st(&e.involved_object.name)}})
                    })
                    .collect();
                serde_json::to_string_pretty(&evs).map_err(|e| e.to_string())
            }
            other => Err(format!("unsupported dynamic command: {other:?}")),
        }
    }

    fn object_json(&self, kind: &str, ns: &str, name: &str) -> Result<Value, String> {
        let not_found = || format!("{kind} \"{name}\" not found");
        let v = match kind {
            "pod" | "pods" => serde_json::to_value(
                self.snap
                    .pods
                    .iter()
                    .find(|x| st(&x.summary.namespace) == ns && st(&x.summary.name) == name)
                    .ok_or_else(not_found)?,
            ),
            "deployment" | "deployments" => serde_json::to_value(
                self.snap
                    .deployments
                    .iter()
                    .find(|x| st(&x.summary.namespace) == ns && st(&x.summary.name) == name)
                    .ok_or_else(not_found)?,
            ),
            "node" | "nodes" => serde_json::to_value(
                self.snap
                    .nodes
                    .iter()
                    .find(|x| st(&x.summary.name) == name)
                    .ok_or_else(not_found)?,
            ),
            "service" | "services" => serde_json::to_value(
                self.snap
                    .services
                    .iter()
                    .find(|x| st(&x.summary.namespace) == ns && st(&x.summary.name) == name)
                    .ok_or_else(not_found)?,
            ),
            "configmap" | "configmaps" => serde_json::to_value(
                self.snap
                    .configmaps
                    .iter()
                    .find(|x| st(&x.namespace) == ns && st(&x.name) == name)
                    .ok_or_else(not_found)?,
            ),
            _ => {
                return Err(format!(
                    "the server doesn't have a resource type \"{kind}\""
                ))
            }
        };
        v.map_err(|e| e.to_string())
    }

    fn list_rows(&self, kind: &str, ns: &str) -> Result<Vec<String>, String> {
        let in_ns = |x: &str| ns.is_empty() || x == ns;
        let rows: Vec<String> = match kind {
            "pod" | "pods" => {
                std::iter::once("NAMESPACE NAME READY STATUS RESTARTS NODE".to_owned())
                    .chain(
                        self.snap
                            .pods
                            .iter()
                            .filter(|p| in_ns(st(&p.summary.namespace)))
                            .take(MAX_LIST)
                            .map(|p| {
                                format!(
                                    "{} {} {} {} {} {}",
                                    st(&p.summary.namespace),
                                    st(&p.summary.name),
                                    st(&p.status.ready),
                                    pod_status(p),
                                    p.status.restarts,
                                    st(&p.summary.node_name)
                                )
                            }),
                    )
                    .collect()
            }
            "deployment" | "deployments" => {
                std::iter::once("NAMESPACE NAME READY UP-TO-DATE AVAILABLE".to_owned())
                    .chain(
                        self.snap
                            .deployments
                            .iter()
                            .filter(|d| in_ns(st(&d.summary.namespace)))
                            .take(MAX_LIST)
                            .map(|d| {
                                format!(
                                    "{} {} {}/{} {} {}",
                                    st(&d.summary.namespace),
                                    st(&d.summary.name),
                                    d.summary.ready,
                                    d.summary.replicas,
                                    d.summary.updated,
                                    d.summary.available
                                )
                            }),
                    )
                    .collect()
            }
            "node" | "nodes" => std::iter::once("NAME STATUS ROLES VERSION".to_owned())
                .chain(self.snap.nodes.iter().take(MAX_LIST).map(|n| {
                    let mut status = if st(&n.summary.ready) == "True" {
                        "Ready".to_owned()
                    } else {
                        "NotReady".to_owned()
                    };
                    if n.spec.unschedulable {
                        status.push_str(",SchedulingDisabled");
                    }
                    let roles: Vec<&str> = n.summary.roles.iter().map(st).collect();
                    format!(
                        "{} {status} {} {}",
                        st(&n.summary.name),
                        roles.join(","),
                        st(&n.info.kubelet_version)
                    )
                }))
                .collect(),
            _ => {
                return Err(format!(
                    "the server doesn't have a resource type \"{kind}\""
                ))
            }
        };
        Ok(rows)
    }
}

/// What kubectl shows in the STATUS column.
fn pod_status(p: &Pod) -> &str {
    p.containers
        .iter()
        .find(|c| !c.state_reason.is_empty())
        .map(|c| st(&c.state_reason))
        .unwrap_or(st(&p.status.phase))
}

fn remove_one<T>(
    list: &mut Vec<T>,
    matches: impl Fn(&T) -> bool,
    resource: &str,
    name: &str,
) -> ExecResult {
    let i = list
        .iter()
        .position(matches)
        .ok_or_else(|| format!("{resource} \"{name}\" not found"))?;
    list.remove(i);
    Ok(String::new())
}

fn deployment_ref(ns: &str, name: &str) -> ResourceRef {
    ResourceRef {
        kind: "Deployment".into(),
        namespace: ns.into(),
        name: name.into(),
        uid: Text::default(),
    }
}

/// `web-7d9f8c6b5d` (a ReplicaSet) → `web`.
fn deployment_of(owner: &str) -> &str {
    match owner.rsplit_once('-') {
        Some((d, h)) if h.len() >= 8 && h.bytes().all(|b| b.is_ascii_alphanumeric()) => d,
        _ => owner,
    }
}

/// The value of one ConfigMap key, shaped after its name.
fn config_value(cm: &str, key: &str) -> String {
    let app = cm.trim_end_matches("-config");
    match key {
        "ca.crt" => "-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n-----END CERTIFICATE-----\n".to_owned(),
        "Corefile" => ".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }\n    prometheus :9153\n    forward . /etc/resolv.conf\n    cache 30\n    loop\n    reload\n    loadbalance\n}\n".to_owned(),
        "nginx.conf" => format!("server {{\n  listen 8080;\n  server_name {app};\n  root /usr/share/nginx/html;\n  location / {{ try_files $uri /index.html; }}\n  location /healthz {{ return 200 'ok'; }}\n}}\n"),
        "env.js" => format!("window.__ENV__ = {{ API_URL: \"/api\", APP: \"{app}\" }};\n"),
        "application.yaml" => format!("server:\n  port: 8080\nspring:\n  application:\n    name: {app}\nmanagement:\n  endpoints:\n    web:\n      exposure:\n        include: health,prometheus\n"),
        "worker.yaml" => format!("queue: {app}-jobs\nconcurrency: 8\nretry:\n  max_attempts: 5\n  backoff: 2s\n"),
        "LOG_LEVEL" => "info".to_owned(),
        "QUEUE_NAME" => format!("{app}-jobs"),
        "FEATURE_FLAGS" => "new-checkout=true,dark-mode=false".to_owned(),
        "config.conf" => "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\n".to_owned(),
        "kubeconfig.conf" => "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.96.0.1:443\n  name: default\n".to_owned(),
        _ => format!("{key}-value"),
    }
}

/// One log line of a container playing `role`; `fatal` ends a crashed run.
fn log_line(
    r: &mut crate::rng::Rng,
    role: Role,
    container: &str,
    ip: &str,
    at: DateTime<Utc>,
    fatal: bool,
) -> String {
    let t = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    if fatal {
        return format!(
            "{{\"level\":\"fatal\",\"ts\":\"{t}\",\"msg\":\"failed to connect to database\",\"error\":\"dial tcp 10.96.12.7:5432: connect: connection refused\",\"service\":\"{container}\"}}"
        );
    }
    let paths = [
        "/",
        "/api/v1/items",
        "/api/v1/cart",
        "/healthz",
        "/ready",
        "/static/app.js",
        "/api/v1/search?q=shoes",
    ];
    let path = r.pick(&paths).copied().unwrap_or("/");
    let status = *r
        .pick(&[200, 200, 200, 200, 200, 201, 304, 404, 500])
        .unwrap_or(&200);
    let ms = r.range(1, 400);
    let client = format!("10.244.{}.{}", r.range(0, 20), r.range(2, 250));
    match role {
        Role::Web => format!(
            "{client} - - [{}] \"GET {path} HTTP/1.1\" {status} {} \"-\" \"Mozilla/5.0\" {}.{:03}",
            at.format("%d/%b/%Y:%H:%M:%S %z"),
            r.range(200, 40_000),
            ms / 1000,
            ms % 1000
        ),
        Role::Api => {
            let level = if status >= 500 { "error" } else { "info" };
            format!(
                "{{\"level\":\"{level}\",\"ts\":\"{t}\",\"msg\":\"request completed\",\"method\":\"GET\",\"path\":\"{path}\",\"status\":{status},\"duration_ms\":{ms},\"remote\":\"{client}\",\"pod_ip\":\"{ip}\"}}"
            )
        }
        Role::Worker => {
            let job = r.range(10_000, 99_999);
            match r.range(0, 4) {
                0 => format!("{t} INFO  [{container}] picked job id={job} queue={container}-jobs"),
                1 => format!("{t} INFO  [{container}] job id={job} done in {ms}ms"),
                2 => format!(
                    "{t} DEBUG [{container}] heartbeat ok, {} jobs in flight",
                    r.range(0, 8)
                ),
                _ => format!("{t} WARN  [{container}] job id={job} retry 1/5: upstream timeout"),
            }
        }
        Role::Data => format!(
            "{t} [{}] LOG:  checkpoint complete: wrote {} buffers ({}.{}%); 0 WAL file(s) added",
            r.range(50, 5000),
            r.range(10, 5000),
            r.range(0, 9),
            r.range(0, 9)
        ),
    }
}
