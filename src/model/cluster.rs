//! Live state as rules read it: nodes, readiness, ownership, addresses, load-balancer ingress.
//!
//! The same functions serve a live cluster, a snapshot and a `kubectl get -o json` dump: they
//! only read `status` and `metadata` fields the API server fills in. No IO; missing fields
//! yield "unknown" (None), never a guess.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::load::Object;
use crate::model::Index;
use crate::node::Node;

/// Whether the objects carry live state: any Node, or any Pod with a `status`.
pub fn has_live_state(objects: &[Object]) -> bool {
    objects.iter().any(|o| {
        o.group().is_empty()
            && (o.kind == "Node"
                || (o.kind == "Pod" && o.root.get("status").is_some_and(|s| !s.is_null())))
    })
}

/// The status of a condition (`Ready`, ...) in `status.conditions`: `"True"`, `"False"`, `"Unknown"`.
pub fn condition<'a>(object: &'a Object, kind: &str) -> Option<&'a Node> {
    object
        .root
        .path(&["status", "conditions"])?
        .as_seq()
        .iter()
        .find(|c| c.str_at(&["type"]) == Some(kind))
}

/// A Pod is ready when its `Ready` condition is `"True"` (what Services and rollouts count).
pub fn pod_ready(pod: &Object) -> bool {
    condition(pod, "Ready").and_then(|c| c.str_at(&["status"])) == Some("True")
}

/// The object's controller, from `metadata.ownerReferences` (`controller: true`).
pub fn controller_of(object: &Object) -> Option<(&str, &str)> {
    let refs = object.root.path(&["metadata", "ownerReferences"])?;
    refs.as_seq()
        .iter()
        .find(|r| r.get("controller").and_then(Node::as_bool) == Some(true))
        .and_then(|r| Some((r.str_at(&["kind"])?, r.str_at(&["name"])?)))
}

/// Whether a controller manages this object (a ReplicaSet owned by a Deployment, a Pod owned
/// by a ReplicaSet, a Job by a CronJob). Manifest rules that judge workloads should skip these
/// on live state, or they report each Deployment again through its ReplicaSets and Pods.
pub fn is_controlled(object: &Object) -> bool {
    controller_of(object).is_some()
}

/// Objects by (kind, namespace, name), for following ownerReferences.
pub struct Owners<'a> {
    by_name: HashMap<(&'a str, &'a str, &'a str), &'a Object>,
}

impl<'a> Owners<'a> {
    pub fn new(index: &Index<'a>) -> Self {
        let by_name = index
            .objects
            .iter()
            .filter(|o| o.namespace.is_some())
            .map(|o| {
                (
                    (o.kind.as_str(), o.namespace_or_default(), o.name.as_str()),
                    o,
                )
            })
            .collect();
        Owners { by_name }
    }

    /// The top of a Pod's controller chain: Pod → ReplicaSet → Deployment, Pod → Job →
    /// CronJob, Pod → StatefulSet. When an owner is missing from the picture (not read, or
    /// gone), the last known one is returned as (kind, name) without an object.
    pub fn top_owner(&self, object: &'a Object) -> Option<(String, String, Option<&'a Object>)> {
        let mut current = object;
        let mut top: Option<(String, String, Option<&'a Object>)> = None;
        // Ownership chains are short; the bound guards against cycles in hand-made input.
        for _ in 0..8 {
            let Some((kind, name)) = controller_of(current) else {
                break;
            };
            match self
                .by_name
                .get(&(kind, current.namespace_or_default(), name))
            {
                Some(owner) => {
                    top = Some((kind.to_owned(), name.to_owned(), Some(owner)));
                    current = owner;
                }
                None => {
                    top = Some((kind.to_owned(), name.to_owned(), None));
                    break;
                }
            }
        }
        top
    }
}

/// A ready core Pod placed on a node, with the top of its controller chain.
pub struct Placed<'a> {
    pub pod: &'a Object,
    pub node: &'a str,
    /// (kind, name, object when loaded) of the top controller.
    pub owner: (String, String, Option<&'a Object>),
}

/// Every ready Pod with a node and a controller: what `workload.replicas-colocated` counts and
/// the HTML report pictures, from one place so the two never disagree.
pub fn ready_placements<'a>(
    index: &Index<'a>,
    owners: &Owners<'a>,
) -> impl Iterator<Item = Placed<'a>> {
    let pods: Vec<&'a Object> = index.of_kind("Pod").collect();
    pods.into_iter()
        .filter(|p| p.group().is_empty() && pod_ready(p))
        .filter_map(|pod| {
            let node = pod.root.str_at(&["spec", "nodeName"])?;
            let owner = owners.top_owner(pod)?;
            Some(Placed { pod, node, owner })
        })
}

/// Nodes by name.
pub fn nodes_by_name<'a>(index: &Index<'a>) -> HashMap<&'a str, &'a Object> {
    index
        .of_kind("Node")
        .filter(|n| n.group().is_empty())
        .map(|n| (n.name.as_str(), n))
        .collect()
}

/// Node addresses as (type, address): `InternalIP`, `ExternalIP`, `Hostname`, `InternalDNS`, ...
pub fn node_addresses(node: &Object) -> Vec<(&str, &str)> {
    node.root
        .path(&["status", "addresses"])
        .map_or(&[][..], Node::as_seq)
        .iter()
        .filter_map(|a| Some((a.str_at(&["type"])?, a.str_at(&["address"])?)))
        .collect()
}

/// Whether the node has a public address. `Some(false)`: addresses are known and none is an
/// `ExternalIP` (on AWS: a private subnet whose internet route is a NAT device); `None`: the
/// node reports no addresses at all (a manifest, or a stripped dump).
pub fn has_external_ip(node: &Object) -> Option<bool> {
    let addresses = node_addresses(node);
    if addresses.is_empty() {
        return None;
    }
    Some(addresses.iter().any(|(t, _)| *t == "ExternalIP"))
}

/// Whether an IP is reachable from the internet: false for private, shared (CGNAT),
/// loopback, link-local and unique-local ranges.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// What one `status.loadBalancer.ingress` entry says about reachability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// A public IP, or an AWS CLB/ALB name without `internal-`: proof of exposure.
    Public(String),
    /// A private IP, or an AWS `internal-` name.
    Private(String),
    /// A hostname we cannot judge without resolving it (e.g. an AWS NLB name).
    Unknown(String),
}

/// Judges every `status.loadBalancer.ingress` entry of a Service (or an Ingress). Empty when
/// there is no status (a manifest) or the load balancer is not provisioned yet.
pub fn load_balancer_reach(object: &Object) -> Vec<Reach> {
    object
        .root
        .path(&["status", "loadBalancer", "ingress"])
        .map_or(&[][..], Node::as_seq)
        .iter()
        .filter_map(|entry| {
            if let Some(ip) = entry.str_at(&["ip"]) {
                return Some(match ip.parse::<IpAddr>() {
                    Ok(addr) if is_public_ip(addr) => Reach::Public(ip.to_owned()),
                    Ok(_) => Reach::Private(ip.to_owned()),
                    Err(_) => Reach::Unknown(ip.to_owned()),
                });
            }
            entry.str_at(&["hostname"]).map(hostname_reach)
        })
        .collect()
}

/// AWS names: internal CLBs/ALBs are `internal-<name>-<id>.<region>.elb.amazonaws.com`; other
/// `<region>.elb.amazonaws.com` names are internet-facing. NLB names
/// (`<name>-<id>.elb.<region>.amazonaws.com`) carry no such mark, nor do other clouds' names.
fn hostname_reach(hostname: &str) -> Reach {
    let h = hostname.to_ascii_lowercase();
    if h.starts_with("internal-") {
        Reach::Private(hostname.to_owned())
    } else if h.ends_with(".elb.amazonaws.com") {
        Reach::Public(hostname.to_owned())
    } else {
        Reach::Unknown(hostname.to_owned())
    }
}

/// A node label that names its zone.
pub fn zone_of(node: &Object) -> Option<&str> {
    let labels = node.labels();
    labels
        .get("topology.kubernetes.io/zone")
        .or_else(|| labels.get("failure-domain.beta.kubernetes.io/zone"))
        .and_then(Node::as_str)
}

/// CPU cores in `status.capacity.cpu` (`"16"`, `"3500m"`).
pub fn cpu_cores(node: &Object) -> Option<f64> {
    let n = node.root.path(&["status", "capacity", "cpu"])?;
    match n.as_str() {
        Some(s) => match s.strip_suffix('m') {
            Some(milli) => milli.parse::<f64>().ok().map(|m| m / 1000.0),
            None => s.parse().ok(),
        },
        None => n.as_i64().map(|i| i as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn objects(json: &str) -> Vec<Object> {
        let loaded = crate::load::load_bytes(Arc::from("t.json"), json.as_bytes(), None);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        loaded.objects
    }

    #[test]
    fn addresses_and_external_ip() {
        let o = objects(
            r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"},"status":{"addresses":[
            {"type":"InternalIP","address":"10.0.1.5"},{"type":"Hostname","address":"ip-10-0-1-5"}]}}"#,
        );
        assert_eq!(has_external_ip(&o[0]), Some(false));
        let o = objects(
            r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"},"status":{"addresses":[
            {"type":"InternalIP","address":"10.0.1.5"},{"type":"ExternalIP","address":"54.1.2.3"}]}}"#,
        );
        assert_eq!(has_external_ip(&o[0]), Some(true));
        let o = objects(r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"}}"#);
        assert_eq!(has_external_ip(&o[0]), None);
    }

    #[test]
    fn load_balancer_ingress() {
        let o = objects(
            r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"status":{"loadBalancer":{"ingress":[
            {"ip":"35.1.2.3"},{"ip":"10.2.3.4"},{"ip":"100.64.0.1"},
            {"hostname":"a1b2-123.eu-west-1.elb.amazonaws.com"},
            {"hostname":"internal-a1b2-123.eu-west-1.elb.amazonaws.com"},
            {"hostname":"nlb-0123.elb.eu-west-1.amazonaws.com"}]}}}"#,
        );
        assert_eq!(
            load_balancer_reach(&o[0]),
            [
                Reach::Public("35.1.2.3".into()),
                Reach::Private("10.2.3.4".into()),
                Reach::Private("100.64.0.1".into()),
                Reach::Public("a1b2-123.eu-west-1.elb.amazonaws.com".into()),
                Reach::Private("internal-a1b2-123.eu-west-1.elb.amazonaws.com".into()),
                Reach::Unknown("nlb-0123.elb.eu-west-1.amazonaws.com".into()),
            ]
        );
    }

    #[test]
    fn public_ips() {
        for (ip, public) in [
            ("8.8.8.8", true),
            ("172.16.0.1", false),
            ("172.32.0.1", true),
            ("192.168.1.1", false),
            ("100.127.255.255", false),
            ("100.128.0.1", true),
            ("fd00::1", false),
            ("2600:1f18::1", true),
        ] {
            assert_eq!(is_public_ip(ip.parse().expect("ip")), public, "{ip}");
        }
    }

    #[test]
    fn controlled_objects_are_not_workloads_of_their_own() {
        let o = objects(
            r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api","namespace":"web"},"spec":{"template":{"spec":{"containers":[]}}}},
            {"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"api-1","namespace":"web","ownerReferences":[{"kind":"Deployment","name":"api","controller":true}]},"spec":{"template":{"spec":{"containers":[]}}}},
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"api-1-a","namespace":"web","ownerReferences":[{"kind":"ReplicaSet","name":"api-1","controller":true}]},"spec":{"containers":[]}},
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"orphan","namespace":"web","ownerReferences":[{"kind":"ReplicaSet","name":"gone","controller":true}]},"spec":{"containers":[]}}]}"#,
        );
        let index = Index::new(&o);
        let names: Vec<&str> = index
            .workloads
            .iter()
            .map(|w| w.object.name.as_str())
            .collect();
        assert_eq!(names, ["api", "orphan"]);
        let owners = Owners::new(&index);
        let top = owners.top_owner(&o[2]).expect("owned");
        assert_eq!((top.0.as_str(), top.1.as_str()), ("Deployment", "api"));
    }

    #[test]
    fn live_state_and_cores() {
        let manifests = objects(
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[]}}"#,
        );
        assert!(!has_live_state(&manifests));
        let live = objects(
            r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"},"status":{"capacity":{"cpu":"3500m"}}}"#,
        );
        assert!(has_live_state(&live));
        assert_eq!(cpu_cores(&live[0]), Some(3.5));
    }
}
