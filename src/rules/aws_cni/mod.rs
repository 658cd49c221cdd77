//! Rules about the Amazon VPC CNI plugin's `aws-node` DaemonSet (MindTickle).
pub mod external_snat;
