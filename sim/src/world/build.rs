//! The initial, seeded cluster: nodes, namespaces, workloads and their pods, services,
//! ingresses, config, events and node metrics.

use atlhyper_actors::model::{
    ClusterSnapshot, ConfigMap, ContainerDetail, ContainerPort, DaemonSet, DaemonSetSpec,
    DaemonSetStatus, DaemonSetSummary, Deployment, DeploymentCondition, DeploymentRollout,
    DeploymentSpec, DeploymentStatus, DeploymentStrategy, DeploymentSummary, EnvVar, GoTime,
    IngressPath, LabelSelector, Namespace, NamespaceStatus, NamespaceSummary, NetworkMetrics, Node,
    NodeAddr, NodeAddresses, NodeCondition, NodeInfo, NodeResources, NodeSpec, NodeSummary,
    PersistentVolume, PersistentVolumeClaim, Pod, PodCondition, PodContainerDetail, PodSpec,
    PodStatus, PodSummary, PodTemplate, Probe, ReplicaSet, ReplicaSetBrief, ResourceRef,
    RollingUpdate, Secret, Service, ServiceAccount, ServiceBackends, ServiceNetwork, ServicePort,
    ServiceSpec, ServiceSummary, StatefulSet, StatefulSetSpec, StatefulSetStatus,
    StatefulSetSummary, StrMap, Text, Toleration, UpdateStrategy, VolumeClaimTemplate, VolumeMount,
    VolumeSpec,
};
use atlhyper_actors::model::{
    CpuMetrics, DiskMetrics, Ingress, IngressBackend, IngressRule, IngressServiceBackend,
    IngressSpec, IngressStatus, IngressSummary, IngressTls, MemoryMetrics, NodeMetricsSnapshot,
    ProcessMetrics, SensorMetrics, TemperatureMetrics,
};
use chrono::{DateTime, TimeDelta, Utc};

use super::catalog::{self, role_of, Role};
use super::{gt, label, set_label, smap, st, ts, Dynamics, NodeAux, SloState, World};
use crate::rng::Rng;

const GIB: i64 = 1 << 30;

/// An ingress path: (path prefix, service, port).
type RoutePath = (String, String, i32);
/// A secret to create: (namespace, name, type, keys, creation time).
type SecretPlan<'a> = (String, String, &'a str, Vec<&'a str>, DateTime<Utc>);

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

/// Splits `total` into parts proportional to `weights`, each at least `min` when possible.
pub(crate) fn apportion(total: usize, weights: &[u64], min: usize) -> Vec<usize> {
    let n = weights.len();
    if n == 0 {
        return Vec::new();
    }
    let base = if total >= n * min { min } else { 0 };
    let rest = total - base * n;
    let w_sum: u64 = weights.iter().sum::<u64>().max(1);
    let mut out: Vec<usize> = weights
        .iter()
        .map(|w| base + (rest as u128 * u128::from(*w) / u128::from(w_sum)) as usize)
        .collect();
    let mut left = total - out.iter().sum::<usize>();
    let mut i = 0;
    while left > 0 {
        if let Some(x) = out.get_mut(i % n) {
            *x += 1;
        }
        left -= 1;
        i += 1;
    }
    out
}

/// What a pod is doing when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Up and ready.
    Running,
    /// Scheduled, containers being created.
    Creating,
    /// No node fits.
    Unschedulable,
}

/// Everything needed to create one pod.
pub(crate) struct PodSeed<'a> {
    pub ns: &'a str,
    pub name: String,
    pub owner_kind: &'a str,
    pub owner_name: &'a str,
    pub template: &'a PodTemplate,
    pub labels: StrMap,
    pub created: DateTime<Utc>,
    pub node: Option<usize>,
    pub start: Start,
}

impl World {
    /// A seeded cluster of `pods` pods. The cluster index is mixed into the seed, so every
    /// cluster of a run differs while the run as a whole is reproducible.
    pub fn new(
        cluster_id: &str,
        cluster_index: usize,
        pods: usize,
        seed: u64,
        now: DateTime<Utc>,
    ) -> World {
        let mut w = World {
            snap: ClusterSnapshot {
                cluster_id: cluster_id.into(),
                ..Default::default()
            },
            dynamics: Dynamics::default(),
            rng: Rng::derive(seed, &format!("cluster/{cluster_index}")),
            nodes: Vec::new(),
            now,
            event_cap: (pods / 2).max(40),
            slo: SloState::new(Rng::derive(seed, &format!("slo/{cluster_index}"))),
            ticks: 0,
        };
        let born = now - TimeDelta::days(w.rng.range(120, 700) as i64);
        w.build_nodes(pods, cluster_index, born);
        let apps = w.build_namespaces(pods, born);
        w.build_workloads(pods, &apps, born);
        w.build_services();
        w.build_ingresses(&apps);
        w.build_config(&apps);
        w.build_initial_events();
        w.build_node_metrics();
        w.stamp();
        w.finalize();
        w
    }

    fn build_nodes(&mut self, pods: usize, cluster_index: usize, born: DateTime<Utc>) {
        let n = (pods / 30).max(3);
        let n_cp = if n < 6 { 1 } else { 3 };
        let bare = cluster_index % 2 == 0;
        let region = "eu-west-1";
        let zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];
        for i in 0..n {
            let cp = i < n_cp;
            let name = if cp {
                format!("k8s-cp-{}", i + 1)
            } else if bare {
                format!("k8s-worker-{:02}", i + 1 - n_cp)
            } else {
                format!(
                    "ip-10-0-{}-{}.{region}.compute.internal",
                    16 + i / 200,
                    10 + i % 200
                )
            };
            let ip = if bare {
                format!("192.168.{}.{}", 10 + i / 240, 10 + i % 240)
            } else {
                format!("10.0.{}.{}", 16 + i / 200, 10 + i % 200)
            };
            let cpu: i64 = if cp {
                4
            } else {
                *self.rng.pick(&[8, 16, 16, 32]).unwrap_or(&16)
            };
            let mem_ki = cpu * 4 * 1024 * 1024 - self.rng.range(1, 200) as i64 * 1024;
            let created =
                born + secs(if cp { 0 } else { 600 }) + secs(self.rng.range(0, 60 * 86400) as i64);
            let created = created.min(self.now - secs(86400));
            let uid = self.rng.uid();
            let zone = zones[i % 3];
            let mut labels = smap(&[
                ("kubernetes.io/hostname", &name),
                ("kubernetes.io/os", "linux"),
                ("kubernetes.io/arch", "amd64"),
                ("beta.kubernetes.io/arch", "amd64"),
                ("beta.kubernetes.io/os", "linux"),
            ]);
            if cp {
                set_label(&mut labels, "node-role.kubernetes.io/control-plane", "");
            } else {
                set_label(&mut labels, "node-role.kubernetes.io/worker", "true");
            }
            if !bare {
                set_label(&mut labels, "topology.kubernetes.io/zone", zone);
                set_label(&mut labels, "topology.kubernetes.io/region", region);
                set_label(
                    &mut labels,
                    "node.kubernetes.io/instance-type",
                    if cpu >= 16 {
                        "m6i.4xlarge"
                    } else {
                        "m6i.2xlarge"
                    },
                );
            }
            let mut taints = Vec::new();
            if cp && n > 3 {
                taints.push(atlhyper_actors::model::NodeTaint {
                    key: "node-role.kubernetes.io/control-plane".into(),
                    effect: "NoSchedule".into(),
                    ..Default::default()
                });
            }
            let alloc_mem = mem_ki - if bare { 102_400 } else { 591_872 };
            let mut all = vec![NodeAddr {
                type_: "InternalIP".into(),
                address: ip.clone().into(),
            }];
            all.push(NodeAddr {
                type_: "Hostname".into(),
                address: name.clone().into(),
            });
            let kubelet = catalog::KUBELET_VERSION;
            let node = Node {
                summary: NodeSummary {
                    name: name.clone().into(),
                    roles: vec![if cp { "control-plane" } else { "worker" }.into()],
                    ready: "True".into(),
                    schedulable: true,
                    creation_time: gt(created),
                    ..Default::default()
                },
                spec: NodeSpec {
                    pod_cidrs: vec![format!("10.244.{}.0/24", i % 256).into()],
                    provider_id: if bare {
                        format!("k3s://{name}")
                    } else {
                        format!("aws:///{zone}/i-0{}", self.rng.hex(16))
                    }
                    .into(),
                    unschedulable: false,
                },
                capacity: NodeResources {
                    cpu: cpu.to_string().into(),
                    memory: format!("{mem_ki}Ki").into(),
                    pods: "110".into(),
                    ephemeral_storage: "104845292Ki".into(),
                    scalar_resources: smap(&[("hugepages-1Gi", "0"), ("hugepages-2Mi", "0")]),
                },
                allocatable: NodeResources {
                    cpu: format!("{}m", cpu * 1000 - 90).into(),
                    memory: format!("{alloc_mem}Ki").into(),
                    pods: "110".into(),
                    ephemeral_storage: "96625420948".into(),
                    scalar_resources: smap(&[("hugepages-1Gi", "0"), ("hugepages-2Mi", "0")]),
                },
                addresses: NodeAddresses {
                    hostname: name.clone().into(),
                    internal_ip: ip.into(),
                    external_ip: Text::default(),
                    all,
                },
                info: NodeInfo {
                    os_image: if bare {
                        "Ubuntu 22.04.4 LTS"
                    } else {
                        "Amazon Linux 2023.3.20240312"
                    }
                    .into(),
                    operating_system: "linux".into(),
                    architecture: "amd64".into(),
                    kernel_version: if bare {
                        "5.15.0-105-generic"
                    } else {
                        "6.1.79-99.167.amzn2023.x86_64"
                    }
                    .into(),
                    container_runtime_version: "containerd://1.7.13".into(),
                    kubelet_version: kubelet.into(),
                    kube_proxy_version: kubelet.into(),
                },
                conditions: Vec::new(),
                taints,
                labels,
                metrics: None,
            };
            self.snap.nodes.push(node);
            self.nodes.push(NodeAux {
                idx: i,
                cp,
                bare,
                down: 0,
                down_for: 0,
                ip_next: 2,
                pods: 0,
                uid,
                cpu_base: self.rng.uniform(8.0, 65.0),
                mem_base: self.rng.uniform(25.0, 80.0),
            });
        }
        for i in 0..n {
            self.set_node_ready(i, true);
        }
    }

    /// Writes a node's conditions and summary for Ready or NotReady (kubelet stopped).
    pub(crate) fn set_node_ready(&mut self, i: usize, ready: bool) {
        let now = self.now;
        let hb = gt(now - secs(self.rng.range(1, 30) as i64));
        let Some(node) = self.snap.nodes.get_mut(i) else {
            return;
        };
        let since = if node.conditions.is_empty() {
            gt(node
                .summary
                .creation_time
                .to_utc()
                .map_or(now, |t| t + secs(60)))
        } else {
            gt(now)
        };
        let cond = |t: &str, s: &str, reason: &str, message: &str| NodeCondition {
            type_: t.into(),
            status: s.into(),
            reason: reason.into(),
            message: message.into(),
            last_heartbeat_time: hb,
            last_transition_time: since,
        };
        if ready {
            node.conditions = vec![
                cond(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                cond(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                cond(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                cond(
                    "Ready",
                    "True",
                    "KubeletReady",
                    "kubelet is posting ready status",
                ),
            ];
            node.summary.ready = "True".into();
            node.summary.reason = Text::default();
            node.summary.message = Text::default();
            node.taints
                .retain(|t| st(&t.key) != "node.kubernetes.io/unreachable");
        } else {
            node.conditions = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
                .iter()
                .map(|t| {
                    cond(
                        t,
                        "Unknown",
                        "NodeStatusUnknown",
                        "Kubelet stopped posting node status.",
                    )
                })
                .collect();
            node.summary.ready = "Unknown".into();
            node.summary.reason = "NodeStatusUnknown".into();
            node.summary.message = "Kubelet stopped posting node status.".into();
            for effect in ["NoSchedule", "NoExecute"] {
                node.taints.push(atlhyper_actors::model::NodeTaint {
                    key: "node.kubernetes.io/unreachable".into(),
                    value: Text::default(),
                    effect: effect.into(),
                    time_added: Some(gt(now)),
                });
            }
            node.metrics = None;
        }
    }

    /// Namespaces; returns the application namespaces.
    fn build_namespaces(&mut self, pods: usize, born: DateTime<Utc>) -> Vec<String> {
        let k = (pods / 150 + 1).clamp(1, catalog::APP_NAMESPACES.len());
        let apps: Vec<String> = catalog::APP_NAMESPACES
            .iter()
            .take(k)
            .map(|s| (*s).to_owned())
            .collect();
        let mut names: Vec<(String, DateTime<Utc>)> = vec![
            ("default".to_owned(), born),
            ("kube-system".to_owned(), born),
            ("kube-public".to_owned(), born),
            ("kube-node-lease".to_owned(), born),
            ("monitoring".to_owned(), born + secs(3600 * 5)),
        ];
        for a in &apps {
            let t = born + secs(self.rng.range(86400, 30 * 86400) as i64);
            names.push((a.clone(), t));
        }
        for (name, created) in names {
            let mut labels = smap(&[("kubernetes.io/metadata.name", &name)]);
            if apps.contains(&name) {
                set_label(&mut labels, "team", &name);
            }
            self.snap.namespaces.push(Namespace {
                summary: NamespaceSummary {
                    name: name.clone().into(),
                    created_at: ts(created),
                    age: Text::default(),
                },
                status: NamespaceStatus {
                    phase: "Active".into(),
                },
                labels,
                ..Default::default()
            });
        }
        apps
    }

    fn namespace_created(&self, ns: &str) -> DateTime<Utc> {
        self.snap
            .namespaces
            .iter()
            .find(|n| st(&n.summary.name) == ns)
            .and_then(|n| GoTime::parse(st(&n.summary.created_at)).ok())
            .and_then(|t| t.to_utc())
            .unwrap_or(self.now - secs(86400 * 30))
    }

    /// DaemonSets, StatefulSets and Deployments with exactly `pods` pods in all.
    fn build_workloads(&mut self, pods: usize, apps: &[String], born: DateTime<Utc>) {
        let n_nodes = self.nodes.len();
        let mut left = pods;
        let ds_pods = catalog::DAEMONSETS.len() * n_nodes;
        if left >= ds_pods + 12 {
            left -= ds_pods;
            for (ns, name, image) in catalog::DAEMONSETS {
                self.build_daemonset(ns, name, image, born);
            }
        }
        let sys_pods: usize = catalog::SYSTEM_DEPLOYMENTS
            .iter()
            .map(|d| d.2 as usize)
            .sum();
        let with_sys = left >= sys_pods + 10;
        if with_sys {
            left -= sys_pods;
        }
        let sts_pods: usize = catalog::STATEFULSETS.iter().map(|s| s.1 as usize).sum();
        if left >= sts_pods + 10 {
            if let Some(ns) = apps.first() {
                left -= sts_pods;
                for (name, replicas, image, port, storage) in catalog::STATEFULSETS {
                    self.build_statefulset(ns, name, *replicas, image, *port, storage);
                }
            }
        }
        if with_sys {
            for (ns, name, replicas, image, port) in catalog::SYSTEM_DEPLOYMENTS {
                self.build_deployment(ns, name, *replicas as usize, Some((image, *port)));
            }
        }
        if left == 0 || apps.is_empty() {
            return;
        }
        let count = (left / 5).max(1);
        let weights: Vec<u64> = (0..count).map(|_| self.rng.range(1, 9)).collect();
        let replicas = apportion(left, &weights, 1);
        let per = catalog::COMPONENTS.len();
        for (i, r) in replicas.into_iter().enumerate() {
            let ns = &apps[i % apps.len()];
            let j = i / apps.len();
            let base = catalog::COMPONENTS[j % per];
            let name = if j < per {
                base.to_owned()
            } else {
                format!("{base}-{}", j / per + 1)
            };
            self.build_deployment(ns, &name, r, None);
        }
    }

    /// A container for `name` playing `role`.
    fn container(&mut self, name: &str, image: &str, role: Role, port: i32) -> ContainerDetail {
        let r = &mut self.rng;
        let cpu_m = *r.pick(&[25, 50, 100, 200, 250, 500]).unwrap_or(&100);
        let mem_mi = *r.pick(&[64, 128, 256, 512, 1024]).unwrap_or(&256);
        let mut ports = Vec::new();
        let http_probe = |path: &str, delay: i32| Probe {
            type_: "httpGet".into(),
            path: path.into(),
            port,
            initial_delay_seconds: delay,
            period_seconds: 10,
            timeout_seconds: 1,
            success_threshold: 1,
            failure_threshold: 3,
            ..Default::default()
        };
        let (liveness, readiness) = match role {
            Role::Web | Role::Api => {
                ports.push(ContainerPort {
                    name: "http".into(),
                    container_port: port,
                    protocol: "TCP".into(),
                    host_port: 0,
                });
                (
                    Some(http_probe("/healthz", 15)),
                    Some(http_probe("/ready", 5)),
                )
            }
            Role::Data => {
                ports.push(ContainerPort {
                    name: name.into(),
                    container_port: port,
                    protocol: "TCP".into(),
                    host_port: 0,
                });
                let probe = Probe {
                    type_: "tcpSocket".into(),
                    port,
                    initial_delay_seconds: 30,
                    period_seconds: 10,
                    timeout_seconds: 5,
                    success_threshold: 1,
                    failure_threshold: 6,
                    ..Default::default()
                };
                (Some(probe.clone()), Some(probe))
            }
            Role::Worker => (
                Some(Probe {
                    type_: "exec".into(),
                    command: format!("/app/{name} healthcheck").into(),
                    initial_delay_seconds: 30,
                    period_seconds: 30,
                    timeout_seconds: 5,
                    success_threshold: 1,
                    failure_threshold: 3,
                    ..Default::default()
                }),
                None,
            ),
        };
        if matches!(role, Role::Api | Role::Worker) {
            ports.push(ContainerPort {
                name: "metrics".into(),
                container_port: 9090,
                protocol: "TCP".into(),
                host_port: 0,
            });
        }
        let mut envs = vec![
            EnvVar {
                name: "LOG_LEVEL".into(),
                value: "info".into(),
                value_from: Text::default(),
            },
            EnvVar {
                name: "POD_IP".into(),
                value: Text::default(),
                value_from: "fieldRef: status.podIP".into(),
            },
        ];
        if role == Role::Api {
            envs.push(EnvVar {
                name: "DATABASE_URL".into(),
                value: Text::default(),
                value_from: format!("secretKeyRef: {name}-credentials/DATABASE_URL").into(),
            });
        }
        ContainerDetail {
            name: catalog::base_name(name).into(),
            image: image.into(),
            image_pull_policy: "IfNotPresent".into(),
            ports,
            envs,
            volume_mounts: vec![VolumeMount {
                name: "tmp".into(),
                mount_path: "/tmp".into(),
                ..Default::default()
            }],
            requests: smap(&[
                ("cpu", &format!("{cpu_m}m")),
                ("memory", &format!("{mem_mi}Mi")),
            ]),
            limits: smap(&[("memory", &format!("{}Mi", mem_mi * 2))]),
            liveness_probe: liveness,
            readiness_probe: readiness,
            ..Default::default()
        }
    }

    fn build_daemonset(&mut self, ns: &str, name: &str, image: &str, born: DateTime<Utc>) {
        let created = born + secs(self.rng.range(60, 3600) as i64);
        let mut c = self.container(name, image, Role::Worker, 9100);
        c.liveness_probe = None;
        let template = PodTemplate {
            labels: smap(&[("app", name)]),
            containers: vec![c],
            volumes: vec![VolumeSpec {
                name: "tmp".into(),
                type_: "EmptyDir".into(),
                source: Text::default(),
            }],
            service_account_name: name.into(),
            tolerations: vec![Toleration {
                operator: "Exists".into(),
                ..Default::default()
            }],
            host_network: true,
            dns_policy: "ClusterFirstWithHostNet".into(),
            ..Default::default()
        };
        let selector = LabelSelector {
            match_labels: smap(&[("app", name)]),
            ..Default::default()
        };
        self.snap.daemonsets.push(DaemonSet {
            summary: DaemonSetSummary {
                name: name.into(),
                namespace: ns.into(),
                created_at: gt(created),
                selector: format!("app={name}").into(),
                ..Default::default()
            },
            spec: DaemonSetSpec {
                update_strategy: Some(UpdateStrategy {
                    type_: "RollingUpdate".into(),
                    max_unavailable: "1".into(),
                    ..Default::default()
                }),
                min_ready_seconds: 0,
                revision_history_limit: Some(10),
                selector: Some(selector),
            },
            template: template.clone(),
            status: DaemonSetStatus {
                observed_generation: 1,
                ..Default::default()
            },
            rollout: None,
            labels: smap(&[("app", name)]),
            annotations: smap(&[("deprecated.daemonset.template.generation", "1")]),
        });
        let hash = self.rng.k8s_suffix(10);
        for i in 0..self.nodes.len() {
            let pod_created = self.pod_birth(created);
            let mut labels = template.labels.clone();
            set_label(&mut labels, "controller-revision-hash", &hash);
            set_label(&mut labels, "pod-template-generation", "1");
            let pod_name = format!("{name}-{}", self.rng.k8s_suffix(5));
            let pod = self.make_pod(PodSeed {
                ns,
                name: pod_name,
                owner_kind: "DaemonSet",
                owner_name: name,
                template: &template,
                labels,
                created: pod_created,
                node: Some(i),
                start: Start::Running,
            });
            self.snap.pods.push(pod);
        }
    }

    /// A plausible creation time of a long-running pod of a workload created at `created`.
    fn pod_birth(&mut self, created: DateTime<Utc>) -> DateTime<Utc> {
        let span = (self.now - created).num_seconds().max(7200);
        let t = created + secs(self.rng.range(0, span as u64 - 3600) as i64);
        t.min(self.now - secs(3600))
    }

    fn build_statefulset(
        &mut self,
        ns: &str,
        name: &str,
        replicas: i32,
        image: &str,
        port: i32,
        storage: &str,
    ) {
        let created = self.namespace_created(ns) + secs(self.rng.range(600, 86400) as i64);
        let mut c = self.container(name, image, Role::Data, port);
        c.volume_mounts.push(VolumeMount {
            name: "data".into(),
            mount_path: "/var/lib/data".into(),
            ..Default::default()
        });
        let template = PodTemplate {
            labels: smap(&[("app", name)]),
            containers: vec![c],
            volumes: vec![VolumeSpec {
                name: "tmp".into(),
                type_: "EmptyDir".into(),
                source: Text::default(),
            }],
            service_account_name: "default".into(),
            dns_policy: "ClusterFirst".into(),
            ..Default::default()
        };
        let selector = LabelSelector {
            match_labels: smap(&[("app", name)]),
            ..Default::default()
        };
        let rev = format!("{name}-{}", self.rng.k8s_suffix(10));
        self.snap.statefulsets.push(StatefulSet {
            summary: StatefulSetSummary {
                name: name.into(),
                namespace: ns.into(),
                replicas,
                created_at: gt(created),
                service_name: name.into(),
                selector: format!("app={name}").into(),
                ..Default::default()
            },
            spec: StatefulSetSpec {
                replicas: Some(replicas),
                service_name: name.into(),
                pod_management_policy: "OrderedReady".into(),
                update_strategy: Some(UpdateStrategy {
                    type_: "RollingUpdate".into(),
                    partition: Some(0),
                    ..Default::default()
                }),
                revision_history_limit: Some(10),
                selector: Some(selector),
                volume_claim_templates: vec![VolumeClaimTemplate {
                    name: "data".into(),
                    access_modes: vec!["ReadWriteOnce".into()],
                    storage_class: "gp3".into(),
                    storage: storage.into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            template: template.clone(),
            status: StatefulSetStatus {
                observed_generation: 1,
                current_revision: rev.clone().into(),
                update_revision: rev.clone().into(),
                ..Default::default()
            },
            rollout: None,
            labels: smap(&[("app", name)]),
            annotations: StrMap::default(),
        });
        for i in 0..replicas {
            let pod_name = format!("{name}-{i}");
            let pvc = format!("data-{pod_name}");
            let pv = format!("pvc-{}", self.rng.uid());
            let mut labels = template.labels.clone();
            set_label(&mut labels, "controller-revision-hash", &rev);
            set_label(&mut labels, "statefulset.kubernetes.io/pod-name", &pod_name);
            let node = self.pick_node();
            let pod_created = self.pod_birth(created);
            let mut pod = self.make_pod(PodSeed {
                ns,
                name: pod_name.clone(),
                owner_kind: "StatefulSet",
                owner_name: name,
                template: &template,
                labels,
                created: pod_created,
                node,
                start: Start::Running,
            });
            pod.volumes.insert(
                0,
                VolumeSpec {
                    name: "data".into(),
                    type_: "PVC".into(),
                    source: pvc.clone().into(),
                },
            );
            self.snap.pods.push(pod);
            let uid = self.rng.uid();
            self.snap.pvcs.push(PersistentVolumeClaim {
                uid: uid.into(),
                name: pvc.clone().into(),
                namespace: ns.into(),
                kind: "PersistentVolumeClaim".into(),
                labels: smap(&[("app", name)]),
                created_at: gt(created),
                phase: "Bound".into(),
                volume_name: pv.clone().into(),
                storage_class: "gp3".into(),
                access_modes: vec!["ReadWriteOnce".into()],
                requested_capacity: storage.into(),
                actual_capacity: storage.into(),
                ..Default::default()
            });
            let uid = self.rng.uid();
            self.snap.pvs.push(PersistentVolume {
                uid: uid.into(),
                name: pv.into(),
                kind: "PersistentVolume".into(),
                created_at: gt(created),
                capacity: storage.into(),
                phase: "Bound".into(),
                storage_class: "gp3".into(),
                access_modes: vec!["ReadWriteOnce".into()],
                reclaim_policy: "Delete".into(),
                ..Default::default()
            });
        }
    }

    /// A Deployment with its current ReplicaSet (and older, scaled-down ones) and pods.
    fn build_deployment(
        &mut self,
        ns: &str,
        name: &str,
        replicas: usize,
        system: Option<(&str, i32)>,
    ) {
        let role = role_of(name);
        let ns_born = self.namespace_created(ns);
        let span = (self.now - ns_born).num_seconds().max(7200) as u64;
        let created = ns_born + secs(self.rng.range(120, span / 2 + 121) as i64);
        let version = format!(
            "{}.{}.{}",
            self.rng.range(1, 4),
            self.rng.range(0, 30),
            self.rng.range(0, 10)
        );
        let (image, port) = match system {
            Some((image, port)) => (image.to_owned(), port),
            None => (
                format!(
                    "registry.example.com/{ns}/{}:{version}",
                    catalog::base_name(name)
                ),
                8080,
            ),
        };
        let c = self.container(name, &image, role, port);
        let has_config = system.is_none() && self.rng.chance(0.6);
        let mut template = PodTemplate {
            labels: smap(&[("app", name)]),
            containers: vec![c],
            volumes: vec![VolumeSpec {
                name: "tmp".into(),
                type_: "EmptyDir".into(),
                source: Text::default(),
            }],
            service_account_name: if system.is_some() { name } else { "default" }.into(),
            dns_policy: "ClusterFirst".into(),
            ..Default::default()
        };
        if has_config {
            template.volumes.push(VolumeSpec {
                name: "config".into(),
                type_: "ConfigMap".into(),
                source: format!("{name}-config").into(),
            });
            if let Some(c) = template.containers.first_mut() {
                c.volume_mounts.push(VolumeMount {
                    name: "config".into(),
                    mount_path: format!("/etc/{}", catalog::base_name(name)).into(),
                    read_only: true,
                    ..Default::default()
                });
            }
        }
        if system.is_none() {
            set_label(&mut template.labels, "app.kubernetes.io/version", &version);
            if role == Role::Api {
                template.annotations = smap(&[
                    ("prometheus.io/scrape", "true"),
                    ("prometheus.io/port", "9090"),
                    ("prometheus.io/path", "/metrics"),
                ]);
            }
        }
        let revision = self.rng.range(1, 6);
        let rs_created = if revision == 1 {
            created
        } else {
            let lo = created.timestamp();
            let hi = (self.now - secs(7200)).timestamp().max(lo + 1);
            DateTime::from_timestamp(self.rng.range(lo as u64, hi as u64) as i64, 0)
                .unwrap_or(created)
        };
        let mut briefs = Vec::new();
        let hash = self.rng.k8s_suffix(10);
        let rs_name = format!("{name}-{hash}");
        self.push_replicaset(ns, name, &rs_name, &hash, rs_created, &template);
        briefs.push(ReplicaSetBrief {
            name: rs_name.clone().into(),
            namespace: ns.into(),
            revision: revision.to_string().into(),
            image: image.clone().into(),
            created_at: gt(rs_created),
            ..Default::default()
        });
        let mut older = rs_created;
        for k in 1..revision.min(3) {
            older = (older - secs(self.rng.range(3600, 30 * 86400) as i64)).max(created);
            let h = self.rng.k8s_suffix(10);
            let old_name = format!("{name}-{h}");
            self.push_replicaset(ns, name, &old_name, &h, older, &template);
            briefs.push(ReplicaSetBrief {
                name: old_name.into(),
                namespace: ns.into(),
                revision: (revision - k).to_string().into(),
                image: image.clone().into(),
                created_at: gt(older),
                ..Default::default()
            });
        }
        let mut labels = template.labels.clone();
        set_label(&mut labels, "pod-template-hash", &hash);
        for _ in 0..replicas {
            let node = self.pick_node();
            let recent = self.rng.chance(0.04);
            let pod_created = if recent {
                self.now - secs(self.rng.range(60, 3000) as i64)
            } else {
                self.pod_birth(rs_created)
            };
            let pod_name = format!("{rs_name}-{}", self.rng.k8s_suffix(5));
            let pod = self.make_pod(PodSeed {
                ns,
                name: pod_name,
                owner_kind: "ReplicaSet",
                owner_name: &rs_name,
                template: &template,
                labels: labels.clone(),
                created: pod_created,
                node,
                start: if node.is_some() {
                    Start::Running
                } else {
                    Start::Unschedulable
                },
            });
            self.snap.pods.push(pod);
        }
        let selector = LabelSelector {
            match_labels: smap(&[("app", name)]),
            ..Default::default()
        };
        let mut dep_labels = smap(&[("app", name)]);
        let mut annotations = smap(&[("deployment.kubernetes.io/revision", &revision.to_string())]);
        if system.is_none() {
            set_label(&mut dep_labels, "app.kubernetes.io/managed-by", "Helm");
            set_label(&mut annotations, "meta.helm.sh/release-name", name);
            set_label(&mut annotations, "meta.helm.sh/release-namespace", ns);
        }
        let replicas = i32::try_from(replicas).unwrap_or(i32::MAX);
        let mut d = Deployment {
            summary: DeploymentSummary {
                name: name.into(),
                namespace: ns.into(),
                strategy: "RollingUpdate".into(),
                replicas,
                created_at: gt(created),
                selector: format!("app={name}").into(),
                ..Default::default()
            },
            spec: DeploymentSpec {
                replicas: Some(replicas),
                selector: Some(selector),
                strategy: Some(DeploymentStrategy {
                    type_: "RollingUpdate".into(),
                    rolling_update: Some(RollingUpdate {
                        max_unavailable: "25%".into(),
                        max_surge: "25%".into(),
                    }),
                }),
                min_ready_seconds: 0,
                revision_history_limit: Some(10),
                progress_deadline_seconds: Some(600),
            },
            template,
            status: DeploymentStatus {
                observed_generation: revision as i64 + self.rng.range(0, 4) as i64,
                ..Default::default()
            },
            rollout: None,
            replica_sets: briefs,
            annotations,
            labels: dep_labels,
        };
        d.status.conditions = vec![
            DeploymentCondition {
                type_: "Available".into(),
                status: "True".into(),
                reason: "MinimumReplicasAvailable".into(),
                message: "Deployment has minimum availability.".into(),
                last_update_time: gt(rs_created + secs(40)),
                last_transition_time: gt(rs_created + secs(40)),
            },
            DeploymentCondition {
                type_: "Progressing".into(),
                status: "True".into(),
                reason: "NewReplicaSetAvailable".into(),
                message: format!("ReplicaSet \"{rs_name}\" has successfully progressed.").into(),
                last_update_time: gt(rs_created + secs(60)),
                last_transition_time: gt(created + secs(20)),
            },
        ];
        self.snap.deployments.push(d);
    }

    /// A ReplicaSet object owned by deployment `owner`.
    pub(crate) fn push_replicaset(
        &mut self,
        ns: &str,
        owner: &str,
        name: &str,
        hash: &str,
        created: DateTime<Utc>,
        template: &PodTemplate,
    ) {
        let mut labels = template.labels.clone();
        set_label(&mut labels, "pod-template-hash", hash);
        let mut selector = smap(&[("app", owner)]);
        set_label(&mut selector, "pod-template-hash", hash);
        let uid = self.rng.uid();
        self.snap.replicasets.insert(
            0,
            ReplicaSet {
                uid: uid.into(),
                name: name.into(),
                namespace: ns.into(),
                kind: "ReplicaSet".into(),
                owner_kind: "Deployment".into(),
                owner_name: owner.into(),
                labels,
                created_at: gt(created),
                selector,
                ..Default::default()
            },
        );
    }

    /// A schedulable worker node for a new pod, favouring emptier and larger ones; `None`
    /// when every node is cordoned or NotReady.
    pub(crate) fn pick_node(&mut self) -> Option<usize> {
        let only_cp = self.nodes.iter().all(|a| a.cp);
        let candidates: Vec<usize> = self
            .nodes
            .iter()
            .zip(&self.snap.nodes)
            .filter(|(a, n)| (!a.cp || only_cp) && a.down == 0 && !n.spec.unschedulable)
            .map(|(a, _)| a.idx)
            .collect();
        if candidates.is_empty() {
            return None;
        }
        // Two random choices, keep the emptier: spreads pods evenly and cheaply.
        let a = candidates[self.rng.index(candidates.len())];
        let b = candidates[self.rng.index(candidates.len())];
        let pods = |i: usize| self.nodes.get(i).map_or(0, |x| x.pods);
        let chosen = if pods(a) <= pods(b) { a } else { b };
        if let Some(x) = self.nodes.get_mut(chosen) {
            x.pods += 1;
        }
        Some(chosen)
    }

    /// A pod from its template, on `node` (or unscheduled).
    pub(crate) fn make_pod(&mut self, s: PodSeed<'_>) -> Pod {
        let (node_name, host_ip, pod_ip) = match s.node {
            Some(i) => {
                let node = self.snap.nodes.get(i);
                let name: Text = node.map(|n| n.summary.name.clone()).unwrap_or_default();
                let host: Text = node
                    .map(|n| n.addresses.internal_ip.clone())
                    .unwrap_or_default();
                let ip: Text = if s.template.host_network {
                    host.clone()
                } else if let Some(a) = self.nodes.get_mut(i) {
                    let k = a.ip_next;
                    a.ip_next = if a.ip_next >= 253 { 2 } else { a.ip_next + 1 };
                    format!("10.244.{}.{k}", a.idx % 256).into()
                } else {
                    Text::default()
                };
                (name, host, ip)
            }
            None => (Text::default(), Text::default(), Text::default()),
        };
        let t = s.created;
        let api_vol = format!("kube-api-access-{}", self.rng.k8s_suffix(5));
        let containers: Vec<PodContainerDetail> = s
            .template
            .containers
            .iter()
            .map(|c| {
                let mut mounts = c.volume_mounts.clone();
                mounts.push(VolumeMount {
                    name: api_vol.clone().into(),
                    mount_path: "/var/run/secrets/kubernetes.io/serviceaccount".into(),
                    read_only: true,
                    ..Default::default()
                });
                PodContainerDetail {
                    name: c.name.clone(),
                    image: c.image.clone(),
                    image_pull_policy: c.image_pull_policy.clone(),
                    command: c.command.clone(),
                    args: c.args.clone(),
                    working_dir: c.working_dir.clone(),
                    ports: c.ports.clone(),
                    envs: c.envs.clone(),
                    volume_mounts: mounts,
                    requests: c.requests.clone(),
                    limits: c.limits.clone(),
                    liveness_probe: c.liveness_probe.clone(),
                    readiness_probe: c.readiness_probe.clone(),
                    startup_probe: c.startup_probe.clone(),
                    state: if s.start == Start::Running {
                        "running"
                    } else {
                        "waiting"
                    }
                    .into(),
                    state_reason: if s.start == Start::Creating {
                        "ContainerCreating"
                    } else {
                        ""
                    }
                    .into(),
                    ..Default::default()
                }
            })
            .collect();
        let cond = |ty: &str, status: &str, at: DateTime<Utc>| PodCondition {
            type_: ty.into(),
            status: status.into(),
            last_transition_time: ts(at),
            ..Default::default()
        };
        let conditions = match s.start {
            Start::Running => vec![
                cond("PodReadyToStartContainers", "True", t + secs(2)),
                cond("Initialized", "True", t + secs(2)),
                cond("Ready", "True", t + secs(20)),
                cond("ContainersReady", "True", t + secs(20)),
                cond("PodScheduled", "True", t),
            ],
            Start::Creating => vec![
                cond("PodReadyToStartContainers", "False", t),
                cond("Initialized", "True", t),
                cond("Ready", "False", t),
                cond("ContainersReady", "False", t),
                cond("PodScheduled", "True", t),
            ],
            Start::Unschedulable => vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                reason: "Unschedulable".into(),
                message: self.unschedulable_message().into(),
                last_transition_time: ts(t),
            }],
        };
        let qos = if containers
            .iter()
            .all(|c| c.requests.is_empty() && c.limits.is_empty())
        {
            "BestEffort"
        } else {
            "Burstable"
        };
        let mut volumes = s.template.volumes.clone();
        volumes.push(VolumeSpec {
            name: api_vol.into(),
            type_: "Projected".into(),
            source: Text::default(),
        });
        let phase = if s.start == Start::Running {
            "Running"
        } else {
            "Pending"
        };
        let mut pod = Pod {
            summary: PodSummary {
                name: s.name.into(),
                namespace: s.ns.into(),
                node_name,
                owner_kind: s.owner_kind.into(),
                owner_name: s.owner_name.into(),
                created_at: gt(t),
                age: Text::default(),
            },
            spec: PodSpec {
                restart_policy: "Always".into(),
                service_account_name: s.template.service_account_name.clone(),
                node_selector: s.template.node_selector.clone(),
                tolerations: if s.template.tolerations.is_empty() {
                    default_tolerations()
                } else {
                    s.template.tolerations.clone()
                },
                dns_policy: s.template.dns_policy.clone(),
                host_network: s.template.host_network,
                priority_class_name: if s.template.host_network {
                    "system-node-critical"
                } else {
                    ""
                }
                .into(),
                termination_grace_period_seconds: Some(30),
                ..Default::default()
            },
            status: PodStatus {
                phase: phase.into(),
                ready: Text::default(),
                restarts: 0,
                qos_class: qos.into(),
                pod_ip: pod_ip.clone(),
                pod_ips: if pod_ip.is_empty() {
                    Vec::new()
                } else {
                    vec![pod_ip]
                },
                host_ip,
                conditions,
                ..Default::default()
            },
            containers,
            labels: s.labels,
            annotations: s.template.annotations.clone(),
            ..Default::default()
        };
        if s.start == Start::Running {
            self.pod_usage(&mut pod);
        }
        pod
    }

    /// The scheduler's message when no node fits.
    pub(crate) fn unschedulable_message(&self) -> String {
        let n = self.nodes.len();
        let cordoned = self
            .snap
            .nodes
            .iter()
            .filter(|x| x.spec.unschedulable)
            .count();
        let down = self.nodes.iter().filter(|a| a.down > 0).count();
        let cp = self.nodes.iter().filter(|a| a.cp).count();
        let mut parts = Vec::new();
        if cp > 0 {
            parts.push(format!(
                "{cp} node(s) had untolerated taint {{node-role.kubernetes.io/control-plane: }}"
            ));
        }
        if cordoned > 0 {
            parts.push(format!("{cordoned} node(s) were unschedulable"));
        }
        if down > 0 {
            parts.push(format!(
                "{down} node(s) had untolerated taint {{node.kubernetes.io/unreachable: }}"
            ));
        }
        let rest = n.saturating_sub(cp + cordoned + down);
        if rest > 0 {
            parts.push(format!("{rest} Insufficient cpu"));
        }
        format!(
            "0/{n} nodes are available: {}. preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod.",
            parts.join(", ")
        )
    }

    /// Sets the raw metrics-server readings of a running pod (first container only, as v2.1 does).
    pub(crate) fn pod_usage(&mut self, pod: &mut Pod) {
        let Some(c) = pod.containers.first() else {
            return;
        };
        let cpu_m = label(&c.requests, "cpu")
            .and_then(|v| v.trim_end_matches('m').parse::<u64>().ok())
            .unwrap_or(100);
        let mem_mi = label(&c.requests, "memory")
            .and_then(|v| v.trim_end_matches("Mi").parse::<u64>().ok())
            .unwrap_or(128);
        let cpu_n = (cpu_m as f64 * self.rng.uniform(0.05, 1.4) * 1e6) as u64;
        let mem_ki = (mem_mi as f64 * 1024.0 * self.rng.uniform(0.4, 1.3)) as u64;
        pod.status.cpu_usage = format!("{cpu_n}n").into();
        pod.status.memory_usage = format!("{mem_ki}Ki").into();
    }

    /// Services for every Deployment serving HTTP (and headless ones for StatefulSets).
    fn build_services(&mut self) {
        let mut list = Vec::new();
        let born = self.namespace_created("default");
        list.push(self.service(
            "default",
            "kubernetes",
            None,
            "10.96.0.1",
            &[("https", 443, "6443")],
            born,
        ));
        let deps: Vec<(String, String, DateTime<Utc>)> = self
            .snap
            .deployments
            .iter()
            .map(|d| {
                (
                    st(&d.summary.namespace).to_owned(),
                    st(&d.summary.name).to_owned(),
                    d.summary.created_at.to_utc().unwrap_or(born),
                )
            })
            .collect();
        for (ns, name, created) in deps {
            let ip = format!(
                "10.96.{}.{}",
                self.rng.range(1, 255),
                self.rng.range(1, 255)
            );
            let created = created + secs(5);
            let svc = match (name.as_str(), role_of(&name)) {
                ("coredns", _) => self.service(
                    &ns,
                    "kube-dns",
                    Some("coredns"),
                    "10.96.0.10",
                    &[
                        ("dns", 53, "53"),
                        ("dns-tcp", 53, "53"),
                        ("metrics", 9153, "9153"),
                    ],
                    created,
                ),
                ("traefik", _) => {
                    let mut s = self.service(
                        &ns,
                        "traefik",
                        Some("traefik"),
                        &ip,
                        &[("web", 80, "web"), ("websecure", 443, "websecure")],
                        created,
                    );
                    s.summary.type_ = "LoadBalancer".into();
                    s.spec.type_ = "LoadBalancer".into();
                    s.spec.external_traffic_policy = "Local".into();
                    s.network.load_balancer_ingress = vec!["203.0.113.10".into()];
                    for (i, p) in s.ports.iter_mut().enumerate() {
                        p.node_port = 30080 + i as i32 * 363;
                    }
                    s
                }
                (_, Role::Web) => self.service(
                    &ns,
                    &name,
                    Some(&name),
                    &ip,
                    &[("http", 80, "http")],
                    created,
                ),
                (_, Role::Api) => self.service(
                    &ns,
                    &name,
                    Some(&name),
                    &ip,
                    &[("http", 8080, "http")],
                    created,
                ),
                _ => continue,
            };
            list.push(svc);
        }
        let sts: Vec<(String, String, i32, DateTime<Utc>)> = self
            .snap
            .statefulsets
            .iter()
            .map(|s| {
                (
                    st(&s.summary.namespace).to_owned(),
                    st(&s.summary.name).to_owned(),
                    s.template
                        .containers
                        .first()
                        .and_then(|c| c.ports.first())
                        .map_or(80, |p| p.container_port),
                    s.summary.created_at.to_utc().unwrap_or(born),
                )
            })
            .collect();
        for (ns, name, port, created) in sts {
            let p = port.to_string();
            let mut s = self.service(
                &ns,
                &name,
                Some(&name),
                "None",
                &[(&name, port, &p)],
                created,
            );
            s.summary.badges = vec!["Headless".into()];
            list.push(s);
        }
        self.snap.services = list;
    }

    fn service(
        &mut self,
        ns: &str,
        name: &str,
        app: Option<&str>,
        ip: &str,
        ports: &[(&str, i32, &str)],
        created: DateTime<Utc>,
    ) -> Service {
        let ports: Vec<ServicePort> = ports
            .iter()
            .map(|(n, p, t)| ServicePort {
                name: (*n).into(),
                protocol: if *n == "dns" { "UDP" } else { "TCP" }.into(),
                port: *p,
                target_port: (*t).into(),
                ..Default::default()
            })
            .collect();
        Service {
            summary: ServiceSummary {
                name: name.into(),
                namespace: ns.into(),
                type_: "ClusterIP".into(),
                created_at: gt(created),
                ports_count: ports.len() as i64,
                has_selector: app.is_some(),
                cluster_ip: ip.into(),
                ..Default::default()
            },
            spec: ServiceSpec {
                type_: "ClusterIP".into(),
                session_affinity: "None".into(),
                internal_traffic_policy: "Cluster".into(),
                ip_families: vec!["IPv4".into()],
                ip_family_policy: "SingleStack".into(),
                cluster_ips: vec![ip.into()],
                ..Default::default()
            },
            backends: app.map(|_| ServiceBackends {
                ports: ports
                    .iter()
                    .map(|p| atlhyper_actors::model::BackendPort {
                        name: p.name.clone(),
                        port: p.target_port.parse().unwrap_or(p.port),
                        protocol: p.protocol.clone(),
                        app_protocol: Text::default(),
                    })
                    .collect(),
                ..Default::default()
            }),
            ports,
            selector: app.map(|a| smap(&[("app", a)])).unwrap_or_default(),
            network: ServiceNetwork {
                cluster_ips: vec![ip.into()],
                ip_families: vec!["IPv4".into()],
                ip_family_policy: "SingleStack".into(),
                internal_traffic_policy: "Cluster".into(),
                ..Default::default()
            },
            labels: smap(&[("app", app.unwrap_or(name))]),
            annotations: StrMap::default(),
        }
    }

    /// One Traefik ingress per application namespace (web at `/`, APIs under `/api`), and
    /// Grafana's.
    fn build_ingresses(&mut self, apps: &[String]) {
        let mut list = Vec::new();
        let mut plan: Vec<(String, String, Vec<RoutePath>)> = Vec::new();
        for ns in apps {
            let svcs: Vec<(String, Role, i32)> = self
                .snap
                .services
                .iter()
                .filter(|s| st(&s.summary.namespace) == ns && s.summary.has_selector)
                .filter_map(|s| {
                    let name = st(&s.summary.name).to_owned();
                    let role = role_of(&name);
                    let port = s.ports.first().map_or(80, |p| p.port);
                    matches!(role, Role::Web | Role::Api).then_some((name, role, port))
                })
                .collect();
            let mut paths = Vec::new();
            let web = svcs.iter().find(|s| s.1 == Role::Web);
            let apis: Vec<&(String, Role, i32)> =
                svcs.iter().filter(|s| s.1 == Role::Api).take(3).collect();
            match web {
                Some(w) => paths.push(("/".to_owned(), w.0.clone(), w.2)),
                None => {
                    if let Some(a) = apis.first() {
                        paths.push(("/".to_owned(), a.0.clone(), a.2));
                    }
                }
            }
            for (i, a) in apis.iter().enumerate() {
                let prefix = if i == 0 {
                    "/api".to_owned()
                } else {
                    format!("/api/{}", a.0)
                };
                if !paths.iter().any(|p| p.1 == a.0) {
                    paths.push((prefix, a.0.clone(), a.2));
                }
            }
            if !paths.is_empty() {
                plan.push((ns.clone(), format!("{ns}.example.com"), paths));
            }
        }
        if self
            .snap
            .services
            .iter()
            .any(|s| st(&s.summary.name) == "grafana")
        {
            plan.push((
                "monitoring".to_owned(),
                "grafana.example.com".to_owned(),
                vec![("/".to_owned(), "grafana".to_owned(), 80)],
            ));
        }
        for (ns, host, paths) in plan {
            let created = self.namespace_created(&ns) + secs(self.rng.range(3600, 86400) as i64);
            let name = if ns == "monitoring" {
                "grafana".to_owned()
            } else {
                ns.clone()
            };
            let secret = format!("{}-tls", host.replace('.', "-"));
            let n_paths = paths.len() as i64;
            let rule = IngressRule {
                host: host.clone().into(),
                paths: paths
                    .into_iter()
                    .map(|(path, svc, port)| IngressPath {
                        path: path.into(),
                        path_type: "Prefix".into(),
                        backend: Some(IngressBackend {
                            type_: "Service".into(),
                            service: Some(IngressServiceBackend {
                                name: svc.into(),
                                port_name: Text::default(),
                                port_number: port,
                            }),
                            resource: None,
                        }),
                    })
                    .collect(),
            };
            list.push(Ingress {
                summary: IngressSummary {
                    name: name.clone().into(),
                    namespace: ns.clone().into(),
                    created_at: gt(created),
                    age: Text::default(),
                    ingress_class: "traefik".into(),
                    hosts_count: 1,
                    paths_count: n_paths,
                    tls_enabled: true,
                    hosts: vec![host.clone().into()],
                },
                spec: IngressSpec {
                    ingress_class_name: "traefik".into(),
                    default_backend: None,
                    rules: vec![rule],
                    tls: vec![IngressTls {
                        hosts: vec![host.clone().into()],
                        secret_name: secret.clone().into(),
                    }],
                },
                status: IngressStatus {
                    load_balancer: vec!["203.0.113.10".into()],
                },
                labels: smap(&[("app.kubernetes.io/name", &name)]),
                annotations: smap(&[
                    ("cert-manager.io/cluster-issuer", "letsencrypt-prod"),
                    (
                        "traefik.ingress.kubernetes.io/router.entrypoints",
                        "websecure",
                    ),
                    ("traefik.ingress.kubernetes.io/router.tls", "true"),
                ]),
            });
            let uid = self.rng.uid();
            self.snap.secrets.push(Secret {
                uid: uid.into(),
                name: secret.into(),
                namespace: ns.into(),
                kind: "Secret".into(),
                created_at: gt(created),
                type_: "kubernetes.io/tls".into(),
                data_keys: vec!["tls.crt".into(), "tls.key".into()],
                ..Default::default()
            });
        }
        self.snap.ingresses = list;
    }

    /// ConfigMaps, Secrets and ServiceAccounts.
    fn build_config(&mut self, apps: &[String]) {
        let namespaces: Vec<(String, DateTime<Utc>)> = self
            .snap
            .namespaces
            .iter()
            .map(|n| {
                let name = st(&n.summary.name).to_owned();
                let t = self.namespace_created(&name);
                (name, t)
            })
            .collect();
        let mut cms: Vec<(String, String, Vec<&str>, DateTime<Utc>)> = Vec::new();
        let mut secrets: Vec<SecretPlan<'_>> = Vec::new();
        let mut sas: Vec<(String, String, DateTime<Utc>)> = Vec::new();
        for (ns, t) in &namespaces {
            cms.push((
                ns.clone(),
                "kube-root-ca.crt".to_owned(),
                vec!["ca.crt"],
                *t,
            ));
            sas.push((ns.clone(), "default".to_owned(), *t));
        }
        let t0 = self.namespace_created("kube-system");
        cms.push(("kube-system".into(), "coredns".into(), vec!["Corefile"], t0));
        cms.push((
            "kube-system".into(),
            "kube-proxy".into(),
            vec!["config.conf", "kubeconfig.conf"],
            t0,
        ));
        for d in &self.snap.deployments {
            let ns = st(&d.summary.namespace).to_owned();
            let name = st(&d.summary.name).to_owned();
            let t = d.summary.created_at.to_utc().unwrap_or(t0);
            let has_config = d
                .template
                .volumes
                .iter()
                .any(|v| st(&v.type_) == "ConfigMap");
            if has_config {
                let keys = match role_of(&name) {
                    Role::Web => vec!["nginx.conf", "env.js"],
                    Role::Api => vec!["application.yaml", "LOG_LEVEL", "FEATURE_FLAGS"],
                    _ => vec!["worker.yaml", "QUEUE_NAME"],
                };
                cms.push((ns.clone(), format!("{name}-config"), keys, t));
            }
            if st(&d.template.service_account_name) == name {
                sas.push((ns.clone(), name.clone(), t));
            }
            if role_of(&name) == Role::Api && apps.contains(&ns) {
                secrets.push((
                    ns,
                    format!("{name}-credentials"),
                    "Opaque",
                    vec!["API_KEY", "DATABASE_URL"],
                    t,
                ));
            }
        }
        if let Some(ns) = apps.first() {
            if !self.snap.statefulsets.is_empty() {
                let t = self.namespace_created(ns);
                secrets.push((
                    ns.clone(),
                    "postgres-auth".into(),
                    "Opaque",
                    vec!["POSTGRES_PASSWORD", "POSTGRES_USER"],
                    t,
                ));
            }
        }
        secrets.push((
            "kube-system".into(),
            "atlhyper-agent-token".into(),
            "Opaque",
            vec!["token"],
            t0,
        ));
        for (ns, name, keys, t) in cms {
            let uid = self.rng.uid();
            self.snap.configmaps.push(ConfigMap {
                uid: uid.into(),
                name: name.into(),
                namespace: ns.into(),
                kind: "ConfigMap".into(),
                created_at: gt(t),
                data_keys: sorted_keys(keys),
                ..Default::default()
            });
        }
        for (ns, name, ty, keys, t) in secrets {
            let uid = self.rng.uid();
            self.snap.secrets.push(Secret {
                uid: uid.into(),
                name: name.into(),
                namespace: ns.into(),
                kind: "Secret".into(),
                created_at: gt(t),
                type_: ty.into(),
                data_keys: sorted_keys(keys),
                ..Default::default()
            });
        }
        for (ns, name, t) in sas {
            self.snap.service_accounts.push(ServiceAccount {
                name: name.into(),
                namespace: ns.into(),
                created_at: ts(t),
                age: Text::default(),
                secrets_count: 0,
                image_pull_secrets_count: 0,
                automount_service_account_token: None,
            });
        }
    }

    /// The events a cluster shows at start: the lifecycle of recent pods, a few crash loops
    /// and failing probes.
    fn build_initial_events(&mut self) {
        let now = self.now;
        let mut recent = Vec::new();
        for (i, p) in self.snap.pods.iter().enumerate() {
            let age = p
                .summary
                .created_at
                .to_utc()
                .map_or(i64::MAX, |t| (now - t).num_seconds());
            if age < 3600 {
                recent.push(i);
            }
        }
        for i in recent {
            let Some(p) = self.snap.pods.get(i) else {
                continue;
            };
            let r = pod_ref(p);
            let node = st(&p.summary.node_name).to_owned();
            let image = p
                .containers
                .first()
                .map(|c| st(&c.image).to_owned())
                .unwrap_or_default();
            let cname = p
                .containers
                .first()
                .map(|c| st(&c.name).to_owned())
                .unwrap_or_default();
            let full = format!("{}/{}", st(&p.summary.namespace), st(&p.summary.name));
            self.emit(
                false,
                "Scheduled",
                format!("Successfully assigned {full} to {node}"),
                "default-scheduler",
                r.clone(),
            );
            self.emit(
                false,
                "Pulled",
                format!("Container image \"{image}\" already present on machine"),
                "kubelet",
                r.clone(),
            );
            self.emit(
                false,
                "Created",
                format!("Created container {cname}"),
                "kubelet",
                r.clone(),
            );
            self.emit(
                false,
                "Started",
                format!("Started container {cname}"),
                "kubelet",
                r,
            );
        }
        // A few pods already crash-looping, a few with a restart behind them.
        let n = self.snap.pods.len();
        for _ in 0..(n / 100).max(1) {
            let i = self.rng.index(n);
            if self
                .snap
                .pods
                .get(i)
                .is_some_and(|p| st(&p.summary.owner_kind) == "ReplicaSet")
            {
                self.start_crashloop(i);
                // It has been looping for a while: restarts and BackOff repeats behind it.
                let extra = self.rng.range(3, 40);
                if let Some(p) = self.snap.pods.get_mut(i) {
                    if let Some(c) = p.containers.first_mut() {
                        c.restart_count = c.restart_count.saturating_add(extra as i32 / 2);
                    }
                    p.status.restarts = p.containers.iter().map(|c| c.restart_count).sum();
                }
                if let Some(e) = self.snap.events.last_mut() {
                    e.count = e.count.saturating_add(extra as i32);
                    e.first_timestamp = gt(now - secs(extra as i64 * 60));
                }
            }
        }
        for _ in 0..(n / 20) {
            let i = self.rng.index(n);
            self.restart_container(i, false);
        }
        // Events carry the times they happened at: spread the lifecycle ones over the pods' ages.
        let pods: Vec<(String, GoTime)> = self
            .snap
            .pods
            .iter()
            .map(|p| (st(&p.summary.name).to_owned(), p.summary.created_at))
            .collect();
        for e in &mut self.snap.events {
            if e.count > 1 {
                continue;
            }
            if let Some((_, t)) = pods.iter().find(|(n, _)| n == st(&e.involved_object.name)) {
                e.first_timestamp = *t;
                e.last_timestamp = *t;
                e.created_at = *t;
            }
        }
        self.expire_events();
    }

    /// Hardware metrics of every node, as the collector pushes them.
    fn build_node_metrics(&mut self) {
        for i in 0..self.nodes.len() {
            let m = self.node_metrics_for(i);
            if let Some(name) = self.snap.nodes.get(i).map(|n| n.summary.name.clone()) {
                self.snap.node_metrics.insert(name, m);
            }
        }
        self.refresh_node_usage();
    }

    fn node_metrics_for(&mut self, i: usize) -> NodeMetricsSnapshot {
        let now = self.now;
        let Some((node, aux)) = self.snap.nodes.get(i).zip(self.nodes.get(i)) else {
            return NodeMetricsSnapshot::default();
        };
        let r = &mut self.rng;
        let threads: i64 = node.capacity.cpu.parse().unwrap_or(8);
        let cores = if aux.bare { threads / 2 } else { threads };
        let mem_ki: i64 = node
            .capacity
            .memory
            .trim_end_matches("Ki")
            .parse()
            .unwrap_or(32 * 1024 * 1024);
        let total = mem_ki * 1024;
        let cpu = aux.cpu_base;
        let mem = aux.mem_base;
        let used = (total as f64 * mem / 100.0) as i64;
        let cached = ((total - used) as f64 * r.uniform(0.3, 0.6)) as i64;
        let buffers = (total as f64 * r.uniform(0.005, 0.02)) as i64;
        let free = (total - used - cached - buffers).max(0);
        let uptime = r.range(86400, 120 * 86400) as i64;
        let disk_total = if aux.bare { 500 } else { 100 } * GIB + r.range(0, GIB as u64) as i64;
        let disk_pct = r.uniform(15.0, 80.0);
        let disk_used = (disk_total as f64 * disk_pct / 100.0) as i64;
        let rx = r.uniform(2e4, 5e7);
        let tx = r.uniform(2e4, 4e7);
        let iface = if aux.bare { "eth0" } else { "ens5" };
        let mac = format!(
            "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            r.range(0, 256),
            r.range(0, 256),
            r.range(0, 256),
            r.range(0, 256),
            r.range(0, 256)
        );
        let ip = st(&node.addresses.internal_ip).to_owned();
        let temperature = if aux.bare {
            let t = 35.0 + cpu * 0.4;
            let mut sensors = vec![SensorMetrics {
                name: "coretemp".into(),
                label: "Package id 0".into(),
                current: round1(t),
                max: 80.0,
                critical: 100.0,
            }];
            for c in 0..cores.min(4) {
                sensors.push(SensorMetrics {
                    name: "coretemp".into(),
                    label: format!("Core {c}").into(),
                    current: round1(t + r.uniform(-5.0, 2.0)),
                    max: 80.0,
                    critical: 100.0,
                });
            }
            TemperatureMetrics {
                cpu_temp: round1(t),
                cpu_temp_max: round1(t + 2.0),
                sensors,
            }
        } else {
            TemperatureMetrics::default()
        };
        let boot = now.timestamp() - uptime;
        let processes: Vec<ProcessMetrics> = catalog::PROCESSES
            .iter()
            .take(6)
            .map(|(name, cmd, user)| ProcessMetrics {
                pid: r.range(300, 4_000_000) as i64,
                name: (*name).into(),
                cmdline: (*cmd).into(),
                user: (*user).into(),
                status: "S".into(),
                cpu_percent: round2(r.uniform(0.1, 30.0)),
                mem_percent: round2(r.uniform(0.1, 8.0)),
                mem_rss: r.range(20, 2000) as i64 * 1024 * 1024,
                threads: r.range(4, 120) as i64,
                start_time: boot + r.range(5, 3600) as i64,
            })
            .collect();
        let os = st(&node.info.os_image).to_owned();
        let kernel = st(&node.info.kernel_version).to_owned();
        let name = node.summary.name.clone();
        NodeMetricsSnapshot {
            node_name: name.clone(),
            timestamp: GoTime::from_utc(now),
            hostname: name,
            os: os.into(),
            kernel: kernel.into(),
            uptime,
            cpu: CpuMetrics {
                usage_percent: round2(cpu),
                user_percent: round2(cpu * 0.7),
                system_percent: round2(cpu * 0.25),
                idle_percent: round2(100.0 - cpu),
                iowait_percent: round2(cpu * 0.05),
                per_core: (0..threads)
                    .map(|_| round2((cpu + 10.0 * r.gauss()).clamp(0.0, 100.0)))
                    .collect(),
                load_1: round2(threads as f64 * cpu / 100.0),
                load_5: round2(threads as f64 * cpu / 100.0 * 0.95),
                load_15: round2(threads as f64 * cpu / 100.0 * 0.9),
                model: if aux.bare {
                    "Intel(R) Xeon(R) E-2288G CPU @ 3.70GHz"
                } else {
                    "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz"
                }
                .into(),
                cores,
                threads,
                frequency: if aux.bare { 3700.0 } else { 2899.998 },
            },
            memory: MemoryMetrics {
                total,
                used,
                available: free + cached,
                free,
                usage_percent: round2(mem),
                cached,
                buffers,
                ..Default::default()
            },
            disks: vec![DiskMetrics {
                device: "/dev/nvme0n1p1".into(),
                mount_point: "/".into(),
                fs_type: if aux.bare { "ext4" } else { "xfs" }.into(),
                total: disk_total,
                used: disk_used,
                available: disk_total - disk_used,
                usage_percent: round2(disk_pct),
                read_bytes: (uptime as f64 * r.uniform(2e4, 2e6)) as i64,
                write_bytes: (uptime as f64 * r.uniform(5e4, 4e6)) as i64,
                read_rate: round2(r.uniform(0.0, 5e6)),
                write_rate: round2(r.uniform(1e4, 2e7)),
                read_iops: round2(r.uniform(0.0, 300.0)),
                write_iops: round2(r.uniform(1.0, 900.0)),
                io_util: round2(r.uniform(0.1, 40.0)),
            }],
            networks: vec![
                NetworkMetrics {
                    interface: "lo".into(),
                    ip_address: "127.0.0.1".into(),
                    status: "up".into(),
                    mtu: 65536,
                    rx_bytes: uptime * 20_000,
                    tx_bytes: uptime * 20_000,
                    rx_packets: uptime * 60,
                    tx_packets: uptime * 60,
                    rx_rate: 20_000.0,
                    tx_rate: 20_000.0,
                    ..Default::default()
                },
                NetworkMetrics {
                    interface: iface.into(),
                    ip_address: ip.into(),
                    mac_address: mac.into(),
                    status: "up".into(),
                    speed: if aux.bare { 10_000 } else { 25_000 },
                    mtu: if aux.bare { 1500 } else { 9001 },
                    rx_bytes: (uptime as f64 * rx * 0.7) as i64,
                    tx_bytes: (uptime as f64 * tx * 0.7) as i64,
                    rx_packets: (uptime as f64 * rx / 900.0) as i64,
                    tx_packets: (uptime as f64 * tx / 900.0) as i64,
                    rx_rate: round2(rx),
                    tx_rate: round2(tx),
                    ..Default::default()
                },
            ],
            temperature,
            processes,
        }
    }
}

/// Data keys as the agent lists them (sorted, like Go map keys).
fn sorted_keys(mut keys: Vec<&str>) -> Vec<Text> {
    keys.sort_unstable();
    keys.into_iter().map(Text::from).collect()
}

/// The event reference of a pod.
pub(crate) fn pod_ref(p: &Pod) -> ResourceRef {
    ResourceRef {
        kind: "Pod".into(),
        namespace: p.summary.namespace.clone(),
        name: p.summary.name.clone(),
        uid: Text::default(),
    }
}

/// The tolerations the admission controller adds to every pod.
fn default_tolerations() -> Vec<Toleration> {
    [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ]
    .iter()
    .map(|k| Toleration {
        key: (*k).into(),
        operator: "Exists".into(),
        effect: "NoExecute".into(),
        toleration_seconds: Some(300),
        ..Default::default()
    })
    .collect()
}

/// Deployment conditions and rollout phase from its current counts; `crashing` is the
/// number of its pods in CrashLoopBackOff.
pub(crate) fn deployment_conditions(d: &mut Deployment, crashing: i32, now: DateTime<Utc>) {
    let desired = d.summary.replicas;
    let ready = d.summary.ready;
    let min_ok = ready >= desired - (desired / 4).max(1).min(desired);
    let (status, reason, message) = if min_ok {
        (
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let rs = d
        .replica_sets
        .first()
        .map(|b| st(&b.name).to_owned())
        .unwrap_or_default();
    let progressed = d.summary.updated == desired && d.status.replicas == desired;
    for c in &mut d.status.conditions {
        match st(&c.type_) {
            "Available" => {
                if st(&c.status) != status {
                    c.status = status.into();
                    c.last_transition_time = gt(now);
                    c.last_update_time = gt(now);
                }
                if st(&c.reason) != reason {
                    c.reason = reason.into();
                    c.message = message.into();
                }
            }
            "Progressing" => {
                let r = if progressed {
                    "NewReplicaSetAvailable"
                } else {
                    "ReplicaSetUpdated"
                };
                if st(&c.reason) != r || !st(&c.message).contains(rs.as_str()) {
                    c.reason = r.into();
                    c.last_update_time = gt(now);
                    c.message = if progressed {
                        format!("ReplicaSet \"{rs}\" has successfully progressed.")
                    } else {
                        format!("ReplicaSet \"{rs}\" is progressing.")
                    }
                    .into();
                }
            }
            _ => {}
        }
    }
    let (phase, msg) = if desired == 0 {
        ("Complete", "scaled to zero".to_owned())
    } else if ready == desired {
        ("Complete", String::new())
    } else if crashing > 0 {
        (
            "Degraded",
            format!("{} of {desired} replicas unavailable", desired - ready),
        )
    } else {
        (
            "Progressing",
            format!("{} updated, {ready} ready of {desired}", d.summary.updated),
        )
    };
    let badges: Vec<Text> = if crashing > 0 {
        vec!["CrashLoopBackOff".into()]
    } else {
        Vec::new()
    };
    let unchanged = d.rollout.as_ref().is_some_and(|r| {
        st(&r.phase) == phase && st(&r.message) == msg && r.badges.len() == badges.len()
    });
    if !unchanged {
        d.rollout = Some(DeploymentRollout {
            phase: phase.into(),
            message: msg.into(),
            badges,
        });
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Two decimals, as the collector rounds.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::apportion;

    #[test]
    fn apportion_hits_the_total_with_minimums() {
        let parts = apportion(100, &[1, 2, 3, 4], 1);
        assert_eq!(parts.iter().sum::<usize>(), 100);
        assert!(parts.iter().all(|&p| p >= 1));
        let parts = apportion(3, &[5, 5, 5, 5], 1);
        assert_eq!(parts.iter().sum::<usize>(), 3);
        assert!(apportion(7, &[], 1).is_empty());
    }
}
