//! The registrar's persistence seam: bindings survive a restart.
//!
//! [`BindingStore`] is what the sans-IO registrar calls on every committed
//! change; it must return at once. [`SqliteStore`] does the writes on a
//! dedicated thread fed by a channel, so the SIP core never waits on the
//! disk; [`MemoryStore`] keeps nothing (tests, or no data directory).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// A binding as stored: everything but the live connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBinding {
    /// The address-of-record, canonical (`sip:user@host`).
    pub aor: String,
    /// The binding's identity within the AOR: `+sip.instance` and `reg-id`
    /// when the contact has an instance (RFC 5626), else its URI.
    pub key: String,
    /// The reginfo contact id (stable across refreshes and restarts).
    pub id: String,
    /// The contact URI.
    pub uri: String,
    /// The `q` value as written.
    pub q: Option<String>,
    /// `+sip.instance` as written (with its quotes and angle brackets).
    pub instance: Option<String>,
    /// RFC 5626 `reg-id`.
    pub reg_id: Option<u32>,
    /// Call-ID of the REGISTER that last updated the binding.
    pub call_id: String,
    /// CSeq number of that REGISTER.
    pub cseq: u32,
    /// When the binding expires, in Unix seconds.
    pub expires_unix: u64,
    /// When the binding was first registered, in Unix seconds.
    pub registered_unix: u64,
    /// The source address the REGISTER came from (`IP:port`).
    pub source: String,
    /// The transport it came over (`udp`, `tcp`, `tls`).
    pub transport: String,
}

/// Where the registrar keeps its bindings. Calls must not block: they run
/// on the SIP core's task.
pub trait BindingStore: Send + std::fmt::Debug {
    /// Inserts or replaces the binding (`aor`, `key`).
    fn put(&mut self, binding: &StoredBinding);
    /// Removes the binding (`aor`, `key`) if stored.
    fn remove(&mut self, aor: &str, key: &str);
}

/// A store that keeps nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryStore;

impl BindingStore for MemoryStore {
    fn put(&mut self, _binding: &StoredBinding) {}
    fn remove(&mut self, _aor: &str, _key: &str) {}
}

enum Cmd {
    Put(Box<StoredBinding>),
    Remove(String, String),
}

/// Bindings in SQLite (`registrar.sqlite` under the data directory), written
/// by a dedicated thread. Dropping it finishes the queued writes.
pub struct SqliteStore {
    tx: Option<mpsc::Sender<Cmd>>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The store's file name under the data directory.
pub const FILE_NAME: &str = "registrar.sqlite";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS bindings (
    aor TEXT NOT NULL,
    key TEXT NOT NULL,
    id TEXT NOT NULL,
    uri TEXT NOT NULL,
    q TEXT,
    instance TEXT,
    reg_id INTEGER,
    call_id TEXT NOT NULL,
    cseq INTEGER NOT NULL,
    expires_unix INTEGER NOT NULL,
    registered_unix INTEGER NOT NULL,
    source TEXT NOT NULL,
    transport TEXT NOT NULL,
    PRIMARY KEY (aor, key)
)";

impl SqliteStore {
    /// Opens (creating the directory and file if needed) the store in
    /// `data_dir`, removes bindings expired at `now_unix`, and returns the
    /// others with the store.
    ///
    /// # Errors
    /// The directory cannot be created or the database cannot be opened.
    pub fn open(
        data_dir: &Path,
        now_unix: u64,
    ) -> Result<(SqliteStore, Vec<StoredBinding>), String> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let path = data_dir.join(FILE_NAME);
        let conn = rusqlite::Connection::open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let err = |e: rusqlite::Error| format!("{}: {e}", path.display());
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        conn.execute(
            "DELETE FROM bindings WHERE expires_unix <= ?1",
            [i64::try_from(now_unix).unwrap_or(i64::MAX)],
        )
        .map_err(err)?;
        let loaded = {
            let mut stmt = conn
                .prepare(
                    "SELECT aor, key, id, uri, q, instance, reg_id, call_id, cseq, \
                     expires_unix, registered_unix, source, transport FROM bindings \
                     ORDER BY aor, registered_unix",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(StoredBinding {
                        aor: r.get(0)?,
                        key: r.get(1)?,
                        id: r.get(2)?,
                        uri: r.get(3)?,
                        q: r.get(4)?,
                        instance: r.get(5)?,
                        reg_id: r.get::<_, Option<i64>>(6)?.map(|v| v as u32),
                        call_id: r.get(7)?,
                        cseq: r.get::<_, i64>(8)? as u32,
                        expires_unix: r.get::<_, i64>(9)? as u64,
                        registered_unix: r.get::<_, i64>(10)? as u64,
                        source: r.get(11)?,
                        transport: r.get(12)?,
                    })
                })
                .map_err(err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(err)?
        };
        let (tx, rx) = mpsc::channel::<Cmd>();
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("registrar-store".into())
            .spawn(move || writer(conn, &rx, &thread_path))
            .map_err(|e| format!("cannot start the store thread: {e}"))?;
        Ok((
            SqliteStore {
                tx: Some(tx),
                thread: Some(thread),
                path,
            },
            loaded,
        ))
    }

    fn send(&self, cmd: Cmd) {
        if let Some(tx) = &self.tx {
            if tx.send(cmd).is_err() {
                tracing::error!(path = %self.path.display(), "registrar store thread gone: change not persisted");
            }
        }
    }
}

/// The writer thread: applies commands, batching what is queued into one
/// transaction.
fn writer(mut conn: rusqlite::Connection, rx: &mpsc::Receiver<Cmd>, path: &Path) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        if let Err(e) = apply(&mut conn, &batch) {
            tracing::error!(path = %path.display(), error = %e, "registrar store write failed");
        }
    }
}

fn apply(conn: &mut rusqlite::Connection, batch: &[Cmd]) -> rusqlite::Result<()> {
    let t = conn.transaction()?;
    {
        let mut put = t.prepare_cached(
            "INSERT OR REPLACE INTO bindings (aor, key, id, uri, q, instance, reg_id, call_id, \
             cseq, expires_unix, registered_unix, source, transport) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?;
        let mut del = t.prepare_cached("DELETE FROM bindings WHERE aor = ?1 AND key = ?2")?;
        for c in batch {
            match c {
                Cmd::Put(b) => {
                    put.execute(rusqlite::params![
                        b.aor,
                        b.key,
                        b.id,
                        b.uri,
                        b.q,
                        b.instance,
                        b.reg_id.map(i64::from),
                        b.call_id,
                        i64::from(b.cseq),
                        i64::try_from(b.expires_unix).unwrap_or(i64::MAX),
                        i64::try_from(b.registered_unix).unwrap_or(i64::MAX),
                        b.source,
                        b.transport,
                    ])?;
                }
                Cmd::Remove(aor, key) => {
                    del.execute([aor, key])?;
                }
            }
        }
    }
    t.commit()
}

impl BindingStore for SqliteStore {
    fn put(&mut self, binding: &StoredBinding) {
        self.send(Cmd::Put(Box::new(binding.clone())));
    }

    fn remove(&mut self, aor: &str, key: &str) {
        self.send(Cmd::Remove(aor.to_owned(), key.to_owned()));
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(aor: &str, key: &str, expires: u64) -> StoredBinding {
        StoredBinding {
            aor: aor.into(),
            key: key.into(),
            id: "c1".into(),
            uri: "sip:a@192.0.2.1:5060".into(),
            q: Some("0.5".into()),
            instance: Some("\"<urn:uuid:1>\"".into()),
            reg_id: Some(1),
            call_id: "cid".into(),
            cseq: 7,
            expires_unix: expires,
            registered_unix: 100,
            source: "192.0.2.1:5060".into(),
            transport: "udp".into(),
        }
    }

    #[test]
    fn bindings_are_written_by_the_thread_and_loaded_again_without_expired_ones() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut s, loaded) = SqliteStore::open(dir.path(), 1_000).unwrap();
            assert!(loaded.is_empty());
            s.put(&binding("sip:a@x", "k1", 2_000));
            s.put(&binding("sip:a@x", "k2", 1_500));
            s.put(&binding("sip:b@x", "k1", 2_000));
            s.remove("sip:b@x", "k1");
        }
        let (_s, loaded) = SqliteStore::open(dir.path(), 1_600).unwrap();
        assert_eq!(loaded, vec![binding("sip:a@x", "k1", 2_000)]);
    }
}
