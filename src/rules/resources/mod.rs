//! Rules about container resource requests and limits (Moonlight, Buffer).
//!
//! Never ask for CPU limits: a CPU limit creates a CFS quota, which is what throttled Buffer's
//! services (and seven peers push it anyway, see the research notes).
pub mod missing_memory_limit;
pub mod missing_requests;

use crate::rules::Context;

/// Whether a `LimitRange` of type `Container` in `namespace` fills in `field` (`defaultRequest`
/// or `default`) for `resource`. The API server's defaulting copies `max` into `default` and
/// `default` into `defaultRequest` when they are unset, and the LimitRanger admission plugin then
/// applies them to containers that leave the value out.
pub(crate) fn limit_range_defaults(
    cx: &Context<'_>,
    namespace: &str,
    field: &str,
    resource: &str,
) -> Option<&'static str> {
    let chain: &[&str] = match field {
        "defaultRequest" => &["defaultRequest", "default", "max"],
        _ => &["default", "max"],
    };
    cx.index
        .of_kind_in("LimitRange", namespace)
        .flat_map(|lr| lr.spec().seq_at("limits"))
        .filter(|item| item.str_at(&["type"]) == Some("Container"))
        .find_map(|item| {
            chain
                .iter()
                .find(|key| item.path(&[key, resource]).is_some_and(|n| !n.is_null()))
                .map(|key| match *key {
                    "defaultRequest" => "defaultRequest",
                    "default" => "default",
                    _ => "max",
                })
        })
}
