//! Rules about CPU limits and throttling.
pub mod limits_on_affected_kernel;
