//! Rules about what a Service or an Ingress exposes outside the cluster, and the shared reachability and
//! admin-UI recognition they rely on.
pub mod admin_ui;
pub mod dashboard_ingress_without_auth;
pub mod public_dashboard;
pub mod public_load_balancer;
pub mod reach;

/// Rules that read `params.exposure` (`admin-ui-images`, `private-cidrs`); `hindsight explain`
/// lists the settings for these.
pub const READS_PARAMS: &[&str] = &[
    "exposure.dashboard-ingress-without-auth",
    "exposure.public-dashboard",
    "exposure.public-load-balancer",
];

/// Test params with extra admin-UI image globs and private CIDRs.
#[cfg(test)]
pub(crate) fn test_params(images: &[&str], cidrs: &[&str]) -> crate::config::Params {
    use crate::config::{Cidr, ExposureParams, Glob, Params};
    Params {
        exposure: ExposureParams {
            admin_ui_images: images.iter().map(|g| Glob::name(g)).collect(),
            private_cidrs: cidrs
                .iter()
                .map(|c| Cidr::parse(c).expect("test CIDR"))
                .collect(),
        },
        ..Params::default()
    }
}
