//! The CI tenancy check: a test that reads this crate's sources and fails when code outside
//! [`tenant_scoped`](super::tenant_scoped) scopes a tenant-owned table by hand, or starts a query
//! on one without going through `InTenant` or `AcrossTenants`. `cargo test` runs it, so CI runs
//! it with every test run on both backends.
//!
//! It is a textual check, deliberately simple: it reads lines, not types. What it refuses:
//!
//! 1. `Column::TenantId` anywhere but as an upsert's conflict target: a filter, an ordering or an
//!    expression on the tenant column is the scoping module's job;
//! 2. SQL text comparing `tenant_id` (`tenant_id = $1`, `tenant_id IN (…)`);
//! 3. in a module whose entity is tenant-owned, sea-orm's own entry points (`Entity::find()`,
//!    `update_many()`, `delete_many()`, `find_by_id()`, `delete_by_id()`, `update()`,
//!    `delete()`), which would compile without a tenant;
//! 4. an entity with a `tenant_id` field that `tenant_scoped` does not register;
//! 5. a tenant-owned entity named from a module that is not itself tenant-owned (rule 3 only
//!    looks inside tenant-owned modules, so such a use would escape it).
//!
//! What it cannot see: an entity renamed through a type alias, or queries written in another
//! crate (entities are private to this one, so there are none).

use std::path::Path;

/// The one file allowed to scope tenant-owned queries.
const SCOPING_FILE: &str = "db/tenant_scoped.rs";
/// This file: its tests hold planted violations as text.
const THIS_FILE: &str = "db/tenancy_check.rs";

/// sea-orm's entry points that start a query without a tenant.
const UNSCOPED_ENTRY_POINTS: [&str; 10] = [
    "Entity::find()",
    "Entity::find_by_id(",
    "Entity::update_many()",
    "Entity::delete_many()",
    "Entity::delete_by_id(",
    "Entity::update(",
    "Entity::delete(",
    ">::find()",
    ">::update_many()",
    ">::delete_many()",
];

/// Ways `Column::TenantId` may be named outside the scoping module: as the conflict target of an
/// upsert keyed by the clinic, which writes only the clinic's own row.
const CONFLICT_TARGETS: [&str; 3] = [
    "on_conflict_do_nothing_on(",
    "OnConflict::column(",
    "OnConflict::columns(",
];

/// SQL comparison operators that may follow `tenant_id` in a filter.
const SQL_COMPARISONS: [&str; 7] = ["=", "<", ">", "!=", "in ", "in(", "is "];

/// A line the check refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    rule: &'static str,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "adapters/src/{}:{}: {}", self.file, self.line, self.rule)
    }
}

/// The modules `tenant_scoped` registers (`crate::users => TenantId,` gives `users`).
fn registered_modules(scoping_source: &str) -> Vec<String> {
    scoping_source
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("crate::")?;
            let (module, column) = rest.split_once("=>")?;
            let module = module.trim();
            let plain =
                |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
            (plain(module) && plain(column.trim().trim_end_matches(','))).then(|| module.to_owned())
        })
        .collect()
}

/// The module a source file belongs to (`users/mod.rs` → `users`).
fn module_of(file: &str) -> &str {
    file.split('/').next().unwrap_or(file)
}

/// Whether `line` compares `tenant_id` inside string text (SQL), as opposed to naming a Rust
/// field or variable of that name.
fn sql_filters_by_tenant(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    lower.match_indices("tenant_id").any(|(at, _)| {
        let quotes_before = lower[..at].matches('"').count();
        // A quoted identifier (`"tenant_id" = $1` in a raw string) has its opening quote just
        // before it; any other occurrence is in SQL text when an odd number of quotes precede it.
        let in_text = quotes_before % 2 == 1 || lower[..at].ends_with('"');
        let after = lower[at + "tenant_id".len()..].trim_start_matches(['"', '`', ' ']);
        in_text && SQL_COMPARISONS.iter().any(|op| after.starts_with(op))
    })
}

/// Every violation in `files` (paths relative to `src/`, with `/`, and their text).
fn violations(files: &[(String, String)]) -> Vec<Violation> {
    let registered = files
        .iter()
        .find(|(path, _)| path == SCOPING_FILE)
        .map(|(_, source)| registered_modules(source))
        .unwrap_or_default();
    let mut found = Vec::new();
    for (file, source) in files {
        if file == SCOPING_FILE || file == THIS_FILE {
            continue;
        }
        let module = module_of(file);
        let is_entity = file.ends_with("/entity.rs");
        if is_entity && source.contains("pub tenant_id:") && !registered.iter().any(|m| m == module)
        {
            found.push(Violation {
                file: file.clone(),
                line: 1,
                rule: "a tenant-owned entity must be registered in db/tenant_scoped.rs (tenant_owned!)",
            });
        }
        let tenant_owned_module = registered.iter().any(|m| m == module);
        for (index, line) in source.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let mut refuse = |rule| {
                found.push(Violation {
                    file: file.clone(),
                    line: index + 1,
                    rule,
                });
            };
            // Entity files declare columns in derive attributes (`from = "Column::TenantId"`);
            // they build no query.
            if !is_entity
                && code.contains("Column::TenantId")
                && !CONFLICT_TARGETS.iter().any(|target| code.contains(target))
            {
                refuse(
                    "names the tenant column by hand; scope the query with InTenant or AcrossTenants (db/tenant_scoped.rs)",
                );
            }
            if sql_filters_by_tenant(code) {
                refuse(
                    "filters by tenant_id in SQL text; scope the query with InTenant or AcrossTenants (db/tenant_scoped.rs)",
                );
            }
            if !tenant_owned_module
                && registered
                    .iter()
                    .any(|m| code.contains(&format!("{m}::entity")))
            {
                refuse(
                    "uses a tenant-owned entity outside a tenant-owned repository module; query it from its own module",
                );
            }
            if tenant_owned_module
                && UNSCOPED_ENTRY_POINTS
                    .iter()
                    .any(|entry| code.contains(entry))
            {
                refuse(
                    "starts a query on a tenant-owned entity without a tenant; use find_in_tenant/update_many_in_tenant/delete_many_in_tenant, or AcrossTenants with its reason",
                );
            }
        }
    }
    found
}

/// This crate's `src/`, as `(relative path, text)` pairs.
fn sources() -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let relative = path.strip_prefix(root).unwrap();
                let relative = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

#[test]
fn no_adapter_code_scopes_a_tenant_owned_table_by_hand() {
    let files = sources();
    let found = violations(&files);
    assert!(
        found.is_empty(),
        "tenant-owned tables are scoped only in db/tenant_scoped.rs:\n{}",
        found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_check_reads_the_registered_tables_from_the_scoping_module() {
    let files = sources();
    let scoping = files
        .iter()
        .find(|(path, _)| path == SCOPING_FILE)
        .map(|(_, source)| registered_modules(source))
        .unwrap();
    // If the registration list's shape changed and the parser found nothing, rule 3 would pass
    // everything: pin what it reads.
    for module in ["api_clients", "clinics", "idempotency", "users"] {
        assert!(
            scoping.iter().any(|m| m == module),
            "{module} in {scoping:?}"
        );
    }
    assert!(!scoping.iter().any(|m| m == "service_keys"));
}

/// The real sources plus one planted file.
fn with_planted(file: &str, text: &str) -> Vec<Violation> {
    let mut files = sources();
    files.push((file.to_owned(), text.to_owned()));
    violations(&files)
        .into_iter()
        .filter(|violation| violation.file == file)
        .collect()
}

#[test]
fn a_planted_hand_written_tenant_filter_fails_the_check() {
    let planted = with_planted(
        "api_clients/planted.rs",
        "let rows = entity::Entity::update_many()\n\
         \x20   .filter(entity::Column::TenantId.eq(tenant.as_uuid()))\n",
    );
    let lines: Vec<_> = planted.iter().map(|v| v.line).collect();
    assert_eq!(lines, [1, 2], "{planted:?}");

    // Narrowing a scoped query to another tenant by hand is refused too.
    let planted = with_planted(
        "users/planted.rs",
        "entity::Entity::find_in_tenant(a).filter(entity::Column::TenantId.eq(b.as_uuid()))",
    );
    assert_eq!(planted.len(), 1, "{planted:?}");
}

#[test]
fn planted_sql_and_unscoped_lookups_fail_the_check() {
    for (file, text) in [
        (
            "users/planted.rs",
            r#"Statement::from_sql_and_values(b, "UPDATE users SET role = $1 WHERE tenant_id = $2", v)"#,
        ),
        (
            "cliniko_key/planted.rs",
            r#"db.query_all(r"SELECT * FROM cliniko_keys WHERE "tenant_id" IN ($1)")"#,
        ),
        (
            "cliniko_key/planted.rs",
            "entity::Entity::find_by_id(tenant.as_uuid())",
        ),
        (
            "secrets/planted.rs",
            "<entity::Entity as EntityTrait>::delete_many()",
        ),
        (
            "widgets/entity.rs",
            "pub struct Model {\n    pub tenant_id: Uuid,\n}",
        ),
        (
            "service_keys/planted.rs",
            "use crate::users::entity as users;",
        ),
    ] {
        assert_eq!(with_planted(file, text).len(), 1, "{file}: {text}");
    }
}

#[test]
fn naming_a_tenant_without_filtering_by_it_passes_the_check() {
    for (file, text) in [
        ("users/planted.rs", "tenant_id: Set(tenant.as_uuid()),"),
        ("users/planted.rs", "let tenant_id = row.tenant_id;"),
        (
            "users/planted.rs",
            "// entity::Entity::find().filter(Column::TenantId.eq(t))",
        ),
        (
            "secrets/planted.rs",
            ".on_conflict_do_nothing_on([entity::Column::TenantId])",
        ),
        (
            "secrets/planted.rs",
            r#"tracing::info!(tenant_id = %tenant, "stored");"#,
        ),
        (
            "service_keys/planted.rs",
            "entity::Entity::find().filter(entity::Column::Purpose.eq(p))",
        ),
        (
            "users/planted.rs",
            "entity::Entity::find_in_tenant(tenant).one(&db)",
        ),
    ] {
        assert_eq!(with_planted(file, text), [], "{file}: {text}");
    }
}
