//! The engine's modules are layered as ARCHITECTURE.md's table lists them: each imports only from
//! the modules listed before it. This test reads the sources and fails on an upward import, so the
//! map stays true of the code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// ARCHITECTURE.md's order, lowest first.
const LAYERS: [&str; 21] = [
    "error",
    "files",
    "data",
    "plm",
    "template",
    "verbalizer",
    "scoring",
    "demo",
    "generate",
    "metrics",
    "logreg",
    "classify",
    "autotemplate",
    "ensemble",
    "multilabel",
    "tune",
    "hub",
    "store",
    "label",
    "export",
    "studio",
];

fn sources(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            sources(&entry.unwrap().path(), out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The top-level modules `crate::x` named anywhere in `files`.
fn imports(files: &[PathBuf]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, _) in text.match_indices("crate::") {
            let name: String =
                text[i + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn modules_import_only_from_lower_layers() {
    let src = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let declared: BTreeSet<&str> =
        lib.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|l| l.trim_end_matches(';')).collect();
    assert_eq!(
        declared,
        LAYERS.iter().copied().collect(),
        "lib.rs's modules and ARCHITECTURE.md's table differ"
    );
    let mut upward = Vec::new();
    for (level, module) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        sources(&src.join(module), &mut files);
        sources(&src.join(format!("{module}.rs")), &mut files);
        assert!(!files.is_empty(), "no sources for {module}");
        for import in imports(&files) {
            match LAYERS.iter().position(|m| *m == import) {
                Some(l) if l > level => upward.push(format!("{module} imports {import}")),
                Some(_) => {}
                None => {}
            }
        }
    }
    assert!(
        upward.is_empty(),
        "upward imports (move the code, or the module in ARCHITECTURE.md): {upward:?}"
    );
}
