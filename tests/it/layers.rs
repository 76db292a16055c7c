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

/// The top-level modules a file's code names, with the line of each: every `use` tree (groups
/// wrapped over lines included) and every path, `crate::` ones and `super::` ones resolved from
/// the module the code sits in (`module`: the file's module path, e.g. `["pipeline", "stages"]`).
fn imports(code: &str, module: &[String]) -> Vec<(String, usize)> {
    use syn::visit::Visit;
    struct V {
        module: Vec<String>,
        out: Vec<(String, usize)>,
    }
    impl V {
        /// The top-level module `segments` name (None: outside the crate, or a local item).
        fn top(&self, segments: &[String]) -> Option<String> {
            let mut at: Vec<String> = self.module.clone();
            let mut rest = segments;
            match rest.first().map(String::as_str) {
                Some("crate") => {
                    at.clear();
                    rest = &rest[1..];
                }
                Some("super") => {
                    while rest.first().map(String::as_str) == Some("super") {
                        at.pop()?;
                        rest = &rest[1..];
                    }
                }
                Some("self") => rest = &rest[1..],
                _ => return None,
            }
            at.extend(rest.iter().cloned());
            at.into_iter().next().filter(|m| m.chars().next().is_some_and(|c| c.is_lowercase()))
        }

        fn tree(&mut self, prefix: &mut Vec<String>, t: &syn::UseTree, line: usize) {
            match t {
                syn::UseTree::Path(p) => {
                    prefix.push(p.ident.to_string());
                    self.tree(prefix, &p.tree, line);
                    prefix.pop();
                }
                syn::UseTree::Name(n) => self.named(prefix, &n.ident.to_string(), line),
                syn::UseTree::Rename(r) => self.named(prefix, &r.ident.to_string(), line),
                syn::UseTree::Glob(_) => self.named(prefix, "*", line),
                syn::UseTree::Group(g) => {
                    for t in &g.items {
                        self.tree(prefix, t, line);
                    }
                }
            }
        }

        fn named(&mut self, prefix: &[String], last: &str, line: usize) {
            let mut segs = prefix.to_vec();
            if last != "*" && last != "self" {
                segs.push(last.to_string());
            }
            if let Some(m) = self.top(&segs) {
                self.out.push((m, line));
            }
        }
    }
    impl<'a> Visit<'a> for V {
        fn visit_item_use(&mut self, u: &'a syn::ItemUse) {
            let line = syn::spanned::Spanned::span(u).start().line;
            self.tree(&mut Vec::new(), &u.tree, line);
        }
        fn visit_path(&mut self, p: &'a syn::Path) {
            let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
            if segs.len() > 1 {
                let line = syn::spanned::Spanned::span(p).start().line;
                if let Some(m) = self.top(&segs) {
                    self.out.push((m, line));
                }
            }
            syn::visit::visit_path(self, p);
        }
        fn visit_item_mod(&mut self, m: &'a syn::ItemMod) {
            self.module.push(m.ident.to_string());
            syn::visit::visit_item_mod(self, m);
            self.module.pop();
        }
    }
    let file = syn::parse_file(code).unwrap_or_else(|e| panic!("not Rust: {e}"));
    let mut v = V { module: module.to_vec(), out: Vec::new() };
    v.visit_file(&file);
    v.out
}

/// (module, file, line, imported module) for every import of a module not below the importer.
fn violations(src: &Path) -> Vec<String> {
    let layers: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let mut bad = Vec::new();
    for file in source_files() {
        let rel = file.strip_prefix(src).unwrap();
        let mut path: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string()).collect();
        if path.last().is_some_and(|l| l == "mod") {
            path.pop();
        }
        let module = path[0].clone();
        if module == "lib" || module == "bin" {
            continue; // the crate root and the CLI may use every layer
        }
        let Some(&own) = layers.get(module.as_str()) else {
            bad.push(format!("{}: module `{module}` has no layer in tests/it/layers.rs", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (dep, line) in imports(&text, &path) {
            if dep == module {
                continue;
            }
            match layers.get(dep.as_str()) {
                Some(&l) if l < own => {}
                Some(&l) => bad.push(format!(
                    "src/{}:{line}: `{module}` (layer {own}) imports `{dep}` (layer {l}): a module may use only lower layers",
                    rel.display()
                )),
                None => {} // items of lib.rs (Error, Result, VERSION)
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
fn the_check_sees_grouped_wrapped_super_and_plain_imports() {
    let m = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let names = |code: &str, at: &[&str]| {
        let mut out: Vec<String> = Vec::new();
        for (n, _) in imports(code, &m(at)) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    };
    assert_eq!(names("use crate::{roi::{Crop}, video::Frame};", &["track"]), m(&["roi", "video"]));
    assert_eq!(names("use crate::{\n    roi::Crop,\n    pipeline::{self, Stages},\n};", &["track"]), m(&["roi", "pipeline"]));
    assert_eq!(names("fn f() { let v = crate::pipeline::run(x, crate::Error::X); }", &["track"]), m(&["pipeline"]));
    // `super::` from a file two levels down reaches its own top module; from one level down, the crate.
    assert_eq!(names("use super::super::x::Y;", &["pipeline", "a", "b"]), m(&["pipeline"]));
    assert_eq!(names("use super::engine::Engine;", &["pipeline", "stages"]), m(&["pipeline"]));
    assert_eq!(names("mod tests { use super::super::super::engine::E; }", &["pipeline", "stages"]), m(&["engine"]));
    // The imports of the violation the old line-based reader missed: a wrapped group.
    assert!(names("use crate::{\n    detect::Detection,\n    engine::Engine,\n};", &["track"]).contains(&"engine".to_string()));
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
