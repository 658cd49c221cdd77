//! Rules about node log shippers (PrometheusKube).
pub mod shipper_missing_on_nodes;
pub mod shipper_stalled;
pub mod shipper_without_position_db;
