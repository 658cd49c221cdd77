//! Rules about CPU limits and the CFS throttling they cause.
pub mod limits_on_affected_kernel;
pub mod throttled_despite_low_usage;
