//! Rules about replicated stateful workloads: how they report readiness, whether replicas are in
//! sync, and what guards them against voluntary disruption (Flant).
pub mod no_disruption_budget;
pub mod replica_ready_but_unsynced;
pub mod weak_readiness_probe;
