//! Writes a cluster snapshot at Kubernetes' documented limits (5,000 nodes, 150,000 pods) for
//! the scale benchmark: realistic objects as `kubectl get -o json` prints them (managedFields,
//! full status, ownerReferences, 4-space indents, ~1 GB).
//!
//! `cargo run --release --example gen_snapshot -- OUT.json [NODES] [PODS]`
//! Deterministic: the same arguments give the same bytes.

use std::io::{BufWriter, Write};

use serde::Serialize;
use serde_json::{Value, json};

/// A small deterministic generator (xorshift64*); no dependency needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(len);
        s
    }
    fn uid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }
}

const ZONES: [&str; 3] = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];
const KERNELS: [(&str, &str); 4] = [
    ("5.10.184-175.731.amzn2.x86_64", "Amazon Linux 2"),
    ("4.14.146-119.123.amzn2.x86_64", "Amazon Linux 2"),
    ("6.1.34-59.116.amzn2023.x86_64", "Amazon Linux 2023"),
    ("5.4.0-1036-aws", "Ubuntu 18.04.5 LTS"),
];

fn managed_fields(manager: &str, status: bool) -> Value {
    let mut out = vec![json!({
        "apiVersion": "v1", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
            "f:ownerReferences": {".": {}, "k:{\"uid\":\"x\"}": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}, "f:resources": {}}}}},
        "manager": manager, "operation": "Update", "time": "2026-11-20T10:00:00Z"
    })];
    if status {
        out.push(json!({
            "apiVersion": "v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:conditions": {"k:{\"type\":\"ContainersReady\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
                "k:{\"type\":\"Initialized\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
                "k:{\"type\":\"Ready\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}},
                "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {".": {}, "k:{\"ip\":\"10.244.1.23\"}": {".": {}, "f:ip": {}}}, "f:startTime": {}}},
            "manager": "kubelet", "operation": "Update", "subresource": "status", "time": "2026-11-20T10:00:06Z"
        }));
    }
    Value::Array(out)
}

fn node(rng: &mut Rng, i: usize) -> Value {
    let name = format!(
        "ip-10-{}-{}-{}.eu-west-1.compute.internal",
        i / 65536 % 256,
        i / 256 % 256,
        i % 256
    );
    let zone = ZONES[i % 3];
    let (kernel, os) = KERNELS[i % KERNELS.len()];
    let images: Vec<Value> = (0..12)
        .map(|k| json!({"names": [format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team-{k}/service@sha256:{}", rng.hex(64)), format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team-{k}/service:1.{k}.0")], "sizeBytes": 30_000_000 + rng.below(500_000_000)}))
        .collect();
    let cond = |t: &str, s: &str, r: &str, m: &str| json!({"lastHeartbeatTime": "2026-11-27T10:00:00Z", "lastTransitionTime": "2026-11-01T08:00:00Z", "message": m, "reason": r, "status": s, "type": t});
    let ready = !i.is_multiple_of(997);
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "annotations": {"alpha.kubernetes.io/provided-node-ip": "10.0.1.17", "node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
            "creationTimestamp": "2026-11-01T08:00:00Z",
            "labels": {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/instance-type": "m5.4xlarge", "beta.kubernetes.io/os": "linux",
                "eks.amazonaws.com/capacityType": "ON_DEMAND", "eks.amazonaws.com/nodegroup": format!("ng-{}", i % 20),
                "failure-domain.beta.kubernetes.io/region": "eu-west-1", "failure-domain.beta.kubernetes.io/zone": zone,
                "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "m5.4xlarge", "topology.kubernetes.io/region": "eu-west-1", "topology.kubernetes.io/zone": zone},
            "managedFields": managed_fields("kubelet", true),
            "name": name, "resourceVersion": format!("{}", 1_000_000 + i), "uid": rng.uid()
        },
        "spec": {"providerID": format!("aws:///{zone}/i-0{}", rng.hex(16))},
        "status": {
            "addresses": [{"address": format!("10.{}.{}.{}", i / 65536 % 256, i / 256 % 256, i % 256), "type": "InternalIP"}, {"address": name, "type": "InternalDNS"}, {"address": name, "type": "Hostname"}],
            "allocatable": {"cpu": "15890m", "ephemeral-storage": "95491281146", "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "63166860Ki", "pods": "110"},
            "capacity": {"cpu": "16", "ephemeral-storage": "104845292Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "64294860Ki", "pods": "110"},
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                if ready { cond("Ready", "True", "KubeletReady", "kubelet is posting ready status") } else { cond("Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.") }
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "images": images,
            "nodeInfo": {"architecture": "amd64", "bootID": rng.uid(), "containerRuntimeVersion": "containerd://1.7.11", "kernelVersion": kernel,
                "kubeProxyVersion": "v1.31.4", "kubeletVersion": "v1.31.4", "machineID": rng.hex(32), "operatingSystem": "linux", "osImage": os, "systemUUID": rng.uid()}
        }
    })
}

fn node_name(i: usize) -> String {
    format!(
        "ip-10-{}-{}-{}.eu-west-1.compute.internal",
        i / 65536 % 256,
        i / 256 % 256,
        i % 256
    )
}

#[allow(clippy::too_many_arguments)]
fn pod(
    rng: &mut Rng,
    ns: &str,
    app: &str,
    owner_kind: &str,
    owner: &str,
    suffix: &str,
    node: &str,
    oom: bool,
) -> Value {
    let image = format!(
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/{ns}/{app}:2.14.{}",
        rng.below(30)
    );
    let name = format!("{owner}-{suffix}");
    let ready = !rng.below(100).is_multiple_of(100);
    let r = if ready { "True" } else { "False" };
    let mut app_status = json!({"containerID": format!("containerd://{}", rng.hex(64)), "image": image,
        "imageID": format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/{ns}/{app}@sha256:{}", rng.hex(64)),
        "lastState": {}, "name": "app", "ready": ready, "restartCount": 0, "started": true, "state": {"running": {"startedAt": "2026-11-20T10:00:05Z"}}});
    if oom {
        app_status["restartCount"] = json!(3 + rng.below(20));
        app_status["lastState"] = json!({"terminated": {"containerID": format!("containerd://{}", rng.hex(64)), "exitCode": 137, "finishedAt": "2026-11-27T09:58:00Z", "reason": "OOMKilled", "startedAt": "2026-11-27T09:30:00Z"}});
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-20T09:59:00Z", "prometheus.io/port": "9090", "prometheus.io/scrape": "true"},
            "creationTimestamp": "2026-11-20T10:00:00Z", "generateName": format!("{owner}-"),
            "labels": {"app": app, "app.kubernetes.io/name": app, "app.kubernetes.io/part-of": ns, "pod-template-hash": "5d8f7c9b6"},
            "managedFields": managed_fields("kube-controller-manager", false),
            "name": name, "namespace": ns,
            "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true, "kind": owner_kind, "name": owner, "uid": rng.uid()}],
            "resourceVersion": format!("{}", 2_000_000 + rng.below(1_000_000)), "uid": rng.uid()
        },
        "spec": {
            "containers": [
                {"env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
                 "image": image, "imagePullPolicy": "IfNotPresent", "name": "app",
                 "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}, {"containerPort": 9090, "name": "metrics", "protocol": "TCP"}],
                 "readinessProbe": {"failureThreshold": 3, "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1},
                 "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "250m", "memory": "512Mi"}},
                 "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true, "runAsUser": 10001},
                 "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                 "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": "kube-api-access-x2x9z", "readOnly": true}]}
            ],
            "dnsPolicy": "ClusterFirst", "enableServiceLinks": true, "nodeName": node, "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
            "restartPolicy": "Always", "schedulerName": "default-scheduler", "securityContext": {"fsGroup": 10001}, "serviceAccount": "default",
            "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
            "tolerations": [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}],
            "volumes": [{"name": "kube-api-access-x2x9z", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}}]}}]
        },
        "status": {
            "conditions": [
                {"lastProbeTime": null, "lastTransitionTime": "2026-11-20T10:00:00Z", "status": "True", "type": "PodReadyToStartContainers"},
                {"lastProbeTime": null, "lastTransitionTime": "2026-11-20T10:00:00Z", "status": "True", "type": "Initialized"},
                {"lastProbeTime": null, "lastTransitionTime": "2026-11-20T10:00:06Z", "status": r, "type": "Ready"},
                {"lastProbeTime": null, "lastTransitionTime": "2026-11-20T10:00:06Z", "status": r, "type": "ContainersReady"},
                {"lastProbeTime": null, "lastTransitionTime": "2026-11-20T10:00:00Z", "status": "True", "type": "PodScheduled"}],
            "containerStatuses": [app_status],
            "hostIP": "10.0.1.17", "hostIPs": [{"ip": "10.0.1.17"}], "phase": "Running",
            "podIP": "10.244.1.23", "podIPs": [{"ip": "10.244.1.23"}], "qosClass": "Burstable", "startTime": "2026-11-20T10:00:00Z"
        }
    })
}

fn deployment(rng: &mut Rng, ns: &str, app: &str, replicas: u64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"annotations": {"deployment.kubernetes.io/revision": "3"}, "creationTimestamp": "2026-11-01T08:00:00Z", "generation": 3,
            "labels": {"app": app}, "managedFields": managed_fields("helm", false), "name": app, "namespace": ns,
            "resourceVersion": format!("{}", 3_000_000 + rng.below(1_000_000)), "uid": rng.uid()},
        "spec": {"progressDeadlineSeconds": 600, "replicas": replicas, "revisionHistoryLimit": 10, "selector": {"matchLabels": {"app": app}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
            "template": {"metadata": {"labels": {"app": app}}, "spec": {
                "topologySpreadConstraints": [{"labelSelector": {"matchLabels": {"app": app}}, "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}],
                "securityContext": {"fsGroup": 10001},
                "containers": [{"image": format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/{ns}/{app}:2.14.0"), "name": "app",
                    "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "250m", "memory": "512Mi"}},
                    "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true, "runAsUser": 10001}}]}}},
        "status": {"availableReplicas": replicas, "observedGeneration": 3, "readyReplicas": replicas, "replicas": replicas, "updatedReplicas": replicas}
    })
}

fn replicaset(rng: &mut Rng, ns: &str, app: &str, replicas: u64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"creationTimestamp": "2026-11-01T08:00:00Z", "generation": 1, "labels": {"app": app, "pod-template-hash": "5d8f7c9b6"},
            "managedFields": managed_fields("kube-controller-manager", false), "name": format!("{app}-5d8f7c9b6"), "namespace": ns,
            "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true, "kind": "Deployment", "name": app, "uid": rng.uid()}],
            "resourceVersion": format!("{}", 3_000_000 + rng.below(1_000_000)), "uid": rng.uid()},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app, "pod-template-hash": "5d8f7c9b6"}},
            "template": {"metadata": {"labels": {"app": app, "pod-template-hash": "5d8f7c9b6"}}, "spec": {"containers": [{"image": "x", "name": "app"}]}}},
        "status": {"availableReplicas": replicas, "fullyLabeledReplicas": replicas, "observedGeneration": 1, "readyReplicas": replicas, "replicas": replicas}
    })
}

/// Writes one item as an element of `items` (8-space base indent, like kubectl).
fn write_item(out: &mut impl Write, item: &Value, first: bool) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(16 << 10);
    let mut ser = serde_json::Serializer::with_formatter(
        &mut buf,
        serde_json::ser::PrettyFormatter::with_indent(b"    "),
    );
    item.serialize(&mut ser).map_err(std::io::Error::other)?;
    if !first {
        out.write_all(b",\n")?;
    }
    for (i, line) in buf.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
        }
        out.write_all(b"        ")?;
        out.write_all(line)?;
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: gen_snapshot OUT.json [NODES] [PODS]");
        std::process::exit(2);
    };
    let nodes: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let pods: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(150_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = BufWriter::with_capacity(8 << 20, std::fs::File::create(path)?);
    out.write_all(b"{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n")?;
    let mut first = true;
    for i in 0..nodes {
        write_item(&mut out, &node(&mut rng, i), first)?;
        first = false;
    }
    // A log shipper on every node but a few.
    let shipper = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "fluent-bit", "namespace": "logging", "uid": rng.uid(), "managedFields": managed_fields("helm", false)},
        "spec": {"selector": {"matchLabels": {"app": "fluent-bit"}}, "template": {"metadata": {"labels": {"app": "fluent-bit"}},
            "spec": {"containers": [{"image": "cr.fluentbit.io/fluent/fluent-bit:3.0.4", "name": "fluent-bit"}], "tolerations": [{"operator": "Exists"}]}}},
        "status": {"desiredNumberScheduled": nodes, "numberReady": nodes - nodes / 500}});
    write_item(&mut out, &shipper, first)?;
    let mut written = 0;
    for i in 0..nodes {
        if written >= pods || i % 500 == 7 {
            continue;
        }
        let suffix = rng.hex(5);
        let p = pod(
            &mut rng,
            "logging",
            "fluent-bit",
            "DaemonSet",
            "fluent-bit",
            &suffix,
            &node_name(i),
            false,
        );
        write_item(&mut out, &p, false)?;
        written += 1;
    }
    // Deployments of 10 replicas each, spread over nodes; every 50th piles onto one node.
    let mut d = 0;
    while written < pods {
        let ns = format!("team-{}", d % 40);
        let app = format!("svc-{d}");
        let replicas = 10.min((pods - written) as u64);
        write_item(&mut out, &deployment(&mut rng, &ns, &app, replicas), false)?;
        write_item(&mut out, &replicaset(&mut rng, &ns, &app, replicas), false)?;
        let base = rng.below(nodes as u64) as usize;
        for r in 0..replicas as usize {
            let node = if d % 50 == 0 {
                base
            } else {
                (base + r * 7) % nodes
            };
            let suffix = rng.hex(5);
            let owner = format!("{app}-5d8f7c9b6");
            let oom = d % 100 == 3 && r == 0;
            let p = pod(
                &mut rng,
                &ns,
                &app,
                "ReplicaSet",
                &owner,
                &suffix,
                &node_name(node),
                oom,
            );
            write_item(&mut out, &p, false)?;
            written += 1;
        }
        d += 1;
    }
    out.write_all(b"\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n")?;
    out.flush()?;
    eprintln!("wrote {path}: {nodes} nodes, {written} pods, {d} deployments");
    Ok(())
}
