//! Rules about replicated stateful services.
pub mod replica_ready_but_unsynced;
