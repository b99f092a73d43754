//! Every section a script, a config, a doc or a source comment cites by name exists: `README
//! "The two commands"`, `README's "What works today"`, `docs/BENCHMARKS.md, "One thread"`,
//! `deploy/README.md, "systemd"`. `scripts/run --help` once sent its reader to a README section
//! "Run it" that no longer existed; headings get renamed, citations are text, so a test holds them
//! together.
//!
//! A citation is a quoted title right after a document's name: `README` (the project's
//! README.md) or a `*.md` path, optionally followed by `'s` and a comma. It resolves when a
//! heading of that document (outside code blocks) is the title or begins with it, case aside. A
//! path resolves from the repository root, from `docs/`, or as the only file of that name.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// Files read for citations, by extension (scripts have none and are read too).
const TEXT: [&str; 10] = ["rs", "md", "toml", "conf", "yml", "yaml", "service", "env", "py", "sh"];
/// Folders never read: build output, VCS, run-time data, the recorded data.
const SKIP: [&str; 6] = ["target", ".git", "var", "testdata", "node_modules", ".library"];

#[test]
fn every_cited_section_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("project root");
    let files = text_files(&root);
    let mut cited = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for (n, line) in text.lines().enumerate() {
            for (doc, title) in citations(line) {
                cited.push((file.strip_prefix(&root).unwrap_or(file).display().to_string(), n + 1, doc, title));
            }
        }
    }
    assert!(
        cited.iter().any(|(f, _, doc, _)| f == "scripts/run" && doc == "README"),
        "found no citation in scripts/run (its --help cites the README): is the parser broken? found: {cited:?}"
    );
    let mut broken = Vec::new();
    for (file, line, doc, title) in &cited {
        match resolve(&root, &files, doc) {
            None => broken.push(format!("{file}:{line}: cites {doc:?}, which is no document of the repository")),
            Some(path) => {
                let heads = headings(&std::fs::read_to_string(&path).unwrap_or_default());
                if !heads.iter().any(|h| matches(h, title)) {
                    broken.push(format!(
                        "{file}:{line}: cites {doc}, \"{title}\", which has no such section; its headings: {heads:?}"
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{} broken section reference(s):\n{}", broken.len(), broken.join("\n"));
    eprintln!("{} section references checked", cited.len());
}

#[test]
fn the_citation_parser_finds_what_it_should() {
    let pair = |d: &str, t: &str| vec![(d.to_owned(), t.to_owned())];
    assert_eq!(citations("# storm (README \"The two commands\"): the suite"), pair("README", "The two commands"));
    assert_eq!(citations("README's \"What works today\" table"), pair("README", "What works today"));
    assert_eq!(citations("(docs/BENCHMARKS.md, \"One thread\")"), pair("docs/BENCHMARKS.md", "One thread"));
    assert!(citations("let s = \"README\"; f(\"x\")").is_empty(), "a quoted name is no citation");
    assert!(citations("(\"README\".into(), \"x\")").is_empty(), "a closing quote starts no title");
    assert!(matches("One thread for booksync and arbitrage", "One thread"));
    assert!(!matches("One threadbare", "One thread"));
    assert_eq!(headings("# A\n```\n# not one\n```\n## B c\n"), ["A", "B c"]);
}

/// `(document, title)` of every citation in `line`: quotes pair up from the line's start, and an
/// opening one right after a document's name starts a title.
fn citations(line: &str) -> Vec<(String, String)> {
    let quotes: Vec<usize> = line.match_indices('"').map(|(i, _)| i).collect();
    quotes
        .chunks_exact(2)
        .filter_map(|pair| {
            let doc = document_before(&line[..pair[0]])?;
            Some((doc, line[pair[0] + 1..pair[1]].to_owned()))
        })
        .collect()
}

/// The document named at the end of `text` (`... README's `, `... docs/X.md, `), if any; not a
/// quoted one (`"README"` is a string, not a citation).
fn document_before(text: &str) -> Option<String> {
    let t = text.trim_end();
    let t = t.strip_suffix(',').unwrap_or(t).trim_end();
    let t = t.strip_suffix("'s").unwrap_or(t);
    let start = t.rfind(|c: char| !(c.is_ascii_alphanumeric() || "._/-".contains(c))).map_or(0, |i| i + 1);
    let word = &t[start..];
    let quoted = t[..start].ends_with(['"', '`']);
    (!quoted && (word == "README" || (word.ends_with(".md") && word.len() > 3))).then(|| word.to_owned())
}

fn resolve(root: &Path, files: &[PathBuf], doc: &str) -> Option<PathBuf> {
    let doc = if doc == "README" { "README.md" } else { doc };
    for p in [root.join(doc), root.join("docs").join(doc)] {
        if p.is_file() {
            return Some(p);
        }
    }
    let named: Vec<&PathBuf> = files.iter().filter(|f| f.ends_with(doc)).collect();
    (named.len() == 1).then(|| named[0].clone())
}

/// The headings of a Markdown text, outside fenced code blocks.
fn headings(md: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.push(line.trim_start_matches('#').trim().to_owned());
        }
    }
    out
}

/// The heading is the title, or begins with it and then a non-letter.
fn matches(heading: &str, title: &str) -> bool {
    let (h, t) = (heading.to_lowercase(), title.to_lowercase());
    h == t || h.strip_prefix(&t).is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric()))
}

fn text_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !SKIP.contains(&name.as_str()) {
                    dirs.push(path);
                }
            } else {
                let ext = path.extension().and_then(|x| x.to_str());
                let script = path.parent().and_then(|p| p.file_name()).is_some_and(|d| d == "scripts" || d == ".ci");
                if ext.is_some_and(|x| TEXT.contains(&x)) || (ext.is_none() && script) || name == "Dockerfile" {
                    out.push(path);
                }
            }
        }
    }
    out.sort();
    out
}
