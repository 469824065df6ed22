//! Fingerprints of tenant database files: the file system metadata and
//! SQLite header fields that change when a file is written, read without
//! opening the file with SQLite.
//!
//! Apply records a file's fingerprint with the settings it read back, and
//! refresh uses those settings again while the fingerprint still matches.
//! A write to the main file changes its mtime and ctime. A write in rollback
//! mode also increments the header's file change counter. A schema change
//! (a new table, a dropped trigger) changes the schema cookie, and a switch
//! between WAL and rollback journaling changes the read and write version
//! bytes. A write in WAL mode stays in the `-wal` file until a checkpoint,
//! so a file with a non-empty `-wal` has no fingerprint at all.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The size of the SQLite database header.
const HEADER_SIZE: usize = 100;

/// The first 16 bytes of every SQLite database file.
const HEADER_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The file system metadata and header fields of a tenant database file.
///
/// Integers are kept as SQLite stores them, as `i64`: `dev` and `ino` are
/// reinterpreted bit for bit, and the header fields are unsigned 32-bit
/// values, which fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    /// The device that contains the file (`st_dev`).
    pub dev: i64,
    /// The inode number (`st_ino`), which changes when the file is replaced.
    pub ino: i64,
    /// The size in bytes.
    pub size: i64,
    /// The last modification time: whole seconds since the epoch.
    pub mtime_sec: i64,
    /// The nanoseconds of the last modification time.
    pub mtime_nsec: i64,
    /// The last status change time: whole seconds since the epoch.
    pub ctime_sec: i64,
    /// The nanoseconds of the last status change time.
    pub ctime_nsec: i64,
    /// The file change counter, header offset 24.
    pub change_counter: i64,
    /// The schema cookie, header offset 40.
    pub schema_cookie: i64,
    /// The file format write version, header offset 18: 1 for rollback
    /// journaling, 2 for WAL.
    pub write_version: i64,
    /// The file format read version, header offset 19.
    pub read_version: i64,
    /// `PRAGMA user_version`, header offset 60.
    pub user_version: i64,
    /// `PRAGMA application_id`, header offset 68.
    pub application_id: i64,
}

/// Takes the fingerprint of the database file at `path`. Returns `None`
/// when the file's `-wal` file is not empty, because committed changes may
/// then live outside the main file, or when the file is not a SQLite
/// database of at least one header. Call it only after every connection
/// that wrote the file is closed: closing the last connection of a WAL
/// database checkpoints, which writes the main file.
pub fn take(path: &Path) -> io::Result<Option<Fingerprint>> {
    let mut file = File::open(path)?;
    let metadata = file.metadata()?;
    let mut header = [0u8; HEADER_SIZE];
    match file.read_exact(&mut header) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    if !header.starts_with(HEADER_MAGIC) {
        return Ok(None);
    }

    // The `-wal` check comes after the header read, so a WAL commit that
    // lands in between shows up as a non-empty `-wal`.
    if wal_has_content(path)? {
        return Ok(None);
    }

    let field = |offset: usize| {
        let bytes = [
            header[offset],
            header[offset + 1],
            header[offset + 2],
            header[offset + 3],
        ];
        i64::from(u32::from_be_bytes(bytes))
    };
    Ok(Some(Fingerprint {
        dev: metadata.dev() as i64,
        ino: metadata.ino() as i64,
        size: metadata.size() as i64,
        mtime_sec: metadata.mtime(),
        mtime_nsec: metadata.mtime_nsec(),
        ctime_sec: metadata.ctime(),
        ctime_nsec: metadata.ctime_nsec(),
        change_counter: field(24),
        schema_cookie: field(40),
        write_version: i64::from(header[18]),
        read_version: i64::from(header[19]),
        user_version: field(60),
        application_id: field(68),
    }))
}

/// Returns true when the `-wal` file next to `path` exists and is not empty.
fn wal_has_content(path: &Path) -> io::Result<bool> {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    match fs::metadata(PathBuf::from(name)) {
        Ok(metadata) => Ok(metadata.len() > 0),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn database(directory: &Path, journal_mode: &str) -> PathBuf {
        let path = directory.join("acme.db");
        let connection = Connection::open(&path).unwrap();
        let _: String = connection
            .pragma_update_and_check(None, "journal_mode", journal_mode, |row| row.get(0))
            .unwrap();
        connection
            .execute_batch(
                "PRAGMA user_version = 7; PRAGMA application_id = 1416520569;
                 CREATE TABLE notes (body TEXT);",
            )
            .unwrap();
        path
    }

    #[test]
    fn take_reads_header_fields() {
        let directory = tempfile::tempdir().unwrap();
        let path = database(directory.path(), "wal");

        let fingerprint = take(&path).unwrap().unwrap();

        assert_eq!(fingerprint.write_version, 2);
        assert_eq!(fingerprint.read_version, 2);
        assert_eq!(fingerprint.user_version, 7);
        assert_eq!(fingerprint.application_id, 0x546e_6379);
        assert_eq!(fingerprint.schema_cookie, 1);
        assert_eq!(fingerprint.size, fs::metadata(&path).unwrap().len() as i64);
    }

    #[test]
    fn take_is_stable_without_writes() {
        let directory = tempfile::tempdir().unwrap();
        let path = database(directory.path(), "wal");

        let first = take(&path).unwrap();
        let reader = Connection::open(&path).unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM notes", [], |row| row.get(0))
            .unwrap();
        drop(reader);

        assert!(first.is_some());
        assert_eq!(take(&path).unwrap(), first);
    }

    #[test]
    fn take_skips_file_with_pending_wal() {
        let directory = tempfile::tempdir().unwrap();
        let path = database(directory.path(), "wal");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("INSERT INTO notes VALUES ('pending')")
            .unwrap();

        assert_eq!(take(&path).unwrap(), None);

        drop(writer);
        assert!(take(&path).unwrap().is_some());
    }

    #[test]
    fn rollback_commit_changes_counter() {
        let directory = tempfile::tempdir().unwrap();
        let path = database(directory.path(), "delete");
        let before = take(&path).unwrap().unwrap();

        Connection::open(&path)
            .unwrap()
            .execute_batch("INSERT INTO notes VALUES ('x')")
            .unwrap();

        let after = take(&path).unwrap().unwrap();
        assert_eq!(before.write_version, 1);
        assert_ne!(after.change_counter, before.change_counter);
    }

    #[test]
    fn take_skips_files_that_are_not_databases() {
        let directory = tempfile::tempdir().unwrap();
        let empty = directory.path().join("empty.db");
        let text = directory.path().join("text.db");
        fs::write(&empty, b"").unwrap();
        fs::write(&text, [b'x'; 200]).unwrap();

        assert_eq!(take(&empty).unwrap(), None);
        assert_eq!(take(&text).unwrap(), None);
        assert!(take(&directory.path().join("missing.db")).is_err());
    }
}
