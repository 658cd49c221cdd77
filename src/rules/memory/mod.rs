//! Rules about memory limits and OOM kills.
pub mod oom_killed;
