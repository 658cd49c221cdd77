//! Rules about what a pod may do to its node (privileges, host namespaces, host paths, root) and
//! about signs that someone used it (CPU burned outside any pod).
pub mod host_namespaces;
pub mod privileged_container;
pub mod runs_as_root;
pub mod sensitive_host_mount;
pub mod unexplained_cpu_burn;
