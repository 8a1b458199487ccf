//! `docs/security.md` may claim only what a test checks: in its normative
//! sections every bullet, table row and paragraph ends with a reference
//! such as "(test: `web::forms_…_tests`)" or "(tests: `a::b`, `c::d`)", and
//! every referenced name is a test function in the repository's sources, so
//! the document cannot cite a test that was renamed or removed.
//!
//! A name is `module::test` for this integration binary (the file
//! `tests/it/module.rs`; `test` is a `#[test]` function or the module a
//! `both_backends!` / `each_store!` line declares), or
//! `crate::path::test` for a unit test (`dsg_server::http::cookie::…` is a
//! `#[test]` function in `crates/dsg-server/src/http/cookie.rs`).

use std::path::{Path, PathBuf};

/// Sections that describe rather than claim (and headings above the first section).
const INFORMATIVE: &[&str] = &[
    "Threat model",
    "Residual risks",
    "How this document is checked",
];

/// Crates whose unit tests may be cited, by their Rust name.
const CRATES: &[&str] = &["dsg_core", "dsg_store", "dsg_server", "dsg_testkit", "dsg"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One claim: its first line number and text.
struct Block {
    line: usize,
    text: String,
}

/// The blocks of the normative sections: bullets (with their continuation
/// lines), table body rows, and paragraphs. Code fences are skipped.
fn normative_blocks(doc: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut normative = false;
    let mut fence = false;
    let mut current: Option<Block> = None;
    // Inside a table: `Some(false)` before its separator row (the header), `Some(true)` after.
    let mut table: Option<bool> = None;
    for (i, line) in doc.lines().enumerate() {
        let t = line.trim_end();
        let is_row = t.starts_with('|');
        if !is_row {
            table = None;
        }
        let ends_block = fence
            || t.trim().is_empty()
            || t.starts_with('#')
            || is_row
            || t.trim_start().starts_with("```")
            || t.starts_with("* ")
            || t.starts_with("- ");
        if ends_block && let Some(b) = current.take() {
            out.push(b);
        }
        if t.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        if let Some(title) = t.strip_prefix("## ") {
            normative = !INFORMATIVE.contains(&title.trim());
            continue;
        }
        if t.starts_with("# ") {
            normative = false;
        }
        if !normative || t.starts_with('#') || t.trim().is_empty() {
            continue;
        }
        if is_row {
            let separator = t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '));
            match table {
                None => table = Some(false),
                Some(false) if separator => table = Some(true),
                Some(true) => out.push(Block {
                    line: i + 1,
                    text: t.trim_end_matches('|').trim().to_owned(),
                }),
                Some(false) => {}
            }
            continue;
        }
        match &mut current {
            Some(b) => {
                b.text.push(' ');
                b.text.push_str(t.trim());
            }
            None => {
                current = Some(Block {
                    line: i + 1,
                    text: t.trim().to_owned(),
                });
            }
        }
    }
    if let Some(b) = current.take() {
        out.push(b);
    }
    out
}

/// The names a block cites, or `None` when it does not end with a reference.
fn references(text: &str) -> Option<Vec<String>> {
    let t = text.trim_end();
    let t = t.strip_suffix(')')?;
    let start = t.rfind("(test")?;
    let inner = &t[start + 1..];
    let list = inner
        .strip_prefix("tests: ")
        .or_else(|| inner.strip_prefix("test: "))?;
    let names: Vec<String> = list
        .split(", ")
        .map(|n| n.trim().trim_matches('`').to_owned())
        .collect();
    names
        .iter()
        .all(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        })
        .then_some(names)
}

/// True when `source` declares a test named `name`.
fn declares_test(source: &str, name: &str) -> bool {
    for mac in ["both_backends!(", "each_store!("] {
        for (i, _) in source.match_indices(mac) {
            let rest = source[i + mac.len()..].trim_start();
            if rest
                .strip_prefix(name)
                .is_some_and(|r| r.trim_start().starts_with(','))
            {
                return true;
            }
        }
    }
    let mut attribute = false;
    for line in source.lines() {
        let l = line.trim();
        if l.starts_with("#[test]") || l.starts_with("#[tokio::test") {
            attribute = true;
        } else if l.starts_with("#[") || l.starts_with("///") {
            // Other attributes and doc comments may sit between.
        } else if attribute
            && (l.starts_with(&format!("fn {name}("))
                || l.starts_with(&format!("async fn {name}(")))
        {
            return true;
        } else {
            attribute = false;
        }
    }
    false
}

/// Why `name` does not resolve to a test, if it does not.
fn resolve(root: &Path, name: &str) -> Result<(), String> {
    let parts: Vec<&str> = name.split("::").collect();
    let (Some((test, path)), true) = (parts.split_last(), parts.len() >= 2) else {
        return Err(format!("{name}: expected module::test"));
    };
    let file = if CRATES.contains(&path[0]) {
        let src = root
            .join("crates")
            .join(path[0].replace('_', "-"))
            .join("src");
        let mut module: Vec<&str> = path[1..].to_vec();
        if module.last() == Some(&"tests") {
            module.pop(); // the usual `mod tests` inside the file
        }
        if module.is_empty() {
            let lib = src.join("lib.rs");
            if lib.exists() {
                lib
            } else {
                src.join("main.rs")
            }
        } else {
            let rel = module.join("/");
            let flat = src.join(format!("{rel}.rs"));
            if flat.exists() {
                flat
            } else {
                src.join(rel).join("mod.rs")
            }
        }
    } else if path.len() == 1 {
        root.join("crates/dsg/tests/it")
            .join(format!("{}.rs", path[0]))
    } else {
        return Err(format!("{name}: unknown crate {}", path[0]));
    };
    let source = std::fs::read_to_string(&file)
        .map_err(|e| format!("{name}: cannot read {}: {e}", file.display()))?;
    if declares_test(&source, test) {
        Ok(())
    } else {
        Err(format!("{name}: no test {test} in {}", file.display()))
    }
}

/// Every problem with `doc`: uncited claims and unknown tests, by line.
fn problems(doc: &str, root: &Path) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut cited = 0;
    for b in normative_blocks(doc) {
        if b.text.ends_with(':') && !b.text.starts_with('|') {
            continue; // introduces the list or table below it
        }
        match references(&b.text) {
            None => out.push(format!(
                "line {}: a claim without a (test: `…`) reference: {}",
                b.line, b.text
            )),
            Some(names) => {
                for n in names {
                    cited += 1;
                    if let Err(e) = resolve(root, &n) {
                        out.push(format!("line {}: {e}", b.line));
                    }
                }
            }
        }
    }
    (out, cited)
}

#[test]
fn every_claim_in_security_md_cites_a_test_that_exists() {
    let root = repo_root();
    let doc = std::fs::read_to_string(root.join("docs/security.md")).unwrap();
    let (problems, cited) = problems(&doc, &root);
    assert!(
        problems.is_empty(),
        "docs/security.md:\n{}",
        problems.join("\n")
    );
    assert!(
        cited >= 60,
        "only {cited} references: the sections were not recognised"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains("(docs/security.md)"),
        "README links the review"
    );
}

#[test]
fn the_checker_refuses_uncited_claims_and_unknown_tests() {
    let root = repo_root();
    let doc = "\
# Title

Preamble without references.

## Threat model

* An informative bullet.

## Cookies

The table:

| Cookie | Test |
|---|---|
| a | (test: `web::forms_without_their_csrf_token_or_from_another_origin_change_nothing_tests`) |
| b | none |

* Cited. (test: `dsg_core::token::generated_tokens_are_64_hex_chars_and_distinct`)
* Uncited.
* Two, one unknown. (tests: `rate_limits::login_is_limited_per_client_ip`,
  `web::no_such_test`)
* A helper, not a test. (test: `web::csrf_of`)
* A unit test renamed. (test: `dsg_server::http::cookie::tests::production_cookie_is_cross_sitee`)
* A unit test in a `mod tests`. (test: `dsg_server::http::cookie::tests::production_cookie_is_cross_site_and_secure`)

```
* code is not a claim
```

A paragraph that claims
something without saying why.
";
    let (p, cited) = problems(doc, &root);
    let lines: Vec<&str> = p
        .iter()
        .map(|m| m.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        lines,
        [
            "line 16", "line 19", "line 20", "line 22", "line 23", "line 30"
        ],
        "{p:#?}"
    );
    assert_eq!(cited, 7, "{p:#?}");
}
