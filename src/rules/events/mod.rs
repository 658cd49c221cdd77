//! Rules that read the cluster's Events.
pub mod warnings;
