//! Sources other than files. Invariant: each yields plain data — the loader's objects (cluster)
//! or [`crate::runtime`] series (Prometheus) — so rules never see a client, a socket or a future,
//! and never know where state came from.

pub mod cluster;
pub mod prometheus;
