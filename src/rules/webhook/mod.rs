//! Rules about admission webhook configurations.
pub mod unscoped_or_unavailable;
