//! The embedded store: CRUD of the configuration records (E14, E10),
//! devices and their location history (E16), emergency call records and
//! their CSV export (E16), migrations, persistence and crash safety.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use locus_e911::model::{
    AssignBy, CallServer, CallServerType, Device, DeviceState, EmergencyCall, Filter, FilterField,
    LocatedBy, Location, ManualAssignment, Member, NetworkRegion, SubscriptionMode, Transport,
    ValidationError,
};
use locus_e911::store::{CallQuery, DeviceQuery, Store, StoreError, StoreHandle, MIGRATIONS};
use pidf_lo::{CivicAddress, Elin};

fn elin(s: &str) -> Elin {
    Elin::parse(s).unwrap()
}

fn location(name: &str, elins: &[&str]) -> Location {
    Location {
        id: 0,
        name: name.into(),
        civic: CivicAddress {
            country: Some("US".into()),
            a1: Some("IL".into()),
            a3: Some("Springfield".into()),
            rd: Some("Main".into()),
            sts: Some("St".into()),
            hno: Some("12".into()),
            flr: Some("3".into()),
            ..CivicAddress::default()
        },
        elins: elins.iter().map(|e| elin(e)).collect(),
    }
}

fn call_server(name: &str, default_location_id: Option<i64>) -> CallServer {
    CallServer {
        id: 0,
        kind: CallServerType::Genesys,
        name: name.into(),
        enabled: true,
        onsite_notification_enabled: false,
        members: vec![Member {
            ip: "127.0.0.1".parse().unwrap(),
            transport: Transport::Udp,
            port: 5060,
        }],
        username: "911".into(),
        filters: vec![],
        subscription_mode: SubscriptionMode::Server,
        aors: vec![],
        default_location_id,
    }
}

fn device(cs: i64, aor: &str, ident: &str, loc: Option<i64>, e: Option<&str>, at: i64) -> Device {
    Device {
        id: 0,
        call_server_id: cs,
        aor: aor.into(),
        ident: ident.into(),
        user: locus_e911::model::aor_user(aor).into(),
        contact: format!("sip:{}@127.0.0.5:5060", locus_e911::model::aor_user(aor)),
        source_ip: Some("127.0.0.5".parse().unwrap()),
        mac: None,
        state: if loc.is_some() {
            DeviceState::Located
        } else {
            DeviceState::Unlocated
        },
        location_id: loc,
        elin: e.map(elin),
        located_by: loc.map(|_| LocatedBy::Region),
        updated_at: at,
    }
}

fn call(caller: &str, location_text: &str, at: i64) -> EmergencyCall {
    EmergencyCall {
        id: 0,
        call_server_id: Some(1),
        caller_aor: format!("sip:{caller}@example.com"),
        caller_user: caller.into(),
        device_id: None,
        location_id: None,
        location_text: location_text.into(),
        elin: Some(elin("+15551230001")),
        gateway_username: "911".into(),
        received_at: at,
        answered_with: Some("<sip:911@127.0.0.1;transport=udp>".into()),
        alerts: vec![],
    }
}

#[test]
fn e14_call_server_crud() {
    let mut s = Store::open_in_memory().unwrap();
    let l = s
        .create_location(location("HQ", &["+15551230001"]))
        .unwrap();
    let mut c = call_server("Genesys A", Some(l.id));
    c.filters.push(Filter {
        field: FilterField::Ip,
        regex: r"^10\.99\.".into(),
    });
    let c = s.create_call_server(c).unwrap();
    assert!(c.id > 0);
    assert_eq!(s.get_call_server(c.id).unwrap(), c);
    assert_eq!(s.list_call_servers().unwrap(), vec![c.clone()]);

    let mut c2 = c.clone();
    c2.name = "Genesys B".into();
    c2.members.push(Member {
        ip: "127.0.0.2".parse().unwrap(),
        transport: Transport::Tls,
        port: 5061,
    });
    let c2 = s.update_call_server(c.id, c2).unwrap();
    assert_eq!(s.get_call_server(c.id).unwrap(), c2);

    // Names are unique.
    let err = s
        .create_call_server(call_server("Genesys B", None))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Duplicate { field: "name", .. }),
        "{err:?}"
    );
    // References must exist.
    let err = s
        .create_call_server(call_server("X", Some(999)))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnknownReference {
                field: "default_location_id",
                ..
            }
        ),
        "{err:?}"
    );
    // Validation names the field.
    let mut bad = call_server("Y", None);
    bad.members[0].port = 0;
    match s.create_call_server(bad).unwrap_err() {
        StoreError::Invalid(v) => assert_eq!(v.field(), "members[0].port"),
        e => panic!("{e:?}"),
    }

    s.delete_call_server(c.id).unwrap();
    assert!(matches!(
        s.get_call_server(c.id),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_call_server(c.id),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn e10_locations_regions_assignments_crud() {
    let mut s = Store::open_in_memory().unwrap();
    let hq = s
        .create_location(location("HQ floor 3", &["+15551230001", "+15551230002"]))
        .unwrap();
    assert_eq!(s.get_location(hq.id).unwrap(), hq);
    let lab = s
        .create_location(location("Lab", &["+15551239999"]))
        .unwrap();
    assert_eq!(s.list_locations().unwrap().len(), 2);

    let r = s
        .create_region(NetworkRegion {
            id: 0,
            name: "floor 3".into(),
            // Host bits are cleared.
            cidr: "127.0.0.5/24".parse().unwrap(),
            location_id: hq.id,
        })
        .unwrap();
    assert_eq!(r.cidr.to_string(), "127.0.0.0/24");
    assert_eq!(s.get_region(r.id).unwrap(), r);
    let v6 = s
        .create_region(NetworkRegion {
            id: 0,
            name: String::new(),
            cidr: "2001:db8:3::/48".parse().unwrap(),
            location_id: lab.id,
        })
        .unwrap();
    // The same network twice is a conflict.
    let err = s
        .create_region(NetworkRegion {
            id: 0,
            name: "dup".into(),
            cidr: "127.0.0.0/24".parse().unwrap(),
            location_id: lab.id,
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { field: "cidr", .. }));
    let mut r2 = r.clone();
    r2.location_id = lab.id;
    assert_eq!(s.update_region(r.id, r2.clone()).unwrap(), r2);
    assert_eq!(s.list_regions().unwrap(), vec![r2.clone(), v6.clone()]);

    let a = s
        .create_assignment(ManualAssignment {
            id: 0,
            by: AssignBy::Mac,
            value: "00-11-22-AA-BB-CC".into(),
            location_id: hq.id,
        })
        .unwrap();
    assert_eq!(a.value, "00:11:22:aa:bb:cc");
    let err = s
        .create_assignment(ManualAssignment {
            id: 0,
            by: AssignBy::Mac,
            value: "0011.22aa.bbcc".into(),
            location_id: lab.id,
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { .. }), "{err:?}");
    match s
        .create_assignment(ManualAssignment {
            id: 0,
            by: AssignBy::Mac,
            value: "not a mac".into(),
            location_id: lab.id,
        })
        .unwrap_err()
    {
        StoreError::Invalid(ValidationError::BadMac { field, .. }) => assert_eq!(field, "value"),
        e => panic!("{e:?}"),
    }
    let u = s
        .create_assignment(ManualAssignment {
            id: 0,
            by: AssignBy::User,
            value: "alice".into(),
            location_id: lab.id,
        })
        .unwrap();
    assert_eq!(s.list_assignments().unwrap(), vec![a.clone(), u.clone()]);

    // A location in use cannot be deleted.
    let err = s.delete_location(hq.id).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InUse {
                by: "manual assignments",
                ..
            }
        ),
        "{err:?}"
    );
    s.delete_assignment(a.id).unwrap();
    s.delete_location(hq.id).unwrap();
    assert!(matches!(
        s.get_location(hq.id),
        Err(StoreError::NotFound { .. })
    ));

    let snap = s.snapshot().unwrap();
    assert_eq!(snap.locations, vec![lab]);
    assert_eq!(snap.regions, vec![r2, v6]);
    assert_eq!(snap.assignments, vec![u]);
}

#[test]
fn e16_location_history_recorded() {
    let mut s = Store::open_in_memory().unwrap();
    let hq = s
        .create_location(location("HQ", &["+15551230001"]))
        .unwrap();
    let lab = s
        .create_location(location("Lab", &["+15551239999"]))
        .unwrap();
    let cs = s.create_call_server(call_server("A", None)).unwrap();
    let aor = "sip:alice@example.com";
    let ident = "urn:uuid:0001";

    let up = s
        .upsert_device(device(
            cs.id,
            aor,
            ident,
            Some(hq.id),
            Some("+15551230001"),
            1000,
        ))
        .unwrap();
    assert!(up.created && up.location_changed);
    let id = up.device.id;
    // A refresh with the same placement adds nothing.
    let up = s
        .upsert_device(device(
            cs.id,
            aor,
            ident,
            Some(hq.id),
            Some("+15551230001"),
            2000,
        ))
        .unwrap();
    assert!(!up.created && !up.location_changed);
    assert_eq!(up.device.id, id);
    // A move does.
    let up = s
        .upsert_device(device(
            cs.id,
            aor,
            ident,
            Some(lab.id),
            Some("+15551239999"),
            3000,
        ))
        .unwrap();
    assert!(up.location_changed);
    // And so does losing the location.
    s.upsert_device(device(cs.id, aor, ident, None, None, 4000))
        .unwrap();

    let h = s.device_history(id).unwrap();
    assert_eq!(h.len(), 3, "{h:?}");
    assert_eq!(h[0].at, 1000);
    assert_eq!(h[0].location_name.as_deref(), Some("HQ"));
    assert_eq!(h[0].elin, Some(elin("+15551230001")));
    assert_eq!(h[0].located_by, Some(LocatedBy::Region));
    assert_eq!(h[1].location_id, Some(lab.id));
    assert_eq!(h[2].location_id, None);

    // The history outlives the device and continues when it returns.
    assert!(s.remove_device(cs.id, aor, ident).unwrap());
    assert!(!s.remove_device(cs.id, aor, ident).unwrap());
    assert!(matches!(s.get_device(id), Err(StoreError::NotFound { .. })));
    assert_eq!(s.history_of(cs.id, aor, ident).unwrap().len(), 3);
    let back = s
        .upsert_device(device(
            cs.id,
            aor,
            ident,
            Some(hq.id),
            Some("+15551230001"),
            5000,
        ))
        .unwrap();
    assert_eq!(s.device_history(back.device.id).unwrap().len(), 4);

    let csv = s.export_location_history_csv().unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert_eq!(
        lines[1],
        format!(
            "{},{aor},{ident},1970-01-01T00:00:01.000Z,{},HQ,+15551230001,region",
            cs.id, hq.id
        )
    );
}

#[test]
fn devices_listed_by_call_server_and_location() {
    let mut s = Store::open_in_memory().unwrap();
    let hq = s
        .create_location(location("HQ", &["+15551230001"]))
        .unwrap();
    let a = s.create_call_server(call_server("A", None)).unwrap();
    let b = s.create_call_server(call_server("B", None)).unwrap();
    s.upsert_device(device(
        a.id,
        "sip:1@x",
        "c1",
        Some(hq.id),
        Some("+15551230001"),
        1,
    ))
    .unwrap();
    s.upsert_device(device(a.id, "sip:2@x", "c2", None, None, 1))
        .unwrap();
    s.upsert_device(device(
        b.id,
        "sip:3@x",
        "c3",
        Some(hq.id),
        Some("+15551230001"),
        1,
    ))
    .unwrap();
    let q = |cs, loc| DeviceQuery {
        call_server_id: cs,
        location_id: loc,
        ..DeviceQuery::default()
    };
    assert_eq!(s.list_devices(&q(None, None)).unwrap().len(), 3);
    assert_eq!(s.list_devices(&q(Some(a.id), None)).unwrap().len(), 2);
    assert_eq!(s.list_devices(&q(None, Some(hq.id))).unwrap().len(), 2);
    assert_eq!(
        s.list_devices(&q(Some(b.id), Some(hq.id))).unwrap().len(),
        1
    );
    let page = s
        .list_devices(&DeviceQuery {
            limit: Some(1),
            offset: 1,
            ..DeviceQuery::default()
        })
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].aor, "sip:2@x");
    let found = s.find_device(a.id, "sip:1@x", "c1").unwrap().unwrap();
    assert_eq!(found.source_ip, Some("127.0.0.5".parse().unwrap()));
    // A device on an unknown call server is refused.
    assert!(matches!(
        s.upsert_device(device(999, "sip:9@x", "c9", None, None, 1)),
        Err(StoreError::UnknownReference {
            field: "call_server_id",
            ..
        })
    ));
    // Deleting a call server takes its devices along.
    s.delete_call_server(a.id).unwrap();
    assert_eq!(s.list_devices(&q(None, None)).unwrap().len(), 1);
}

#[test]
fn e16_emergency_calls_recorded_and_listed() {
    let mut s = Store::open_in_memory().unwrap();
    let c1 = s.record_emergency_call(call("alice", "HQ", 1000)).unwrap();
    let mut c2 = call("bob", "Lab", 2000);
    c2.alerts = vec!["email to safety@example.com".into()];
    let c2 = s.record_emergency_call(c2).unwrap();
    assert_eq!(s.get_emergency_call(c1.id).unwrap(), c1);
    assert_eq!(
        s.list_emergency_calls(&CallQuery::default()).unwrap(),
        vec![c2.clone(), c1.clone()]
    );
    let since = s
        .list_emergency_calls(&CallQuery {
            since: Some(1500),
            ..CallQuery::default()
        })
        .unwrap();
    assert_eq!(since, vec![c2]);
    assert!(matches!(
        s.get_emergency_call(99),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn e16_csv_export_quotes_fields() {
    let mut s = Store::open_in_memory().unwrap();
    s.record_emergency_call(call(
        "alice",
        "12 Main St, Floor 3, \"Blue\" room\nwest",
        1_700_000_000_123,
    ))
    .unwrap();
    let mut evil = call("=cmd|' /C calc'!A0", "Lab", 1_700_000_001_000);
    evil.caller_aor = "sip:x@example.com".into();
    s.record_emergency_call(evil).unwrap();
    let csv = s.export_emergency_calls_csv().unwrap();
    let mut lines = csv.split("\r\n");
    assert_eq!(
        lines.next().unwrap(),
        "id,received_at,call_server_id,caller_aor,caller_user,device_id,location_id,location,elin,gateway_username,answered_with,alerts"
    );
    assert!(csv.ends_with("\r\n"));
    // Quotes doubled, comma and newline kept inside one quoted field; the
    // ELIN is not mangled.
    assert!(
        csv.contains(
            "1,2023-11-14T22:13:20.123Z,1,sip:alice@example.com,alice,,,\"12 Main St, Floor 3, \"\"Blue\"\" room\nwest\",+15551230001,911,<sip:911@127.0.0.1;transport=udp>,\r\n"
        ),
        "{csv}"
    );
    // A formula is neutralized.
    assert!(csv.contains(",\"'=cmd|' /C calc'!A0\","), "{csv}");
}

#[test]
fn migrations_idempotent_and_data_persists_across_reopen() {
    let dir = tempdir();
    let path = dir.join("sub/dir/e911.sqlite");
    let (loc, cs) = {
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
        let loc = s
            .create_location(location("HQ", &["+15551230001"]))
            .unwrap();
        let cs = s
            .create_call_server(call_server("A", Some(loc.id)))
            .unwrap();
        s.record_emergency_call(call("alice", "HQ", 1)).unwrap();
        (loc, cs)
    };
    for _ in 0..2 {
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
        assert_eq!(s.get_location(loc.id).unwrap(), loc);
        assert_eq!(s.get_call_server(cs.id).unwrap(), cs);
        assert_eq!(
            s.list_emergency_calls(&CallQuery::default()).unwrap().len(),
            1
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn schema_from_a_newer_build_is_refused() {
    let dir = tempdir();
    let path = dir.join("e911.sqlite");
    drop(Store::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
    }
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::SchemaTooNew { found: 999, .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn store_handle_runs_on_its_thread_and_survives_reopen() {
    let dir = tempdir();
    let path = dir.join("e911.sqlite");
    let h = StoreHandle::open(&path).await.unwrap();
    let loc = h
        .call(|s| s.create_location(location("HQ", &["+15551230001"])))
        .await
        .unwrap();
    let name = h
        .call(|_| Ok(std::thread::current().name().map(str::to_owned)))
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("locus-e911-store"));
    // A panicking operation is reported and the store goes on serving.
    let r: Result<(), _> = h.call(|_| panic!("bug in one operation")).await;
    assert!(matches!(r, Err(StoreError::Unavailable)));
    let id = loc.id;
    assert_eq!(h.call(move |s| s.get_location(id)).await.unwrap(), loc);
    h.close().await.unwrap();

    let h = StoreHandle::open(&path).await.unwrap();
    assert_eq!(h.call(move |s| s.get_location(id)).await.unwrap(), loc);
    let h2 = h.clone();
    h.close().await.unwrap();
    assert!(matches!(
        h2.call(|s| s.list_locations()).await,
        Err(StoreError::Unavailable)
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The child half of `committed_data_survives_sigkill`: does nothing unless
/// started by that test.
#[test]
fn crash_child_writer() {
    let Ok(path) = std::env::var("LOCUS_E911_CRASH_DB") else {
        return;
    };
    let mut s = Store::open(&path).unwrap();
    let loc = s
        .create_location(location("HQ", &["+15551230001"]))
        .unwrap();
    s.record_emergency_call(call("alice", "HQ", 42)).unwrap();
    println!("COMMITTED {}", loc.id);
    // Wait to be killed, holding the connection open (no checkpoint, no
    // clean close: the data is only in the WAL).
    std::thread::sleep(std::time::Duration::from_secs(60));
    panic!("was not killed");
}

#[test]
fn committed_data_survives_sigkill() {
    let dir = tempdir();
    let path = dir.join("e911.sqlite");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LOCUS_E911_CRASH_DB", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let id = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
        // The harness prints "test crash_child_writer ... " before it.
        if let Some((_, id)) = line.trim().split_once("COMMITTED ") {
            break id.parse::<i64>().unwrap();
        }
    };
    // `Child::kill` is SIGKILL on Unix.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(path.with_extension("sqlite-wal").exists());

    let s = Store::open(&path).unwrap();
    assert_eq!(s.get_location(id).unwrap().name, "HQ");
    let calls = s.list_emergency_calls(&CallQuery::default()).unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].received_at, 42);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "locus-e911-store-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// E9 at scale: a download's device writes go in one transaction
/// (`Store::batch`); a device the store refuses (unknown location) writes
/// nothing and the others are kept, history included.
#[test]
fn e9_batch_writes_devices_together_and_a_refused_one_alone_is_lost() {
    let mut s = Store::open_in_memory().unwrap();
    let hq = s
        .create_location(location("HQ", &["+15551230001"]))
        .unwrap();
    let cs = s.create_call_server(call_server("A", None)).unwrap();
    let results = s
        .batch(|s| {
            (0..100)
                .map(|i| {
                    let loc = if i == 50 {
                        Some(hq.id + 1000)
                    } else {
                        Some(hq.id)
                    };
                    s.upsert_device(device(
                        cs.id,
                        &format!("sip:u{i}@example.com"),
                        &format!("urn:uuid:{i:04}"),
                        loc,
                        Some("+15551230001"),
                        1000,
                    ))
                    .is_ok()
                })
                .collect::<Vec<_>>()
        })
        .unwrap();
    assert_eq!(results.iter().filter(|ok| !**ok).count(), 1);
    assert!(!results[50]);
    let all = s.list_devices(&DeviceQuery::default()).unwrap();
    assert_eq!(all.len(), 99);
    assert!(all.iter().all(|d| d.aor != "sip:u50@example.com"));
    let h = s
        .history_of(cs.id, "sip:u7@example.com", "urn:uuid:0007")
        .unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].location_id, Some(hq.id));
    // Outside a batch the same write stands alone and is committed.
    s.upsert_device(device(
        cs.id,
        "sip:u50@example.com",
        "urn:uuid:0050",
        Some(hq.id),
        None,
        2000,
    ))
    .unwrap();
    assert_eq!(s.list_devices(&DeviceQuery::default()).unwrap().len(), 100);
}
