//! `security.sensitive-host-mount`: hostPath volumes that hand a pod the node.
//!
//! `/var/log` is deliberately not on the list: log shippers mount it to do their job, and what
//! it exposes is logs, not control of the node. Polaris `hostPathSet` flags every hostPath, so
//! we disagree with it there on purpose (see `tests/peers.rs`).

use super::privileged_container::{describe, finding_container};
use crate::node::Node;
use crate::rules::{Context, Meta, Needs, Rule, Severity, Sink};
use crate::stories::Story;

pub static RULE: Rule = Rule {
    meta: Meta {
        id: "security.sensitive-host-mount",
        title: "hostPath volume on a sensitive node path",
        severity: Severity::High,
        stories: &[Story::JwPlayer],
        needs: Needs::Manifests,
        rationale: "A hostPath volume puts a piece of the node's filesystem into the pod. Some pieces \
            are the node: the container runtime socket (`/var/run/docker.sock`, containerd, CRI-O) \
            lets the pod start a privileged container on the node, and `/` is everything (both \
            critical). Others hold its credentials and state: `/etc` (kubelet and admin kubeconfigs in \
            `/etc/kubernetes`), `/var/lib/kubelet` (every pod's secrets), `/var/lib/docker` and \
            `/var/lib/containerd` (every container's filesystem and environment), `/proc`, `/sys`, \
            `/dev`, `/boot`, `/root`, `/home`. The Weave Scope agent at JW Player mounted the Docker \
            socket; through Scope's public UI an attacker could start containers on every node and \
            ran a miner there. Read-only mounts are reported too (a socket works read-only, and \
            secrets leak by reading); `/var/log` is not reported, since log shippers need it. Paths \
            are normalised (`//`, trailing `/`, `..`) and a mount's `subPath` narrows the path.",
        remediation: "Drop the hostPath volume. Use the Kubernetes API instead of the runtime socket, \
            a `configMap`/`secret`/`projected` volume instead of host files, and `emptyDir` for \
            scratch space. If a node agent must mount host paths, mount the narrowest path \
            `readOnly: true` and keep the agent unreachable from outside the cluster.",
        example: r#"apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: weave-scope-agent
spec:
  selector:
    matchLabels: {app: weave-scope-agent}
  template:
    metadata:
      labels: {app: weave-scope-agent}
    spec:
      containers:
      - name: scope-agent
        image: weaveworks/scope:1.13.2
        volumeMounts:
        - name: docker-socket
          mountPath: /var/run/docker.sock
      volumes:
      - name: docker-socket
        hostPath:
          path: /var/run/docker.sock
"#,
    },
    check,
};

/// Container runtime sockets: whoever can connect controls every container on the node.
const SOCKETS: [&str; 11] = [
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/containerd/containerd.sock",
    "/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
    "/run/crio/crio.sock",
    "/var/run/cri-dockerd.sock",
    "/run/cri-dockerd.sock",
    "/var/run/dockershim.sock",
    "/run/k3s/containerd/containerd.sock",
    "/run/podman/podman.sock",
];

/// Node paths that hold its credentials, state or kernel interfaces, with what they expose.
const SENSITIVE: [(&str, &str); 13] = [
    (
        "/etc",
        "node configuration and credentials (`/etc/kubernetes` holds kubeconfigs)",
    ),
    ("/proc", "every host process and kernel tunables"),
    ("/sys", "kernel and device interfaces"),
    ("/dev", "the node's devices"),
    ("/boot", "the node's kernel and boot loader"),
    (
        "/root",
        "the root user's home directory (SSH keys, credentials)",
    ),
    ("/home", "users' home directories (SSH keys, credentials)"),
    (
        "/var/lib/kubelet",
        "every pod's secrets and the kubelet's credentials",
    ),
    (
        "/var/lib/docker",
        "every container's filesystem and configuration (environment secrets)",
    ),
    ("/var/lib/containerd", "every container's filesystem"),
    (
        "/var/lib/containers",
        "every CRI-O/Podman container's filesystem",
    ),
    ("/var/lib/etcd", "the cluster's etcd data (every Secret)"),
    ("/var/lib/rancher", "k3s/RKE2 state and credentials"),
];

/// Read-only files under `/etc` that are harmless to share (time zone, CA bundles).
const BENIGN_READ_ONLY: [&str; 7] = [
    "/etc/localtime",
    "/etc/timezone",
    "/etc/machine-id",
    "/etc/ssl/certs",
    "/etc/pki/tls/certs",
    "/etc/pki/ca-trust",
    "/etc/ca-certificates",
];

/// An absolute path with `//`, `.`, `..` and trailing slashes resolved; `None` when relative.
pub fn normalise(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Whether `path` is `dir` or below it.
fn under(path: &str, dir: &str) -> bool {
    path == dir || dir == "/" || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// Why a (normalised) host path is sensitive, and how much.
pub fn classify(path: &str) -> Option<(Severity, String)> {
    if path == "/" {
        return Some((Severity::Critical, "the node's whole filesystem".to_owned()));
    }
    if let Some(socket) = SOCKETS.iter().find(|s| under(s, path)) {
        let what = if *socket == path {
            "the container runtime socket".to_owned()
        } else {
            format!("a directory holding container runtime sockets (such as `{socket}`)")
        };
        return Some((
            Severity::Critical,
            format!("{what}: whoever connects can start a privileged container on the node"),
        ));
    }
    if let Some((dir, why)) = SENSITIVE.iter().find(|(d, _)| under(path, d)) {
        let at = if *dir == path {
            String::new()
        } else {
            format!(" (under `{dir}`)")
        };
        return Some((Severity::High, format!("{why}{at}")));
    }
    // An ancestor of a sensitive directory (`/var/lib`, `/var`) exposes all of it.
    if let Some((dir, why)) = SENSITIVE.iter().find(|(d, _)| under(d, path)) {
        return Some((Severity::High, format!("it contains `{dir}`: {why}")));
    }
    None
}

fn check(cx: &Context<'_>, out: &mut Sink) {
    for w in &cx.index.workloads {
        for volume in w.pod_spec.seq_at("volumes") {
            let Some(path_node) = volume.path(&["hostPath", "path"]) else {
                continue;
            };
            let Some(raw) = path_node.as_str() else {
                continue;
            };
            let Some(path) = normalise(raw) else {
                continue;
            };
            let name = volume.str_at(&["name"]).unwrap_or("");
            let mut mounted = false;
            for c in w.containers() {
                for mount in c.node.seq_at("volumeMounts") {
                    if mount.str_at(&["name"]) != Some(name) {
                        continue;
                    }
                    mounted = true;
                    // A subPath mounts only that part of the volume.
                    let sub = mount.str_at(&["subPath"]).filter(|s| !s.is_empty());
                    let host = match sub {
                        Some(s) => normalise(&format!("{path}/{s}")).unwrap_or(path.clone()),
                        None => path.clone(),
                    };
                    let read_only = mount.get("readOnly").and_then(Node::as_bool) == Some(true);
                    if read_only && BENIGN_READ_ONLY.iter().any(|b| under(&host, b)) {
                        continue;
                    }
                    let Some((severity, why)) = classify(&host) else {
                        continue;
                    };
                    let access = if read_only { "read-only" } else { "writable" };
                    let at = mount.get("mountPath").or(Some(mount));
                    out.report(
                        w.object,
                        finding_container(c.name),
                        at,
                        format!(
                            "{} of {} `{}` mounts host path `{host}` {access} at `{}`: {why}",
                            describe(c.kind, c.name),
                            w.object.kind,
                            w.object.name,
                            mount.str_at(&["mountPath"]).unwrap_or("?"),
                        ),
                    )
                    .severity = severity;
                }
            }
            if !mounted
                && !BENIGN_READ_ONLY.iter().any(|b| under(&path, b))
                && let Some((severity, why)) = classify(&path)
            {
                out.report(
                    w.object,
                    None,
                    Some(path_node),
                    format!(
                        "{} `{}` declares hostPath volume `{name}` on `{path}` (no container mounts it yet): {why}",
                        w.object.kind, w.object.name
                    ),
                )
                .severity = severity;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::check as run;

    fn pod(path: &str, mount: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: c\n    volumeMounts: [{{name: v, mountPath: /host{mount}}}]\n  volumes:\n  - name: v\n    hostPath: {{path: \"{path}\"}}\n"
        )
    }

    fn severities(path: &str, mount: &str) -> Vec<Severity> {
        run(&RULE, &pod(path, mount))
            .into_iter()
            .map(|f| f.severity)
            .collect()
    }

    #[test]
    fn normalises_paths() {
        assert_eq!(
            normalise("/var/run//docker.sock/").as_deref(),
            Some("/var/run/docker.sock")
        );
        assert_eq!(
            normalise("/var/log/../../etc/./kubernetes").as_deref(),
            Some("/etc/kubernetes")
        );
        assert_eq!(normalise("/..").as_deref(), Some("/"));
        assert_eq!(normalise("relative"), None);
    }

    #[test]
    fn example_is_critical_and_points_at_the_mount() {
        let f = run(&RULE, RULE.meta.example);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].container.as_deref(), Some("scope-agent"));
        assert_eq!(f[0].location.line, 17);
    }

    #[test]
    fn root_and_sockets_are_critical_others_high() {
        use Severity::*;
        for (path, want) in [
            ("/", Critical),
            ("//", Critical),
            ("/run/containerd/containerd.sock", Critical),
            ("/var/run/crio/crio.sock", Critical),
            ("/var/run", Critical),
            ("/run/", Critical),
            ("/var/run/docker.sock/", Critical),
            ("/etc", High),
            ("/etc/kubernetes", High),
            ("/var/lib/kubelet", High),
            ("/var/lib/docker/containers", High),
            ("/var/lib", High),
            ("/proc", High),
            ("/sys/kernel/debug", High),
            ("/root", High),
            ("/home/admin", High),
            ("/boot", High),
            ("/dev", High),
        ] {
            assert_eq!(severities(path, ""), [want], "{path}");
        }
    }

    #[test]
    fn ordinary_paths_pass() {
        for path in [
            "/var/log",
            "/var/log/pods",
            "/run/xtables.lock",
            "/opt/data",
            "/tmp",
            "/lib/modules",
            "/mnt/disks/ssd0",
        ] {
            assert!(severities(path, "").is_empty(), "{path}");
        }
    }

    #[test]
    fn sub_path_narrows_and_read_only_is_noted() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    volumeMounts:\n    - {name: v, mountPath: /logs, subPath: var/log}\n    - {name: v, mountPath: /cfg, subPath: etc, readOnly: true}\n  volumes:\n  - name: v\n    hostPath: {path: /}\n";
        let f = run(&RULE, y);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("`/etc` read-only"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn benign_etc_files_pass_only_read_only() {
        let ro = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    volumeMounts: [{name: v, mountPath: /etc/localtime, readOnly: true}]\n  volumes:\n  - {name: v, hostPath: {path: /etc/localtime}}\n";
        assert!(run(&RULE, ro).is_empty());
        assert_eq!(run(&RULE, &ro.replace("true", "false")).len(), 1);
    }

    #[test]
    fn unmounted_volume_is_reported_on_the_pod() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c}]\n  volumes:\n  - name: v\n    hostPath:\n      path: /etc\n";
        let f = run(&RULE, y);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].container, None);
        assert_eq!(f[0].location.line, 9);
    }
}
