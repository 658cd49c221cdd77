//! Rules about memory pressure and OOM kills.
pub mod oom_killed;
pub mod oom_kills;
