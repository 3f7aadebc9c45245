//! The data folder and the SQLite database files are readable by the service's own user only.
//!
//! The database holds sealed secrets, staff password hashes and the PHI access ledger, and sits
//! next to the master key (0600). SQLite creates its files with mode 0644 less the umask, and the
//! usual umask (022) leaves them world-readable, so the modes are set explicitly here rather than
//! left to whatever umask the process inherits. SQLite gives the `-wal` and `-shm` files the mode
//! of the database file, so creating that one 0600 before SQLite opens it covers all three.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Mode of the data folder: only its owner may list or enter it.
const DIR_MODE: u32 = 0o700;
/// Mode of the files in it.
const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) with mode 0700. A folder that already exists is left as
/// the operator made it.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Makes sure the SQLite database at `db_file` and its `-wal`/`-shm` companions are private:
/// creates an empty database file 0600 if there is none (SQLite takes an empty file as a new
/// database), and takes group and other permissions away from existing ones (databases created
/// by earlier versions were 0644).
pub fn secure_sqlite_files(db_file: &Path) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(db_file)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db_file.as_os_str().to_owned();
        name.push(suffix);
        let path = Path::new(&name);
        match std::fs::metadata(path) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE))?;
                tracing::info!(path = %path.display(), "made the database file private (mode 600)");
            }
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_existing_world_readable_database_is_made_private_and_kept_whole() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cg.db");
        let wal = dir.path().join("cg.db-wal");
        std::fs::write(&db, b"content").unwrap();
        std::fs::write(&wal, b"log").unwrap();
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&wal, Permissions::from_mode(0o664)).unwrap();
        secure_sqlite_files(&db).unwrap();
        assert_eq!((mode(&db), mode(&wal)), (0o600, 0o600));
        assert_eq!(std::fs::read(&db).unwrap(), b"content");
    }

    #[test]
    fn a_new_data_folder_and_database_are_private() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&parent.path().join("a")), 0o700);
        let db = dir.join("cg.db");
        secure_sqlite_files(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
    }
}
