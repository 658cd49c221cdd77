//! Is a node's kernel affected by the CFS bandwidth bug (CVE-2019-19922)?
//!
//! The bug arrived with 512ac999d275 (mainline 4.18, pushed into stable streams) and was fixed
//! by de53fd7aedb1 in mainline 5.4, backported to 4.14.154, 4.19.84 and 5.3.9 only. Distro
//! kernels report versions that do not always mean the upstream level (Ubuntu and Debian carry
//! ABI numbers, RHEL a 3.10/4.18 base plus backports), so the family is picked from
//! `nodeInfo.osImage` first, then the version's suffix, and each family has its own rule.
//!
//! Invariant: a version we cannot judge is [`Status::Unknown`], never guessed as affected or
//! fixed. The table follows `shared/research/stories.md` (buffer) exactly.

/// The verdict on a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Affected,
    Fixed,
    Unknown,
    /// Not a Linux kernel (Windows nodes).
    NotApplicable,
}

/// A verdict with the family it was judged as and why, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: Status,
    pub family: &'static str,
    pub reason: String,
}

/// `major.minor.patch` from the start of a version (`4.19.112+` → 4.19.112; `5.4` → 5.4.0).
fn upstream_level(kernel: &str) -> Option<(u32, u32, u32)> {
    let kernel = kernel.trim().trim_end_matches('+');
    let mut parts = kernel.splitn(3, '.');
    let major = digits(parts.next()?)?;
    let minor = digits(parts.next()?)?;
    let patch = parts.next().and_then(digits).unwrap_or(0);
    Some((major, minor, patch))
}

/// The leading digits of `s` as a number (`154-128` → 154), if it starts with one.
fn digits(s: &str) -> Option<u32> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

fn verdict(status: Status, family: &'static str, reason: impl Into<String>) -> Verdict {
    Verdict {
        status,
        family,
        reason: reason.into(),
    }
}

/// Upstream thresholds, for families whose `x.y.z` is the upstream level.
fn upstream(family: &'static str, (major, minor, patch): (u32, u32, u32)) -> Verdict {
    use Status::*;
    let v = format!("{major}.{minor}.{patch}");
    match (major, minor) {
        (m, _) if m > 5 => verdict(Fixed, family, format!("{v} is 5.4 or later")),
        (5, n) if n >= 4 => verdict(Fixed, family, format!("{v} is 5.4 or later")),
        (5, 3) if patch >= 9 => verdict(Fixed, family, format!("{v} has the 5.3.9 backport")),
        (5, 3) => verdict(Affected, family, format!("{v} is before the 5.3.9 fix")),
        (4, 19) if patch >= 84 => verdict(Fixed, family, format!("{v} has the 4.19.84 backport")),
        (4, 19) => verdict(Affected, family, format!("{v} is before the 4.19.84 fix")),
        (4, 14) if patch >= 154 => verdict(Fixed, family, format!("{v} has the 4.14.154 backport")),
        (4, 14) => verdict(Affected, family, format!("{v} is before the 4.14.154 fix")),
        (4, 15..=18) | (4, 20) | (5, 0..=2) => verdict(
            Affected,
            family,
            format!("{v}: no fix was ever released on this branch"),
        ),
        (3, 16) => verdict(
            Unknown,
            family,
            format!("{v}: 3.16.y reverted the change that caused the bug (Jan 2020)"),
        ),
        (m, n) if m < 3 || (m == 3 && n < 16) => verdict(
            Unknown,
            family,
            format!("{v} predates the slice-expiry behaviour (3.16)"),
        ),
        _ => verdict(
            Affected,
            family,
            format!(
                "{v}: every kernel before 5.3.9 per CVE-2019-19922; no upstream fix on this branch"
            ),
        ),
    }
}

/// ≥ 5.4 fixed, anything else unknown: for families whose version is not the upstream level.
fn base_only(family: &'static str, (major, minor, _): (u32, u32, u32), why: &str) -> Verdict {
    if (major, minor) >= (5, 4) {
        verdict(
            Status::Fixed,
            family,
            format!("base {major}.{minor} is 5.4 or later"),
        )
    } else {
        verdict(
            Status::Unknown,
            family,
            format!("base {major}.{minor} is before 5.4 and {why}"),
        )
    }
}

/// RHEL-style build numbers: `3.10.0-1062.9.1.el7` → (1062, 9).
fn rhel_build(kernel: &str) -> Option<(u32, u32)> {
    let (_, release) = kernel.split_once('-')?;
    let mut parts = release.split('.');
    let build = digits(parts.next()?)?;
    let z = parts.next().and_then(digits).unwrap_or(0);
    Some((build, z))
}

/// Judges `status.nodeInfo.kernelVersion` on a node running `status.nodeInfo.osImage`.
pub fn judge(kernel: &str, os_image: &str) -> Verdict {
    use Status::*;
    let os = os_image.to_ascii_lowercase();
    let k = kernel.trim();
    if os.contains("windows") {
        return verdict(NotApplicable, "Windows", "not a Linux kernel");
    }
    let Some(level) = upstream_level(k) else {
        return verdict(
            Unknown,
            "unrecognised",
            format!("`{k}` is not a version we can read"),
        );
    };
    if k.contains("uek") {
        return if level >= (5, 4, 0) {
            verdict(Fixed, "Oracle UEK", "UEK 5.4 or later")
        } else if (level.0, level.1) == (4, 14) {
            verdict(
                Unknown,
                "Oracle UEK",
                "UEK 4.14 was fixed in ELSA-2020-5845 but the build is not pinned",
            )
        } else {
            verdict(
                Unknown,
                "Oracle UEK",
                "no known fixed UEK build on this branch",
            )
        };
    }
    if k.contains(".el7") {
        let Some((build, z)) = rhel_build(k) else {
            return verdict(Unknown, "RHEL 7", "no build number in the version");
        };
        return if build >= 1127 {
            verdict(
                Fixed,
                "RHEL 7",
                format!("build {build} ≥ 1127 (7.8, RHSA-2020:1016)"),
            )
        } else if build == 1062 && z >= 9 {
            verdict(
                Fixed,
                "RHEL 7",
                format!("build 1062.{z} ≥ 1062.9 (RHSA-2019:4106)"),
            )
        } else if build == 1062 {
            verdict(
                Affected,
                "RHEL 7",
                format!("build 1062.{z} is before 1062.9.1 (RHSA-2019:4106)"),
            )
        } else {
            verdict(
                Unknown,
                "RHEL 7",
                format!(
                    "build {build}: no verdict known for this RHEL 7 build (older kernels kept the pre-4.18 behaviour; EUS streams are not listed)"
                ),
            )
        };
    }
    if k.contains(".el8") {
        let Some((build, z)) = rhel_build(k) else {
            return verdict(Unknown, "RHEL 8", "no build number in the version");
        };
        return if build > 147 || (build == 147 && z >= 3) {
            verdict(
                Fixed,
                "RHEL 8",
                format!("build {build}.{z} ≥ 147.3 (RHBA-2019:4282)"),
            )
        } else {
            verdict(
                Affected,
                "RHEL 8",
                format!("build {build}.{z} is before 147.3 (RHBA-2019:4282)"),
            )
        };
    }
    if k.contains(".el9") || k.contains(".el10") {
        return base_only("RHEL 9+", level, "not a known RHEL build");
    }
    if k.contains(".amzn2023") || os.contains("amazon linux 2023") {
        return upstream("Amazon Linux 2023", level);
    }
    if k.contains(".amzn2") || os.contains("amazon linux 2") {
        return upstream("Amazon Linux 2", level);
    }
    if k.contains("-flatcar")
        || k.contains("-coreos")
        || os.contains("flatcar")
        || os.contains("container linux")
    {
        if (level.0, level.1) == (4, 19) && (78..=83).contains(&level.2) {
            return verdict(
                Unknown,
                "Flatcar/Container Linux",
                format!(
                    "4.19.{}: Container Linux patched 4.19.81 in Nov 2019 and the build revision is not in the version",
                    level.2
                ),
            );
        }
        return upstream("Flatcar/Container Linux", level);
    }
    if k.ends_with('+') || os.contains("container-optimized os") {
        let mut v = upstream("Container-Optimized OS", level);
        if v.status == Affected {
            v.reason
                .push_str(" (Google may have cherry-picked the fix into this build)");
        }
        return v;
    }
    if os.contains("bottlerocket") {
        return upstream("Bottlerocket", level);
    }
    if k.contains(".cm1")
        || k.contains(".cm2")
        || k.contains(".azl")
        || os.contains("mariner")
        || os.contains("azure linux")
    {
        return upstream("Azure Linux", level);
    }
    const UBUNTU_FLAVOURS: [&str; 8] = [
        "-generic",
        "-aws",
        "-azure",
        "-gcp",
        "-gke",
        "-kvm",
        "-oracle",
        "-lowlatency",
    ];
    if os.contains("ubuntu") || UBUNTU_FLAVOURS.iter().any(|f| k.ends_with(f)) {
        return base_only(
            "Ubuntu",
            level,
            "Ubuntu versions carry an ABI number, not the upstream level (fixes shipped per flavour and ABI)",
        );
    }
    if os.contains("debian") || k.ends_with("-amd64") || k.ends_with("-arm64") {
        return base_only(
            "Debian",
            level,
            "Debian versions carry an ABI name; the real level is only in `uname -v`",
        );
    }
    if os.contains("suse") || os.contains("sles") || k.ends_with("-default") {
        return base_only("SUSE", level, "SUSE versions are not the upstream level");
    }
    base_only(
        "other",
        level,
        "this distribution's backports are not known",
    )
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    /// (kernelVersion, osImage, expected status, family)
    const TABLE: &[(&str, &str, Status, &str)] = &[
        // Amazon Linux 2: tracks stable.
        (
            "4.14.209-160.339.amzn2.x86_64",
            "Amazon Linux 2",
            Fixed,
            "Amazon Linux 2",
        ),
        (
            "4.14.154-128.181.amzn2.x86_64",
            "Amazon Linux 2",
            Fixed,
            "Amazon Linux 2",
        ),
        (
            "4.14.146-119.123.amzn2.x86_64",
            "Amazon Linux 2",
            Affected,
            "Amazon Linux 2",
        ),
        (
            "5.4.247-162.350.amzn2.x86_64",
            "Amazon Linux 2",
            Fixed,
            "Amazon Linux 2",
        ),
        (
            "5.10.184-175.731.amzn2.x86_64",
            "Amazon Linux 2",
            Fixed,
            "Amazon Linux 2",
        ),
        (
            "6.1.34-59.116.amzn2023.x86_64",
            "Amazon Linux 2023",
            Fixed,
            "Amazon Linux 2023",
        ),
        (
            "5.15.110",
            "Bottlerocket OS 1.14.1 (aws-k8s-1.26)",
            Fixed,
            "Bottlerocket",
        ),
        // COS: upstream thresholds, `+` is a local-version marker.
        (
            "4.19.112+",
            "Container-Optimized OS from Google",
            Fixed,
            "Container-Optimized OS",
        ),
        (
            "4.19.83+",
            "Container-Optimized OS from Google",
            Affected,
            "Container-Optimized OS",
        ),
        (
            "5.4.49+",
            "Container-Optimized OS from Google",
            Fixed,
            "Container-Optimized OS",
        ),
        (
            "4.14.138+",
            "Container-Optimized OS from Google",
            Affected,
            "Container-Optimized OS",
        ),
        // Flatcar / CoreOS: 4.19.78–83 unknown (patched 4.19.81, revision not in uname).
        (
            "5.15.142-flatcar",
            "Flatcar Container Linux by Kinvolk 3815.2.0",
            Fixed,
            "Flatcar/Container Linux",
        ),
        (
            "4.19.81-coreos",
            "Container Linux by CoreOS 2303.3.0 (Rhyolite)",
            Unknown,
            "Flatcar/Container Linux",
        ),
        (
            "4.19.78-coreos",
            "Container Linux by CoreOS",
            Unknown,
            "Flatcar/Container Linux",
        ),
        (
            "4.19.83-flatcar",
            "Flatcar Container Linux",
            Unknown,
            "Flatcar/Container Linux",
        ),
        (
            "4.19.77-coreos",
            "Container Linux by CoreOS",
            Affected,
            "Flatcar/Container Linux",
        ),
        (
            "4.19.84-flatcar",
            "Flatcar Container Linux",
            Fixed,
            "Flatcar/Container Linux",
        ),
        // Ubuntu: ABI numbers; below 5.4 unknown.
        ("5.4.0-1036-aws", "Ubuntu 18.04.5 LTS", Fixed, "Ubuntu"),
        ("4.15.0-1054-aws", "Ubuntu 18.04.3 LTS", Unknown, "Ubuntu"),
        ("5.0.0-1023-aws", "Ubuntu 18.04.3 LTS", Unknown, "Ubuntu"),
        ("5.0.0-1027-gke", "Ubuntu 18.04.3 LTS", Unknown, "Ubuntu"),
        ("4.15.0-1096-azure", "Ubuntu 16.04.7 LTS", Unknown, "Ubuntu"),
        ("5.4.0-1036-azure", "Ubuntu 18.04.5 LTS", Fixed, "Ubuntu"),
        ("4.15.0-76-generic", "", Unknown, "Ubuntu"),
        // Debian: ABI names.
        (
            "4.19.0-16-amd64",
            "Debian GNU/Linux 10 (buster)",
            Unknown,
            "Debian",
        ),
        (
            "5.10.0-23-cloud-amd64",
            "Debian GNU/Linux 11 (bullseye)",
            Fixed,
            "Debian",
        ),
        ("4.19.0-6-cloud-amd64", "", Unknown, "Debian"),
        // RHEL / CentOS 7.
        (
            "3.10.0-1160.49.1.el7.x86_64",
            "CentOS Linux 7 (Core)",
            Fixed,
            "RHEL 7",
        ),
        (
            "3.10.0-1127.el7.x86_64",
            "Red Hat Enterprise Linux Server 7.8 (Maipo)",
            Fixed,
            "RHEL 7",
        ),
        (
            "3.10.0-1062.9.1.el7.x86_64",
            "CentOS Linux 7 (Core)",
            Fixed,
            "RHEL 7",
        ),
        (
            "3.10.0-1062.4.3.el7.x86_64",
            "CentOS Linux 7 (Core)",
            Affected,
            "RHEL 7",
        ),
        (
            "3.10.0-1062.el7.x86_64",
            "CentOS Linux 7 (Core)",
            Affected,
            "RHEL 7",
        ),
        (
            "3.10.0-957.27.2.el7.x86_64",
            "CentOS Linux 7 (Core)",
            Unknown,
            "RHEL 7",
        ),
        // RHEL 8 / RHCOS.
        (
            "4.18.0-147.3.1.el8_1.x86_64",
            "Red Hat Enterprise Linux CoreOS 43.81",
            Fixed,
            "RHEL 8",
        ),
        (
            "4.18.0-147.el8.x86_64",
            "Red Hat Enterprise Linux 8.1 (Ootpa)",
            Affected,
            "RHEL 8",
        ),
        (
            "4.18.0-80.11.2.el8_0.x86_64",
            "Red Hat Enterprise Linux 8.0 (Ootpa)",
            Affected,
            "RHEL 8",
        ),
        ("4.18.0-193.el8.x86_64", "Rocky Linux 8", Fixed, "RHEL 8"),
        (
            "5.14.0-284.el9.x86_64",
            "Red Hat Enterprise Linux CoreOS 413.92",
            Fixed,
            "RHEL 9+",
        ),
        // Oracle UEK.
        (
            "4.14.35-1902.3.2.el7uek.x86_64",
            "Oracle Linux Server 7.7",
            Unknown,
            "Oracle UEK",
        ),
        (
            "5.4.17-2136.300.7.el8uek.x86_64",
            "Oracle Linux Server 8.5",
            Fixed,
            "Oracle UEK",
        ),
        // Azure Linux (Mariner): 4-part upstream.
        (
            "5.15.125.1-2.cm2",
            "CBL-Mariner/Linux",
            Fixed,
            "Azure Linux",
        ),
        // SUSE.
        (
            "4.12.14-122.37-default",
            "SUSE Linux Enterprise Server 12 SP5",
            Unknown,
            "SUSE",
        ),
        (
            "5.14.21-150400.24.46-default",
            "SUSE Linux Enterprise Server 15 SP4",
            Fixed,
            "SUSE",
        ),
        // Windows.
        (
            "10.0.17763.1817",
            "Windows Server 2019 Datacenter",
            NotApplicable,
            "Windows",
        ),
        // Anything else: ≥ 5.4 fixed, else unknown, never guessed.
        ("4.19.50", "Some Linux", Unknown, "other"),
        ("6.6.0", "Some Linux", Fixed, "other"),
        ("garbage", "", Unknown, "unrecognised"),
    ];

    #[test]
    fn the_distro_table() {
        for &(kernel, os, status, family) in TABLE {
            let v = judge(kernel, os);
            assert_eq!(
                (v.status, v.family),
                (status, family),
                "{kernel} on {os:?}: {}",
                v.reason
            );
        }
    }

    /// Upstream thresholds, exhaustively around every boundary.
    #[test]
    fn upstream_thresholds() {
        let at = |major, minor, patch| upstream("t", (major, minor, patch)).status;
        for patch in 0..300 {
            assert_eq!(
                at(4, 14, patch),
                if patch >= 154 { Fixed } else { Affected }
            );
            assert_eq!(at(4, 19, patch), if patch >= 84 { Fixed } else { Affected });
            assert_eq!(at(5, 3, patch), if patch >= 9 { Fixed } else { Affected });
            for minor in [15, 16, 17, 18, 20] {
                assert_eq!(at(4, minor, patch), Affected, "4.{minor}.{patch}");
            }
            for minor in 0..=2 {
                assert_eq!(at(5, minor, patch), Affected, "5.{minor}.{patch}");
            }
            for minor in 4..=19 {
                assert_eq!(at(5, minor, patch), Fixed);
            }
            assert_eq!(at(6, 1, patch), Fixed);
            assert_eq!(at(4, 4, patch), Affected);
            assert_eq!(at(4, 9, patch), Affected);
            assert_eq!(at(3, 16, patch), Unknown);
            assert_eq!(at(3, 10, patch), Unknown);
            assert_eq!(at(2, 6, patch), Unknown);
        }
        assert!(upstream("t", (4, 9, 1)).reason.contains("no upstream fix"));
    }

    #[test]
    fn cos_affected_mentions_cherry_picks() {
        assert!(judge("4.19.83+", "").reason.contains("cherry-picked"));
    }

    #[test]
    fn versions_parse_leniently() {
        assert_eq!(upstream_level("4.19.112+"), Some((4, 19, 112)));
        assert_eq!(upstream_level("5.4"), Some((5, 4, 0)));
        assert_eq!(
            upstream_level("4.14.154-128.181.amzn2.x86_64"),
            Some((4, 14, 154))
        );
        assert_eq!(upstream_level("x.1"), None);
        assert_eq!(rhel_build("3.10.0-1062.9.1.el7.x86_64"), Some((1062, 9)));
        assert_eq!(rhel_build("4.18.0-147.el8.x86_64"), Some((147, 0)));
    }
}
