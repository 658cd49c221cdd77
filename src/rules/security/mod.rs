//! Rules about signs of compromise.
pub mod unexplained_cpu_burn;
