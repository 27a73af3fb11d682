//! The library's layering, checked: every module of `src/` uses only modules on layers
//! below its own, and no two files of one module use each other. ARCHITECTURE.md, *Layers*,
//! draws the same table; a change to one is a change to both.
//!
//! The check reads the source: every `crate::NAME` path outside comments names a module
//! (or a name the crate root re-exports, resolved through `lib.rs`), and every
//! `super::NAME` or `crate::MODULE::NAME` that is a sibling file names that file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each module of `src/` and its layer, bottom up. A module may use modules on lower
/// layers only; modules on one layer never use each other.
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("os", 0),
    ("stats", 0),
    ("page", 1),
    ("kafka", 1),
    ("pager", 2),
    ("btree", 3),
    ("engine", 4),
    ("counters", 5),
    ("catalog", 6),
    ("log", 7),
    ("group", 7),
    ("transactions", 7),
    ("db", 8),
    ("serve", 9),
    ("lib", 10),
];

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file of the library (the CLI under `src/bin` is not a module of it).
fn library_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![src()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "bin") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The module a file belongs to: the first component under `src/` (`lib` for `lib.rs`).
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).expect("under src");
    let first = rel.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_owned()
}

/// The source without comments (`//` to the end of the line), so that doc links and prose
/// are not read as uses.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifiers that follow each occurrence of `prefix` in `code`, with the identifier
/// after them when the path goes on (`crate::log::append` gives `("log", Some("append"))`).
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<(&'a str, Option<&'a str>)> {
    let ident = |s: &'a str| -> &'a str {
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        &s[..end]
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        rest = &rest[at + prefix.len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(list) = rest.strip_prefix('{') {
            // `crate::{a::b, C}`: every item of the list, at any depth of braces.
            let mut depth = 1;
            let end = list
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(list.len(), |(at, _)| at);
            for item in list[..end].split(',') {
                let item = item.trim_start_matches(|c: char| c.is_whitespace() || c == '{');
                let first = ident(item);
                if !first.is_empty() {
                    let after = &item[first.len()..];
                    let second = after
                        .strip_prefix("::")
                        .map(ident)
                        .filter(|s| !s.is_empty());
                    out.push((first, second));
                }
            }
            continue;
        }
        let first = ident(rest);
        let after = &rest[first.len()..];
        let second = after
            .strip_prefix("::")
            .map(ident)
            .filter(|s| !s.is_empty());
        out.push((first, second));
    }
    out
}

/// Names the crate root re-exports, and the module each comes from (`pub use m::{A, B}`).
fn root_reexports() -> BTreeMap<String, String> {
    let code = code_of(&src().join("lib.rs"));
    let mut out = BTreeMap::new();
    for statement in code.split(';') {
        let Some(body) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = body
            .split("::")
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let names = body.split_once('{').map_or_else(
            || body.rsplit("::").next().unwrap_or_default().to_owned(),
            |(_, list)| list.trim_end_matches('}').to_owned(),
        );
        for name in names.split(',') {
            let name = name.trim().rsplit("::").next().unwrap_or_default().trim();
            if !name.is_empty() {
                out.insert(name.to_owned(), module.clone());
            }
        }
    }
    out
}

/// The module a `crate::FIRST` path uses: a module name, or the origin of a re-exported name.
fn used_module(first: &str, reexports: &BTreeMap<String, String>) -> Option<String> {
    if layer(first).is_some() {
        return Some(first.to_owned());
    }
    reexports.get(first).cloned()
}

#[test]
fn every_module_uses_only_lower_layers() {
    let reexports = root_reexports();
    let mut wrong = BTreeSet::new();
    for path in library_files() {
        let own = module_of(&path);
        let own_layer = layer(&own)
            .unwrap_or_else(|| panic!("{}: module {own:?} is missing from LAYERS", path.display()));
        for (first, _) in paths_after(&code_of(&path), "crate::") {
            let Some(used) = used_module(first, &reexports) else {
                wrong.insert(format!(
                    "{}: crate::{first} is neither a module in LAYERS nor a root re-export",
                    path.display()
                ));
                continue;
            };
            if used == own || own == "lib" {
                continue;
            }
            let used_layer = layer(&used).expect("resolved modules are in LAYERS");
            if used_layer >= own_layer {
                wrong.insert(format!(
                    "{}: {own} (layer {own_layer}) uses {used} (layer {used_layer})",
                    path.display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "imports that do not point down:\n{}", {
        wrong.into_iter().collect::<Vec<_>>().join("\n")
    });
}

/// The sibling file (`dir/NAME.rs` or `dir/NAME/mod.rs`) a path segment names, if any.
fn sibling(dir: &Path, name: &str) -> Option<PathBuf> {
    [
        dir.join(format!("{name}.rs")),
        dir.join(name).join("mod.rs"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

#[test]
fn no_two_files_of_a_module_use_each_other() {
    let files = library_files();
    let mut uses: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for path in &files {
        let is_mod = path
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
        if is_mod {
            continue; // a module's face: it declares its files and hands their names on
        }
        let dir = path.parent().expect("a directory");
        let code = code_of(path);
        let mut targets = BTreeSet::new();
        for (first, _) in paths_after(&code, "super::") {
            if let Some(file) = sibling(dir, first) {
                targets.insert(file);
            }
        }
        // crate::MODULE::NAME where NAME is a file of the module this file is in.
        let module = module_of(path);
        for (first, second) in paths_after(&code, "crate::") {
            if first == module
                && let Some(second) = second
                && let Some(file) = sibling(&src().join(&module), second)
            {
                targets.insert(file);
            }
        }
        targets.retain(|t| t != path && !t.ends_with("mod.rs"));
        uses.insert(path.clone(), targets);
    }
    let mut circles = BTreeSet::new();
    for (a, targets) in &uses {
        for b in targets {
            if uses.get(b).is_some_and(|back| back.contains(a)) {
                let (x, y) = if a < b { (a, b) } else { (b, a) };
                circles.insert(format!("{} <-> {}", x.display(), y.display()));
            }
        }
    }
    assert!(circles.is_empty(), "files that use each other:\n{}", {
        circles.into_iter().collect::<Vec<_>>().join("\n")
    });
}
