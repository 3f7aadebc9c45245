//! The database: one sea-orm connection pool over SQLite (embedded default) or PostgreSQL.
//!
//! Errors are mapped here, once, to core errors: lost connections become `Unavailable` (503),
//! constraint violations are recognised portably through [`DbErr::sql_err`] by the repositories,
//! and anything else is an internal error whose cause is logged at the HTTP boundary.

pub mod private_files;
#[cfg(test)]
mod tenancy_check;
pub(crate) mod tenant_scoped;

use std::path::Path;
use std::time::Duration;

use clinicgate_core::Error;
use sea_orm::sqlx::Error as SqlxError;
use sea_orm::sqlx::postgres::PgDatabaseError;
use sea_orm::{ConnectOptions, DatabaseConnection, DbErr, EntityTrait, RuntimeErr, Select};
use secrecy::{ExposeSecret, SecretString};

pub use sea_orm::DatabaseConnection as Db;

/// Which database engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The engine of `url`, or `None` for an unsupported scheme.
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The engine behind an open pool.
pub fn backend_of(db: &DatabaseConnection) -> Backend {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

/// How to open the pool.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// `sqlite://path?mode=rwc` or `postgres://…` (may hold a password, hence secret).
    pub url: SecretString,
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a connection before giving up.
    pub connect_timeout: Duration,
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL scheme; use sqlite://… or postgres://…")]
    UnsupportedScheme,
    /// The SQLite file's folder could not be created.
    #[error("cannot create the folder for the SQLite database {path}: {source}")]
    CreateDir {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The SQLite files could not be created or made private (mode 600).
    #[error("cannot create the SQLite database {path} readable by this user only: {source}")]
    SecureFile {
        /// The database file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server refused or could not be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] DbErr),
}

/// Opens the pool. For SQLite the file (and its folder) is created on first use, readable by this
/// user only (folder 0700, files 0600: see [`private_files`]), and the connection runs in WAL mode with foreign keys on, so readers never block the writer.
pub async fn connect(options: &DatabaseOptions) -> Result<DatabaseConnection, ConnectError> {
    let url = options.url.expose_secret();
    let backend = Backend::of(url).ok_or(ConnectError::UnsupportedScheme)?;
    let mut connect = ConnectOptions::new(url.to_owned());
    connect
        .max_connections(options.max_connections)
        .min_connections(1)
        .connect_timeout(options.connect_timeout)
        .acquire_timeout(options.connect_timeout)
        // sqlx logs every statement at INFO; statements can carry PHI in their parameters.
        .sqlx_logging(false);
    if backend == Backend::Sqlite {
        if let Some(file) = sqlite_file(url) {
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                private_files::create_dir(dir).map_err(|source| ConnectError::CreateDir {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            private_files::secure_sqlite_files(file).map_err(|source| {
                ConnectError::SecureFile {
                    path: file.display().to_string(),
                    source,
                }
            })?;
        }
        connect.map_sqlx_sqlite_opts(|opts| {
            opts.create_if_missing(true)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    }
    sea_orm::Database::connect(connect)
        .await
        .map_err(ConnectError::Connect)
}

/// The file path inside an `sqlite://path?query` URL (`None` for in-memory databases).
fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| Path::new(path))
}

/// Whether the database answers.
pub async fn ping(db: &DatabaseConnection) -> clinicgate_core::Result<()> {
    db.ping().await.map_err(db_error)
}

/// Maps a database error that no repository expected: a lost connection is `Unavailable`,
/// anything else is internal (its cause is logged at the boundary, never shown).
#[track_caller]
pub(crate) fn db_error(err: DbErr) -> Error {
    if connection_lost(&err) {
        tracing::warn!(error = %err, "database unavailable");
        Error::Unavailable {
            dependency: "database",
        }
    } else {
        Error::internal(err)
    }
}

/// Runs `select` and converts every row with `to_domain`, failing on the first stored row that
/// is not valid: the one ending of every repository's list query, so each maps errors alike.
pub(crate) async fn all_to_domain<E: EntityTrait, T>(
    select: Select<E>,
    db: &DatabaseConnection,
    to_domain: impl FnMut(E::Model) -> clinicgate_core::Result<T>,
) -> clinicgate_core::Result<Vec<T>> {
    select
        .all(db)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// Whether `err` says the database could not be reached or dropped the connection, so retrying
/// later may succeed: no connection could be had, or one died under a statement — a restart
/// terminates in-flight queries with an error *from the query*, not from acquiring.
fn connection_lost(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(cause)) | DbErr::Query(RuntimeErr::SqlxError(cause)) => {
            match cause.as_ref() {
                SqlxError::Io(_)
                | SqlxError::Tls(_)
                | SqlxError::PoolTimedOut
                | SqlxError::PoolClosed
                | SqlxError::WorkerCrashed => true,
                // sqlx classifies only constraint violations portably (`ErrorKind`), so
                // PostgreSQL's refusal is recognised by its SQLSTATE class: 08 is the SQL
                // standard's "connection exception", 57 "operator intervention" (a restart or
                // `pg_terminate_backend` ends each open connection with 57P01, a crash with
                // 57P02, start-up refuses with 57P03) and 53 "insufficient resources" (too many
                // connections). SQLite's numeric codes mean something else entirely.
                SqlxError::Database(db) => db
                    .try_downcast_ref::<PgDatabaseError>()
                    .is_some_and(|pg| matches!(pg.code().get(..2), Some("08" | "53" | "57"))),
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_file_is_found_in_each_url_form() {
        assert_eq!(
            sqlite_file("sqlite://./data/cg.db?mode=rwc"),
            Some(Path::new("./data/cg.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:data/cg.db"),
            Some(Path::new("data/cg.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }

    #[test]
    fn a_connection_dropped_under_a_statement_is_unavailable_not_a_bug() {
        use std::sync::Arc;
        let under_a_query = |cause: SqlxError| DbErr::Query(RuntimeErr::SqlxError(Arc::new(cause)));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        for lost in [
            under_a_query(SqlxError::Io(reset)),
            under_a_query(SqlxError::PoolTimedOut),
            DbErr::Exec(RuntimeErr::SqlxError(Arc::new(SqlxError::WorkerCrashed))),
        ] {
            assert!(
                matches!(db_error(lost), Error::Unavailable { .. }),
                "a lost connection must answer 503"
            );
        }
        for bug in [
            under_a_query(SqlxError::ColumnNotFound("name".into())),
            DbErr::RecordNotInserted,
        ] {
            assert!(matches!(db_error(bug), Error::Internal { .. }));
        }
    }

    #[test]
    fn backends_are_recognised_by_scheme() {
        assert_eq!(Backend::of("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of("postgresql://u@h/db"), Some(Backend::Postgres));
        assert_eq!(Backend::of("mysql://u@h/db"), None);
    }
}
