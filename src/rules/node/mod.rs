//! Rules about nodes' health and kernels (live state).
pub mod kernel_cfs_quota_bug;
pub mod not_ready;
