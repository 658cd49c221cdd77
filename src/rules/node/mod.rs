//! Rules about node saturation.
pub mod cpu_saturated_colocated;
