//! Rules about CPU limits and the CFS throttling they cause.
pub mod throttled_despite_low_usage;
