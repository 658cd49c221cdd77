//! Rules about what a pod may do to its node: privileges, host namespaces, host paths, root.
pub mod host_namespaces;
pub mod privileged_container;
pub mod runs_as_root;
pub mod sensitive_host_mount;
