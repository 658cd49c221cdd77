//! Rules about nodes: kernels, health and saturation.
pub mod cpu_saturated_colocated;
pub mod kernel_cfs_quota_bug;
pub mod not_ready;
