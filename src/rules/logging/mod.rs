//! Rules about log shippers.
pub mod shipper_stalled;
