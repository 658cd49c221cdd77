//! The effective security context of a container.
//!
//! Kubernetes applies `runAsUser`, `runAsGroup` and `runAsNonRoot` from the pod's
//! `securityContext` to every container (init containers included) unless the container sets
//! the same field. Several peers get this wrong (see `shared/research/peers.md` §4); we keep the
//! node each value came from so findings point at the line that decided it.

use super::Container;
use crate::node::Node;

/// Where an effective value was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Pod,
    Container,
}

/// A value with the node it came from.
#[derive(Debug, Clone, Copy)]
pub struct Setting<'a, T> {
    pub value: T,
    pub origin: Origin,
    pub node: &'a Node,
}

/// The fields of the effective security context that rules read.
#[derive(Debug, Clone, Copy)]
pub struct Effective<'a> {
    pub run_as_user: Option<Setting<'a, i64>>,
    pub run_as_non_root: Option<Setting<'a, bool>>,
    /// `privileged` is container-only in the API.
    pub privileged: Option<Setting<'a, bool>>,
    pub allow_privilege_escalation: Option<Setting<'a, bool>>,
}

/// Whether the container may run as root, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootVerdict {
    /// The manifest states UID 0.
    Root,
    /// Nothing forbids root: the image's `USER` decides.
    ImageDecides,
    /// `runAsNonRoot: true` or a non-zero `runAsUser`.
    NonRoot,
}

impl<'a> Effective<'a> {
    pub fn of(pod_spec: &'a Node, container: &Container<'a>) -> Effective<'a> {
        let pod = pod_spec.get("securityContext");
        let own = container.node.get("securityContext");
        fn pick<'a, T>(
            pod: Option<&'a Node>,
            own: Option<&'a Node>,
            key: &str,
            read: fn(&Node) -> Option<T>,
        ) -> Option<Setting<'a, T>> {
            let from = |ctx: Option<&'a Node>, origin| {
                let node = ctx?.get(key)?;
                Some(Setting {
                    value: read(node)?,
                    origin,
                    node,
                })
            };
            from(own, Origin::Container).or_else(|| from(pod, Origin::Pod))
        }
        Effective {
            run_as_user: pick(pod, own, "runAsUser", Node::as_i64),
            run_as_non_root: pick(pod, own, "runAsNonRoot", Node::as_bool),
            privileged: pick(None, own, "privileged", Node::as_bool),
            allow_privilege_escalation: pick(None, own, "allowPrivilegeEscalation", Node::as_bool),
        }
    }

    pub fn is_privileged(&self) -> bool {
        self.privileged.is_some_and(|p| p.value)
    }

    /// A stated UID 0 is root even with `runAsNonRoot: true` (the kubelet then refuses to start
    /// the container, which is its own outage); `runAsNonRoot: true` or a non-zero UID forbid root.
    pub fn root_verdict(&self) -> RootVerdict {
        match (self.run_as_user, self.run_as_non_root) {
            (Some(u), _) if u.value == 0 => RootVerdict::Root,
            (Some(_), _) => RootVerdict::NonRoot,
            (None, Some(n)) if n.value => RootVerdict::NonRoot,
            _ => RootVerdict::ImageDecides,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::containers;

    fn verdicts(spec: serde_json::Value) -> Vec<RootVerdict> {
        let spec = Node::from_json(&spec, 1);
        containers(&spec)
            .map(|c| Effective::of(&spec, &c).root_verdict())
            .collect()
    }

    #[test]
    fn inheritance_and_overrides() {
        use RootVerdict::*;
        // Pod-level non-root is inherited by init and regular containers.
        assert_eq!(
            verdicts(
                serde_json::json!({"securityContext": {"runAsNonRoot": true},
                "initContainers": [{"name": "i"}], "containers": [{"name": "c"}]})
            ),
            [NonRoot, NonRoot]
        );
        // A container turning runAsNonRoot off overrides the pod (Trivy misses this).
        assert_eq!(
            verdicts(
                serde_json::json!({"securityContext": {"runAsNonRoot": true},
                "containers": [{"name": "c", "securityContext": {"runAsNonRoot": false}}]})
            ),
            [ImageDecides]
        );
        // Pod UID 1000 with container runAsNonRoot false still runs as 1000 (Polaris flags it).
        assert_eq!(
            verdicts(serde_json::json!({"securityContext": {"runAsUser": 1000},
                "containers": [{"name": "c", "securityContext": {"runAsNonRoot": false}}]})),
            [NonRoot]
        );
        // An init container with UID 0 is root (Checkov misses init containers).
        assert_eq!(
            verdicts(serde_json::json!({"securityContext": {"runAsUser": 1000},
                "initContainers": [{"name": "i", "securityContext": {"runAsUser": 0}}],
                "containers": [{"name": "c"}]})),
            [Root, NonRoot]
        );
        assert_eq!(
            verdicts(serde_json::json!({"containers": [{"name": "c"}]})),
            [ImageDecides]
        );
    }
}
