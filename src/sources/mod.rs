//! Sources of live data beyond manifests. Invariant: sources yield plain data (see
//! [`crate::runtime`]); rules never see a client, a socket or a future.
pub mod prometheus;
