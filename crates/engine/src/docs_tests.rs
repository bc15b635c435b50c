//! The docs name every module: each source file's module (a folder's `mod.rs` names the
//! folder) is named in backticks in its parent module's doc comment or in the crate's
//! `Layout` (lib.rs), so the module maps cannot drift from the code unnoticed. Test-only
//! files (`tests.rs`, `*_tests.rs`) are exempt.

use std::path::{Path, PathBuf};

/// The `//!` lines of a file, without code fences.
fn module_doc(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("//!"))
        .map(|l| l.replace("```", ""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every backticked span, line by line.
fn spans(doc: &str) -> Vec<String> {
    doc.lines()
        .flat_map(|line| line.split('`').skip(1).step_by(2).map(str::to_owned))
        .collect()
}

fn names(span: &str, name: &str) -> bool {
    [name.to_owned(), format!("{name}.rs"), format!("{name}/")].contains(&span.to_owned())
        || [
            format!("/{name}.rs"),
            format!("/{name}/"),
            format!("/{name}"),
            format!("::{name}"),
        ]
        .iter()
        .any(|end| span.ends_with(end.as_str()))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_is_named_in_the_docs() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layout = module_doc(&src.join("lib.rs"));
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut unnamed = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap_or(&file).to_path_buf();
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if ["lib", "main", "tests"].contains(&stem) || stem.ends_with("_tests") {
            continue;
        }
        let (name, dir) = if stem == "mod" {
            let folder = file.parent().unwrap_or(&src);
            let name = folder
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            (
                name.to_owned(),
                folder.parent().unwrap_or(&src).to_path_buf(),
            )
        } else {
            (stem.to_owned(), file.parent().unwrap_or(&src).to_path_buf())
        };
        let parent = if dir == src {
            src.join("lib.rs")
        } else if dir.join("mod.rs").exists() {
            dir.join("mod.rs")
        } else {
            dir.with_extension("rs")
        };
        let doc = format!("{}\n{layout}", module_doc(&parent));
        if !spans(&doc).iter().any(|span| names(span, &name)) {
            unnamed.push(format!(
                "{} (name `{name}` in the doc comment of {} or in lib.rs's Layout)",
                relative.display(),
                parent.strip_prefix(&src).unwrap_or(&parent).display()
            ));
        }
    }
    assert!(
        unnamed.is_empty(),
        "modules no doc names:\n{}",
        unnamed.join("\n")
    );
}
