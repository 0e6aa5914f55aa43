//! `cargo xtask <task>`: checks of the project that plain cargo does not know.
//!
//! Tasks:
//! - `layers`: ARCHITECTURE.md's crate table is the law of dependencies. Every workspace crate
//!   must have a row, every row must name a crate that exists in the folder it gives, and every
//!   dependency on a workspace crate (in `[dependencies]`) must be listed in that crate's
//!   "may depend on" cell. Dev-dependencies are free: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    match task.as_deref() {
        Some("layers") => match check_layers(&workspace_root()) {
            Ok(n) => {
                println!("layers: {n} crates agree with ARCHITECTURE.md");
                ExitCode::SUCCESS
            }
            Err(problems) => {
                for p in problems {
                    eprintln!("layers: {p}");
                }
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: cargo xtask layers");
            ExitCode::from(2)
        }
    }
}

/// The workspace root: the nearest directory, from the current one upwards, whose
/// `Cargo.toml` declares a `[workspace]`. The compile-time location of this crate is only the
/// fallback: a binary built from one checkout and run in another must check the latter.
fn workspace_root() -> PathBuf {
    let start = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    for dir in start.ancestors() {
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        if manifest.lines().any(|l| l.trim() == "[workspace]") {
            return dir.to_path_buf();
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// One row of ARCHITECTURE.md's crate table.
#[derive(Debug)]
struct Row {
    folder: String,
    allowed: BTreeSet<String>,
}

/// Checks the crate table against the manifests; returns the number of crates checked, or
/// every disagreement found.
fn check_layers(root: &Path) -> Result<usize, Vec<String>> {
    let mut problems = Vec::new();
    let doc = fs::read_to_string(root.join("ARCHITECTURE.md"))
        .map_err(|e| vec![format!("cannot read ARCHITECTURE.md: {e}")])?;
    let rows = parse_crate_table(&doc);
    if rows.is_empty() {
        return Err(vec!["ARCHITECTURE.md has no crate table".into()]);
    }

    let crates = workspace_crates(root).map_err(|e| vec![e])?;
    let names: BTreeSet<&String> = crates.keys().collect();
    for (name, row) in &rows {
        match crates.get(name) {
            None => problems.push(format!(
                "ARCHITECTURE.md names `{name}`, which is not a workspace crate"
            )),
            Some(krate) if krate.folder != row.folder => problems.push(format!(
                "`{name}` lives in {}, but ARCHITECTURE.md says {}",
                krate.folder, row.folder
            )),
            Some(_) => {}
        }
    }
    for (name, krate) in &crates {
        let Some(row) = rows.get(name) else {
            problems.push(format!("crate `{name}` has no row in ARCHITECTURE.md"));
            continue;
        };
        for dep in &krate.deps {
            if names.contains(dep) && !row.allowed.contains(dep) {
                problems.push(format!(
                    "`{name}` depends on `{dep}`, which ARCHITECTURE.md does not allow"
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(crates.len())
    } else {
        Err(problems)
    }
}

/// Reads rows of the form `| \`name\` | folder | sentence | \`dep\`, \`dep\` |`.
fn parse_crate_table(doc: &str) -> BTreeMap<String, Row> {
    let mut rows = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if cells.len() != 4 || !cells[0].starts_with('`') {
            continue;
        }
        let name = cells[0].trim_matches('`').to_string();
        let allowed = cells[3]
            .split(',')
            .map(|d| d.trim().trim_matches('`').to_string())
            .filter(|d| !d.is_empty() && d != "—")
            .collect();
        rows.insert(
            name,
            Row {
                folder: cells[1].to_string(),
                allowed,
            },
        );
    }
    rows
}

/// A workspace crate as its manifest describes it.
struct Crate {
    folder: String,
    deps: BTreeSet<String>,
}

/// Every crate under crates/ plus xtask, keyed by package name.
fn workspace_crates(root: &Path) -> Result<BTreeMap<String, Crate>, String> {
    let mut folders = vec!["xtask".to_string()];
    let entries =
        fs::read_dir(root.join("crates")).map_err(|e| format!("cannot list crates/: {e}"))?;
    for entry in entries.flatten() {
        if entry.path().join("Cargo.toml").is_file() {
            folders.push(format!("crates/{}", entry.file_name().to_string_lossy()));
        }
    }
    let mut crates = BTreeMap::new();
    for folder in folders {
        let manifest = fs::read_to_string(root.join(&folder).join("Cargo.toml"))
            .map_err(|e| format!("cannot read {folder}/Cargo.toml: {e}"))?;
        let (name, deps) = parse_manifest(&manifest)
            .ok_or_else(|| format!("{folder}/Cargo.toml has no package name"))?;
        crates.insert(name, Crate { folder, deps });
    }
    Ok(crates)
}

/// Extracts the package name and the names in `[dependencies]` from a manifest. This reads
/// only the simple `name = ...` / `name.workspace = true` forms the workspace uses.
fn parse_manifest(manifest: &str) -> Option<(String, BTreeSet<String>)> {
    let mut section = "";
    let mut name = None;
    let mut deps = BTreeSet::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        match section {
            "[package]" if key == "name" => name = Some(value.trim().trim_matches('"').to_string()),
            "[dependencies]" => {
                let dep = key.split('.').next().unwrap_or(key);
                deps.insert(dep.to_string());
            }
            _ => {}
        }
    }
    name.map(|n| (n, deps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_workspace_agrees_with_its_architecture_page() {
        let checked =
            check_layers(&workspace_root()).unwrap_or_else(|p| panic!("{}", p.join("\n")));
        assert!(
            checked >= 5,
            "expected the workspace's crates, saw {checked}"
        );
    }

    #[test]
    fn a_dependency_missing_from_the_table_is_reported() {
        let doc = "| `a` | crates/a | A. | — |\n| `b` | crates/b | B. | `a` |\n";
        let rows = parse_crate_table(doc);
        assert!(rows["a"].allowed.is_empty());
        assert!(rows["b"].allowed.contains("a"));
        let (name, deps) =
            parse_manifest("[package]\nname = \"a\"\n[dependencies]\nb.workspace = true\n")
                .unwrap();
        assert_eq!(name, "a");
        assert!(deps.contains("b") && !rows[&name].allowed.contains("b"));
    }
}
