//! Rules about network health.
pub mod tcp_retransmits;
