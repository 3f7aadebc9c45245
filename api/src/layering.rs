//! Holds the crate's top-level modules to their layering, read from the source files: no import
//! loop between them; the shared layers (`config`, `telemetry`, `state`, `http`, `sessions`) use
//! no route module, page or wiring; and the pages use only core, `http`, `sessions` and the app
//! state — never a route module. A helper two route modules share belongs in `http` (or core).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// What each top-level module refers to (other top-level modules only).
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The modules a pages module may use.
const PAGES_MAY_USE: &[&str] = &["http", "sessions", "state"];

/// The layers every route and page stands on: they use one another (without a loop), never a
/// route module, a page or the wiring.
const SHARED_LAYERS: &[&str] = &["config", "telemetry", "state", "http", "sessions"];

/// The top-level modules a source file refers to through `crate::` (and `$crate::` in macros;
/// `super::` too when the file is a top-level module's own, whose parent is the crate root).
/// Comments are skipped, so a doc link is not a dependency.
fn references(source: &str, top_level_file: bool) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut prefixes = vec!["crate::"];
    if top_level_file {
        prefixes.push("super::");
    }
    for prefix in prefixes {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().next_back();
            if prefix == "super::" && before.is_some_and(|c| c == ':' || c.is_alphanumeric()) {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                found.extend(group_heads(group));
            } else {
                found.insert(identifier(rest));
            }
        }
    }
    found.retain(|name| !name.is_empty() && name != "self");
    found
}

/// The first path segment of each item of `{a::b, c, d::{e, f}}` (given after the `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expecting = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => expecting = true,
            c if expecting && depth == 0 && (c.is_alphabetic() || c == '_') => {
                heads.push(identifier(&group[i..]));
                expecting = false;
            }
            _ => {}
        }
    }
    heads
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The graph of the crate whose sources are in `src`.
fn module_graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let mut parts = relative.iter().map(|p| p.to_string_lossy().into_owned());
        let first = parts.next().unwrap();
        let module = first.trim_end_matches(".rs").to_owned();
        // The crate root declares every module, and this file quotes paths in its tests.
        if matches!(module.as_str(), "lib" | "main" | "layering") {
            continue;
        }
        let top_level_file = relative.components().count() == 1
            || (relative.components().count() == 2 && relative.ends_with("mod.rs"));
        let source = fs::read_to_string(&file).unwrap();
        let mut uses = references(&source, top_level_file);
        uses.remove(&module);
        graph.entry(module).or_default().extend(uses);
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for uses in graph.values_mut() {
        uses.retain(|name| modules.contains(name));
    }
    graph
}

/// A loop in `graph` (its modules in order, the first repeated at the end), if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit<'a>(
        node: &'a str,
        graph: &'a Graph,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[start..].iter().map(|n| (*n).to_owned()).collect();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn this_crate() -> Graph {
    module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

#[test]
fn the_top_level_modules_have_no_import_loop() {
    let graph = this_crate();
    assert!(graph.len() > 15, "the modules were not read: {graph:?}");
    assert_eq!(find_cycle(&graph), None, "{graph:#?}");
}

#[test]
fn pages_use_only_http_sessions_and_the_app_state() {
    let graph = this_crate();
    let pages = &graph["pages"];
    let outside: Vec<_> = pages
        .iter()
        .filter(|name| !PAGES_MAY_USE.contains(&name.as_str()))
        .collect();
    assert!(pages.contains("sessions"), "pages were not read: {pages:?}");
    assert_eq!(outside, Vec::<&String>::new());
}

#[test]
fn the_shared_layers_use_no_route_module_page_or_wiring() {
    let graph = this_crate();
    let outside: Vec<String> = SHARED_LAYERS
        .iter()
        .flat_map(|layer| {
            graph[*layer]
                .iter()
                .filter(|name| !SHARED_LAYERS.contains(&name.as_str()))
                .map(move |name| format!("{layer} -> {name}"))
        })
        .collect();
    assert_eq!(outside, Vec::<String>::new());
}

#[test]
fn a_planted_loop_is_found() {
    let graph: Graph = [
        ("pages", &["sessions"][..]),
        ("sessions", &["http", "clinics"][..]),
        ("clinics", &["http", "pages"][..]),
        ("http", &[][..]),
    ]
    .into_iter()
    .map(|(m, uses)| (m.to_owned(), uses.iter().map(|u| (*u).to_owned()).collect()))
    .collect();
    assert_eq!(
        find_cycle(&graph),
        Some(vec![
            "clinics".to_owned(),
            "pages".to_owned(),
            "sessions".to_owned(),
            "clinics".to_owned()
        ])
    );
    let mut acyclic = graph;
    acyclic.get_mut("clinics").unwrap().remove("pages");
    assert_eq!(find_cycle(&acyclic), None);
}

#[test]
fn grouped_inline_and_macro_paths_count_and_comments_do_not() {
    let source = "use crate::{audit, http::{html, phi}, sessions::Authenticated};\n\
                  //! see [`crate::pages`]\n\
                  let id = crate::state::x(); // crate::config\n\
                  $crate::public::listing::links(); super::routes::configure();";
    let names: Vec<_> = references(source, true).into_iter().collect();
    assert_eq!(
        names,
        ["audit", "http", "public", "routes", "sessions", "state"]
    );
    assert!(!references("super::x::y();", false).contains("x"));
}
