//! The README's table of rules names, for each DESIGN rule (C1 to C25, E1
//! to E16), the tests that prove it. This keeps the table honest: every
//! rule has a row, every row that says "holds" names at least one test,
//! and every `file::test` it names exists (a `*` at the end stands for
//! every test with that prefix, of which there must be one). A renamed or
//! deleted test fails here instead of leaving the README pointing at
//! nothing.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `NAME.rs` under `dir`, recursively (no `target`).
fn find_sources(dir: &Path, name: &str, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                find_sources(&path, name, found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            found.push(path);
        }
    }
}

/// Whether a test function `test` (or, ending in `*`, one starting with
/// it) is defined in a source file named `module.rs` (or `module/mod.rs`)
/// of the workspace.
fn defined(module: &str, test: &str) -> bool {
    let mut files = Vec::new();
    find_sources(&root().join("crates"), &format!("{module}.rs"), &mut files);
    let mut dirs = Vec::new();
    find_sources(&root().join("crates"), "mod.rs", &mut dirs);
    files.extend(dirs.into_iter().filter(|p| {
        p.parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == module)
    }));
    // A module's tests may sit in `module/tests.rs`.
    let mut tests = Vec::new();
    find_sources(&root().join("crates"), "tests.rs", &mut tests);
    files.extend(tests.into_iter().filter(|p| {
        p.parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == module)
    }));
    let (prefix, exact) = match test.strip_suffix('*') {
        Some(p) => (p, false),
        None => (test, true),
    };
    files.iter().any(|f| {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        text.match_indices("fn ").any(|(i, _)| {
            let rest = &text[i + 3..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if exact {
                name == prefix
            } else {
                name.starts_with(prefix)
            }
        })
    })
}

#[test]
fn c_and_e_rules_each_have_a_row_whose_tests_exist() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let rows: Vec<(&str, &str)> = readme
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            // | rule | what | tests | status |
            (cells.len() >= 5
                && (cells[1].starts_with('C') || cells[1].starts_with('E'))
                && cells[1][1..].parse::<u32>().is_ok())
            .then(|| (cells[1], l))
        })
        .collect();
    let mut problems = Vec::new();
    let wanted = (1..=25)
        .map(|n| format!("C{n}"))
        .chain((1..=16).map(|n| format!("E{n}")));
    for rule in wanted {
        match rows.iter().find(|(r, _)| *r == rule) {
            None => problems.push(format!("{rule}: no row in the README's rules table")),
            Some((_, line)) => {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let (tests, status) = (cells[3], cells[4]);
                let named: Vec<(&str, &str)> = tests
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .filter_map(|t| t.split_once("::"))
                    .filter(|(m, _)| !m.contains('/') && !m.contains(' '))
                    .collect();
                if status.starts_with("holds") && named.is_empty() {
                    problems.push(format!("{rule}: says it holds but names no `file::test`"));
                }
                for (module, test) in named {
                    if !defined(module, test) {
                        problems.push(format!("{rule}: `{module}::{test}` is not a test here"));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "README rules table:\n{}",
        problems.join("\n")
    );
}
