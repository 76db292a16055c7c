//! The crate's layers, bottom up: a module may import only modules of a lower layer (never a peer
//! or one above it), so there are no import cycles. A new top-level module must be given a layer
//! here. (Doc comments may link anywhere; only code is checked.)

use std::collections::BTreeMap;
use std::path::Path;

/// Layer of every top-level module under src/.
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("kernels", 0),
    ("image", 1),
    ("results", 2),
    ("video", 3),
    ("detect", 3),
    ("roi", 3),
    ("quality", 3),
    ("pitch", 3),
    ("filter", 4),
    ("track", 4),
    ("cuda", 4),
    ("infer", 5),
    ("classify", 6),
    ("output", 7),
    ("pipeline", 8),
    ("engine", 9),
    ("embed", 9),
    ("score", 9),
    ("annotate", 9),
    ("keyframes", 10),
    ("service", 10),
    ("ffi", 11),
];

/// Top-level modules named by `crate::` paths in `code` (also inside `use crate::{a, b::c}`).
fn imports(code: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // Top-level entries of the group: split at commas outside nested braces.
            let (mut depth, mut start) = (0, 0);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(group[start..i].trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(group[start..i].trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
        rest = after;
    }
    out.retain(|n| !n.is_empty() && n.chars().next().is_some_and(|c| c.is_lowercase()));
    out
}

/// (module, file, line, imported module) for every import of a module not below the importer.
fn violations(src: &Path) -> Vec<String> {
    let layers: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let mut bad = Vec::new();
    let files = source_files();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "bin" {
            continue; // the crate root and the CLI may use every layer
        }
        let Some(&own) = layers.get(module.as_str()) else {
            bad.push(format!("{}: module `{module}` has no layer in tests/layers.rs", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let code = code.split(" //").next().unwrap_or(code);
            for dep in imports(code) {
                if dep == module {
                    continue;
                }
                match layers.get(dep.as_str()) {
                    Some(&l) if l < own => {}
                    Some(&l) => bad.push(format!(
                        "src/{}:{}: `{module}` (layer {own}) imports `{dep}` (layer {l}): a module may use only lower layers",
                        rel.display(),
                        n + 1
                    )),
                    None => {} // items of lib.rs (Error, Result, VERSION)
                }
            }
        }
    }
    bad
}

#[test]
fn no_module_imports_its_own_or_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(bad.is_empty(), "layer violations:\n{}", bad.join("\n"));
}

#[test]
fn the_check_sees_grouped_and_plain_imports() {
    assert_eq!(imports("use crate::{roi::{Crop}, video::Frame};"), vec!["roi", "video"]);
    assert_eq!(imports("let v = crate::pipeline::run(x, crate::Error::X);"), vec!["pipeline"]);
}

fn source_files() -> Vec<std::path::PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Whether `code` uses `unsafe` (the lint attribute aside).
fn uses_unsafe(code: &str) -> bool {
    code.lines().filter(|l| !l.trim_start().starts_with("//")).any(|l| l.replace("forbid(unsafe_code)", "").contains("unsafe"))
}

/// Every `unsafe` block says why it is sound (a `// SAFETY:` comment just above it), and every
/// module without `unsafe` forbids it (except a parent whose children need it).
#[test]
fn unsafe_is_justified_or_forbidden() {
    let mut bad = Vec::new();
    for f in source_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let code = l.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if code.contains("unsafe {") || code.ends_with("unsafe") {
                let ctx = lines[i.saturating_sub(6)..=i].join("\n");
                if !ctx.contains("SAFETY") {
                    bad.push(format!("{}:{}: an unsafe block without a `// SAFETY:` comment", f.display(), i + 1));
                }
            }
        }
        if !uses_unsafe(&text) && !text.contains("#![forbid(unsafe_code)]") {
            // A parent module file may leave it to its children, if one of them needs unsafe.
            let dir = f.parent().unwrap();
            let is_parent = f.file_name().is_some_and(|n| n == "mod.rs" || n == "lib.rs");
            let children_unsafe = is_parent
                && source_files()
                    .iter()
                    .filter(|c| c.starts_with(dir) && **c != f)
                    .any(|c| uses_unsafe(&std::fs::read_to_string(c).unwrap()));
            if !children_unsafe {
                bad.push(format!("{}: no unsafe code, but no #![forbid(unsafe_code)]", f.display()));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// No source file grows past about 700 lines: split it by responsibility first.
#[test]
fn no_source_file_is_over_700_lines() {
    let long: Vec<String> = source_files()
        .into_iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            (n > 700).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files:\n{}", long.join("\n"));
}
