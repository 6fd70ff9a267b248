//! The location engine (E10), filtering criteria (E14) and ELIN pools
//! (E12), each test named after the rule it proves.

use std::time::{Duration, Instant};

use locus_e911::location::{DeviceFacts, ElinPool, ElinPools, Filters, LocationEngine};
use locus_e911::model::{
    AssignBy, CallServer, CallServerType, Device, DeviceState, Filter, FilterField, LocatedBy,
    Location, ManualAssignment, Member, NetworkRegion, SubscriptionMode, Transport,
    ValidationError,
};
use pidf_lo::{CivicAddress, Elin};

fn elin(s: &str) -> Elin {
    Elin::parse(s).unwrap()
}

fn location(id: i64, name: &str, elins: &[&str]) -> Location {
    Location {
        id,
        name: name.into(),
        civic: CivicAddress {
            country: Some("US".into()),
            flr: Some(name.into()),
            ..CivicAddress::default()
        },
        elins: elins.iter().map(|e| elin(e)).collect(),
    }
}

fn region(id: i64, cidr: &str, location_id: i64) -> NetworkRegion {
    NetworkRegion {
        id,
        name: cidr.into(),
        cidr: cidr.parse().unwrap(),
        location_id,
    }
}

fn assign(id: i64, by: AssignBy, value: &str, location_id: i64) -> ManualAssignment {
    ManualAssignment {
        id,
        by,
        value: value.into(),
        location_id,
    }
}

fn server(default_location_id: Option<i64>, filters: Vec<Filter>) -> CallServer {
    CallServer {
        id: 1,
        kind: CallServerType::Kamailio,
        name: "kam".into(),
        enabled: true,
        onsite_notification_enabled: false,
        members: vec![Member {
            ip: "127.0.0.1".parse().unwrap(),
            transport: Transport::Udp,
            port: 5060,
        }],
        username: "911".into(),
        filters,
        subscription_mode: SubscriptionMode::Server,
        aors: vec![],
        default_location_id,
    }
}

fn facts<'a>(user: &'a str, aor: &'a str, mac: Option<&'a str>, ip: &str) -> DeviceFacts<'a> {
    DeviceFacts {
        aor,
        user,
        mac,
        source_ip: Some(ip.parse().unwrap()),
    }
}

/// HQ (1) holds 10.0.0.0/8, floor 3 (2) holds 10.1.3.0/24, the lab (3)
/// holds 10.1.0.0/16, the lobby (4) is the default.
fn engine(assignments: Vec<ManualAssignment>) -> LocationEngine {
    LocationEngine::new(
        vec![
            location(1, "HQ", &["+15551230001"]),
            location(2, "HQ floor 3", &["+15551230301", "+15551230302"]),
            location(3, "Lab", &["+15551239999"]),
            location(4, "Lobby", &["+15551230000"]),
        ],
        vec![
            region(10, "10.0.0.0/8", 1),
            region(11, "10.1.3.0/24", 2),
            region(12, "10.1.0.0/16", 3),
            region(13, "2001:db8:3::/48", 2),
        ],
        assignments,
    )
}

#[test]
fn e10_manual_assignment_wins() {
    let e = engine(vec![
        assign(1, AssignBy::Mac, "00:11:22:AA:BB:CC", 3),
        assign(2, AssignBy::User, "alice", 4),
        assign(3, AssignBy::User, "sip:carol@example.com", 1),
    ]);
    let s = server(Some(4), vec![]);
    // By MAC, in any notation, over the region of its address.
    let p = e
        .locate(
            &s,
            &facts("bob", "sip:bob@x", Some("0011.22aa.bbcc"), "10.1.3.7"),
        )
        .unwrap();
    assert_eq!((p.location_id, p.located_by), (3, LocatedBy::Manual));
    assert_eq!(p.elin, Some(elin("+15551239999")));
    // MAC before user.
    let p = e
        .locate(
            &s,
            &facts(
                "alice",
                "sip:alice@x",
                Some("00:11:22:aa:bb:cc"),
                "10.1.3.7",
            ),
        )
        .unwrap();
    assert_eq!(p.location_id, 3);
    // By user, then by whole AOR.
    let p = e
        .locate(&s, &facts("alice", "sip:alice@x", None, "10.1.3.7"))
        .unwrap();
    assert_eq!((p.location_id, p.located_by), (4, LocatedBy::Manual));
    let p = e
        .locate(
            &s,
            &facts("carol", "sip:carol@example.com", None, "10.1.3.7"),
        )
        .unwrap();
    assert_eq!((p.location_id, p.located_by), (1, LocatedBy::Manual));
}

#[test]
fn e10_region_longest_prefix() {
    let e = engine(vec![]);
    let s = server(None, vec![]);
    let at = |ip: &str| {
        e.locate(&s, &facts("u", "sip:u@x", None, ip))
            .map(|p| (p.location_id, p.located_by, p.elin))
    };
    assert_eq!(
        at("10.1.3.9"),
        Some((2, LocatedBy::Region, Some(elin("+15551230301"))))
    );
    assert_eq!(at("10.1.4.9").map(|p| p.0), Some(3));
    assert_eq!(at("10.200.0.1").map(|p| p.0), Some(1));
    assert_eq!(at("2001:db8:3:1::5").map(|p| p.0), Some(2));
    // An IPv4 peer seen through a dual-stack socket.
    assert_eq!(at("::ffff:10.1.3.9").map(|p| p.0), Some(2));
    assert_eq!(at("192.0.2.1"), None);
}

#[test]
fn e10_default_location_last() {
    let e = engine(vec![assign(1, AssignBy::User, "alice", 3)]);
    let s = server(Some(4), vec![]);
    let p = e
        .locate(&s, &facts("bob", "sip:bob@x", None, "192.0.2.1"))
        .unwrap();
    assert_eq!((p.location_id, p.located_by), (4, LocatedBy::Default));
    assert_eq!(p.elin, Some(elin("+15551230000")));
    // No source address: only manual and default rules can place it.
    let none_ip = DeviceFacts {
        aor: "sip:bob@x",
        user: "bob",
        mac: None,
        source_ip: None,
    };
    assert_eq!(e.locate(&s, &none_ip).unwrap().location_id, 4);
    // `place` writes the answer into a device record.
    let mut d = Device {
        id: 0,
        call_server_id: 1,
        aor: "sip:bob@x".into(),
        ident: "c1".into(),
        user: "bob".into(),
        contact: "sip:bob@10.1.3.9".into(),
        source_ip: Some("10.1.3.9".parse().unwrap()),
        mac: None,
        state: DeviceState::Unlocated,
        location_id: None,
        elin: None,
        located_by: None,
        updated_at: 0,
    };
    e.place(&s, &mut d).unwrap();
    assert_eq!(
        (d.state, d.location_id, d.located_by),
        (DeviceState::Located, Some(2), Some(LocatedBy::Region))
    );
    assert_eq!(d.elin, Some(elin("+15551230301")));
    d.source_ip = Some("192.0.2.1".parse().unwrap());
    assert!(e.place(&server(None, vec![]), &mut d).is_none());
    assert_eq!(
        (d.state, d.location_id, d.elin.clone()),
        (DeviceState::Unlocated, None, None)
    );
    // Without a default location an unmatched device is unplaced.
    assert_eq!(
        e.locate(
            &server(None, vec![]),
            &facts("bob", "sip:bob@x", None, "192.0.2.1")
        ),
        None
    );
    // A default that names an unknown location places nothing.
    assert_eq!(
        e.locate(
            &server(Some(99), vec![]),
            &facts("bob", "sip:bob@x", None, "192.0.2.1")
        ),
        None
    );
}

#[test]
fn e14_filter_excludes_matching_devices() {
    let f = Filters::compile(&[
        Filter {
            field: FilterField::Ip,
            regex: r"^10\.99\.".into(),
        },
        Filter {
            field: FilterField::Username,
            regex: "^(test|lab)-".into(),
        },
        Filter {
            field: FilterField::Mac,
            regex: "^00:04:f2:".into(),
        },
    ])
    .unwrap();
    assert!(f.excludes(&facts("alice", "sip:alice@x", None, "10.99.0.5")));
    assert!(f.excludes(&facts("test-7", "sip:test-7@x", None, "10.1.0.5")));
    // MACs are matched in their canonical form, whatever form they came in.
    assert!(f.excludes(&facts(
        "bob",
        "sip:bob@x",
        Some("00-04-F2-11-22-33"),
        "10.1.0.5"
    )));
    assert!(!f.excludes(&facts(
        "bob",
        "sip:bob@x",
        Some("00:11:22:33:44:55"),
        "10.1.0.5"
    )));
    // A MAC filter does not match a device without a MAC.
    assert!(!f.excludes(&facts("bob", "sip:bob@x", None, "10.1.0.5")));
    assert!(Filters::compile(&[]).unwrap().is_empty());

    // Bad or oversized patterns are refused, naming the entry.
    let bad = Filters::compile(&[
        Filter {
            field: FilterField::Ip,
            regex: "ok".into(),
        },
        Filter {
            field: FilterField::Ip,
            regex: "(unclosed".into(),
        },
    ])
    .unwrap_err();
    assert!(
        matches!(&bad, ValidationError::InvalidRegex { field, .. } if field == "filters[1].regex")
    );
    let huge = Filters::compile(&[Filter {
        field: FilterField::Username,
        regex: r"\w{1000}\w{1000}".into(),
    }])
    .unwrap_err();
    assert_eq!(huge.field(), "filters[0].regex");
    // The call server's validation refuses the same.
    let s = server(
        None,
        vec![Filter {
            field: FilterField::Mac,
            regex: "[".into(),
        }],
    );
    assert_eq!(s.validate().unwrap_err().field(), "filters[0].regex");
}

#[test]
fn e12_elin_pool_least_recently_used_gives_concurrent_callers_different_elins() {
    let t0 = Instant::now();
    let mut pool = ElinPool::new(vec![
        elin("+15551230301"),
        elin("+15551230302"),
        elin("+15551230303"),
    ]);
    assert_eq!(pool.primary(), Some(&elin("+15551230301")));
    // Three callers at the same instant get three ELINs, in pool order.
    let got: Vec<Elin> = (0..3).map(|_| pool.assign(t0).unwrap().clone()).collect();
    assert_eq!(
        got,
        vec![
            elin("+15551230301"),
            elin("+15551230302"),
            elin("+15551230303")
        ]
    );
    // The fourth gets the least recently used: the first.
    let t1 = t0 + Duration::from_secs(60);
    assert_eq!(pool.assign(t1), Some(&elin("+15551230301")));
    assert_eq!(pool.last_used(&elin("+15551230301")), Some(t1));
    assert_eq!(pool.assign(t1), Some(&elin("+15551230302")));

    // Deterministic: the same call order gives the same answers.
    let mut again = ElinPool::new(pool.elins().to_vec());
    let replay: Vec<Elin> = (0..5).map(|_| again.assign(t0).unwrap().clone()).collect();
    assert_eq!(
        replay,
        vec![
            elin("+15551230301"),
            elin("+15551230302"),
            elin("+15551230303"),
            elin("+15551230301"),
            elin("+15551230302"),
        ]
    );

    // An edit keeps the usage of the ELINs still there: the one used last
    // is not handed out again first.
    pool.set_elins(vec![elin("+15551230302"), elin("+15551230304")]);
    assert_eq!(pool.assign(t1), Some(&elin("+15551230304")));
    assert_eq!(pool.assign(t1), Some(&elin("+15551230302")));

    // An empty pool hands out nothing.
    assert_eq!(ElinPool::new(vec![]).assign(t0), None);
}

#[test]
fn e12_elin_pools_follow_location_edits() {
    let t0 = Instant::now();
    let mut pools = ElinPools::new();
    let mut floor3 = location(2, "HQ floor 3", &["+15551230301", "+15551230302"]);
    pools.sync([&location(1, "HQ", &["+15551230001"]), &floor3]);
    assert_eq!(pools.assign(2, t0), Some(elin("+15551230301")));
    floor3.elins.push(elin("+15551230303"));
    pools.sync([&floor3]);
    assert!(pools.get(1).is_none());
    assert_eq!(pools.assign(2, t0), Some(elin("+15551230302")));
    assert_eq!(pools.assign(2, t0), Some(elin("+15551230303")));
    assert_eq!(pools.assign(2, t0), Some(elin("+15551230301")));
    assert_eq!(pools.assign(7, t0), None);
}
