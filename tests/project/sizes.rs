//! Small files and functions, checked (STYLE.md, convention 8): no file of `src/` is over
//! [`MAX_FILE_LINES`] lines, and no function of `src/` is over [`MAX_FN_LINES`] lines unless
//! its body is one flat `match` (one arm per case reads fine however many cases there are).
//! Test code is not held to the function limit: `#[cfg(test)]` modules, and the files of
//! out-of-line ones (`tests.rs`, and files under a `tests/` directory of `src/`).
//!
//! The check reads the source, which is rustfmt-formatted: a function starts at a line
//! holding `fn NAME` after nothing but qualifiers, and its body ends at the next line that
//! is its own indentation followed by `}`. Its length counts both lines.

use std::path::{Path, PathBuf};

/// Most lines a file of `src/` may have.
const MAX_FILE_LINES: usize = 800;
/// Most lines a function may have, from its `fn` line to its closing brace.
const MAX_FN_LINES: usize = 80;

/// Exceptions: a path under the crate root, the function (`Type::name` for a method, `None`
/// for the file's own length), and why it may stay over the limit for now. An entry that is
/// no longer over the limit fails the test too, so the list only shrinks.
const ALLOWED: &[(&str, Option<&str>, &str)] = &[];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, the CLI included, sorted.
fn source_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A path relative to the crate root, with `/` separators, as [`ALLOWED`] spells it.
fn relative(path: &Path) -> String {
    let rel = path.strip_prefix(root()).expect("under the crate root");
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// True for the files of an out-of-line `#[cfg(test)] mod tests`: `.../tests.rs` and
/// `.../tests/*.rs` (`rel` as [`relative`] gives it).
fn is_test_file(rel: &str) -> bool {
    let (dirs, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    name == "tests.rs" || dirs.split('/').any(|dir| dir == "tests")
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The name of the function a line declares, if it does: `fn NAME` preceded only by
/// qualifiers (`pub(crate) const unsafe fn ...`).
fn fn_name(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return None;
    }
    let at = trimmed.find("fn ")?;
    let qualifiers = &trimmed[..at];
    let only_qualifiers = qualifiers.split_whitespace().all(|word| {
        matches!(
            word,
            "pub" | "const" | "async" | "unsafe" | "extern" | "default"
        ) || word.starts_with("pub(")
            || word.starts_with('"')
    });
    if !only_qualifiers {
        return None;
    }
    let rest = &trimmed[at + 3..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The type an `impl` block line is for (`impl<T> Trait for Foo<T> {` gives `Foo`), or the
/// trait a `trait` line declares (`pub(crate) trait Foo {` gives `Foo`).
fn block_type(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    if let Some(at) = trimmed.find("trait ")
        && trimmed[..at]
            .split_whitespace()
            .all(|word| word == "pub" || word.starts_with("pub(") || word == "unsafe")
    {
        let rest = &trimmed[at + "trait ".len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        return Some(rest[..end].to_owned());
    }
    let rest = trimmed
        .strip_prefix("impl")
        .filter(|r| r.starts_with([' ', '<']))?;
    // Skip the impl's own generics, `<...>`, nested brackets included.
    let rest = if rest.starts_with('<') {
        let mut depth = 0;
        let end = rest.char_indices().find_map(|(i, c)| {
            depth += match c {
                '<' => 1,
                '>' => -1,
                _ => 0,
            };
            (depth == 0).then_some(i)
        })?;
        &rest[end + 1..]
    } else {
        rest
    };
    let rest = rest.split_once(" for ").map_or(rest, |(_, ty)| ty).trim();
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(rest.len());
    let path = &rest[..end];
    Some(path.rsplit("::").next().unwrap_or(path).to_owned())
}

/// True if `body` (the lines between a function's braces) is one `match` with no match
/// nested in its arms.
fn is_flat_match(body: &[&str], fn_indent: usize) -> bool {
    let Some((first, rest)) = body.split_first() else {
        return false;
    };
    let Some(last) = rest.last() else {
        return false;
    };
    let inner = " ".repeat(fn_indent + 4);
    let opens_match = indent_of(first) == fn_indent + 4 && first.trim_start().starts_with("match ");
    let closes_match = last.starts_with(&inner) && last.trim() == "}";
    let nested = rest
        .iter()
        .any(|line| line.trim_start().starts_with("match ") || line.contains(" match "));
    opens_match && closes_match && !nested
}

/// A function too long: its qualified name, first line (1-based) and length in lines.
struct LongFn {
    name: String,
    line: usize,
    len: usize,
}

/// The functions of one file's text over [`MAX_FN_LINES`], outside `#[cfg(test)]` modules.
fn long_functions(text: &str) -> Vec<LongFn> {
    let lines: Vec<&str> = text.lines().collect();
    let close_at = |from: usize, indent: usize| -> Option<usize> {
        let closing = format!("{}}}", " ".repeat(indent));
        (from..lines.len()).find(|&i| lines[i] == closing)
    };
    let mut out = Vec::new();
    // Open `impl` and `trait` blocks: the type and the line that closes the block.
    let mut impls: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        impls.retain(|&(_, end)| end > i);
        let line = lines[i];
        let indent = indent_of(line);
        if line.trim() == "#[cfg(test)]"
            && let Some(next) = lines.get(i + 1)
            && next.trim_start().starts_with("mod ")
            && next.trim_end().ends_with('{')
        {
            // Skip the whole test module.
            i = close_at(i + 2, indent).map_or(lines.len(), |end| end + 1);
            continue;
        }
        if line.trim_end().ends_with('{')
            && let Some(ty) = block_type(line)
            && let Some(end) = close_at(i + 1, indent)
        {
            impls.push((ty, end));
        }
        if let Some(name) = fn_name(line) {
            // The signature ends at the first line ending in `{` (a body follows), `;` (no
            // body) or `}` (a body on one line).
            let Some(open) =
                (i..lines.len()).find(|&j| lines[j].trim_end().ends_with(['{', ';', '}']))
            else {
                break;
            };
            if lines[open].trim_end().ends_with('{')
                && let Some(end) = close_at(open + 1, indent)
            {
                let len = end - i + 1;
                if len > MAX_FN_LINES && !is_flat_match(&lines[open + 1..end], indent) {
                    let name = match impls.last() {
                        Some((ty, _)) => format!("{ty}::{name}"),
                        None => name.to_owned(),
                    };
                    out.push(LongFn {
                        name,
                        line: i + 1,
                        len,
                    });
                }
            }
        }
        i += 1;
    }
    out
}

#[test]
fn files_and_functions_stay_small() {
    let mut offenders = Vec::new();
    let mut allowed_used = vec![false; ALLOWED.len()];
    let mut allowed = |path: &str, name: Option<&str>| {
        let hit = ALLOWED.iter().position(|&(p, n, _)| p == path && n == name);
        if let Some(at) = hit {
            allowed_used[at] = true;
        }
        hit.is_some()
    };
    for path in source_files() {
        let rel = relative(&path);
        let text = std::fs::read_to_string(&path).expect("read source");
        let line_count = text.lines().count();
        if line_count > MAX_FILE_LINES && !allowed(&rel, None) {
            offenders.push(format!("{rel}: {line_count} lines (most {MAX_FILE_LINES})"));
        }
        if is_test_file(&rel) {
            continue;
        }
        for long in long_functions(&text) {
            if !allowed(&rel, Some(&long.name)) {
                offenders.push(format!(
                    "{rel}:{}: fn {} is {} lines (most {MAX_FN_LINES})",
                    long.line, long.name, long.len
                ));
            }
        }
    }
    // An exception no longer needed goes, so the list stays short and true.
    for (used, (path, name, _)) in allowed_used.iter().zip(ALLOWED) {
        if !used {
            let what = name.map_or_else(|| "the file".to_owned(), |n| format!("fn {n}"));
            offenders.push(format!("{path}: {what} is allowed but no longer too long"));
        }
    }
    assert!(
        offenders.is_empty(),
        "files over {MAX_FILE_LINES} lines or functions over {MAX_FN_LINES} lines:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn test_files_are_told_apart() {
    assert!(is_test_file("src/pager/tests.rs"));
    assert!(is_test_file("src/btree/tests/model.rs"));
    assert!(is_test_file("src/btree/tests/mod.rs"));
    assert!(!is_test_file("src/pager/commit.rs"));
    assert!(!is_test_file("src/bin/brooklet/main.rs"));
}

#[test]
fn the_parser_finds_functions_methods_and_skips_tests() {
    let body = "        x += 1;\n".repeat(MAX_FN_LINES);
    let arms = "        0 => 1,\n".repeat(MAX_FN_LINES);
    let text = [
        "impl<T: Clone> Trait for Foo<T> {",
        "    pub(crate) fn long(",
        "        &self,",
        "    ) {",
        body.trim_end(),
        "    }",
        "",
        "    fn short() {}",
        "}",
        "",
        "pub(crate) trait Bar {",
        "    fn declared(&self);",
        "    fn provided(&self) {",
        body.trim_end(),
        "    }",
        "}",
        "",
        "fn flat(x: u8) -> u8 {",
        "    match x {",
        arms.trim_end(),
        "    }",
        "}",
        "",
        "fn nested(x: u8) -> u8 {",
        "    match x {",
        "        1 => match x {",
        "            _ => 2,",
        "        },",
        arms.trim_end(),
        "    }",
        "}",
        "",
        "#[cfg(test)]",
        "mod tests {",
        "    fn in_test() {",
        body.trim_end(),
        "    }",
        "}",
    ]
    .join("\n");
    let found: Vec<(String, usize, usize)> = long_functions(&text)
        .into_iter()
        .map(|f| (f.name, f.line, f.len))
        .collect();
    let line_of = |start: &str| {
        1 + text
            .lines()
            .position(|line| line.trim_start().starts_with(start))
            .expect("the function is in the text")
    };
    assert_eq!(
        found,
        vec![
            ("Foo::long".to_owned(), 2, MAX_FN_LINES + 4),
            (
                "Bar::provided".to_owned(),
                line_of("fn provided"),
                MAX_FN_LINES + 2
            ),
            ("nested".to_owned(), line_of("fn nested"), MAX_FN_LINES + 7),
        ]
    );
}
