//! Test support: objects in the exact shape `kubectl get -o json` prints them (metadata with
//! uid, resourceVersion, managedFields and ownerReferences; full status), so cluster rules are
//! tested on what the API server really returns.

use serde_json::{Value, json};

/// A `v1 List` of items, as `kubectl get nodes,pods -o json` prints it.
pub fn list(items: Vec<Value>) -> String {
    serde_json::to_string_pretty(&json!({
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": {"resourceVersion": ""}
    }))
    .expect("serialisable")
}

fn managed_fields(manager: &str) -> Value {
    json!([{
        "apiVersion": "v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:status": {"f:conditions": {}}},
        "manager": manager,
        "operation": "Update",
        "subresource": "status",
        "time": "2026-11-20T10:00:00Z"
    }])
}

fn uid(name: &str) -> String {
    let h = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("{h:08x}-1c2d-4e5f-8a9b-0c1d2e3f4a5b")
}

/// A Node. `kernel`/`os` go to `status.nodeInfo`; `external` adds an ExternalIP address.
pub fn node(name: &str, kernel: &str, os: &str, ready: bool, cpu: &str, zone: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
            "creationTimestamp": "2026-11-01T08:00:00Z",
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "m5.4xlarge",
                "topology.kubernetes.io/region": "eu-west-1",
                "topology.kubernetes.io/zone": zone
            },
            "managedFields": managed_fields("kubelet"),
            "name": name,
            "resourceVersion": "48213",
            "uid": uid(name)
        },
        "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"], "providerID": format!("aws:///{zone}/i-0{}", &uid(name)[..8])},
        "status": {
            "addresses": [
                {"address": "10.0.1.17", "type": "InternalIP"},
                {"address": format!("{name}.eu-west-1.compute.internal"), "type": "InternalDNS"},
                {"address": name, "type": "Hostname"}
            ],
            "allocatable": {"cpu": cpu, "ephemeral-storage": "95491281146", "memory": "63166860Ki", "pods": "110"},
            "capacity": {"cpu": cpu, "ephemeral-storage": "104845292Ki", "memory": "64294860Ki", "pods": "110"},
            "conditions": [
                {"lastHeartbeatTime": "2026-11-27T10:00:00Z", "lastTransitionTime": "2026-11-01T08:00:00Z", "message": "kubelet has sufficient memory available", "reason": "KubeletHasSufficientMemory", "status": "False", "type": "MemoryPressure"},
                {"lastHeartbeatTime": "2026-11-27T10:00:00Z", "lastTransitionTime": "2026-11-01T08:00:00Z", "message": "kubelet has no disk pressure", "reason": "KubeletHasNoDiskPressure", "status": "False", "type": "DiskPressure"},
                {"lastHeartbeatTime": "2026-11-27T10:00:00Z", "lastTransitionTime": "2026-11-01T08:00:00Z", "message": "kubelet has sufficient PID available", "reason": "KubeletHasSufficientPID", "status": "False", "type": "PIDPressure"},
                if ready {
                    json!({"lastHeartbeatTime": "2026-11-27T10:00:00Z", "lastTransitionTime": "2026-11-01T08:01:00Z", "message": "kubelet is posting ready status", "reason": "KubeletReady", "status": "True", "type": "Ready"})
                } else {
                    json!({"lastHeartbeatTime": "2026-11-27T09:40:00Z", "lastTransitionTime": "2026-11-27T09:41:00Z", "message": "Kubelet stopped posting node status.", "reason": "NodeStatusUnknown", "status": "Unknown", "type": "Ready"})
                }
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": "6f1c2a3e-0d4b-4c55-9a8e-2b1f0c9d8e7a",
                "containerRuntimeVersion": "containerd://1.7.11",
                "kernelVersion": kernel,
                "kubeProxyVersion": "v1.29.0",
                "kubeletVersion": "v1.29.0",
                "machineID": "ec2a1b2c3d4e5f60718293a4b5c6d7e8",
                "operatingSystem": "linux",
                "osImage": os,
                "systemUUID": "ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8"
            }
        }
    })
}

/// A container for [`pod`]: name, image, CPU limit.
pub struct C<'a>(pub &'a str, pub &'a str, pub Option<&'a str>);

/// A running Pod on `node_name`, owned by `owner` (kind, name) when given.
pub fn pod(
    ns: &str,
    name: &str,
    node_name: &str,
    owner: Option<(&str, &str)>,
    containers: &[C<'_>],
    ready: bool,
) -> Value {
    let owner_refs: Vec<Value> = owner
        .map(|(kind, owner)| {
            json!({
                "apiVersion": if kind == "ReplicaSet" || kind == "DaemonSet" || kind == "StatefulSet" { "apps/v1" } else { "batch/v1" },
                "blockOwnerDeletion": true,
                "controller": true,
                "kind": kind,
                "name": owner,
                "uid": uid(owner)
            })
        })
        .into_iter()
        .collect();
    let specs: Vec<Value> = containers
        .iter()
        .map(|C(cname, image, cpu)| {
            let mut limits = json!({"memory": "512Mi"});
            if let Some(cpu) = cpu {
                limits["cpu"] = json!(cpu);
            }
            json!({
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "name": cname,
                "resources": {"limits": limits, "requests": {"cpu": "100m", "memory": "256Mi"}},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": "kube-api-access-x2x9z", "readOnly": true}]
            })
        })
        .collect();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|C(cname, image, _)| {
            json!({
                "containerID": format!("containerd://{}", uid(cname)),
                "image": image,
                "imageID": format!("{image}@sha256:4c1e997385b8fb4ad4d1d3c7e5f1a1a2b3c4d5e6f708192a3b4c5d6e7f809"),
                "lastState": {},
                "name": cname,
                "ready": ready,
                "restartCount": 0,
                "started": true,
                "state": {"running": {"startedAt": "2026-11-20T10:00:05Z"}}
            })
        })
        .collect();
    let ready_s = if ready { "True" } else { "False" };
    let mut metadata = json!({
        "creationTimestamp": "2026-11-20T10:00:00Z",
        "generateName": format!("{}-", owner.map_or(name, |o| o.1)),
        "labels": {"app": owner.map_or(name, |o| o.1).split('-').next().unwrap_or(name), "pod-template-hash": "5d8f7c9b6"},
        "managedFields": managed_fields("kubelet"),
        "name": name,
        "namespace": ns,
        "resourceVersion": "48217",
        "uid": uid(name)
    });
    if !owner_refs.is_empty() {
        metadata["ownerReferences"] = json!(owner_refs);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "containers": specs,
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "nodeName": node_name,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccount": "default",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
            "tolerations": [
                {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}
            ],
            "volumes": [{"name": "kube-api-access-x2x9z", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}]
        },
        "status": {
            "conditions": [
                {"lastProbeTime": null, "lastTransitionTime": "2026-11-20T10:00:00Z", "status": "True", "type": "Initialized"},
                {"lastProbeTime": null, "lastTransitionTime": "2026-11-20T10:00:06Z", "status": ready_s, "type": "Ready"},
                {"lastProbeTime": null, "lastTransitionTime": "2026-11-20T10:00:06Z", "status": ready_s, "type": "ContainersReady"},
                {"lastProbeTime": null, "lastTransitionTime": "2026-11-20T10:00:00Z", "status": "True", "type": "PodScheduled"}
            ],
            "containerStatuses": statuses,
            "hostIP": "10.0.1.17",
            "hostIPs": [{"ip": "10.0.1.17"}],
            "phase": "Running",
            "podIP": "10.244.1.23",
            "podIPs": [{"ip": "10.244.1.23"}],
            "qosClass": "Burstable",
            "startTime": "2026-11-20T10:00:00Z"
        }
    })
}

/// Marks a container of a pod made by [`pod`] as restarted after an OOM kill.
pub fn oom_killed(mut pod: Value, container: &str, restarts: i64) -> Value {
    if let Some(statuses) = pod
        .pointer_mut("/status/containerStatuses")
        .and_then(Value::as_array_mut)
    {
        for s in statuses.iter_mut().filter(|s| s["name"] == container) {
            s["restartCount"] = json!(restarts);
            s["lastState"] = json!({"terminated": {
                "containerID": "containerd://0b3a9e", "exitCode": 137,
                "finishedAt": "2026-11-27T09:58:00Z", "reason": "OOMKilled",
                "startedAt": "2026-11-27T09:30:00Z"}});
        }
    }
    pod
}

/// A ReplicaSet owned by Deployment `deployment`.
pub fn replicaset(ns: &str, name: &str, deployment: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "annotations": {"deployment.kubernetes.io/desired-replicas": replicas.to_string(), "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string(), "deployment.kubernetes.io/revision": "1"},
            "creationTimestamp": "2026-11-20T10:00:00Z",
            "generation": 1,
            "labels": {"app": deployment, "pod-template-hash": "5d8f7c9b6"},
            "managedFields": managed_fields("kube-controller-manager"),
            "name": name,
            "namespace": ns,
            "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true, "kind": "Deployment", "name": deployment, "uid": uid(deployment)}],
            "resourceVersion": "48220",
            "uid": uid(name)
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": deployment, "pod-template-hash": "5d8f7c9b6"}},
            "template": {
                "metadata": {"labels": {"app": deployment, "pod-template-hash": "5d8f7c9b6"}},
                "spec": {"containers": [{"image": "example/api:1.0", "name": "api", "resources": {}}]}
            }
        },
        "status": {"availableReplicas": replicas, "fullyLabeledReplicas": replicas, "observedGeneration": 1, "readyReplicas": replicas, "replicas": replicas}
    })
}

/// A Deployment with `ready` of `replicas` ready.
pub fn deployment(ns: &str, name: &str, replicas: i64, ready: i64) -> Value {
    let mut status = json!({
        "availableReplicas": ready,
        "conditions": [
            {"lastTransitionTime": "2026-11-20T10:00:10Z", "lastUpdateTime": "2026-11-20T10:00:10Z", "message": "Deployment has minimum availability.", "reason": "MinimumReplicasAvailable", "status": if ready > 0 { "True" } else { "False" }, "type": "Available"}
        ],
        "observedGeneration": 1,
        "readyReplicas": ready,
        "replicas": replicas,
        "updatedReplicas": replicas
    });
    if ready < replicas {
        status["unavailableReplicas"] = json!(replicas - ready);
    }
    if ready == 0 {
        status.as_object_mut().map(|s| {
            s.remove("readyReplicas");
            s.remove("availableReplicas")
        });
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "creationTimestamp": "2026-11-20T10:00:00Z",
            "generation": 1,
            "labels": {"app": name},
            "managedFields": managed_fields("kubectl-client-side-apply"),
            "name": name,
            "namespace": ns,
            "resourceVersion": "48230",
            "uid": uid(name)
        },
        "spec": {
            "progressDeadlineSeconds": 600,
            "replicas": replicas,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"podAffinityTerm": {"labelSelector": {"matchLabels": {"app": name}}, "topologyKey": "kubernetes.io/hostname"}, "weight": 100}]}},
                    "containers": [{"image": "example/api:1.0", "imagePullPolicy": "IfNotPresent", "name": "api", "resources": {"limits": {"cpu": "2", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "256Mi"}}}],
                    "restartPolicy": "Always"
                }
            }
        },
        "status": status
    })
}

/// A DaemonSet with the given status numbers (desired, ready).
pub fn daemonset(ns: &str, name: &str, image: &str, desired: i64, ready: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "annotations": {"deprecated.daemonset.template.generation": "1"},
            "creationTimestamp": "2026-11-01T08:00:00Z",
            "generation": 1,
            "labels": {"app.kubernetes.io/name": name},
            "managedFields": managed_fields("helm"),
            "name": name,
            "namespace": ns,
            "resourceVersion": "48240",
            "uid": uid(name)
        },
        "spec": {
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {
                    "containers": [{"image": image, "imagePullPolicy": "IfNotPresent", "name": name, "resources": {}}],
                    "tolerations": [{"operator": "Exists"}]
                }
            },
            "updateStrategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}, "type": "RollingUpdate"}
        },
        "status": {
            "currentNumberScheduled": desired,
            "desiredNumberScheduled": desired,
            "numberAvailable": ready,
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberUnavailable": desired - ready,
            "observedGeneration": 1,
            "updatedNumberScheduled": desired
        }
    })
}

/// A core/v1 Event about `(kind, ns, name)`, as `kubectl get events -o json` prints it.
pub fn event(ns: &str, kind: &str, name: &str, reason: &str, count: i64, message: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "count": count,
        "eventTime": null,
        "firstTimestamp": "2026-11-27T09:00:00Z",
        "involvedObject": {"apiVersion": "v1", "kind": kind, "name": name, "namespace": ns, "resourceVersion": "48217", "uid": uid(name)},
        "kind": "Event",
        "lastTimestamp": "2026-11-27T09:58:00Z",
        "message": message,
        "metadata": {"creationTimestamp": "2026-11-27T09:00:00Z", "name": format!("{name}.17a9c3e2b1d0f4a5"), "namespace": ns, "resourceVersion": "48250", "uid": uid(reason)},
        "reason": reason,
        "reportingComponent": "kubelet",
        "reportingInstance": "ip-10-0-1-17",
        "source": {"component": "kubelet", "host": "ip-10-0-1-17"},
        "type": "Warning"
    })
}

/// Runs one rule over a List of these objects.
pub fn run(rule: &'static crate::rules::Rule, items: Vec<Value>) -> Vec<crate::rules::Finding> {
    crate::rules::check(rule, &list(items))
}
