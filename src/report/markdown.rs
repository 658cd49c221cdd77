//! Markdown for pull request comments (GitHub, GitLab, Gitea).
//!
//! Layout: a one-line verdict; input errors first (they mean the results are incomplete);
//! a summary table by severity and one by story; then the findings grouped by the incident
//! they echo, each a collapsible `<details>` with the file:line (a link when
//! [`Options::link_base`](super::Options) is set), the message and what to change.
//!
//! Findings accepted by an exemption or the baseline follow in one collapsed `<details>`
//! section: exempted ones with their reason and expiry, baselined ones with the baseline file.
//! They are not counted as findings, and never silently dropped.
//!
//! Invariant: the whole comment fits GitHub's limit of 65,536 characters. Past a budget,
//! findings (then errors, then accepted findings) are left out and a closing note says how
//! many and where to find them all; counts in the tables always cover everything.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{Options, SEVERITIES, Summary, first_sentence, squash_spaces};
use crate::Outcome;
use crate::exempt::Exempted;
use crate::rules::{self, Finding};
use crate::stories::Story;

/// GitHub's maximum comment body, in characters.
pub const COMMENT_LIMIT: usize = 65_536;
/// Room kept for the closing truncation note.
const NOTE_ROOM: usize = 600;

/// `https://github.com/<owner>/<repo>/blob/<sha>` from GitHub Actions' environment, so file
/// references in a pull request comment link to the scanned commit.
pub fn github_link_base() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let server = var("GITHUB_SERVER_URL")?;
    let repo = var("GITHUB_REPOSITORY")?;
    let sha = var("GITHUB_SHA")?;
    Some(format!(
        "{}/{repo}/blob/{sha}",
        server.trim_end_matches('/')
    ))
}

/// Escapes text placed in Markdown or inline HTML (`<details>` bodies are HTML blocks), so
/// names from manifests cannot inject markup. Code spans (between backticks, as rule
/// messages quote names) are kept: GitHub shows their content literally.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let balanced = text.matches('`').count().is_multiple_of(2);
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' if balanced => {
                in_code = !in_code;
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c if in_code => out.push(c),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' => out.push_str("\\|"),
            '*' | '_' | '[' | ']' | '\\' | '`' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Inline code that survives backticks in the content.
fn code(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

/// `file:line` as a link (repository-relative paths only) or as code.
fn place(file: &str, line: Option<u32>, link_base: Option<&str>) -> String {
    let shown = match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_owned(),
    };
    let linkable = !file.starts_with(['/', '<']) && !file.split('/').any(|p| p == "..");
    match link_base {
        Some(base) if linkable => {
            let anchor = line.map(|l| format!("#L{l}")).unwrap_or_default();
            let path: String = file
                .bytes()
                .map(|b| match b {
                    b' ' => "%20".to_owned(),
                    b'(' => "%28".to_owned(),
                    b')' => "%29".to_owned(),
                    _ => (b as char).to_string(),
                })
                .collect();
            format!("[{}]({base}/{path}{anchor})", esc(&shown))
        }
        _ => code(&shown),
    }
}

fn finding_block(f: &Finding, opts: &Options) -> String {
    let subject = match &f.container {
        Some(c) => format!("{} (container {})", f.object, c),
        None => f.object.to_string(),
    };
    // `<summary>` is HTML: GitHub renders no Markdown there, so it gets HTML escaping and
    // the link goes in the body.
    let mut s = format!(
        "<details><summary><b>{}</b> <code>{}</code> {} · <code>{}:{}</code></summary>\n\n{} {}\n\n",
        f.severity,
        f.rule,
        super::svg::escape(&subject),
        super::svg::escape(&f.location.file),
        f.location.line,
        place(
            &f.location.file,
            Some(f.location.line),
            opts.link_base.as_deref()
        ),
        esc(&f.message),
    );
    if let Some(rule) = rules::find(f.rule) {
        let _ = write!(
            s,
            "**Fix:** {} More: {}\n\n",
            esc(&squash_spaces(first_sentence(rule.meta.remediation))),
            code(&format!("hindsight explain {}", f.rule))
        );
    }
    s.push_str("</details>\n");
    s
}

/// `Deployment prod/api (container proxy)`.
fn subject(f: &Finding) -> String {
    match &f.container {
        Some(c) => format!("{} (container {c})", f.object),
        None => f.object.to_string(),
    }
}

/// A table row for an exempted finding: rule, object and place, reason, expiry.
fn exempted_row(e: &Exempted, opts: &Options) -> String {
    let f = &e.finding;
    format!(
        "| {} | {} {} | {} | {} |\n",
        code(f.rule),
        esc(&subject(f)),
        place(
            &f.location.file,
            Some(f.location.line),
            opts.link_base.as_deref()
        ),
        esc(&e.exemption.reason),
        e.exemption
            .until
            .map_or_else(|| "—".to_owned(), |u| u.to_string()),
    )
}

/// A table row for a baselined finding: rule, object and place, message.
fn baselined_row(f: &Finding, opts: &Options) -> String {
    format!(
        "| {} | {} {} | {} |\n",
        code(f.rule),
        esc(&subject(f)),
        place(
            &f.location.file,
            Some(f.location.line),
            opts.link_base.as_deref()
        ),
        esc(&f.message),
    )
}

/// The fixed parts of the accepted section: (opening, exempted header, baselined header,
/// closing), empty when there is nothing to show.
fn accepted_frame(outcome: &Outcome, opts: &Options) -> [String; 4] {
    let (ne, nb) = (outcome.exempted.len(), outcome.baselined.len());
    if ne + nb == 0 {
        return Default::default();
    }
    let counts: Vec<String> = [(ne, "exempted"), (nb, "baselined")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    let open = format!(
        "<details><summary>Accepted, not counted above: {}</summary>\n\n",
        counts.join(", ")
    );
    let exempted = if ne > 0 {
        "**Exempted** by annotations on the objects (`hindsight.dev/exempt.*`):\n\n| rule | object | reason | until |\n|---|---|---|---|\n".to_owned()
    } else {
        String::new()
    };
    let baselined = if nb > 0 {
        let file = opts
            .baseline
            .as_ref()
            .map(|p| format!(" {}", code(&p.display().to_string())))
            .unwrap_or_default();
        format!(
            "**Baselined**: accepted by the baseline{file}; only new findings fail the run.\n\n| rule | object | message |\n|---|---|---|\n"
        )
    } else {
        String::new()
    };
    [open, exempted, baselined, "\n</details>\n".to_owned()]
}

/// Room for "… and N more" lines in the accepted section.
const MORE_ROOM: usize = 160;

/// Appends the accepted section within `limit` bytes of `out`; returns how many accepted
/// findings it left out. When not everything fits, each table gets at least half the room.
fn write_accepted(out: &mut String, outcome: &Outcome, opts: &Options, limit: usize) -> usize {
    let [open, exempted_header, baselined_header, close] = accepted_frame(outcome, opts);
    if open.is_empty() {
        return 0;
    }
    let exempted: Vec<String> = outcome
        .exempted
        .iter()
        .map(|e| exempted_row(e, opts))
        .collect();
    let baselined: Vec<String> = outcome
        .baselined
        .iter()
        .map(|f| baselined_row(f, opts))
        .collect();
    let frame = open.len() + exempted_header.len() + baselined_header.len() + close.len();
    let room = limit.saturating_sub(out.len() + frame + 2 * MORE_ROOM);
    let bytes = |rows: &[String]| rows.iter().map(String::len).sum::<usize>();
    let exempted_room = (room / 2).max(room.saturating_sub(bytes(&baselined)));
    let mut left_out = 0;
    out.push_str(&open);
    // Adds rows while they fit in `room` bytes; counts those that did not.
    let mut table = |out: &mut String, header: &str, rows: Vec<String>, room: usize| {
        if rows.is_empty() {
            return 0;
        }
        out.push_str(header);
        let (total, mut used) = (rows.len(), 0);
        for (i, row) in rows.into_iter().enumerate() {
            if used + row.len() > room {
                left_out += total - i;
                let _ = writeln!(out, "\n… and {} more (see the JSON report)", total - i);
                break;
            }
            used += row.len();
            out.push_str(&row);
        }
        out.push('\n');
        used
    };
    let used = table(out, &exempted_header, exempted, exempted_room);
    table(out, &baselined_header, baselined, room - used);
    out.push_str(&close);
    left_out
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Renders the comment as a string (at most [`COMMENT_LIMIT`] characters).
pub fn render(outcome: &Outcome, opts: &Options) -> String {
    let s = Summary::of(outcome);
    let mut out = String::new();
    let by_sev: Vec<String> = SEVERITIES
        .iter()
        .filter_map(|sev| {
            let n = s.by_severity.get(sev.as_str()).copied().unwrap_or(0);
            (n > 0).then(|| format!("{n} {sev}"))
        })
        .collect();
    let accepted: Vec<String> = [(s.exempted, "exempted"), (s.baselined, "baselined")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    let _ = writeln!(
        out,
        "## hindsight: {}{} in {} from {}{}\n",
        plural(s.findings, "finding"),
        if by_sev.is_empty() {
            String::new()
        } else {
            format!(" ({})", by_sev.join(", "))
        },
        plural(s.objects, "object"),
        plural(s.files, "file"),
        if accepted.is_empty() {
            String::new()
        } else {
            format!(" · {} (not counted)", accepted.join(", "))
        },
    );

    // Errors first: they mean the findings below may be incomplete.
    let mut errors_left_out = 0;
    if !outcome.errors.is_empty() {
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> {} — some manifests were not analysed, so findings may be missing.\n\n### Input errors\n",
            plural(s.errors, "input error")
        );
        for (i, e) in outcome.errors.iter().enumerate() {
            let line = format!(
                "- {}: {}\n",
                place(&e.file, e.line, opts.link_base.as_deref()),
                esc(&e.message)
            );
            // Errors may use at most half the comment; findings get the rest.
            if out.len() + line.len() > COMMENT_LIMIT / 2 {
                errors_left_out = outcome.errors.len() - i;
                let _ = writeln!(
                    out,
                    "- … and {} more (see the full report)",
                    errors_left_out
                );
                break;
            }
            out.push_str(&line);
        }
        out.push('\n');
    }

    if s.findings > 0 {
        out.push_str("| severity | findings |\n|---|---:|\n");
        for sev in SEVERITIES {
            let n = s.by_severity.get(sev.as_str()).copied().unwrap_or(0);
            if n > 0 {
                let _ = writeln!(out, "| {sev} | {n} |");
            }
        }
        out.push_str("\n| incident | findings |\n|---|---:|\n");
        for story in Story::ALL {
            let n = s.by_story.get(story.id()).copied().unwrap_or(0);
            if n > 0 {
                let i = story.info();
                let _ = writeln!(
                    out,
                    "| [{} ({})]({}): {} | {n} |",
                    esc(i.org),
                    i.year,
                    i.url,
                    esc(i.title)
                );
            }
        }
        out.push('\n');
    } else if outcome.errors.is_empty() {
        out.push_str("No findings. ✅\n\n");
    }
    if !s.rules_not_run.is_empty() {
        let _ = writeln!(
            out,
            "_{} not run: no cluster state or metrics were given._\n",
            plural(s.rules_not_run.len(), "rule")
        );
    }

    // Findings by story; a finding echoing two stories is listed under each.
    let mut groups: Vec<(Option<Story>, Vec<&Finding>)> = Story::ALL
        .iter()
        .map(|&story| {
            (
                Some(story),
                outcome
                    .findings
                    .iter()
                    .filter(|f| f.stories.contains(&story))
                    .collect(),
            )
        })
        .collect();
    groups.push((
        None,
        outcome
            .findings
            .iter()
            .filter(|f| f.stories.is_empty())
            .collect(),
    ));
    // Worst first within each incident.
    for (_, findings) in &mut groups {
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    }
    let headers: Vec<String> = groups
        .iter()
        .map(|(story, _)| match story {
            Some(story) => {
                let i = story.info();
                format!(
                    "### {} ({}): [{}]({})\n\n> {}\n\n",
                    esc(i.org),
                    i.year,
                    esc(i.title),
                    i.url,
                    esc(i.summary)
                )
            }
            None => "### Other findings\n\n".to_owned(),
        })
        .collect();
    // Choose what fits, worst severity first across all incidents, so a long list of medium
    // findings under one incident cannot crowd out a critical one under another.
    let mut blocks: Vec<Vec<Option<String>>> =
        groups.iter().map(|(_, fs)| vec![None; fs.len()]).collect();
    let mut order: Vec<(usize, usize)> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, (_, fs))| (0..fs.len()).map(move |i| (g, i)))
        .collect();
    order.sort_by_key(|&(g, i)| (std::cmp::Reverse(groups[g].1[i].severity), g, i));
    // The accepted section's frame is reserved first; its rows get what the findings leave.
    let accepted_room: usize = accepted_frame(outcome, opts)
        .iter()
        .map(String::len)
        .sum::<usize>()
        + if outcome.exempted.is_empty() && outcome.baselined.is_empty() {
            0
        } else {
            3 * MORE_ROOM
        };
    let mut used = out.len() + NOTE_ROOM + accepted_room;
    let mut opened = vec![false; groups.len()];
    let mut truncated = false;
    for (g, i) in order {
        let block = finding_block(groups[g].1[i], opts);
        let cost = block.len() + if opened[g] { 0 } else { headers[g].len() + 1 };
        if used + cost > COMMENT_LIMIT {
            truncated = true;
            break;
        }
        used += cost;
        opened[g] = true;
        blocks[g][i] = Some(block);
    }
    let mut shown = std::collections::HashSet::new();
    for (g, (_, findings)) in groups.iter().enumerate() {
        if !opened[g] {
            continue;
        }
        out.push_str(&headers[g]);
        for (i, f) in findings.iter().enumerate() {
            if let Some(block) = &blocks[g][i] {
                out.push_str(block);
                shown.insert(*f as *const Finding);
            }
        }
        out.push('\n');
    }
    let accepted_left_out = write_accepted(&mut out, outcome, opts, COMMENT_LIMIT - NOTE_ROOM);
    if truncated || errors_left_out > 0 || accepted_left_out > 0 {
        let hidden = outcome.findings.len() - shown.len();
        let mut left_out = Vec::new();
        if hidden > 0 {
            left_out.push(format!("{hidden} of {} findings", s.findings));
        }
        if errors_left_out > 0 {
            left_out.push(format!("{errors_left_out} of {} input errors", s.errors));
        }
        if accepted_left_out > 0 {
            left_out.push(format!(
                "{accepted_left_out} of {} accepted (exempted or baselined) findings",
                s.exempted + s.baselined
            ));
        }
        let _ = writeln!(
            out,
            "\n---\n> [!WARNING]\n> **Truncated** to fit a comment ({COMMENT_LIMIT} characters at most): {} not shown here. \
             The tables above count everything; the full list is in the SARIF, HTML or JSON report (`--format html=report.html`).",
            left_out.join(" and "),
        );
    }
    out
}

/// Writes the comment.
pub fn write(outcome: &Outcome, out: &mut dyn Write, opts: &Options) -> io::Result<()> {
    out.write_all(render(outcome, opts).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_link_only_repository_paths() {
        let base = Some("https://github.com/o/r/blob/abc");
        assert_eq!(
            place("deploy/a b.yaml", Some(6), base),
            "[deploy/a b.yaml:6](https://github.com/o/r/blob/abc/deploy/a%20b.yaml#L6)"
        );
        assert_eq!(place("/etc/x.yaml", Some(1), base), "`/etc/x.yaml:1`");
        assert_eq!(place("<stdin>", None, base), "`<stdin>`");
        assert_eq!(place("a.yaml", Some(2), None), "`a.yaml:2`");
    }

    #[test]
    fn escapes_html_and_markdown() {
        assert_eq!(
            esc("<script>a|b_c</script>"),
            "&lt;script&gt;a\\|b\\_c&lt;/script&gt;"
        );
        assert_eq!(
            esc("set `AWS_VPC_K8S_CNI_EXTERNALSNAT`"),
            "set `AWS_VPC_K8S_CNI_EXTERNALSNAT`"
        );
        assert_eq!(esc("odd ` tick"), "odd \\` tick");
        assert_eq!(code("a`b"), "`` a`b ``");
    }
}
