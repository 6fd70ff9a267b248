//! ELIN updates from the E911 manager (DESIGN E11), sans-IO: PUBLISH (RFC
//! 3903, `Event: presence`, `application/pidf+xml`) of a PIDF-LO document
//! (RFC 4119, 5139) carrying the device's ELIN, accepted only from
//! emergency-device trunks (the core refuses others with 403). The
//! Request-URI is the device's AOR. Each accepted PUBLISH is answered 200
//! with a new `SIP-ETag` and the granted `Expires`; a refresh or
//! modification names the entity tag in `SIP-If-Match` (412 when unknown
//! or expired). The ELIN and the location (the whole published document:
//! civic address, device, method, usage rules) are kept per AOR in memory
//! as the device's last known ELIN and location (E8 fail-open uses them
//! even after the publication expires; E6 sends the location on to the
//! gateway), and persisted through an [`ElinStore`] (a writer thread, as
//! [`crate::bindings`] does) so they survive a restart. The 911 path reads
//! memory only: the store is read once, at start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sip_core::{HeaderName, Request};

use crate::registrar::Reply;

/// The ELIN known for one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredElin {
    /// The device's AOR (canonical).
    pub aor: String,
    /// The ELIN, E.164.
    pub elin: Option<String>,
    /// One-line civic address (`pidf_lo::civic_summary`).
    pub civic: String,
    /// The published location document (E6: sent on to the gateway by
    /// value); `None` for records stored before locations were kept.
    pub location: Option<pidf_lo::LocationDoc>,
    /// When it was published, Unix seconds.
    pub updated_unix: u64,
}

/// Where ELINs are kept; calls must not block (they run on the core's task).
pub trait ElinStore: Send + std::fmt::Debug {
    /// Inserts or replaces the device's ELIN.
    fn put(&mut self, elin: &StoredElin);
}

/// A store that keeps nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryElinStore;

impl ElinStore for MemoryElinStore {
    fn put(&mut self, _elin: &StoredElin) {}
}

/// Default and bounds of a publication's life, in seconds.
const DEFAULT_EXPIRES: u32 = 3600;
const MAX_EXPIRES: u32 = 86_400;

/// The ELINs published for devices.
#[derive(Debug)]
pub struct Elins {
    by_aor: HashMap<String, StoredElin>,
    /// Entity tag to (AOR, expiry).
    etags: HashMap<String, (String, Instant)>,
    store: Box<dyn ElinStore>,
}

impl Default for Elins {
    fn default() -> Self {
        Elins {
            by_aor: HashMap::new(),
            etags: HashMap::new(),
            store: Box::new(MemoryElinStore),
        }
    }
}

impl Elins {
    /// Persists through `store` and restores `stored` (read at start).
    pub fn set_store(&mut self, store: Box<dyn ElinStore>, stored: Vec<StoredElin>) {
        self.store = store;
        for s in stored {
            self.by_aor.insert(s.aor.clone(), s);
        }
    }

    /// The last ELIN published for `aor`.
    pub fn elin(&self, aor: &str) -> Option<&str> {
        self.by_aor.get(aor).and_then(|e| e.elin.as_deref())
    }

    /// The last location published for `aor` (E6).
    pub fn location(&self, aor: &str) -> Option<&pidf_lo::LocationDoc> {
        self.by_aor.get(aor).and_then(|e| e.location.as_ref())
    }

    /// The last record for `aor`.
    pub fn get(&self, aor: &str) -> Option<&StoredElin> {
        self.by_aor.get(aor)
    }

    /// Handles a PUBLISH for device `aor` (already accepted as coming from
    /// an emergency-device trunk).
    pub fn publish(&mut self, now: Instant, unix: u64, aor: &str, req: &Request) -> Reply {
        self.etags.retain(|_, (_, exp)| *exp > now);
        let event = req
            .event()
            .ok()
            .flatten()
            .map(|e| e.value.to_ascii_lowercase());
        if event.as_deref() != Some("presence") {
            return Reply::new(489)
                .reason("Bad Event")
                .header("Allow-Events", "presence");
        }
        let expires = match req.expires() {
            Ok(e) => e.unwrap_or(DEFAULT_EXPIRES).min(MAX_EXPIRES),
            Err(_) => return Reply::new(400).reason("Bad Request (Expires)"),
        };
        let if_match = req
            .headers()
            .header_by_name("SIP-If-Match")
            .next()
            .map(|v| String::from_utf8_lossy(v).trim().to_owned());
        if let Some(tag) = &if_match {
            match self.etags.get(tag) {
                Some((a, _)) if a == aor => {}
                _ => return Reply::new(412).reason("Conditional Request Failed"),
            }
            self.etags.remove(tag);
        }
        let body = req.body();
        if body.is_empty() {
            if if_match.is_none() {
                return Reply::new(400)
                    .reason("Bad Request (PUBLISH without body or SIP-If-Match)");
            }
        } else {
            let ct = req
                .first(HeaderName::ContentType)
                .map(|v| String::from_utf8_lossy(v).to_ascii_lowercase())
                .unwrap_or_default();
            if !ct.trim().starts_with(pidf_lo::CONTENT_TYPE) {
                return Reply::new(415).header("Accept", pidf_lo::CONTENT_TYPE);
            }
            let doc = match pidf_lo::LocationDoc::parse(body) {
                Ok(d) => d,
                Err(e) => {
                    tracing::info!(%aor, error = %e, "PUBLISH with an unusable PIDF-LO");
                    return Reply::new(400).reason("Bad Request (PIDF-LO)");
                }
            };
            let rec = StoredElin {
                aor: aor.to_owned(),
                elin: doc.elin.as_ref().map(|e| e.as_str().to_owned()),
                civic: pidf_lo::civic_summary(&doc.civic),
                updated_unix: unix,
                location: Some(doc),
            };
            tracing::info!(%aor, elin = rec.elin.as_deref().unwrap_or("-"), civic = %rec.civic, "ELIN published");
            self.store.put(&rec);
            self.by_aor.insert(aor.to_owned(), rec);
        }
        if expires == 0 {
            // The publication ends; the last ELIN stays known (E8).
            return Reply::new(200).header("Expires", "0");
        }
        let tag = sip_core::new_tag();
        self.etags.insert(
            tag.clone(),
            (
                aor.to_owned(),
                now + Duration::from_secs(u64::from(expires)),
            ),
        );
        Reply::new(200)
            .header("SIP-ETag", tag)
            .header("Expires", expires.to_string())
    }
}

/// The store's file name under the data directory.
pub const FILE_NAME: &str = "elins.sqlite";

/// ELINs in SQLite (`elins.sqlite` beside the registrar's bindings),
/// written by a dedicated thread. Dropping it finishes the queued writes.
pub struct SqliteElinStore {
    tx: Option<mpsc::Sender<StoredElin>>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteElinStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteElinStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteElinStore {
    /// Opens (creating if needed) the store in `data_dir` and returns what
    /// it holds.
    ///
    /// # Errors
    /// The directory cannot be created or the database cannot be opened.
    pub fn open(data_dir: &Path) -> Result<(SqliteElinStore, Vec<StoredElin>), String> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let path = data_dir.join(FILE_NAME);
        let conn = rusqlite::Connection::open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let err = |e: rusqlite::Error| format!("{}: {e}", path.display());
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS elins (
                aor TEXT PRIMARY KEY,
                elin TEXT,
                civic TEXT NOT NULL,
                updated_unix INTEGER NOT NULL,
                pidf TEXT
             )",
        )
        .map_err(err)?;
        // A store written before locations were kept gets the column.
        let has_pidf = conn.prepare("SELECT pidf FROM elins LIMIT 0").is_ok();
        if !has_pidf {
            conn.execute_batch("ALTER TABLE elins ADD COLUMN pidf TEXT")
                .map_err(err)?;
        }
        let loaded = {
            let mut stmt = conn
                .prepare("SELECT aor, elin, civic, updated_unix, pidf FROM elins")
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    let aor: String = r.get(0)?;
                    let pidf: Option<String> = r.get(4)?;
                    // Parsed here, at start, so the 911 path never parses.
                    let location = pidf.and_then(|x| match pidf_lo::LocationDoc::parse(x.as_bytes()) {
                        Ok(d) => Some(d),
                        Err(error) => {
                            tracing::warn!(%aor, %error, "stored location unusable: ELIN kept without it");
                            None
                        }
                    });
                    Ok(StoredElin {
                        aor,
                        elin: r.get(1)?,
                        civic: r.get(2)?,
                        updated_unix: r.get::<_, i64>(3)? as u64,
                        location,
                    })
                })
                .map_err(err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(err)?
        };
        let (tx, rx) = mpsc::channel::<StoredElin>();
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("elin-store".into())
            .spawn(move || {
                while let Ok(e) = rx.recv() {
                    let r = conn.execute(
                        "INSERT OR REPLACE INTO elins (aor, elin, civic, updated_unix, pidf) \
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        rusqlite::params![
                            e.aor,
                            e.elin,
                            e.civic,
                            i64::try_from(e.updated_unix).unwrap_or(i64::MAX),
                            e.location.as_ref().map(pidf_lo::LocationDoc::to_xml_string)
                        ],
                    );
                    if let Err(error) = r {
                        tracing::error!(path = %thread_path.display(), %error, "ELIN store write failed");
                    }
                }
            })
            .map_err(|e| format!("cannot start the ELIN store thread: {e}"))?;
        Ok((
            SqliteElinStore {
                tx: Some(tx),
                thread: Some(thread),
                path,
            },
            loaded,
        ))
    }
}

impl ElinStore for SqliteElinStore {
    fn put(&mut self, elin: &StoredElin) {
        if let Some(tx) = &self.tx {
            if tx.send(elin.clone()).is_err() {
                tracing::error!(path = %self.path.display(), "ELIN store thread gone: not persisted");
            }
        }
    }
}

impl Drop for SqliteElinStore {
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

    #[test]
    fn e6_e11_elins_and_locations_are_written_by_the_thread_and_loaded_again() {
        let dir = tempfile::tempdir().unwrap();
        let rec = StoredElin {
            aor: "sip:alice@x".into(),
            elin: Some("+15551230555".into()),
            civic: "1 Main St".into(),
            updated_unix: 7,
            location: None,
        };
        let mut doc = pidf_lo::LocationDoc::new("pres:bob@x");
        doc.civic.hno = Some("1".into());
        doc.civic.rd = Some("Main St".into());
        doc.civic.flr = Some("3".into());
        doc.elin = Some(pidf_lo::Elin::parse("+15551230556").unwrap());
        let located = StoredElin {
            aor: "sip:bob@x".into(),
            elin: Some("+15551230556".into()),
            civic: "1 Main St, Floor 3".into(),
            updated_unix: 8,
            location: Some(doc),
        };
        {
            let (mut s, loaded) = SqliteElinStore::open(dir.path()).unwrap();
            assert!(loaded.is_empty());
            s.put(&rec);
            s.put(&located);
        }
        let (_s, mut loaded) = SqliteElinStore::open(dir.path()).unwrap();
        loaded.sort_by(|a, b| a.aor.cmp(&b.aor));
        assert_eq!(loaded, vec![rec, located]);
    }

    #[test]
    fn e6_a_store_from_before_locations_opens_and_gains_them() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = rusqlite::Connection::open(dir.path().join(FILE_NAME)).unwrap();
            conn.execute_batch(
                "CREATE TABLE elins (aor TEXT PRIMARY KEY, elin TEXT, civic TEXT NOT NULL, \
                 updated_unix INTEGER NOT NULL);
                 INSERT INTO elins VALUES ('sip:old@x', '+15551230557', '2 Elm St', 5);",
            )
            .unwrap();
        }
        let located = {
            let (mut s, loaded) = SqliteElinStore::open(dir.path()).unwrap();
            assert_eq!(loaded.len(), 1);
            assert_eq!(loaded[0].elin.as_deref(), Some("+15551230557"));
            assert_eq!(loaded[0].location, None);
            let mut doc = pidf_lo::LocationDoc::new("pres:old@x");
            doc.civic.rd = Some("Elm St".into());
            let rec = StoredElin {
                location: Some(doc),
                ..loaded[0].clone()
            };
            s.put(&rec);
            rec
        };
        let (_s, loaded) = SqliteElinStore::open(dir.path()).unwrap();
        assert_eq!(loaded, vec![located]);
    }
}
