//! The crate's shape stays the one `lib.rs` and docs/architecture.md draw:
//! a module imports only from its own folder or a lower layer, and no two
//! files of any workspace crate import each other, however indirectly.
//! Imports are read from the source (`crate::` and `super::` paths outside
//! comments and `#[cfg(test)]` modules).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `shared/src`, lowest first; the same as lib.rs's table.
const LAYERS: &[(&str, u8)] = &[
    ("config", 0),
    ("logging", 0),
    ("metrics", 0),
    ("token", 1),
    ("records", 2),
    ("store", 3),
    ("authorize", 4),
    ("management", 4),
    ("events", 4),
    ("aws", 5),
    ("memory", 5),
];

/// The adapters' layer, and the ports' they may reach down to.
const ADAPTERS: u8 = 5;
const PORTS: u8 = 3;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The module path of a file under `src` (`records/audit.rs` → `records::audit`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file that is compiled outside tests: comments dropped,
/// and everything from its `#[cfg(test)]` test module on.
fn code(text: &str) -> String {
    let mut kept = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if !trimmed.starts_with("//") {
            kept.push_str(line.split(" //").next().unwrap_or(""));
            kept.push('\n');
        }
    }
    kept
}

/// Every path a file's code names, as module paths (`crate::a::b::C` →
/// `[a, b, C]`, `super::x` resolved against the file's own module).
fn imports(module: &[String], text: &str) -> Vec<Vec<String>> {
    let code = code(text);
    let mut found = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let boundary = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        let (base, skip) = if boundary && rest.starts_with("crate::") {
            (Vec::new(), 7)
        } else if boundary && rest.starts_with("super::") {
            // A file's module path already names a `mod.rs` by its folder.
            let mut parent = module.to_vec();
            parent.pop();
            (parent, 7)
        } else {
            i += 1;
            continue;
        };
        let mut j = i + skip;
        let mut path = base;
        let mut segment = String::new();
        while j < bytes.len() {
            let c = bytes[j];
            if c.is_alphanumeric() || c == '_' {
                segment.push(c);
                j += 1;
            } else if c == ':' && bytes.get(j + 1) == Some(&':') {
                path.push(std::mem::take(&mut segment));
                j += 2;
            } else {
                break;
            }
        }
        if !segment.is_empty() {
            path.push(segment);
        }
        if !path.is_empty() {
            found.push(path);
        }
        i = j.max(i + 1);
    }
    found
}

/// Each file of a crate by its module path.
type Files = BTreeMap<Vec<String>, PathBuf>;
/// The modules each module's file imports from.
type Edges = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

/// The file a module path lands in: the deepest module of `files` it names.
fn target(files: &Files, path: &[String]) -> Option<Vec<String>> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| files.contains_key(prefix))
}

/// Each file's module path, and the file-level import edges of a crate.
fn graph(src: &Path) -> (Files, Edges) {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    let files: Files = paths
        .iter()
        .map(|file| (module_of(src, file), file.clone()))
        .collect();
    let mut edges = BTreeMap::new();
    for (module, file) in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut to = BTreeSet::new();
        for path in imports(module, &text) {
            if let Some(found) = target(&files, &path) {
                if &found != module && !found.is_empty() {
                    to.insert(found);
                }
            }
        }
        edges.insert(module.clone(), to);
    }
    (files, edges)
}

fn layer(module: &[String]) -> Option<u8> {
    let top = module.first()?;
    LAYERS
        .iter()
        .find(|(name, _)| name == top)
        .map(|(_, layer)| *layer)
}

#[test]
fn every_module_of_the_library_imports_only_its_own_folder_or_lower_layers() {
    let src = repo().join("shared/src");
    let (files, edges) = graph(&src);
    let mut upward = Vec::new();
    for (module, imports) in &edges {
        let Some(own) = layer(module) else {
            assert!(module.is_empty(), "{module:?} is in no layer of LAYERS");
            continue; // lib.rs
        };
        for import in imports {
            let theirs = layer(import).unwrap();
            // A use case's unit tests (a `*_tests.rs` file) may run it over
            // the in-memory fakes: that is what they are for.
            let test_file = module.last().is_some_and(|m| m.ends_with("_tests"));
            if test_file && import.first().is_some_and(|top| top == "memory") {
                continue;
            }
            // Adapters implement ports: they see the ports and below, no use case.
            let highest = if own == ADAPTERS {
                PORTS
            } else {
                own.saturating_sub(1)
            };
            if import.first() != module.first() && (theirs > highest || theirs == own) {
                upward.push(format!("{} -> {}", module.join("::"), import.join("::")));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports across or up the layers: {upward:#?}"
    );
    // Every top-level module is in the table, and the table in the crate.
    let tops: BTreeSet<&str> = files
        .keys()
        .filter_map(|m| m.first())
        .map(String::as_str)
        .collect();
    let listed: BTreeSet<&str> = LAYERS.iter().map(|(name, _)| *name).collect();
    assert_eq!(tops, listed);
}

/// The circles of a graph, each once, as the files on it.
fn circles(edges: &Edges) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for start in edges.keys() {
        // A path back to `start` through modules ordered after it finds
        // each circle from its smallest member only.
        let mut stack = vec![(start.clone(), vec![start.join("::")])];
        let mut seen = BTreeSet::new();
        while let Some((at, trail)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    found.push(trail.clone());
                } else if next > start && seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.join("::"));
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    found
}

#[test]
fn no_two_files_of_any_workspace_crate_import_each_other() {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let members: Vec<String> = manifest
        .lines()
        .find(|line| line.trim_start().starts_with("members"))
        .unwrap()
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert!(members.len() > 5, "{members:?}");
    let mut all = Vec::new();
    for member in members {
        let src = repo().join(&member).join("src");
        if !src.exists() {
            continue;
        }
        let (_, edges) = graph(&src);
        for circle in circles(&edges) {
            all.push(format!("{member}: {}", circle.join(" -> ")));
        }
    }
    assert!(all.is_empty(), "import circles: {all:#?}");
}

#[test]
fn the_checker_sees_an_upward_import_and_a_circle() {
    let module = vec!["token".to_owned(), "hash".to_owned()];
    let text = "use crate::records::Owner;\n// use crate::store::X;\nfn f() { crate::token::bearer::extract(); }\n";
    let found = imports(&module, text);
    assert_eq!(
        found,
        vec![
            vec!["records".to_owned(), "Owner".to_owned()],
            vec![
                "token".to_owned(),
                "bearer".to_owned(),
                "extract".to_owned()
            ],
        ]
    );
    let a = vec!["a".to_owned()];
    let b = vec!["b".to_owned()];
    let edges = BTreeMap::from([
        (a.clone(), BTreeSet::from([b.clone()])),
        (b.clone(), BTreeSet::from([a.clone()])),
    ]);
    assert_eq!(circles(&edges), vec![vec!["a".to_owned(), "b".to_owned()]]);
}
