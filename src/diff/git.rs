//! One side of a diff read from a git revision, through the `git` binary.
//!
//! Why the binary and not `gix`: `git ls-tree -r -z REV -- PATHS` and one `git cat-file --batch`
//! are two processes whatever the tree size, behave exactly like the git the user already runs
//! (worktrees, alternates, partial clones, `safe.directory`, every ref syntax `git` accepts),
//! and add nothing to the build; `gix` with the features needed to read trees and blobs adds
//! well over a hundred crates and minutes of compile time on this project's 2-core CI for the
//! same result. The cost is a runtime dependency on `git`, which every CI job and developer
//! machine that has a pull request to diff already has; its absence is a clear input error.
//!
//! Invariants: paths are read exactly as `git ls-tree` reports them, relative to the current
//! directory like the work-tree side; files are named `REV:path` in reports, so a location
//! tells which side it is from. Directories keep the loader's rules (`.yaml`, `.yml`, `.json`;
//! hidden directories skipped); a path named explicitly is read whatever its extension.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use rayon::prelude::*;

use crate::load::{Loaded, Problem, load_bytes};

fn problem(file: &str, message: String) -> Problem {
    Problem {
        file: Arc::from(file),
        line: None,
        message,
    }
}

fn git() -> Command {
    let mut cmd = Command::new("git");
    // Never prompt, never page; output paths unquoted.
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        .args(["-c", "core.quotepath=off"]);
    cmd
}

fn run(args: &[&str]) -> Result<Vec<u8>, String> {
    let out = git()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `git` (is it installed and on PATH?): {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "`git {}` failed: {}",
            args.join(" "),
            stderr.trim().lines().next().unwrap_or("(no message)")
        ))
    }
}

/// A blob to read: its object id and the path it had.
struct Entry {
    oid: String,
    path: String,
}

fn is_manifest(path: &str) -> bool {
    let p = Path::new(path);
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn hidden_component(path: &str, under: &str) -> bool {
    // Hidden directories below the path the user named are skipped, as the loader does.
    let rest = path.strip_prefix(under).unwrap_or(path);
    let mut parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    parts.pop();
    parts.iter().any(|p| p.starts_with('.'))
}

/// Lists the blobs under `path` at `rev`.
fn list(rev: &str, path: &str) -> Result<Vec<Entry>, String> {
    let out = run(&["ls-tree", "-r", "-z", rev, "--", path])?;
    let mut entries = Vec::new();
    let trimmed = path.trim_start_matches("./");
    let under = if trimmed == "." { "" } else { trimmed };
    for record in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        let Some((meta, file)) = record.split_once('\t') else {
            continue;
        };
        let mut fields = meta.split(' ');
        let (Some(mode), Some(kind), Some(oid)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        // Symlinks (120000) and submodules (commits) are not manifests in this tree.
        if kind != "blob" || mode == "120000" {
            continue;
        }
        let explicit = file == under;
        if explicit || (is_manifest(file) && !hidden_component(file, under)) {
            entries.push(Entry {
                oid: oid.to_owned(),
                path: file.to_owned(),
            });
        }
    }
    Ok(entries)
}

/// Reads blobs with one `git cat-file --batch`.
fn read_blobs(entries: &[Entry]) -> Result<Vec<Vec<u8>>, String> {
    let mut child = git()
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `git` (is it installed and on PATH?): {e}"))?;
    let mut stdin = child.stdin.take().ok_or("git cat-file: no stdin")?;
    let request: String = entries.iter().map(|e| format!("{}\n", e.oid)).collect();
    // Write from another thread: git answers while we still send, and pipes are bounded.
    let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
    let stdout = child.stdout.take().ok_or("git cat-file: no stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut blobs = Vec::with_capacity(entries.len());
    for e in entries {
        let mut header = String::new();
        reader
            .read_line(&mut header)
            .map_err(|err| format!("git cat-file: {err}"))?;
        let mut parts = header.split_whitespace();
        let (Some(_), Some(kind), Some(size)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "git cat-file: cannot read {}: {}",
                e.oid,
                header.trim()
            ));
        };
        if kind != "blob" {
            return Err(format!("git cat-file: {} is a {kind}", e.path));
        }
        let size: usize = size
            .parse()
            .map_err(|_| format!("git cat-file: bad size in `{}`", header.trim()))?;
        let mut blob = vec![0; size];
        reader
            .read_exact(&mut blob)
            .map_err(|err| format!("git cat-file: {err}"))?;
        let mut newline = [0u8; 1];
        reader
            .read_exact(&mut newline)
            .map_err(|err| format!("git cat-file: {err}"))?;
        blobs.push(blob);
    }
    drop(reader);
    let _ = writer.join();
    let _ = child.wait();
    Ok(blobs)
}

/// Loads `paths` (default: the current directory) as they are at `rev`.
pub fn load(rev: &str, paths: &[String]) -> Loaded {
    let mut loaded = Loaded::default();
    let default = [String::from(".")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let tree = format!("{rev}^{{tree}}");
    if let Err(e) = run(&[
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        &tree,
    ]) {
        let message = if e.starts_with("cannot run") {
            e
        } else {
            format!(
                "`{rev}` is not a revision of a git repository here (`git rev-parse` cannot resolve it)"
            )
        };
        loaded.errors.push(problem(rev, message));
        return loaded;
    }
    let mut entries = Vec::new();
    for path in paths {
        match list(rev, path) {
            Ok(found) if found.is_empty() => loaded.notices.push(problem(
                &format!("{rev}:{path}"),
                format!("no manifests at `{path}` in `{rev}`: every object on the other side counts as added"),
            )),
            Ok(found) => entries.extend(found),
            Err(e) => loaded.errors.push(problem(&format!("{rev}:{path}"), e)),
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries.dedup_by(|a, b| a.path == b.path);
    let blobs = match read_blobs(&entries) {
        Ok(b) => b,
        Err(e) => {
            loaded.errors.push(problem(rev, e));
            return loaded;
        }
    };
    let parts: Vec<Loaded> = entries
        .par_iter()
        .zip(blobs.par_iter())
        .map(|(e, bytes)| {
            let name: Arc<str> = Arc::from(format!("{rev}:{}", e.path).as_str());
            load_bytes(name, bytes, Some(Path::new(&e.path)))
        })
        .collect();
    for part in parts {
        loaded.objects.extend(part.objects);
        loaded.errors.extend(part.errors);
        loaded.notices.extend(part.notices);
        loaded.sources.extend(part.sources);
    }
    loaded
}
