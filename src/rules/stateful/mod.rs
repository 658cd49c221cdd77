//! Rules about replicated stateful workloads: how they report readiness and what guards them
//! against voluntary disruption (Flant).
pub mod no_disruption_budget;
pub mod weak_readiness_probe;
