//! The HTTP JSON API (E14, E16) over a real socket on 127.0.0.1: the
//! router is served with axum and spoken to with plain HTTP/1.1 over a
//! tokio `TcpStream` (no client library).

use std::net::SocketAddr;

use locus_e911::api::{router, ApiState, Change, RecordKind};
use locus_e911::model::{Device, DeviceState, EmergencyCall, LocatedBy};
use locus_e911::store::{Store, StoreHandle};
use pidf_lo::Elin;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Server {
    addr: SocketAddr,
    state: ApiState,
}

async fn serve() -> Server {
    let store = StoreHandle::spawn(Store::open_in_memory().unwrap()).unwrap();
    let state = ApiState::new(store);
    let app = router(state.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { addr, state }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let r = Reply {
        status: status.parse().unwrap(),
        headers,
        body: body.to_owned(),
    };
    // Every reply here has a known length; a chunked one would need decoding.
    assert!(r.header("transfer-encoding").is_none());
    r
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    http(addr, "GET", path, None).await
}

async fn post(addr: SocketAddr, path: &str, body: &Value) -> Reply {
    http(addr, "POST", path, Some(&body.to_string())).await
}

async fn put(addr: SocketAddr, path: &str, body: &Value) -> Reply {
    http(addr, "PUT", path, Some(&body.to_string())).await
}

fn hq() -> Value {
    json!({
        "name": "HQ floor 3",
        "civic": { "country": "US", "A1": "IL", "A3": "Springfield", "RD": "Main",
                   "STS": "St", "HNO": "12", "FLR": "3", "ROOM": "" },
        "elins": ["+15551230301", "+15551230302"]
    })
}

fn genesys(location_id: i64) -> Value {
    json!({
        "type": "genesys",
        "name": "Genesys A",
        "members": [ { "ip": "127.0.0.1", "transport": "tls" },
                     { "ip": "127.0.0.2", "transport": "tcp", "port": 5080 } ],
        "filters": [ { "field": "ip", "regex": "^10\\.99\\." } ],
        "default_location_id": location_id
    })
}

#[tokio::test]
async fn api_health() {
    let s = serve().await;
    let r = get(s.addr, "/api/v1/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(r.json()["schema_version"], 1);
}

#[tokio::test]
async fn api_create_list_update_delete() {
    let s = serve().await;
    let mut events = s.state.subscribe();

    // Locations.
    let r = post(s.addr, "/api/v1/locations", &hq()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let loc = r.json();
    let loc_id = loc["id"].as_i64().unwrap();
    // Empty civic fields are dropped; names are RFC 5139's.
    assert_eq!(loc["civic"]["FLR"], "3");
    assert!(loc["civic"].get("ROOM").is_none());
    let e = events.recv().await.unwrap();
    assert_eq!(
        (e.kind, e.id, e.change),
        (RecordKind::Location, loc_id, Change::Created)
    );
    assert_eq!(
        get(s.addr, &format!("/api/v1/locations/{loc_id}"))
            .await
            .json(),
        loc
    );

    // Call servers, with the ICD's defaults filled in.
    let r = post(s.addr, "/api/v1/call-servers", &genesys(loc_id)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cs = r.json();
    let cs_id = cs["id"].as_i64().unwrap();
    assert_eq!(cs["username"], "911");
    assert_eq!(cs["enabled"], true);
    assert_eq!(cs["onsite_notification_enabled"], false);
    assert_eq!(cs["subscription_mode"], "server");
    assert_eq!(cs["members"][0]["port"], 5061);
    assert_eq!(cs["members"][1]["port"], 5080);
    let list = get(s.addr, "/api/v1/call-servers").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json(), json!([cs]));

    // Update: a Kamailio subscribed per AOR.
    let mut edited = cs.clone();
    edited["type"] = json!("kamailio");
    edited["subscription_mode"] = json!("per_aor");
    edited["aors"] = json!(["sip:alice@example.com", "sip:bob@example.com"]);
    edited["username"] = json!("9911");
    let r = put(s.addr, &format!("/api/v1/call-servers/{cs_id}"), &edited).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), edited);
    assert_eq!(
        get(s.addr, &format!("/api/v1/call-servers/{cs_id}"))
            .await
            .json(),
        edited
    );

    // Regions and assignments.
    let r = post(
        s.addr,
        "/api/v1/network-regions",
        &json!({ "name": "floor 3", "cidr": "127.0.0.5/24", "location_id": loc_id }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let region_id = r.json()["id"].as_i64().unwrap();
    assert_eq!(r.json()["cidr"], "127.0.0.0/24");
    let r = post(
        s.addr,
        "/api/v1/manual-assignments",
        &json!({ "by": "mac", "value": "00-11-22-AA-BB-CC", "location_id": loc_id }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let asg_id = r.json()["id"].as_i64().unwrap();
    assert_eq!(r.json()["value"], "00:11:22:aa:bb:cc");
    let r = put(
        s.addr,
        &format!("/api/v1/manual-assignments/{asg_id}"),
        &json!({ "by": "user", "value": "alice", "location_id": loc_id }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        get(s.addr, "/api/v1/manual-assignments").await.json()[0]["by"],
        "user"
    );

    // Conflicts: a second location with the same name; deleting one in use.
    let r = post(s.addr, "/api/v1/locations", &hq()).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["field"], "name");
    let r = http(
        s.addr,
        "DELETE",
        &format!("/api/v1/locations/{loc_id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("in use"));

    // Deletes.
    for path in [
        format!("/api/v1/network-regions/{region_id}"),
        format!("/api/v1/manual-assignments/{asg_id}"),
        format!("/api/v1/call-servers/{cs_id}"),
        format!("/api/v1/locations/{loc_id}"),
    ] {
        let r = http(s.addr, "DELETE", &path, None).await;
        assert_eq!(r.status, 204, "{path}: {}", r.body);
        let r = get(s.addr, &path).await;
        assert_eq!(r.status, 404, "{path}");
    }
    assert_eq!(get(s.addr, "/api/v1/locations").await.json(), json!([]));
}

#[tokio::test]
async fn api_validation_error_names_the_field() {
    let s = serve().await;
    let loc_id = post(s.addr, "/api/v1/locations", &hq()).await.json()["id"]
        .as_i64()
        .unwrap();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/api/v1/call-servers",
            json!({ "type": "genesys", "name": "A",
                    "members": [ { "ip": "127.0.0.1" }, { "ip": "127.0.0.2", "port": 0 } ] }),
            "members[1].port",
        ),
        (
            "/api/v1/call-servers",
            json!({ "type": "genesys", "name": "A", "members": [] }),
            "members",
        ),
        (
            "/api/v1/call-servers",
            json!({ "type": "genesys", "name": "A", "members": [ { "ip": "not-an-ip" } ] }),
            "members[0].ip",
        ),
        (
            "/api/v1/call-servers",
            json!({ "type": "avaya", "name": "A", "members": [ { "ip": "127.0.0.1" } ] }),
            "type",
        ),
        (
            "/api/v1/call-servers",
            json!({ "type": "genesys", "name": "A", "members": [ { "ip": "127.0.0.1" } ],
                    "filters": [ { "field": "mac", "regex": "(" } ] }),
            "filters[0].regex",
        ),
        (
            "/api/v1/call-servers",
            json!({ "type": "kamailio", "name": "A", "members": [ { "ip": "127.0.0.1" } ],
                    "subscription_mode": "per_aor" }),
            "aors",
        ),
        (
            "/api/v1/call-servers",
            json!({ "type": "genesys", "name": "A", "members": [ { "ip": "127.0.0.1" } ],
                    "default_location_id": 999 }),
            "default_location_id",
        ),
        (
            "/api/v1/call-servers",
            json!({ "type": "genesys", "name": "A", "members": [ { "ip": "127.0.0.1" } ],
                    "usernme": "911" }),
            "usernme",
        ),
        (
            "/api/v1/locations",
            json!({ "name": "L", "civic": { "country": "US" }, "elins": ["+15551230001", "5551234"] }),
            "elins[1]",
        ),
        (
            "/api/v1/locations",
            json!({ "name": "L", "civic": { "country": "US", "FLOOR": "3" }, "elins": ["+15551230001"] }),
            "civic",
        ),
        (
            "/api/v1/locations",
            json!({ "name": "L", "civic": { "A3": "Springfield" }, "elins": ["+15551230001"] }),
            "civic.country",
        ),
        (
            "/api/v1/locations",
            json!({ "name": "", "civic": { "country": "US" }, "elins": ["+15551230001"] }),
            "name",
        ),
        (
            "/api/v1/network-regions",
            json!({ "cidr": "10.1.0.0/33", "location_id": loc_id }),
            "cidr",
        ),
        (
            "/api/v1/network-regions",
            json!({ "cidr": "10.1.0.0/16", "location_id": 999 }),
            "location_id",
        ),
        (
            "/api/v1/manual-assignments",
            json!({ "by": "mac", "value": "zz:11", "location_id": loc_id }),
            "value",
        ),
    ];
    for (path, body, field) in cases {
        let r = post(s.addr, path, &body).await;
        assert_eq!(r.status, 400, "{path} {body}: {}", r.body);
        let j = r.json();
        assert!(j["error"].as_str().is_some_and(|e| !e.is_empty()), "{j}");
        assert_eq!(j["field"], field, "{path} {body}: {j}");
    }
    // Not JSON at all.
    let r = http(s.addr, "POST", "/api/v1/locations", Some("{oops")).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].is_string());
    assert!(r.json().get("field").is_none());
    // Nothing was created by the refused requests.
    assert_eq!(get(s.addr, "/api/v1/call-servers").await.json(), json!([]));
}

#[tokio::test]
async fn api_unknown_ids_and_paths_are_404() {
    let s = serve().await;
    for path in [
        "/api/v1/call-servers/42",
        "/api/v1/locations/42",
        "/api/v1/network-regions/42",
        "/api/v1/manual-assignments/42",
        "/api/v1/devices/42",
        "/api/v1/emergency-calls/42",
        "/api/v1/no-such-thing",
    ] {
        let r = get(s.addr, path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.json()["error"].is_string(), "{path}");
    }
    let r = put(s.addr, "/api/v1/locations/42", &hq()).await;
    assert_eq!(r.status, 404);
    let r = http(s.addr, "DELETE", "/api/v1/call-servers/42", None).await;
    assert_eq!(r.status, 404);
    let r = get(s.addr, "/api/v1/locations/abc").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["field"], "id");
    let r = get(s.addr, "/api/v1/devices?limit=lots").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["field"], "query");
}

#[tokio::test]
async fn api_devices_emergency_calls_and_csv_export() {
    let s = serve().await;
    let loc_id = post(s.addr, "/api/v1/locations", &hq()).await.json()["id"]
        .as_i64()
        .unwrap();
    let cs_id = post(s.addr, "/api/v1/call-servers", &genesys(loc_id))
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    // The manager's driver writes devices and calls through the store.
    let elin = Elin::parse("+15551230301").unwrap();
    let dev = Device {
        id: 0,
        call_server_id: cs_id,
        aor: "sip:alice@example.com".into(),
        ident: "urn:uuid:00000000-0000-1000-8000-000000000001".into(),
        user: "alice".into(),
        contact: "sip:alice@127.0.0.5:5060".into(),
        source_ip: Some("127.0.0.5".parse().unwrap()),
        mac: None,
        state: DeviceState::Located,
        location_id: Some(loc_id),
        elin: Some(elin.clone()),
        located_by: Some(LocatedBy::Default),
        updated_at: 1_700_000_000_000,
    };
    let dev_id = s
        .state
        .store()
        .call(move |st| st.upsert_device(dev))
        .await
        .unwrap()
        .device
        .id;
    let call = EmergencyCall {
        id: 0,
        call_server_id: Some(cs_id),
        caller_aor: "sip:alice@example.com".into(),
        caller_user: "alice".into(),
        device_id: Some(dev_id),
        location_id: Some(loc_id),
        location_text: "12 Main St, Floor 3, Springfield, IL, US".into(),
        elin: Some(elin),
        gateway_username: "911".into(),
        received_at: 1_700_000_100_000,
        answered_with: Some("<sip:911@127.0.0.1>".into()),
        alerts: vec![],
    };
    let call_id = s
        .state
        .store()
        .call(move |st| st.record_emergency_call(call))
        .await
        .unwrap()
        .id;

    let r = get(s.addr, &format!("/api/v1/devices?call_server_id={cs_id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(r.json()[0]["elin"], "+15551230301");
    assert_eq!(r.json()[0]["located_by"], "default");
    let r = get(
        s.addr,
        &format!("/api/v1/devices?location_id={}", loc_id + 1),
    )
    .await;
    assert_eq!(r.json(), json!([]));
    let r = get(s.addr, &format!("/api/v1/devices/{dev_id}")).await;
    assert_eq!(r.status, 200);
    let d = r.json();
    assert_eq!(d["aor"], "sip:alice@example.com");
    assert_eq!(d["history"].as_array().unwrap().len(), 1);
    assert_eq!(d["history"][0]["location_name"], "HQ floor 3");

    let r = get(s.addr, "/api/v1/emergency-calls").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()[0]["id"], call_id);
    assert_eq!(
        get(s.addr, "/api/v1/emergency-calls?since=1700000100001")
            .await
            .json(),
        json!([])
    );
    let r = get(s.addr, &format!("/api/v1/emergency-calls/{call_id}")).await;
    assert_eq!(
        r.json()["location_text"],
        "12 Main St, Floor 3, Springfield, IL, US"
    );

    let r = get(s.addr, "/api/v1/emergency-calls.csv").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(r
        .header("content-disposition")
        .unwrap()
        .contains("emergency-calls.csv"));
    let lines: Vec<&str> = r.body.split("\r\n").collect();
    assert!(lines[0].starts_with("id,received_at,"));
    assert_eq!(
        lines[1],
        format!(
            "{call_id},2023-11-14T22:15:00.000Z,{cs_id},sip:alice@example.com,alice,{dev_id},{loc_id},\
             \"12 Main St, Floor 3, Springfield, IL, US\",+15551230301,911,<sip:911@127.0.0.1>,"
        )
    );
    let r = get(s.addr, "/api/v1/device-history.csv").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.split("\r\n").filter(|l| !l.is_empty()).count(), 2);
}
