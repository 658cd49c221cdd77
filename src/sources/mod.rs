//! Sources other than files: each turns what it reads into the loader's objects or the
//! run's inputs, so rules never know where state came from.

pub mod cluster;
