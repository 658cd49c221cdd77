//! Who can reach a Service from outside the cluster: the decision both exposure rules share.
//!
//! Invariants: the verdict follows the cloud controllers' own comparisons (exact annotation
//! values, see `shared/research/stories.md`, jwplayer section), never a guess dressed as fact:
//! when the answer depends on which controller runs (AWS in-tree vs AWS Load Balancer
//! Controller), the verdict carries the assumption so findings can say it. Live
//! `status.loadBalancer.ingress` outranks annotations: it is the address the cloud handed out.
//! The built-in private ranges are extended by the config's `params.exposure.private-cidrs`
//! (a VPN or a corporate range the internet cannot route to); every verdict takes them.

use std::net::IpAddr;

use crate::config::ExposureParams;
use crate::load::Object;
use crate::node::Node;

/// How far a Service reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// ClusterIP, headless, ExternalName, or no type at all: not exposed by the Service itself.
    ClusterOnly,
    /// An internal load balancer or one restricted to private source ranges.
    Internal(String),
    /// A NodePort: public exactly when some node has an `ExternalIP` and its firewall allows it.
    NodePort,
    /// A public load balancer.
    Public(Public),
}

/// Why a load balancer counts as public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Public {
    /// `status.loadBalancer.ingress` proves it (a public IP, or a hostname that is not internal).
    pub proven: bool,
    /// How the verdict was reached, for messages: the live address, the annotation that says
    /// so, or the controller assumed when nothing in the Service names one.
    pub basis: String,
    /// Source ranges that restrict who may connect (empty = everyone).
    pub source_ranges: Vec<String>,
}

const AWS_INTERNAL: &str = "service.beta.kubernetes.io/aws-load-balancer-internal";
const AWS_SCHEME: &str = "service.beta.kubernetes.io/aws-load-balancer-scheme";
const AWS_TYPE: &str = "service.beta.kubernetes.io/aws-load-balancer-type";
const AWS_LBC_CLASS: &str = "service.k8s.aws/nlb";
const GKE_TYPE: &str = "networking.gke.io/load-balancer-type";
const GKE_TYPE_OLD: &str = "cloud.google.com/load-balancer-type";
const SOURCE_RANGES_ANNOTATION: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";

/// Internal-load-balancer annotations of other clouds: (key, value that means internal, cloud).
/// Values are compared exactly, as the controllers do; `None` means any value (Tencent takes a
/// subnet id).
const OTHER_CLOUDS: [(&str, Option<&str>, &str); 9] = [
    (
        "service.beta.kubernetes.io/azure-load-balancer-internal",
        Some("true"),
        "Azure",
    ),
    (
        "service.beta.kubernetes.io/oci-load-balancer-internal",
        Some("true"),
        "OCI",
    ),
    (
        "oci-network-load-balancer.oraclecloud.com/internal",
        Some("true"),
        "OCI NLB",
    ),
    (
        "service.kubernetes.io/ibm-load-balancer-cloud-provider-ip-type",
        Some("private"),
        "IBM Cloud",
    ),
    (
        "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type",
        Some("intranet"),
        "Alibaba Cloud",
    ),
    (
        "service.beta.kubernetes.io/openstack-internal-load-balancer",
        Some("true"),
        "OpenStack",
    ),
    (
        "service.beta.kubernetes.io/do-loadbalancer-network",
        Some("INTERNAL"),
        "DigitalOcean",
    ),
    (
        "service.kubernetes.io/qcloud-loadbalancer-internal-subnetid",
        None,
        "Tencent Cloud",
    ),
    (
        "service.beta.kubernetes.io/cce-load-balancer-internal-vpc",
        Some("true"),
        "Baidu CCE",
    ),
];
const HETZNER_PRIVATE: &str = "load-balancer.hetzner.cloud/disable-public-network";

/// The private ranges a source range must fall in to count as internal (RFC 1918, CGNAT
/// 100.64/10 and IPv6 unique local fc00::/7).
const PRIVATE: [(&str, u8); 5] = [
    ("10.0.0.0", 8),
    ("172.16.0.0", 12),
    ("192.168.0.0", 16),
    ("100.64.0.0", 10),
    ("fc00::", 7),
];

/// Parses `a.b.c.d/n`, `x::/n` or a bare address (as a host route). `None` when malformed.
pub fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let text = text.trim();
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((addr, len))
}

/// The address as a 128-bit number and the bit width of its family.
fn bits(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

/// Whether the network `(addr, len)` lies entirely inside `(range, range_len)`.
pub(crate) fn within(addr: IpAddr, len: u8, range: IpAddr, range_len: u8) -> bool {
    let ((a, width), (r, range_width)) = (bits(addr), bits(range));
    if width != range_width || len < range_len {
        return false;
    }
    let shift = u32::from(width - range_len);
    // A shift by the full width (range_len 0) would overflow: everything is inside /0.
    shift >= u32::from(width) || (a >> shift) == (r >> shift)
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`) as the IPv4 network they carry.
fn unmapped(addr: IpAddr, len: u8) -> (IpAddr, u8) {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) if len >= 96 => (IpAddr::V4(v4), len - 96),
            _ => (addr, len),
        },
        IpAddr::V4(_) => (addr, len),
    }
}

/// Whether a CIDR (or address) lies inside the built-in private ranges.
pub fn is_private(addr: IpAddr, len: u8) -> bool {
    let (addr, len) = unmapped(addr, len);
    PRIVATE.iter().any(|(range, range_len)| {
        let range: IpAddr = range.parse().expect("constant private range parses");
        within(addr, len, range, *range_len)
    })
}

/// The configured range (`params.exposure.private-cidrs`) that holds the whole network, if any.
fn configured_private(addr: IpAddr, len: u8, params: &ExposureParams) -> Option<String> {
    let (addr, len) = unmapped(addr, len);
    params.private_cidrs.iter().find_map(|c| {
        let (range, range_len) = unmapped(c.addr, c.prefix);
        within(addr, len, range, range_len).then(|| format!("{}/{}", c.addr, c.prefix))
    })
}

/// Whether a network lies inside the built-in private ranges or a configured one.
pub fn is_private_with(addr: IpAddr, len: u8, params: &ExposureParams) -> bool {
    is_private(addr, len) || configured_private(addr, len, params).is_some()
}

/// Whether a source range (as written) is private, built-in or configured.
fn private_range(range: &str, params: &ExposureParams) -> bool {
    parse_cidr(range).is_some_and(|(addr, len)| is_private_with(addr, len, params))
}

/// `" (private by params.exposure.private-cidrs: …)"` when a configured range decided, so
/// messages say why a public-looking address counts as private.
fn configured_note<'a>(
    addresses: impl IntoIterator<Item = &'a str>,
    params: &ExposureParams,
) -> String {
    let mut used: Vec<String> = addresses
        .into_iter()
        .filter_map(parse_cidr)
        .filter(|&(addr, len)| !is_private(addr, len))
        .filter_map(|(addr, len)| configured_private(addr, len, params))
        .collect();
    used.dedup();
    if used.is_empty() {
        String::new()
    } else {
        format!(
            " (private by `params.exposure.private-cidrs`: {})",
            used.join(", ")
        )
    }
}

/// `spec.loadBalancerSourceRanges`, or the older annotation when the field is empty (the
/// cloud providers read the annotation only then).
pub fn source_ranges(service: &Object) -> Vec<String> {
    let field: Vec<String> = service
        .spec()
        .seq_at("loadBalancerSourceRanges")
        .iter()
        .filter_map(Node::scalar_text)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if !field.is_empty() {
        return field;
    }
    service
        .annotation(SOURCE_RANGES_ANNOTATION)
        .map(|a| {
            a.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether source ranges let everyone in: none given, or one of them is a `/0`.
pub fn open_to_all(ranges: &[String]) -> bool {
    ranges.is_empty()
        || ranges
            .iter()
            .any(|r| parse_cidr(r).is_some_and(|(_, len)| len == 0))
}

/// What the Service's `status.loadBalancer.ingress` says, when it says anything.
enum Status {
    /// A public IP, or a hostname that is not an AWS `internal-` name.
    Public(String),
    /// Only private IPs or `internal-` hostnames.
    Internal(String),
    /// A hostname that does not tell (e.g. an AWS NLB name, internal or not).
    Hostname(String),
}

fn status(service: &Object, params: &ExposureParams) -> Option<Status> {
    let ingress = service
        .root
        .path(&["status", "loadBalancer", "ingress"])?
        .as_seq();
    let mut internal = None;
    let mut hostname = None;
    for entry in ingress {
        if let Some(ip) = entry.str_at(&["ip"]) {
            match ip.trim().parse::<IpAddr>() {
                Ok(addr) if !is_private_with(addr, host_len(addr), params) => {
                    return Some(Status::Public(ip.to_owned()));
                }
                Ok(_) => internal = Some(ip.to_owned()),
                Err(_) => {}
            }
        }
        if let Some(host) = entry.str_at(&["hostname"]) {
            // AWS names internal Classic and Application load balancers `internal-…`; NLB names
            // carry no such marker, so other hostnames are judged with the annotations.
            if host.starts_with("internal-") {
                internal = Some(host.to_owned());
            } else {
                hostname = Some(host.to_owned());
            }
        }
    }
    match (hostname, internal) {
        (Some(h), _) => Some(Status::Hostname(h)),
        (None, Some(i)) => Some(Status::Internal(i)),
        (None, None) => None,
    }
}

/// The prefix length of a single address.
fn host_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

/// The annotations' verdict: `Ok(reason)` internal, `Err(assumption)` public.
fn annotations_verdict(service: &Object) -> Result<String, String> {
    let ann = |key: &str| service.annotation(key);
    // GKE: the new key wins when present; `Internal` (or the deprecated `internal`) means internal.
    let gke = ann(GKE_TYPE)
        .map(|v| (GKE_TYPE, v))
        .or_else(|| ann(GKE_TYPE_OLD).map(|v| (GKE_TYPE_OLD, v)));
    if let Some((key, value)) = gke
        && (value == "Internal" || value == "internal")
    {
        return Ok(format!("`{key}: {value}`"));
    }
    for (key, wanted, cloud) in OTHER_CLOUDS {
        if let Some(value) = ann(key)
            && wanted.is_none_or(|w| w == value)
        {
            return Ok(format!("{cloud} `{key}: {value}`"));
        }
    }
    if ann(HETZNER_PRIVATE) == Some("true") {
        return Ok(format!("Hetzner `{HETZNER_PRIVATE}: true`"));
    }

    // AWS. The AWS Load Balancer Controller owns the Service when its class is set or the type
    // annotation asks for it; it also reads the scheme annotation, which the in-tree controller
    // ignores, so a scheme annotation is taken as a sign of the LBC (its webhook sets the class
    // on new Services since v2.5).
    let class = service.spec().str_at(&["loadBalancerClass"]);
    let aws_type = ann(AWS_TYPE);
    let scheme = ann(AWS_SCHEME);
    let lbc = class == Some(AWS_LBC_CLASS)
        || matches!(aws_type, Some("nlb-ip" | "external"))
        || scheme.is_some();
    if lbc {
        return match scheme {
            Some("internal") => Ok(format!("`{AWS_SCHEME}: internal`")),
            Some("internet-facing") => Err(format!("`{AWS_SCHEME}: internet-facing`")),
            _ => match ann(AWS_INTERNAL) {
                // The LBC parses the legacy annotation as a strict boolean.
                Some("true" | "True" | "TRUE" | "t" | "T" | "1") => {
                    Ok(format!("`{AWS_INTERNAL}` (AWS Load Balancer Controller)"))
                }
                Some(v @ ("false" | "False" | "FALSE" | "f" | "F" | "0")) => Err(format!(
                    "`{AWS_INTERNAL}: {v}` (AWS Load Balancer Controller)"
                )),
                _ => Ok(
                    "the AWS Load Balancer Controller owns it and defaults to an internal scheme"
                        .into(),
                ),
            },
        };
    }
    // The in-tree controller: any value except exactly "false" means internal.
    if let Some(value) = ann(AWS_INTERNAL)
        && value != "false"
    {
        return Ok(format!("`{AWS_INTERNAL}: {value}`"));
    }
    if let Some(class) = class {
        return Err(format!(
            "assumed public: `loadBalancerClass: {class}` is not a controller hindsight knows, and none of the internal annotations is set"
        ));
    }
    if aws_type.is_some() || ann(AWS_INTERNAL).is_some() {
        return Err("assumed public: the AWS in-tree controller makes an internet-facing load balancer unless `aws-load-balancer-internal` is set (the AWS Load Balancer Controller would default to internal)".into());
    }
    Err("public unless your cluster runs the AWS Load Balancer Controller (which defaults to internal): without an internal annotation, the AWS in-tree controller, GKE and AKS make internet-facing load balancers".into())
}

/// How far a Service reaches from outside the cluster. `params` adds private ranges
/// (`params.exposure.private-cidrs`) to the built-in ones, for source ranges and live addresses.
pub fn reach(service: &Object, params: &ExposureParams) -> Reach {
    let kind = service.spec().str_at(&["type"]).unwrap_or("ClusterIP");
    match kind {
        "LoadBalancer" => {}
        "NodePort" => return Reach::NodePort,
        _ => return Reach::ClusterOnly,
    }
    let ranges = source_ranges(service);
    // Source ranges all inside private networks keep the internet out, whatever the address.
    if !ranges.is_empty() && ranges.iter().all(|r| private_range(r, params)) {
        return Reach::Internal(format!(
            "`loadBalancerSourceRanges` only admits private networks ({}){}",
            ranges.join(", "),
            configured_note(ranges.iter().map(String::as_str), params)
        ));
    }
    let public = |proven: bool, basis: String| {
        let ranges = if open_to_all(&ranges) {
            Vec::new()
        } else {
            ranges.clone()
        };
        Reach::Public(Public {
            proven,
            basis,
            source_ranges: ranges,
        })
    };
    let statically = annotations_verdict(service);
    let assumption = match (status(service, params), statically) {
        (Some(Status::Internal(addr)), _) => {
            return Reach::Internal(format!(
                "its status shows the private address `{addr}`{}",
                configured_note([addr.as_str()], params)
            ));
        }
        (Some(Status::Public(addr)), _) => {
            return public(
                true,
                format!("its status shows the public address `{addr}`"),
            );
        }
        (Some(Status::Hostname(_)) | None, Ok(reason)) => return Reach::Internal(reason),
        (Some(Status::Hostname(host)), Err(_)) => {
            return public(
                true,
                format!("its status shows the address `{host}`, not an `internal-` name"),
            );
        }
        (None, Err(assumption)) => assumption,
    };
    public(false, assumption)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private(cidr: &str) -> bool {
        let (addr, len) = parse_cidr(cidr).expect(cidr);
        is_private(addr, len)
    }

    #[test]
    fn private_ranges_are_judged_as_networks() {
        for cidr in [
            "10.0.0.0/8",
            "10.20.30.0/24",
            "172.16.0.0/12",
            "172.31.255.255",
            "192.168.1.0/24",
            "100.64.0.0/10",
            "fd12:3456::/48",
            "::ffff:10.1.2.3",
        ] {
            assert!(private(cidr), "{cidr}");
        }
        for cidr in [
            "0.0.0.0/0",
            "8.0.0.0/7",
            "10.0.0.0/7",
            "172.32.0.0/16",
            "172.0.0.0/8",
            "100.128.0.0/10",
            "203.0.113.0/24",
            "2001:db8::/32",
            "::/0",
        ] {
            assert!(!private(cidr), "{cidr}");
        }
        assert_eq!(parse_cidr("10.0.0.0/33"), None);
        assert_eq!(parse_cidr("ten/8"), None);
    }

    fn service(spec: &str) -> Object {
        let yaml = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: s}}\nspec:\n  type: LoadBalancer\n{spec}"
        );
        let mut loaded =
            crate::load::load_bytes(std::sync::Arc::from("s.yaml"), yaml.as_bytes(), None);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        loaded.objects.remove(0)
    }

    fn params(cidrs: &[&str]) -> ExposureParams {
        ExposureParams {
            private_cidrs: cidrs
                .iter()
                .map(|c| crate::config::Cidr::parse(c).expect("test CIDR"))
                .collect(),
            ..ExposureParams::default()
        }
    }

    #[test]
    fn configured_private_cidrs_make_source_ranges_internal() {
        let office = service("  loadBalancerSourceRanges: [198.51.100.0/24, 10.0.0.0/8]\n");
        let none = ExposureParams::default();
        assert!(
            matches!(reach(&office, &none), Reach::Public(ref p) if p.source_ranges.len() == 2)
        );
        match reach(&office, &params(&["198.51.100.0/22"])) {
            Reach::Internal(why) => assert!(
                why.contains("private by `params.exposure.private-cidrs`: 198.51.100.0/22"),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
        // A source range only partly inside the configured one is still public.
        let wide = service("  loadBalancerSourceRanges: [198.51.96.0/20]\n");
        assert!(matches!(
            reach(&wide, &params(&["198.51.100.0/22"])),
            Reach::Public(_)
        ));
        // IPv6, and an IPv4-mapped source range judged as IPv4.
        let v6 = service(
            "  loadBalancerSourceRanges: [\"2001:db8:42::/48\", \"::ffff:198.51.100.0/120\"]\n",
        );
        assert!(matches!(reach(&v6, &none), Reach::Public(_)));
        assert!(matches!(
            reach(&v6, &params(&["2001:db8::/32", "198.51.100.0/24"])),
            Reach::Internal(_)
        ));
    }

    #[test]
    fn configured_private_cidrs_make_live_addresses_internal() {
        let live = service("status: {loadBalancer: {ingress: [{ip: 198.51.100.7}]}}\n");
        assert!(matches!(
            reach(&live, &ExposureParams::default()),
            Reach::Public(Public { proven: true, .. })
        ));
        match reach(&live, &params(&["198.51.100.0/24"])) {
            Reach::Internal(why) => {
                assert!(why.contains("`198.51.100.7`"), "{why}");
                assert!(why.contains("params.exposure.private-cidrs"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        // Another range does not help.
        assert!(matches!(
            reach(&live, &params(&["203.0.113.0/24"])),
            Reach::Public(_)
        ));
    }

    #[test]
    fn slash_zero_means_open() {
        assert!(open_to_all(&[]));
        assert!(open_to_all(&["10.0.0.0/8".into(), "::/0".into()]));
        assert!(!open_to_all(&["203.0.113.0/24".into()]));
    }
}
