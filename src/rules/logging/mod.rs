//! Rules about log shipping.
pub mod shipper_missing_on_nodes;
