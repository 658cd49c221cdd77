//! Rules about memory pressure.
pub mod oom_kills;
