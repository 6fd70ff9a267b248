//! The manager's embedded store: SQLite (rusqlite, bundled) holding the
//! configuration records (E14, E10), the device inventory with each
//! device's location history, and the emergency call records (E16).
//!
//! [`Store`] is the synchronous API; it is meant to live on one thread.
//! Async code uses [`StoreHandle`], which runs every operation on one
//! dedicated thread and awaits the answer, so no task on a 911 path ever
//! blocks on disk.
//!
//! Durability: WAL journal with `synchronous=NORMAL`. A committed
//! transaction survives a crash of the process (SIGKILL); a power loss
//! may lose the last transactions before a checkpoint, never corrupt the
//! file. Foreign keys are on.
//!
//! Schema changes are appended to [`MIGRATIONS`] (never edited): the file's
//! `PRAGMA user_version` counts how many were applied, and opening applies
//! the rest, each in its own transaction.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use pidf_lo::Elin;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use tokio::sync::oneshot;

use crate::model::{
    AssignBy, CallServer, Device, DeviceState, EmergencyCall, Id, LocatedBy, Location,
    LocationChange, ManualAssignment, NetworkRegion, UnixMillis, ValidationError,
};

/// The schema, one migration per entry, applied in order. Append only.
pub const MIGRATIONS: &[&str] = &[
    // 1: configuration, inventory, history, calls.
    r#"
    CREATE TABLE locations (
        id    INTEGER PRIMARY KEY,
        name  TEXT NOT NULL UNIQUE,
        -- the whole model::Location as JSON (civic address, ELIN pool)
        doc   TEXT NOT NULL
    );
    CREATE TABLE call_servers (
        id                   INTEGER PRIMARY KEY,
        name                 TEXT NOT NULL UNIQUE,
        default_location_id  INTEGER REFERENCES locations(id) ON DELETE RESTRICT,
        -- the whole model::CallServer as JSON (members, filters, AORs)
        doc                  TEXT NOT NULL
    );
    CREATE TABLE network_regions (
        id           INTEGER PRIMARY KEY,
        name         TEXT NOT NULL,
        cidr         TEXT NOT NULL UNIQUE,
        location_id  INTEGER NOT NULL REFERENCES locations(id) ON DELETE RESTRICT
    );
    CREATE TABLE manual_assignments (
        id           INTEGER PRIMARY KEY,
        by           TEXT NOT NULL CHECK (by IN ('mac', 'user')),
        value        TEXT NOT NULL,
        location_id  INTEGER NOT NULL REFERENCES locations(id) ON DELETE RESTRICT,
        UNIQUE (by, value)
    );
    CREATE TABLE devices (
        id              INTEGER PRIMARY KEY,
        call_server_id  INTEGER NOT NULL REFERENCES call_servers(id) ON DELETE CASCADE,
        aor             TEXT NOT NULL,
        ident           TEXT NOT NULL,
        user            TEXT NOT NULL,
        contact         TEXT NOT NULL,
        source_ip       TEXT,
        mac             TEXT,
        state           TEXT NOT NULL,
        location_id     INTEGER REFERENCES locations(id) ON DELETE RESTRICT,
        elin            TEXT,
        located_by      TEXT,
        updated_at      INTEGER NOT NULL,
        UNIQUE (call_server_id, aor, ident)
    );
    CREATE INDEX devices_location ON devices(location_id);
    -- Keyed by the device identity, not its row: the history outlives a
    -- device's unregistration and continues when it comes back.
    CREATE TABLE device_location_history (
        id              INTEGER PRIMARY KEY,
        call_server_id  INTEGER NOT NULL,
        aor             TEXT NOT NULL,
        ident           TEXT NOT NULL,
        at              INTEGER NOT NULL,
        location_id     INTEGER,
        location_name   TEXT,
        elin            TEXT,
        located_by      TEXT
    );
    CREATE INDEX device_location_history_key
        ON device_location_history(call_server_id, aor, ident, id);
    -- No foreign keys: a call record outlives the call server, device and
    -- location it names.
    CREATE TABLE emergency_calls (
        id                INTEGER PRIMARY KEY,
        call_server_id    INTEGER,
        caller_aor        TEXT NOT NULL,
        caller_user       TEXT NOT NULL,
        device_id         INTEGER,
        location_id       INTEGER,
        location_text     TEXT NOT NULL,
        elin              TEXT,
        gateway_username  TEXT NOT NULL,
        received_at       INTEGER NOT NULL,
        answered_with     TEXT,
        alerts            TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX emergency_calls_received ON emergency_calls(received_at);
    "#,
];

/// What a store operation could not do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed (disk, corruption, ...).
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data directory could not be created.
    #[error("store: cannot create {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file was written by a newer Locus (more migrations than known).
    #[error(
        "store: schema version {found} is newer than this build knows ({known}); upgrade Locus"
    )]
    SchemaTooNew {
        /// `user_version` of the file.
        found: u32,
        /// Migrations this build has.
        known: u32,
    },
    /// No record with this id.
    #[error("no {what} with id {id}")]
    NotFound {
        /// The kind of record (`location`).
        what: &'static str,
        /// The id asked for.
        id: Id,
    },
    /// The record is invalid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A field names a record that does not exist.
    #[error("{field}: no {what} with id {id}")]
    UnknownReference {
        /// The field (`location_id`).
        field: &'static str,
        /// The kind of record referred to.
        what: &'static str,
        /// The id given.
        id: Id,
    },
    /// Another record already has this unique value.
    #[error("{field}: another {what} already has {value:?}")]
    Duplicate {
        /// The kind of record.
        what: &'static str,
        /// The unique field.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// The record is referred to and cannot be deleted.
    #[error("{what} {id} is in use by {count} {by}; change those first")]
    InUse {
        /// The kind of record.
        what: &'static str,
        /// Its id.
        id: Id,
        /// What refers to it (`network regions`).
        by: &'static str,
        /// How many.
        count: i64,
    },
    /// A stored JSON document or value does not read back (edited by hand
    /// or written by an incompatible build).
    #[error("store: {table} row {id} is unreadable: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The row.
        id: Id,
        /// Why.
        reason: String,
    },
    /// The store thread could not be started.
    #[error("store: cannot start the store thread: {0}")]
    Thread(std::io::Error),
    /// The store thread is gone (closed, or an operation panicked).
    #[error("store: the store thread is not running")]
    Unavailable,
}

/// Which devices to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceQuery {
    /// Only those of this call server.
    pub call_server_id: Option<Id>,
    /// Only those at this location.
    pub location_id: Option<Id>,
    /// At most this many (all when `None`).
    pub limit: Option<u32>,
    /// Skip this many first (ordered by id).
    pub offset: u32,
}

/// Which emergency calls to list (newest first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallQuery {
    /// Received at or after.
    pub since: Option<UnixMillis>,
    /// Received before.
    pub until: Option<UnixMillis>,
    /// At most this many (all when `None`).
    pub limit: Option<u32>,
}

/// What [`Store::upsert_device`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceUpsert {
    /// The device as stored.
    pub device: Device,
    /// It was not known before.
    pub created: bool,
    /// Its location, ELIN or locating rule changed (a history entry was
    /// appended): the driver PUBLISHes the new ELIN (E11).
    pub location_changed: bool,
}

/// Every configuration record, for building a
/// [`crate::location::LocationEngine`] and the subscriber's targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSnapshot {
    /// Call servers by id.
    pub call_servers: Vec<CallServer>,
    /// Locations by id.
    pub locations: Vec<Location>,
    /// Network regions by id.
    pub regions: Vec<NetworkRegion>,
    /// Manual assignments by id.
    pub assignments: Vec<ManualAssignment>,
}

/// The SQLite store. Not shared between threads: see [`StoreHandle`].
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

impl Store {
    /// Opens (creating it and its directory when missing) the store file
    /// at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        Store::init(Connection::open(path)?)
    }

    /// A store in memory (tests, trials); gone when dropped.
    pub fn open_in_memory() -> Result<Store> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store> {
        // journal_mode answers with a row; in memory it stays "memory".
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Another process (a backup, the sqlite3 shell) may hold a lock
        // for a moment; wait rather than fail.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let known = MIGRATIONS.len() as u32;
        let found = self.schema_version()?;
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as u32 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// How many migrations the file has had (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    // ----- call servers -----------------------------------------------

    /// Every call server, by id.
    pub fn list_call_servers(&self) -> Result<Vec<CallServer>> {
        TxView(&self.conn).list_call_servers()
    }

    /// One call server.
    pub fn get_call_server(&self, id: Id) -> Result<CallServer> {
        let mut c: CallServer = self.doc("call_servers", "call server", id)?;
        c.id = id;
        Ok(c)
    }

    /// Validates and adds a call server; its `id` is assigned.
    pub fn create_call_server(&mut self, mut c: CallServer) -> Result<CallServer> {
        c.validate()?;
        let tx = self.conn.transaction()?;
        check_call_server(&tx, &c, None)?;
        tx.execute(
            "INSERT INTO call_servers (name, default_location_id, doc) VALUES (?1, ?2, '')",
            params![c.name, c.default_location_id],
        )?;
        c.id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE call_servers SET doc = ?1 WHERE id = ?2",
            params![to_json(&c), c.id],
        )?;
        tx.commit()?;
        Ok(c)
    }

    /// Validates and replaces call server `id`.
    pub fn update_call_server(&mut self, id: Id, mut c: CallServer) -> Result<CallServer> {
        c.validate()?;
        c.id = id;
        let tx = self.conn.transaction()?;
        exists(&tx, "call_servers", "call server", id)?;
        check_call_server(&tx, &c, Some(id))?;
        tx.execute(
            "UPDATE call_servers SET name = ?1, default_location_id = ?2, doc = ?3 WHERE id = ?4",
            params![c.name, c.default_location_id, to_json(&c), id],
        )?;
        tx.commit()?;
        Ok(c)
    }

    /// Deletes call server `id` and its devices (their location history
    /// stays, as do emergency call records).
    pub fn delete_call_server(&mut self, id: Id) -> Result<()> {
        self.delete("call_servers", "call server", id)
    }

    // ----- locations --------------------------------------------------

    /// Every location, by id.
    pub fn list_locations(&self) -> Result<Vec<Location>> {
        TxView(&self.conn).list_locations()
    }

    /// One location.
    pub fn get_location(&self, id: Id) -> Result<Location> {
        let mut l: Location = self.doc("locations", "location", id)?;
        l.id = id;
        Ok(l)
    }

    /// Validates and adds a location; its `id` is assigned.
    pub fn create_location(&mut self, mut l: Location) -> Result<Location> {
        l.validate()?;
        let tx = self.conn.transaction()?;
        unique(&tx, "locations", "location", "name", &l.name, None)?;
        tx.execute(
            "INSERT INTO locations (name, doc) VALUES (?1, '')",
            params![l.name],
        )?;
        l.id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE locations SET doc = ?1 WHERE id = ?2",
            params![to_json(&l), l.id],
        )?;
        tx.commit()?;
        Ok(l)
    }

    /// Validates and replaces location `id`. Devices there keep their
    /// stored ELIN until the driver locates them again.
    pub fn update_location(&mut self, id: Id, mut l: Location) -> Result<Location> {
        l.validate()?;
        l.id = id;
        let tx = self.conn.transaction()?;
        exists(&tx, "locations", "location", id)?;
        unique(&tx, "locations", "location", "name", &l.name, Some(id))?;
        tx.execute(
            "UPDATE locations SET name = ?1, doc = ?2 WHERE id = ?3",
            params![l.name, to_json(&l), id],
        )?;
        tx.commit()?;
        Ok(l)
    }

    /// Deletes location `id`; refused while a call server, region,
    /// assignment or device refers to it (an emergency location must not
    /// vanish under a phone).
    pub fn delete_location(&mut self, id: Id) -> Result<()> {
        let tx = self.conn.transaction()?;
        exists(&tx, "locations", "location", id)?;
        for (table, col, by) in [
            ("call_servers", "default_location_id", "call servers"),
            ("network_regions", "location_id", "network regions"),
            ("manual_assignments", "location_id", "manual assignments"),
            ("devices", "location_id", "devices"),
        ] {
            let count: i64 = tx.query_row(
                &format!("SELECT count(*) FROM {table} WHERE {col} = ?1"),
                [id],
                |r| r.get(0),
            )?;
            if count > 0 {
                return Err(StoreError::InUse {
                    what: "location",
                    id,
                    by,
                    count,
                });
            }
        }
        tx.execute("DELETE FROM locations WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    // ----- network regions --------------------------------------------

    /// Every network region, by id.
    pub fn list_regions(&self) -> Result<Vec<NetworkRegion>> {
        TxView(&self.conn).list_regions()
    }

    /// One network region.
    pub fn get_region(&self, id: Id) -> Result<NetworkRegion> {
        self.conn
            .query_row(
                "SELECT id, name, cidr, location_id FROM network_regions WHERE id = ?1",
                [id],
                raw_region,
            )
            .optional()?
            .ok_or(StoreError::NotFound {
                what: "network region",
                id,
            })?
            .into_region()
    }

    /// Adds a network region (host bits cleared); its `id` is assigned.
    pub fn create_region(&mut self, mut r: NetworkRegion) -> Result<NetworkRegion> {
        r.normalize();
        let tx = self.conn.transaction()?;
        check_region(&tx, &r, None)?;
        tx.execute(
            "INSERT INTO network_regions (name, cidr, location_id) VALUES (?1, ?2, ?3)",
            params![r.name, r.cidr.to_string(), r.location_id],
        )?;
        r.id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(r)
    }

    /// Replaces network region `id`.
    pub fn update_region(&mut self, id: Id, mut r: NetworkRegion) -> Result<NetworkRegion> {
        r.normalize();
        r.id = id;
        let tx = self.conn.transaction()?;
        exists(&tx, "network_regions", "network region", id)?;
        check_region(&tx, &r, Some(id))?;
        tx.execute(
            "UPDATE network_regions SET name = ?1, cidr = ?2, location_id = ?3 WHERE id = ?4",
            params![r.name, r.cidr.to_string(), r.location_id, id],
        )?;
        tx.commit()?;
        Ok(r)
    }

    /// Deletes network region `id`.
    pub fn delete_region(&mut self, id: Id) -> Result<()> {
        self.delete("network_regions", "network region", id)
    }

    // ----- manual assignments -----------------------------------------

    /// Every manual assignment, by id.
    pub fn list_assignments(&self) -> Result<Vec<ManualAssignment>> {
        TxView(&self.conn).list_assignments()
    }

    /// One manual assignment.
    pub fn get_assignment(&self, id: Id) -> Result<ManualAssignment> {
        self.conn
            .query_row(
                "SELECT id, by, value, location_id FROM manual_assignments WHERE id = ?1",
                [id],
                raw_assignment,
            )
            .optional()?
            .ok_or(StoreError::NotFound {
                what: "manual assignment",
                id,
            })?
            .into_assignment()
    }

    /// Validates (MACs normalized) and adds a manual assignment.
    pub fn create_assignment(&mut self, mut a: ManualAssignment) -> Result<ManualAssignment> {
        a.normalize()?;
        let tx = self.conn.transaction()?;
        check_assignment(&tx, &a, None)?;
        tx.execute(
            "INSERT INTO manual_assignments (by, value, location_id) VALUES (?1, ?2, ?3)",
            params![assign_by_name(a.by), a.value, a.location_id],
        )?;
        a.id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(a)
    }

    /// Validates and replaces manual assignment `id`.
    pub fn update_assignment(
        &mut self,
        id: Id,
        mut a: ManualAssignment,
    ) -> Result<ManualAssignment> {
        a.normalize()?;
        a.id = id;
        let tx = self.conn.transaction()?;
        exists(&tx, "manual_assignments", "manual assignment", id)?;
        check_assignment(&tx, &a, Some(id))?;
        tx.execute(
            "UPDATE manual_assignments SET by = ?1, value = ?2, location_id = ?3 WHERE id = ?4",
            params![assign_by_name(a.by), a.value, a.location_id, id],
        )?;
        tx.commit()?;
        Ok(a)
    }

    /// Deletes manual assignment `id`.
    pub fn delete_assignment(&mut self, id: Id) -> Result<()> {
        self.delete("manual_assignments", "manual assignment", id)
    }

    /// Every configuration record at once (one read transaction, so the
    /// parts agree).
    pub fn snapshot(&mut self) -> Result<ConfigSnapshot> {
        let tx = self.conn.transaction()?;
        let tx_store = TxView(&tx);
        let snap = ConfigSnapshot {
            call_servers: tx_store.list_call_servers()?,
            locations: tx_store.list_locations()?,
            regions: tx_store.list_regions()?,
            assignments: tx_store.list_assignments()?,
        };
        tx.commit()?;
        Ok(snap)
    }

    // ----- devices ----------------------------------------------------

    /// Devices matching `q`, by id.
    pub fn list_devices(&self, q: &DeviceQuery) -> Result<Vec<Device>> {
        let mut st = self.conn.prepare(&format!(
            "{DEVICE_SELECT} WHERE (?1 IS NULL OR call_server_id = ?1)
               AND (?2 IS NULL OR location_id = ?2)
             ORDER BY id LIMIT ?3 OFFSET ?4"
        ))?;
        let limit = q.limit.map_or(-1, i64::from);
        let rows = st.query_map(
            params![q.call_server_id, q.location_id, limit, q.offset],
            raw_device,
        )?;
        rows.map(|r| r?.into_device()).collect()
    }

    /// One device.
    pub fn get_device(&self, id: Id) -> Result<Device> {
        self.conn
            .query_row(&format!("{DEVICE_SELECT} WHERE id = ?1"), [id], raw_device)
            .optional()?
            .ok_or(StoreError::NotFound { what: "device", id })?
            .into_device()
    }

    /// The device with this identity, if known.
    pub fn find_device(
        &self,
        call_server_id: Id,
        aor: &str,
        ident: &str,
    ) -> Result<Option<Device>> {
        self.conn
            .query_row(
                &format!("{DEVICE_SELECT} WHERE call_server_id = ?1 AND aor = ?2 AND ident = ?3"),
                params![call_server_id, aor, ident],
                raw_device,
            )
            .optional()?
            .map(RawDevice::into_device)
            .transpose()
    }

    /// Adds or updates a device by its identity (`call_server_id`, `aor`,
    /// `ident`; `dev.id` is ignored), appending a location history entry
    /// when its location, ELIN or locating rule changed, or when a new
    /// device is placed (E16).
    ///
    /// All or nothing on its own (a transaction). Inside [`Store::batch`]
    /// the batch is the transaction: every check comes before the first
    /// write, so a refused device writes nothing (a savepoint per device
    /// would cost a statement journal page each).
    pub fn upsert_device(&mut self, dev: Device) -> Result<DeviceUpsert> {
        if self.conn.is_autocommit() {
            let tx = self.conn.transaction()?;
            let done = upsert_device_in(&tx, dev)?;
            tx.commit()?;
            Ok(done)
        } else {
            upsert_device_in(&self.conn, dev)
        }
    }

    /// Forgets a device (it unregistered or was filtered out). Its location
    /// history is kept. `false` when it was not known.
    pub fn remove_device(&mut self, call_server_id: Id, aor: &str, ident: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "DELETE FROM devices WHERE call_server_id = ?1 AND aor = ?2 AND ident = ?3",
            )?
            .execute(params![call_server_id, aor, ident])?
            > 0)
    }

    /// Runs `f` inside one transaction: every write it makes is committed
    /// together, once, which costs one commit instead of one per write (a
    /// device download writes thousands of devices a second). Writes that
    /// must be all or nothing on their own nest as savepoints
    /// ([`Store::upsert_device`]); one that fails is rolled back alone and
    /// the others are kept. Not for code that opens a transaction of its
    /// own (the configuration writes): that fails inside.
    pub fn batch<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> Result<R> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let r = f(self);
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        Ok(r)
    }

    /// The location history of device `id`, oldest first (E16).
    pub fn device_history(&self, id: Id) -> Result<Vec<LocationChange>> {
        let d = self.get_device(id)?;
        self.history_of(d.call_server_id, &d.aor, &d.ident)
    }

    /// The location history of a device identity, oldest first; kept even
    /// after the device is removed.
    pub fn history_of(
        &self,
        call_server_id: Id,
        aor: &str,
        ident: &str,
    ) -> Result<Vec<LocationChange>> {
        let mut st = self.conn.prepare(
            "SELECT id, at, location_id, location_name, elin, located_by
             FROM device_location_history
             WHERE call_server_id = ?1 AND aor = ?2 AND ident = ?3 ORDER BY id",
        )?;
        let rows = st.query_map(params![call_server_id, aor, ident], |r| {
            Ok((
                r.get::<_, Id>(0)?,
                r.get::<_, UnixMillis>(1)?,
                r.get::<_, Option<Id>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        rows.map(|r| {
            let (row, at, location_id, location_name, elin, by) = r?;
            Ok(LocationChange {
                at,
                location_id,
                location_name,
                elin: opt_elin("device_location_history", row, elin)?,
                located_by: opt_located_by("device_location_history", row, by)?,
            })
        })
        .collect()
    }

    // ----- emergency calls --------------------------------------------

    /// Appends an emergency call record (E16); its `id` is assigned.
    pub fn record_emergency_call(&mut self, mut c: EmergencyCall) -> Result<EmergencyCall> {
        self.conn.execute(
            "INSERT INTO emergency_calls (call_server_id, caller_aor, caller_user, device_id,
                location_id, location_text, elin, gateway_username, received_at, answered_with,
                alerts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                c.call_server_id,
                c.caller_aor,
                c.caller_user,
                c.device_id,
                c.location_id,
                c.location_text,
                c.elin.as_ref().map(Elin::as_str),
                c.gateway_username,
                c.received_at,
                c.answered_with,
                to_json(&c.alerts)
            ],
        )?;
        c.id = self.conn.last_insert_rowid();
        Ok(c)
    }

    /// Emergency calls matching `q`, newest first.
    pub fn list_emergency_calls(&self, q: &CallQuery) -> Result<Vec<EmergencyCall>> {
        let mut st = self.conn.prepare(&format!(
            "{CALL_SELECT} WHERE (?1 IS NULL OR received_at >= ?1)
               AND (?2 IS NULL OR received_at < ?2)
             ORDER BY received_at DESC, id DESC LIMIT ?3"
        ))?;
        let limit = q.limit.map_or(-1, i64::from);
        let rows = st.query_map(params![q.since, q.until, limit], raw_call)?;
        rows.map(|r| r?.into_call()).collect()
    }

    /// One emergency call.
    pub fn get_emergency_call(&self, id: Id) -> Result<EmergencyCall> {
        self.conn
            .query_row(&format!("{CALL_SELECT} WHERE id = ?1"), [id], raw_call)
            .optional()?
            .ok_or(StoreError::NotFound {
                what: "emergency call",
                id,
            })?
            .into_call()
    }

    /// Every emergency call as CSV (RFC 4180, CRLF line ends, a header
    /// row), oldest first (E16). Times are RFC 3339 UTC.
    pub fn export_emergency_calls_csv(&self) -> Result<String> {
        let mut st = self
            .conn
            .prepare(&format!("{CALL_SELECT} ORDER BY received_at, id"))?;
        let rows = st.query_map([], raw_call)?;
        let mut out = String::new();
        csv_row(
            &mut out,
            &[
                "id",
                "received_at",
                "call_server_id",
                "caller_aor",
                "caller_user",
                "device_id",
                "location_id",
                "location",
                "elin",
                "gateway_username",
                "answered_with",
                "alerts",
            ],
        );
        for r in rows {
            let c = r?.into_call()?;
            let num = |v: Option<Id>| v.map(|v| v.to_string()).unwrap_or_default();
            csv_row(
                &mut out,
                &[
                    &c.id.to_string(),
                    &rfc3339(c.received_at),
                    &num(c.call_server_id),
                    &c.caller_aor,
                    &c.caller_user,
                    &num(c.device_id),
                    &num(c.location_id),
                    &c.location_text,
                    c.elin.as_ref().map_or("", Elin::as_str),
                    &c.gateway_username,
                    c.answered_with.as_deref().unwrap_or(""),
                    &c.alerts.join("; "),
                ],
            );
        }
        Ok(out)
    }

    /// Every device location history entry as CSV, by device identity then
    /// time (E16).
    pub fn export_location_history_csv(&self) -> Result<String> {
        let mut st = self.conn.prepare(
            "SELECT id, call_server_id, aor, ident, at, location_id, location_name, elin,
                located_by
             FROM device_location_history ORDER BY call_server_id, aor, ident, id",
        )?;
        let mut rows = st.query([])?;
        let mut out = String::new();
        csv_row(
            &mut out,
            &[
                "call_server_id",
                "aor",
                "device",
                "at",
                "location_id",
                "location",
                "elin",
                "located_by",
            ],
        );
        while let Some(r) = rows.next()? {
            let opt = |i: usize| -> rusqlite::Result<String> {
                Ok(r.get::<_, Option<String>>(i)?.unwrap_or_default())
            };
            csv_row(
                &mut out,
                &[
                    &r.get::<_, Id>(1)?.to_string(),
                    &r.get::<_, String>(2)?,
                    &r.get::<_, String>(3)?,
                    &rfc3339(r.get(4)?),
                    &r.get::<_, Option<Id>>(5)?
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                    &opt(6)?,
                    &opt(7)?,
                    &opt(8)?,
                ],
            );
        }
        Ok(out)
    }

    // ----- helpers ----------------------------------------------------

    fn doc<T: serde::de::DeserializeOwned>(
        &self,
        table: &'static str,
        what: &'static str,
        id: Id,
    ) -> Result<T> {
        let doc: String = self
            .conn
            .query_row(
                &format!("SELECT doc FROM {table} WHERE id = ?1"),
                [id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(StoreError::NotFound { what, id })?;
        from_json(table, id, &doc)
    }

    /// Deletes a row of a table nothing restricts (call servers take
    /// their devices along by cascade; regions and assignments have no
    /// dependants).
    fn delete(&mut self, table: &'static str, what: &'static str, id: Id) -> Result<()> {
        match self
            .conn
            .execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id])?
        {
            0 => Err(StoreError::NotFound { what, id }),
            _ => Ok(()),
        }
    }
}

/// Read-only list queries over a connection or an open transaction
/// (a `Transaction` derefs to `Connection`).
struct TxView<'a>(&'a Connection);

impl TxView<'_> {
    fn docs<T: serde::de::DeserializeOwned>(
        &self,
        table: &'static str,
        sql: &str,
    ) -> Result<Vec<(Id, T)>> {
        let mut st = self.0.prepare(sql)?;
        let rows = st.query_map([], |r| Ok((r.get::<_, Id>(0)?, r.get::<_, String>(1)?)))?;
        rows.map(|r| {
            let (id, doc) = r?;
            Ok((id, from_json(table, id, &doc)?))
        })
        .collect()
    }

    fn list_call_servers(&self) -> Result<Vec<CallServer>> {
        Ok(self
            .docs::<CallServer>(
                "call_servers",
                "SELECT id, doc FROM call_servers ORDER BY id",
            )?
            .into_iter()
            .map(|(id, mut c)| {
                c.id = id;
                c
            })
            .collect())
    }

    fn list_locations(&self) -> Result<Vec<Location>> {
        Ok(self
            .docs::<Location>("locations", "SELECT id, doc FROM locations ORDER BY id")?
            .into_iter()
            .map(|(id, mut l)| {
                l.id = id;
                l
            })
            .collect())
    }

    fn list_regions(&self) -> Result<Vec<NetworkRegion>> {
        let mut st = self
            .0
            .prepare("SELECT id, name, cidr, location_id FROM network_regions ORDER BY id")?;
        let rows = st.query_map([], raw_region)?;
        rows.map(|r| r?.into_region()).collect()
    }

    fn list_assignments(&self) -> Result<Vec<ManualAssignment>> {
        let mut st = self
            .0
            .prepare("SELECT id, by, value, location_id FROM manual_assignments ORDER BY id")?;
        let rows = st.query_map([], raw_assignment)?;
        rows.map(|r| r?.into_assignment()).collect()
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Serializing our own model types cannot fail: every map key is a
    // string and no Serialize impl returns an error.
    serde_json::to_string(v).expect("model types serialize to JSON")
}

fn from_json<T: serde::de::DeserializeOwned>(table: &'static str, id: Id, doc: &str) -> Result<T> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt {
        table,
        id,
        reason: e.to_string(),
    })
}

/// [`Store::upsert_device`] on `tx`: a transaction, or the connection
/// inside [`Store::batch`]. Every check before the first write.
fn upsert_device_in(tx: &Connection, mut dev: Device) -> Result<DeviceUpsert> {
    let call_server_known = tx
        .prepare_cached("SELECT 1 FROM call_servers WHERE id = ?1")?
        .query_row([dev.call_server_id], |_| Ok(()))
        .optional()?
        .is_some();
    if !call_server_known {
        return Err(StoreError::UnknownReference {
            field: "call_server_id",
            what: "call server",
            id: dev.call_server_id,
        });
    }
    let location_name = match dev.location_id {
        Some(id) => Some(
            tx.prepare_cached("SELECT name FROM locations WHERE id = ?1")?
                .query_row([id], |r| r.get::<_, String>(0))
                .optional()?
                .ok_or(StoreError::UnknownReference {
                    field: "location_id",
                    what: "location",
                    id,
                })?,
        ),
        None => None,
    };
    let old: Option<PlacementRow> = tx
        .prepare_cached(
            "SELECT id, location_id, elin, located_by FROM devices
                 WHERE call_server_id = ?1 AND aor = ?2 AND ident = ?3",
        )?
        .query_row(params![dev.call_server_id, dev.aor, dev.ident], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let elin = dev.elin.as_ref().map(|e| e.as_str().to_owned());
    let by = dev.located_by.map(|b| b.as_str().to_owned());
    let ip = dev.source_ip.map(|a| a.to_string());
    let (created, location_changed) = match old {
        Some((id, loc, old_elin, old_by)) => {
            dev.id = id;
            tx.prepare_cached(
                "UPDATE devices SET user = ?1, contact = ?2, source_ip = ?3, mac = ?4,
                        state = ?5, location_id = ?6, elin = ?7, located_by = ?8, updated_at = ?9
                     WHERE id = ?10",
            )?
            .execute(params![
                dev.user,
                dev.contact,
                ip,
                dev.mac,
                dev.state.as_str(),
                dev.location_id,
                elin,
                by,
                dev.updated_at,
                id
            ])?;
            (
                false,
                (loc, old_elin, old_by) != (dev.location_id, elin.clone(), by.clone()),
            )
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO devices (call_server_id, aor, ident, user, contact, source_ip,
                        mac, state, location_id, elin, located_by, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                dev.call_server_id,
                dev.aor,
                dev.ident,
                dev.user,
                dev.contact,
                ip,
                dev.mac,
                dev.state.as_str(),
                dev.location_id,
                elin,
                by,
                dev.updated_at
            ])?;
            dev.id = tx.last_insert_rowid();
            (true, dev.location_id.is_some() || elin.is_some())
        }
    };
    if location_changed {
        tx.prepare_cached(
            "INSERT INTO device_location_history
                    (call_server_id, aor, ident, at, location_id, location_name, elin, located_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            dev.call_server_id,
            dev.aor,
            dev.ident,
            dev.updated_at,
            dev.location_id,
            location_name,
            elin,
            by
        ])?;
    }
    Ok(DeviceUpsert {
        device: dev,
        created,
        location_changed,
    })
}

fn row_exists(tx: &Transaction<'_>, table: &str, id: Id) -> Result<bool> {
    Ok(tx
        .query_row(
            &format!("SELECT 1 FROM {table} WHERE id = ?1"),
            [id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn exists(tx: &Transaction<'_>, table: &str, what: &'static str, id: Id) -> Result<()> {
    if row_exists(tx, table, id)? {
        Ok(())
    } else {
        Err(StoreError::NotFound { what, id })
    }
}

fn location_ref(tx: &Transaction<'_>, field: &'static str, id: Id) -> Result<()> {
    if row_exists(tx, "locations", id)? {
        Ok(())
    } else {
        Err(StoreError::UnknownReference {
            field,
            what: "location",
            id,
        })
    }
}

fn unique(
    tx: &Transaction<'_>,
    table: &str,
    what: &'static str,
    field: &'static str,
    value: &str,
    except: Option<Id>,
) -> Result<()> {
    let taken = tx
        .query_row(
            &format!("SELECT 1 FROM {table} WHERE {field} = ?1 AND id IS NOT ?2"),
            params![value, except],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if taken {
        return Err(StoreError::Duplicate {
            what,
            field,
            value: value.to_owned(),
        });
    }
    Ok(())
}

fn check_call_server(tx: &Transaction<'_>, c: &CallServer, except: Option<Id>) -> Result<()> {
    unique(tx, "call_servers", "call server", "name", &c.name, except)?;
    if let Some(l) = c.default_location_id {
        location_ref(tx, "default_location_id", l)?;
    }
    Ok(())
}

fn check_region(tx: &Transaction<'_>, r: &NetworkRegion, except: Option<Id>) -> Result<()> {
    unique(
        tx,
        "network_regions",
        "network region",
        "cidr",
        &r.cidr.to_string(),
        except,
    )?;
    location_ref(tx, "location_id", r.location_id)
}

fn check_assignment(tx: &Transaction<'_>, a: &ManualAssignment, except: Option<Id>) -> Result<()> {
    let taken = tx
        .query_row(
            "SELECT 1 FROM manual_assignments WHERE by = ?1 AND value = ?2 AND id IS NOT ?3",
            params![assign_by_name(a.by), a.value, except],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if taken {
        return Err(StoreError::Duplicate {
            what: "manual assignment",
            field: "value",
            value: a.value.clone(),
        });
    }
    location_ref(tx, "location_id", a.location_id)
}

fn assign_by_name(b: AssignBy) -> &'static str {
    match b {
        AssignBy::Mac => "mac",
        AssignBy::User => "user",
    }
}

/// A device's row id and placement columns (location, ELIN, rule).
type PlacementRow = (Id, Option<Id>, Option<String>, Option<String>);

// Rows are read into plain structs inside rusqlite's closures (which can
// only fail with rusqlite errors), then checked into model types.

struct RawRegion(Id, String, String, Id);

fn raw_region(r: &Row<'_>) -> rusqlite::Result<RawRegion> {
    Ok(RawRegion(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

impl RawRegion {
    fn into_region(self) -> Result<NetworkRegion> {
        let RawRegion(id, name, cidr, location_id) = self;
        Ok(NetworkRegion {
            id,
            name,
            cidr: cidr.parse().map_err(|_| StoreError::Corrupt {
                table: "network_regions",
                id,
                reason: format!("cidr {cidr:?}"),
            })?,
            location_id,
        })
    }
}

struct RawAssignment(Id, String, String, Id);

fn raw_assignment(r: &Row<'_>) -> rusqlite::Result<RawAssignment> {
    Ok(RawAssignment(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

impl RawAssignment {
    fn into_assignment(self) -> Result<ManualAssignment> {
        let RawAssignment(id, by, value, location_id) = self;
        let by = match by.as_str() {
            "mac" => AssignBy::Mac,
            "user" => AssignBy::User,
            _ => {
                return Err(StoreError::Corrupt {
                    table: "manual_assignments",
                    id,
                    reason: format!("by {by:?}"),
                })
            }
        };
        Ok(ManualAssignment {
            id,
            by,
            value,
            location_id,
        })
    }
}

const DEVICE_SELECT: &str = "SELECT id, call_server_id, aor, ident, user, contact, source_ip,
    mac, state, location_id, elin, located_by, updated_at FROM devices";

struct RawDevice {
    id: Id,
    call_server_id: Id,
    aor: String,
    ident: String,
    user: String,
    contact: String,
    source_ip: Option<String>,
    mac: Option<String>,
    state: String,
    location_id: Option<Id>,
    elin: Option<String>,
    located_by: Option<String>,
    updated_at: UnixMillis,
}

fn raw_device(r: &Row<'_>) -> rusqlite::Result<RawDevice> {
    Ok(RawDevice {
        id: r.get(0)?,
        call_server_id: r.get(1)?,
        aor: r.get(2)?,
        ident: r.get(3)?,
        user: r.get(4)?,
        contact: r.get(5)?,
        source_ip: r.get(6)?,
        mac: r.get(7)?,
        state: r.get(8)?,
        location_id: r.get(9)?,
        elin: r.get(10)?,
        located_by: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

fn corrupt(table: &'static str, id: Id, what: &str, v: &str) -> StoreError {
    StoreError::Corrupt {
        table,
        id,
        reason: format!("{what} {v:?}"),
    }
}

fn opt_elin(table: &'static str, id: Id, v: Option<String>) -> Result<Option<Elin>> {
    v.map(|s| Elin::parse(&s).map_err(|_| corrupt(table, id, "elin", &s)))
        .transpose()
}

fn opt_located_by(table: &'static str, id: Id, v: Option<String>) -> Result<Option<LocatedBy>> {
    v.map(|s| LocatedBy::from_name(&s).ok_or_else(|| corrupt(table, id, "located_by", &s)))
        .transpose()
}

impl RawDevice {
    fn into_device(self) -> Result<Device> {
        const T: &str = "devices";
        let id = self.id;
        Ok(Device {
            id,
            call_server_id: self.call_server_id,
            aor: self.aor,
            ident: self.ident,
            user: self.user,
            contact: self.contact,
            source_ip: self
                .source_ip
                .map(|s| {
                    s.parse::<IpAddr>()
                        .map_err(|_| corrupt(T, id, "source_ip", &s))
                })
                .transpose()?,
            mac: self.mac,
            state: DeviceState::from_name(&self.state)
                .ok_or_else(|| corrupt(T, id, "state", &self.state))?,
            location_id: self.location_id,
            elin: opt_elin(T, id, self.elin)?,
            located_by: opt_located_by(T, id, self.located_by)?,
            updated_at: self.updated_at,
        })
    }
}

const CALL_SELECT: &str = "SELECT id, call_server_id, caller_aor, caller_user, device_id,
    location_id, location_text, elin, gateway_username, received_at, answered_with, alerts
    FROM emergency_calls";

struct RawCall {
    id: Id,
    call_server_id: Option<Id>,
    caller_aor: String,
    caller_user: String,
    device_id: Option<Id>,
    location_id: Option<Id>,
    location_text: String,
    elin: Option<String>,
    gateway_username: String,
    received_at: UnixMillis,
    answered_with: Option<String>,
    alerts: String,
}

fn raw_call(r: &Row<'_>) -> rusqlite::Result<RawCall> {
    Ok(RawCall {
        id: r.get(0)?,
        call_server_id: r.get(1)?,
        caller_aor: r.get(2)?,
        caller_user: r.get(3)?,
        device_id: r.get(4)?,
        location_id: r.get(5)?,
        location_text: r.get(6)?,
        elin: r.get(7)?,
        gateway_username: r.get(8)?,
        received_at: r.get(9)?,
        answered_with: r.get(10)?,
        alerts: r.get(11)?,
    })
}

impl RawCall {
    fn into_call(self) -> Result<EmergencyCall> {
        const T: &str = "emergency_calls";
        Ok(EmergencyCall {
            id: self.id,
            call_server_id: self.call_server_id,
            caller_aor: self.caller_aor,
            caller_user: self.caller_user,
            device_id: self.device_id,
            location_id: self.location_id,
            location_text: self.location_text,
            elin: opt_elin(T, self.id, self.elin)?,
            gateway_username: self.gateway_username,
            received_at: self.received_at,
            answered_with: self.answered_with,
            alerts: from_json(T, self.id, &self.alerts)?,
        })
    }
}

/// Appends one CSV record (RFC 4180): fields with a comma, quote, CR or
/// LF are quoted with inner quotes doubled. A field starting with `=`,
/// `+`, `-`, `@`, tab or CR, which a spreadsheet would run as a formula,
/// gets a leading `'` (OWASP CSV injection), except a valid ELIN
/// (`+1555...`), which is our own validated data.
fn csv_row(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let guard = f.starts_with(['=', '+', '-', '@', '\t', '\r']) && Elin::parse(f).is_err();
        let quote = guard || f.contains([',', '"', '\r', '\n']);
        if quote {
            out.push('"');
        }
        if guard {
            out.push('\'');
        }
        for c in f.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        if quote {
            out.push('"');
        }
    }
    out.push_str("\r\n");
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds
/// (`2026-01-02T03:04:05.678Z`).
pub fn rfc3339(ms: UnixMillis) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days: days since 1970-01-01 to a
    // proleptic Gregorian date.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut s = String::with_capacity(24);
    let _ = write!(
        s,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    s
}

// ----- async handle ------------------------------------------------------

type Job = Box<dyn FnOnce(&mut Store) + Send>;

enum Msg {
    Run(Job),
    Close(oneshot::Sender<()>),
}

/// An async handle to a [`Store`] that lives on its own thread.
///
/// Every operation is a closure sent to that thread and run there, one at
/// a time, in the order sent; the caller awaits the answer. Sending never
/// blocks (the queue is unbounded), so a task on a 911 path can record a
/// call and go on without waiting for the disk. Cheap to clone; the thread
/// ends when the last handle is dropped or [`StoreHandle::close`] is
/// called.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<Msg>,
}

impl StoreHandle {
    /// Moves `store` to a new thread named `locus-e911-store`.
    pub fn spawn(store: Store) -> std::io::Result<StoreHandle> {
        let (tx, rx) = mpsc::channel::<Msg>();
        std::thread::Builder::new()
            .name("locus-e911-store".into())
            .spawn(move || run(store, rx))?;
        Ok(StoreHandle { tx })
    }

    /// Opens the store file at `path` on its thread (the open, migrations
    /// included, happens there too).
    pub async fn open(path: impl Into<PathBuf>) -> Result<StoreHandle> {
        let path = path.into();
        let (tx, rx) = mpsc::channel::<Msg>();
        let (ready_tx, ready_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("locus-e911-store".into())
            .spawn(move || match Store::open(&path) {
                Ok(store) => {
                    let _ = ready_tx.send(Ok(()));
                    run(store, rx);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(StoreError::Thread)?;
        ready_rx.await.map_err(|_| StoreError::Unavailable)??;
        Ok(StoreHandle { tx })
    }

    /// Runs `f` on the store thread and returns its result.
    ///
    /// A panic inside `f` is caught on the store thread (which goes on
    /// serving) and reported as [`StoreError::Unavailable`].
    pub async fn call<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Store) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Run(Box::new(move |s| {
                let _ = tx.send(f(s));
            })))
            .map_err(|_| StoreError::Unavailable)?;
        rx.await.map_err(|_| StoreError::Unavailable)?
    }

    /// Stops the store thread after the operations already sent, closes
    /// the database and waits until it is closed. Other clones of this
    /// handle get [`StoreError::Unavailable`] afterwards.
    pub async fn close(self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Close(tx))
            .map_err(|_| StoreError::Unavailable)?;
        rx.await.map_err(|_| StoreError::Unavailable)
    }
}

fn run(store: Store, rx: mpsc::Receiver<Msg>) {
    let mut store = store;
    let mut closed = None;
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Run(job) => {
                // A bug in one operation must not take the store away from
                // every later emergency call: catch it, drop its reply.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut store)));
            }
            Msg::Close(done) => {
                closed = Some(done);
                break;
            }
        }
    }
    drop(store);
    if let Some(done) = closed {
        let _ = done.send(());
    }
}
