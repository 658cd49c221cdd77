//! The incidents hindsight's rules come from. Ids are stable: they appear in rule metadata, all
//! output formats and the docs.

use serde::Serialize;

/// One public postmortem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Story {
    MindTickle,
    Buffer,
    PrometheusKube,
    Flant,
    Moonlight,
    JwPlayer,
    Jetstack,
}

impl Serialize for Story {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// What is known about a story, for `hindsight stories` and report headers.
pub struct StoryInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub org: &'static str,
    pub year: u16,
    pub url: &'static str,
    /// What happened, in two lines.
    pub summary: &'static str,
    /// One line under a finding: the echo.
    pub echo: &'static str,
}

impl Story {
    pub const ALL: [Story; 7] = [
        Story::MindTickle,
        Story::Buffer,
        Story::PrometheusKube,
        Story::Flant,
        Story::Moonlight,
        Story::JwPlayer,
        Story::Jetstack,
    ];

    pub fn id(self) -> &'static str {
        self.info().id
    }

    pub fn from_id(id: &str) -> Option<Story> {
        Story::ALL.into_iter().find(|s| s.id() == id)
    }

    pub fn info(self) -> &'static StoryInfo {
        match self {
            Story::MindTickle => &StoryInfo {
                id: "mindtickle",
                title: "The case of the missing packet: an EKS migration tale",
                org: "MindTickle",
                year: 2020,
                url: "https://yashmehrotra.com/post/2020-03-16-case-of-missing-packet/",
                summary: "After moving to EKS, calls from pods to hosts outside the VPC failed or retransmitted; \
                          setting AWS_VPC_K8S_CNI_EXTERNALSNAT=true on the aws-node DaemonSet fixed it.",
                echo: "MindTickle (2020): pod traffic leaving the VPC failed until the AWS VPC CNI's external SNAT was enabled",
            },
            Story::Buffer => &StoryInfo {
                id: "buffer",
                title: "Kubernetes: make your services faster by removing CPU limits",
                org: "Buffer",
                year: 2020,
                url: "https://erickhun.com/posts/kubernetes-faster-services-no-cpu-limits/",
                summary: "Containers were throttled far below their CPU limits by a kernel CFS bandwidth bug; \
                          removing limits fixed latency, but pods without limits had destabilised nodes before.",
                echo: "Buffer (2020): CPU-limited containers throttled far below their limits by the kernel's CFS bug; unbounded pods destabilised nodes",
            },
            Story::PrometheusKube => &StoryInfo {
                id: "prometheuskube",
                title: "Why we switched from fluent-bit to Fluentd in 2 hours",
                org: "PrometheusKube",
                year: 2020,
                url: "https://prometheuskube.com/why-we-switched-from-fluent-bit-to-fluentd-in-2-hours",
                summary: "fluent-bit silently stopped shipping one node's logs while looking healthy; \
                          Fluentd with a position file replaced it.",
                echo: "PrometheusKube (2020): fluent-bit silently stopped shipping a node's logs; a position DB lets a shipper resume where it stopped",
            },
            Story::Flant => &StoryInfo {
                id: "flant",
                title: "Insufficient readiness probe leads to data loss (Redis failover)",
                org: "Flant",
                year: 2019,
                url: "https://github.com/spotahome/redis-operator/issues/205",
                summary: "A Redis failover was scaled up while its memory was cut; a replica passed a ping-only \
                          readiness probe before it had synced, was promoted, and the data was lost.",
                echo: "Flant (2019): a Redis replica reported ready before it had synced, was promoted, and the dataset was lost",
            },
            Story::Moonlight => &StoryInfo {
                id: "moonlight",
                title: "Outage post-mortem",
                org: "Moonlight",
                year: 2019,
                url: "https://updates.moonlightwork.com/outage-post-mortem-87370",
                summary: "GKE kept scheduling busy replicas onto the same nodes at 100% CPU until a node kernel-panicked, \
                          taking several replicas down at once; pod anti-affinity fixed it.",
                echo: "Moonlight (2019): replicas piled onto one saturated node, which crashed and took them all down",
            },
            Story::JwPlayer => &StoryInfo {
                id: "jwplayer",
                title: "How a cryptocurrency miner made its way onto our internal Kubernetes clusters",
                org: "JW Player",
                year: 2019,
                url: "https://medium.com/jw-player-engineering/how-a-cryptocurrency-miner-made-its-way-onto-our-internal-kubernetes-clusters-9b09c4704205",
                summary: "Weave Scope's UI was reachable on a public load balancer without authentication; attackers \
                          used its shell to run a crypto miner on every node.",
                echo: "JW Player (2019): an admin UI on a public load balancer gave attackers a shell on every node",
            },
            // From stories.md's wider collection (item 5): the outage an admission webhook can cause,
            // which `hindsight serve`'s own deploy/ must not repeat.
            Story::Jetstack => &StoryInfo {
                id: "jetstack",
                title: "How a simple admission webhook lead to a cluster outage",
                org: "Jetstack",
                year: 2019,
                url: "https://blog.jetstack.io/blog/gke-webhook-outage/",
                summary: "During a GKE master upgrade an OPA validating webhook that matched everything, kube-system \
                          included, could not be reached; API calls hung on it, the API server was reported unhealthy \
                          and nodes were recreated in a loop.",
                echo: "Jetstack (2019): an unreachable admission webhook that matched kube-system stalled the API server during a GKE upgrade",
            },
        }
    }
}
