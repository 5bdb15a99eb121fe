//! DESIGN §2's dependency direction, held by a test: every `crate::` path in the crate's
//! source (the `use crate::` lines and paths written inline, comments aside) is read, and a
//! module that imports one the direction puts above it, or an import circle between modules,
//! fails the test with the file, the line and the import named. A few crates from outside are
//! refused where a layer must not know them (HTTP in the service, I/O in the payment).
//!
//! ```text
//! bin -> {app, local} -> {http, jobs} -> service -> {store, sbps, webhooks} -> {views,
//! accounts} -> payment -> {money, ids, clock}; metrics a leaf
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module's layer: a module imports only modules of lower layers. The leaves
/// (layer 0) may import each other, and only there does the circle check have work to do.
const LAYERS: &[(&str, u8)] = &[
    ("money", 0),
    ("ids", 0),
    ("clock", 0),
    ("metrics", 0),
    ("tls", 0),
    ("crash_point", 0),
    ("payment", 1),
    // What merchants see of a payment, and who the merchants are: the payment only.
    ("views", 2),
    ("accounts", 2),
    // `Settings`: the environment, and the accounts it says where to read.
    ("config", 3),
    // The provider's wire edge and the webhook model: no store, no decision.
    ("sbps", 3),
    ("webhooks", 3),
    // The store persists the webhook model (endpoints, deliveries); never the reverse.
    ("store", 4),
    ("service", 5),
    ("http", 6),
    ("jobs", 6),
    ("audit", 6),
    // Composition roots: the Lambda functions', and the fuzz targets' entry points.
    ("app", 7),
    ("fuzzing", 7),
    // The laptop's own composition root (the local server, the simulator, the demo) may use
    // the Lambda functions' set-up; the functions never use it.
    ("local", 8),
];

/// The layer that may import its peers (the leaves).
const PEERS: u8 = 0;

/// Crates from outside a module must not use: (module, crate prefixes).
const FOREIGN: &[(&str, &[&str])] = &[
    ("payment", &["lambda_http", "hyper", "reqwest", "aws_sdk", "rusqlite", "tokio", "quick_xml"]),
    ("views", &["lambda_http", "hyper", "aws_sdk", "rusqlite"]),
    ("service", &["lambda_http", "hyper"]),
    // The webhook sender is an HTTP client (it builds `http` headers); storage is not its own.
    ("webhooks", &["aws_sdk_dynamodb", "rusqlite"]),
];

/// One `crate::` import: where it is written and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Import {
    file: String,
    line: usize,
    text: String,
    from: String,
    to: String,
}

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(name, _)| *name == module).map(|(_, layer)| *layer)
}

/// The top-level module a source file (relative to `src/`) belongs to; `None` for the crate
/// root, the binaries and this file.
fn module_of(relative: &str) -> Option<String> {
    if relative == "lib.rs" || relative == "layering.rs" || relative.starts_with("bin/") {
        return None;
    }
    let first = relative.split('/').next()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

/// The code of a line, without its `//` comment (a `//` inside a string literal is rare
/// enough in this crate's paths to ignore).
fn code_of(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return "";
    }
    match line.find("//") {
        Some(at) if !line[..at].contains('"') => &line[..at],
        _ => line,
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules a statement names after `crate::`: `crate::a::X`, and each entry
/// of `crate::{a::X, b}`.
fn named_modules(statement: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = statement;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| is_ident(c) || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut entry_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        rest = &group[i..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => entry_start = true,
                    c if entry_start && is_ident(c) => {
                        let name: String = group[i..].chars().take_while(|c| is_ident(*c)).collect();
                        found.push(name);
                        entry_start = false;
                    }
                    c if !c.is_whitespace() => entry_start = false,
                    _ => {}
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

/// Every `crate::` import of `files` (path relative to `src/`, text), statements that span
/// lines (`use crate::{...};`) read whole and reported at their first line.
fn imports(files: &[(String, String)]) -> Vec<Import> {
    let mut out = Vec::new();
    for (file, text) in files {
        let Some(from) = module_of(file) else { continue };
        let mut statement = String::new();
        let mut start = 0;
        for (n, line) in text.lines().enumerate() {
            let code = code_of(line);
            if statement.is_empty() {
                start = n + 1;
            }
            statement.push_str(code);
            statement.push(' ');
            // A `use` group may span lines: read on until it closes.
            let open = statement.matches('{').count() > statement.matches('}').count();
            let head = statement.trim_start();
            if open && (head.starts_with("use crate::") || head.starts_with("pub use crate::")) {
                continue;
            }
            for to in named_modules(&statement) {
                // The crate root's own items (the boxed `Error`) are everyone's.
                let root_item = to.starts_with(|c: char| c.is_ascii_uppercase());
                if to != from && !root_item {
                    let text = statement.split_whitespace().collect::<Vec<_>>().join(" ");
                    out.push(Import { file: format!("src/{file}"), line: start, text, from: from.clone(), to });
                }
            }
            statement.clear();
        }
    }
    out
}

/// What breaks the direction: an import of a module above (or beside, outside the leaves),
/// a module with no place in it, a foreign crate a layer must not know, and every circle.
fn violations(files: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    let imports = imports(files);
    let mut unplaced = BTreeSet::new();
    for import in &imports {
        match (layer(&import.from), layer(&import.to)) {
            (Some(from), Some(to)) if to < from || (to == from && from == PEERS) => {}
            (Some(from), Some(to)) => found.push(format!(
                "{}:{}: `{}`: {} (layer {from}) imports {} (layer {to}), which DESIGN §2's direction puts {} it",
                import.file,
                import.line,
                import.text,
                import.from,
                import.to,
                if to == from { "beside" } else { "above" }
            )),
            (None, _) => {
                unplaced.insert(import.from.clone());
            }
            (_, None) => {
                unplaced.insert(import.to.clone());
            }
        }
    }
    for module in unplaced {
        found.push(format!("module `{module}` has no layer: give it its place in src/layering.rs and DESIGN §2"));
    }
    for (file, text) in files {
        let Some(module) = module_of(file) else { continue };
        let Some((_, banned)) = FOREIGN.iter().find(|(m, _)| *m == module) else { continue };
        for (n, line) in text.lines().enumerate() {
            let code = code_of(line);
            for name in banned.iter() {
                let used = code.match_indices(name).any(|(at, _)| {
                    let before = code[..at].chars().next_back();
                    !before.is_some_and(|c| is_ident(c) || c == ':')
                });
                if used {
                    found.push(format!("src/{file}:{}: `{}`: {module} must not use `{name}`", n + 1, code.trim()));
                }
            }
        }
    }
    found.extend(circles(&imports));
    found
}

/// Every circle between modules, each once, with the import that makes each step.
fn circles(imports: &[Import]) -> Vec<String> {
    let mut edges: BTreeMap<&str, BTreeMap<&str, &Import>> = BTreeMap::new();
    for import in imports {
        edges.entry(import.from.as_str()).or_default().entry(import.to.as_str()).or_insert(import);
    }
    let mut reported = BTreeSet::new();
    let mut found = Vec::new();
    for &start in edges.keys() {
        // Depth-first from `start`, looking for a way back to it.
        let mut stack: Vec<(&str, Vec<&Import>)> = vec![(start, Vec::new())];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for (&next, &import) in edges.get(at).into_iter().flatten() {
                let mut path = path.clone();
                path.push(import);
                if next == start {
                    let mut members: Vec<&str> = path.iter().map(|i| i.from.as_str()).collect();
                    members.sort_unstable();
                    if reported.insert(members) {
                        let steps: Vec<String> = path
                            .iter()
                            .map(|i| format!("{} -> {} ({}:{}: `{}`)", i.from, i.to, i.file, i.line, i.text))
                            .collect();
                        found.push(format!("import circle: {}", steps.join("; ")));
                    }
                } else if seen.insert(next) {
                    stack.push((next, path));
                }
            }
        }
    }
    found
}

/// The crate's sources under `src/`, paths relative to it.
fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).map(|p| p.to_string_lossy().replace('\\', "/"));
            if let (Ok(relative), Ok(text)) = (relative, std::fs::read_to_string(&path)) {
                out.push((relative, text));
            }
        }
    }
}

#[test]
fn the_crate_follows_designs_dependency_direction() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 50, "the sources were not found under {}", root.display());
    let imports = imports(&files);
    assert!(imports.len() > 300, "only {} imports read: the reader is broken", imports.len());
    let found = violations(&files);
    assert!(found.is_empty(), "DESIGN §2's direction is broken:\n{}", found.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(f, t)| ((*f).to_owned(), (*t).to_owned())).collect()
    }

    #[test]
    fn an_upward_import_is_named_with_its_file_and_line() {
        let planted = files(&[
            ("views.rs", "use crate::payment::Payment;\n\nuse crate::service::OperationResult;\n"),
            ("service/mod.rs", "use crate::views::PaymentView;\n"),
        ]);
        let found = violations(&planted);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].starts_with("src/views.rs:3: `use crate::service::OperationResult;`"), "{}", found[0]);
        assert!(found[0].contains("views (layer 2) imports service (layer 5)"), "{}", found[0]);
        // The import back down closes a circle, named as such.
        assert!(found[1].starts_with("import circle: service -> views (src/service/mod.rs:1"), "{}", found[1]);
        assert!(found[1].contains("views -> service (src/views.rs:3"), "{}", found[1]);
    }

    #[test]
    fn grouped_multi_line_and_inline_paths_are_read() {
        let planted = files(&[(
            "webhooks/deliver.rs",
            "use crate::{\n    payment::Payment,\n    store::{StoreError, WebhookStore},\n};\n\
             fn f() { let _ = crate::http::MAX_LOGGED_CHARS; } // crate::app is a comment\n",
        )]);
        let found = violations(&planted);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].starts_with("src/webhooks/deliver.rs:1:") && found[0].contains("imports store"));
        assert!(found[1].starts_with("src/webhooks/deliver.rs:5:") && found[1].contains("imports http"));
    }

    #[test]
    fn a_circle_is_named_with_every_import_in_it() {
        let planted = files(&[
            ("money.rs", "use crate::ids::PaymentId;\n"),
            ("ids.rs", "use crate::clock::Clock;\n"),
            ("clock.rs", "pub fn f() -> crate::money::Yen { todo() }\n"),
        ]);
        let found = violations(&planted);
        assert_eq!(found.len(), 1, "{found:#?}");
        let circle = &found[0];
        assert!(circle.starts_with("import circle: "), "{circle}");
        for step in ["clock -> money (src/clock.rs:1", "ids -> clock (src/ids.rs:1", "money -> ids (src/money.rs:1"] {
            assert!(circle.contains(step), "{step} in {circle}");
        }
    }

    #[test]
    fn a_module_without_a_layer_and_a_foreign_crate_are_refused() {
        let planted = files(&[
            ("newcomer.rs", "use crate::payment::Payment;\n"),
            ("service/create.rs", "use lambda_http::Request;\n"),
            ("payment/mod.rs", "use crate::money::Yen;\nfn f() { tokio::spawn(async {}); }\n"),
        ]);
        let found = violations(&planted);
        assert!(found.iter().any(|f| f.starts_with("module `newcomer` has no layer")), "{found:#?}");
        assert!(found.iter().any(|f| f.starts_with("src/service/create.rs:1:") && f.contains("`lambda_http`")));
        assert!(found.iter().any(|f| f.starts_with("src/payment/mod.rs:2:") && f.contains("`tokio`")));
        assert_eq!(found.len(), 3, "{found:#?}");
    }
}
