//! Rules about how a workload's replicas are placed.
pub mod replicas_colocated;
pub mod replicas_without_spread;
pub mod unavailable;
