//! The manager's HTTP JSON API (E14, E16), under `/api/v1`.
//!
//! | method and path | what |
//! |---|---|
//! | `GET /api/v1/health` | `{"status":"ok","schema_version":N}`; 503 when the store is down |
//! | `GET, POST /api/v1/call-servers` | list, create ([`CallServer`]) |
//! | `GET, PUT, DELETE /api/v1/call-servers/{id}` | read, replace, delete |
//! | same for `/locations`, `/network-regions`, `/manual-assignments` | [`Location`], [`NetworkRegion`], [`ManualAssignment`] |
//! | `GET /api/v1/devices?call_server_id=&location_id=&limit=&offset=` | tracked devices |
//! | `GET /api/v1/devices/{id}` | one device with its location `history` |
//! | `GET /api/v1/emergency-calls?since=&until=&limit=` | calls, newest first (times in Unix ms) |
//! | `GET /api/v1/emergency-calls/{id}` | one call |
//! | `GET /api/v1/emergency-calls.csv` | every call as CSV (E16) |
//! | `GET /api/v1/device-history.csv` | every device location change as CSV (E16) |
//!
//! Bodies are JSON. Errors are `{"error": "...", "field": "..."}` (`field`
//! only when one is at fault, as a JSON path like `members[0].port`): 400
//! for invalid input, 404 for an unknown id or path, 409 for a duplicate
//! name or a record still in use, 503 when the store is not running, 500
//! otherwise.
//!
//! Every successful change is announced on a broadcast channel
//! ([`ApiState::subscribe`]) so the manager's driver can relocate devices
//! and resubscribe, and a later web UI can refresh live. The web UI and
//! the alerts (E13) sit beside this router: merge their routes into the
//! same `Router`, sharing the [`ApiState`].

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::model::{
    CallServer, Device, EmergencyCall, Id, Location, LocationChange, ManualAssignment,
    NetworkRegion, UnixMillis,
};
use crate::store::{CallQuery, DeviceQuery, Store, StoreError, StoreHandle};

/// The API's shared state: the store and the change announcements.
#[derive(Debug, Clone)]
pub struct ApiState {
    store: StoreHandle,
    events: broadcast::Sender<ConfigEvent>,
}

/// How many unread announcements a slow listener may fall behind before
/// it gets `RecvError::Lagged` (and should then reload everything).
const EVENT_CAPACITY: usize = 256;

impl ApiState {
    /// State over `store`.
    pub fn new(store: StoreHandle) -> Self {
        ApiState {
            store,
            events: broadcast::channel(EVENT_CAPACITY).0,
        }
    }

    /// The store.
    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    /// Announcements of every configuration change made through the API.
    pub fn subscribe(&self) -> broadcast::Receiver<ConfigEvent> {
        self.events.subscribe()
    }

    fn announce(&self, kind: RecordKind, id: Id, change: Change) {
        // No listener is fine: nothing to tell.
        let _ = self.events.send(ConfigEvent { kind, id, change });
    }
}

/// A configuration change made through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConfigEvent {
    /// What kind of record.
    pub kind: RecordKind,
    /// Its id.
    pub id: Id,
    /// What happened.
    pub change: Change,
}

/// The configuration record kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A call server.
    CallServer,
    /// A location.
    Location,
    /// A network region.
    NetworkRegion,
    /// A manual assignment.
    ManualAssignment,
}

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Created.
    Created,
    /// Replaced.
    Updated,
    /// Deleted.
    Deleted,
}

/// The `/api/v1` routes over `state`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route(
            "/api/v1/call-servers",
            get(list::<CallServer>).post(create::<CallServer>),
        )
        .route(
            "/api/v1/call-servers/{id}",
            get(read::<CallServer>)
                .put(update::<CallServer>)
                .delete(delete::<CallServer>),
        )
        .route(
            "/api/v1/locations",
            get(list::<Location>).post(create::<Location>),
        )
        .route(
            "/api/v1/locations/{id}",
            get(read::<Location>)
                .put(update::<Location>)
                .delete(delete::<Location>),
        )
        .route(
            "/api/v1/network-regions",
            get(list::<NetworkRegion>).post(create::<NetworkRegion>),
        )
        .route(
            "/api/v1/network-regions/{id}",
            get(read::<NetworkRegion>)
                .put(update::<NetworkRegion>)
                .delete(delete::<NetworkRegion>),
        )
        .route(
            "/api/v1/manual-assignments",
            get(list::<ManualAssignment>).post(create::<ManualAssignment>),
        )
        .route(
            "/api/v1/manual-assignments/{id}",
            get(read::<ManualAssignment>)
                .put(update::<ManualAssignment>)
                .delete(delete::<ManualAssignment>),
        )
        .route("/api/v1/devices", get(list_devices))
        .route("/api/v1/devices/{id}", get(get_device))
        .route("/api/v1/emergency-calls", get(list_calls))
        .route("/api/v1/emergency-calls.csv", get(calls_csv))
        .route("/api/v1/emergency-calls/{id}", get(get_call))
        .route("/api/v1/device-history.csv", get(history_csv))
        .fallback(not_found)
        .with_state(state)
}

/// Why a request failed, as the API answers it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The body is not JSON of the expected shape.
    #[error("{message}")]
    BadBody {
        /// The JSON path at fault, when known.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A path or query parameter is malformed.
    #[error("{message}")]
    BadParam {
        /// The parameter.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No such route.
    #[error("no such API path")]
    NoRoute,
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// The HTTP status and the field at fault.
    pub fn status_and_field(&self) -> (StatusCode, Option<&str>) {
        match self {
            ApiError::BadBody { field, .. } => (StatusCode::BAD_REQUEST, field.as_deref()),
            ApiError::BadParam { field, .. } => (StatusCode::BAD_REQUEST, Some(field)),
            ApiError::NoRoute => (StatusCode::NOT_FOUND, None),
            ApiError::Store(e) => match e {
                StoreError::Invalid(v) => (StatusCode::BAD_REQUEST, Some(v.field())),
                StoreError::UnknownReference { field, .. } => {
                    (StatusCode::BAD_REQUEST, Some(*field))
                }
                StoreError::NotFound { .. } => (StatusCode::NOT_FOUND, None),
                StoreError::Duplicate { field, .. } => (StatusCode::CONFLICT, Some(*field)),
                StoreError::InUse { .. } => (StatusCode::CONFLICT, None),
                StoreError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, None),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, None),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, field) = self.status_and_field();
        let error = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The details (SQLite messages, file paths) stay in the log.
            tracing::error!(error = %self, "E911 API request failed");
            "internal error; see the manager's log".to_owned()
        } else {
            self.to_string()
        };
        (status, Json(ErrorBody { error, field })).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Reads a JSON body, naming the failing field by its JSON path.
fn parse_body<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let v = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        ApiError::BadBody {
            // serde_path_to_error writes "." for the root and "?" when a
            // syntax error left no path: no field to name then.
            field: (path != "." && path != "?").then_some(path),
            message: e.inner().to_string(),
        }
    })?;
    Ok(v)
}

fn parse_id(raw: &str) -> ApiResult<Id> {
    raw.parse::<Id>().map_err(|_| ApiError::BadParam {
        field: "id".into(),
        message: format!("id {raw:?} is not a number"),
    })
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(v)| v).map_err(|e| ApiError::BadParam {
        field: "query".into(),
        message: e.body_text(),
    })
}

/// A configuration record kind the generic CRUD handlers serve.
trait Record: Serialize + DeserializeOwned + Send + 'static {
    const KIND: RecordKind;
    fn list(s: &Store) -> Result<Vec<Self>, StoreError>;
    fn get(s: &Store, id: Id) -> Result<Self, StoreError>;
    fn create(s: &mut Store, v: Self) -> Result<Self, StoreError>;
    fn update(s: &mut Store, id: Id, v: Self) -> Result<Self, StoreError>;
    fn delete(s: &mut Store, id: Id) -> Result<(), StoreError>;
    fn id(&self) -> Id;
}

macro_rules! record {
    ($t:ty, $kind:ident, $list:ident, $get:ident, $create:ident, $update:ident, $delete:ident) => {
        impl Record for $t {
            const KIND: RecordKind = RecordKind::$kind;
            fn list(s: &Store) -> Result<Vec<Self>, StoreError> {
                s.$list()
            }
            fn get(s: &Store, id: Id) -> Result<Self, StoreError> {
                s.$get(id)
            }
            fn create(s: &mut Store, v: Self) -> Result<Self, StoreError> {
                s.$create(v)
            }
            fn update(s: &mut Store, id: Id, v: Self) -> Result<Self, StoreError> {
                s.$update(id, v)
            }
            fn delete(s: &mut Store, id: Id) -> Result<(), StoreError> {
                s.$delete(id)
            }
            fn id(&self) -> Id {
                self.id
            }
        }
    };
}

record!(
    CallServer,
    CallServer,
    list_call_servers,
    get_call_server,
    create_call_server,
    update_call_server,
    delete_call_server
);
record!(
    Location,
    Location,
    list_locations,
    get_location,
    create_location,
    update_location,
    delete_location
);
record!(
    NetworkRegion,
    NetworkRegion,
    list_regions,
    get_region,
    create_region,
    update_region,
    delete_region
);
record!(
    ManualAssignment,
    ManualAssignment,
    list_assignments,
    get_assignment,
    create_assignment,
    update_assignment,
    delete_assignment
);

async fn list<T: Record>(State(st): State<ApiState>) -> ApiResult<Json<Vec<T>>> {
    Ok(Json(st.store.call(|s| T::list(s)).await?))
}

async fn read<T: Record>(State(st): State<ApiState>, Path(id): Path<String>) -> ApiResult<Json<T>> {
    let id = parse_id(&id)?;
    Ok(Json(st.store.call(move |s| T::get(s, id)).await?))
}

async fn create<T: Record>(State(st): State<ApiState>, body: Bytes) -> ApiResult<Response> {
    let v: T = parse_body(&body)?;
    let v = st.store.call(move |s| T::create(s, v)).await?;
    st.announce(T::KIND, v.id(), Change::Created);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn update<T: Record>(
    State(st): State<ApiState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<T>> {
    let id = parse_id(&id)?;
    let v: T = parse_body(&body)?;
    let v = st.store.call(move |s| T::update(s, id, v)).await?;
    st.announce(T::KIND, id, Change::Updated);
    Ok(Json(v))
}

async fn delete<T: Record>(
    State(st): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    st.store.call(move |s| T::delete(s, id)).await?;
    st.announce(T::KIND, id, Change::Deleted);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    schema_version: u32,
}

async fn health(State(st): State<ApiState>) -> ApiResult<Json<Health>> {
    let schema_version = st.store.call(|s| s.schema_version()).await?;
    Ok(Json(Health {
        status: "ok",
        schema_version,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceParams {
    call_server_id: Option<Id>,
    location_id: Option<Id>,
    limit: Option<u32>,
    #[serde(default)]
    offset: u32,
}

async fn list_devices(
    State(st): State<ApiState>,
    q: Result<Query<DeviceParams>, QueryRejection>,
) -> ApiResult<Json<Vec<Device>>> {
    let p = query(q)?;
    let q = DeviceQuery {
        call_server_id: p.call_server_id,
        location_id: p.location_id,
        limit: p.limit,
        offset: p.offset,
    };
    Ok(Json(st.store.call(move |s| s.list_devices(&q)).await?))
}

/// A device with its location history, as `GET /devices/{id}` answers.
#[derive(Debug, Serialize)]
pub struct DeviceDetail {
    /// The device.
    #[serde(flatten)]
    pub device: Device,
    /// Its location changes, oldest first.
    pub history: Vec<LocationChange>,
}

async fn get_device(
    State(st): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeviceDetail>> {
    let id = parse_id(&id)?;
    let d = st
        .store
        .call(move |s| {
            let device = s.get_device(id)?;
            let history = s.history_of(device.call_server_id, &device.aor, &device.ident)?;
            Ok(DeviceDetail { device, history })
        })
        .await?;
    Ok(Json(d))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallParams {
    since: Option<UnixMillis>,
    until: Option<UnixMillis>,
    limit: Option<u32>,
}

async fn list_calls(
    State(st): State<ApiState>,
    q: Result<Query<CallParams>, QueryRejection>,
) -> ApiResult<Json<Vec<EmergencyCall>>> {
    let p = query(q)?;
    let q = CallQuery {
        since: p.since,
        until: p.until,
        limit: p.limit,
    };
    Ok(Json(
        st.store.call(move |s| s.list_emergency_calls(&q)).await?,
    ))
}

async fn get_call(
    State(st): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<EmergencyCall>> {
    let id = parse_id(&id)?;
    Ok(Json(
        st.store.call(move |s| s.get_emergency_call(id)).await?,
    ))
}

fn csv_response(body: String, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

async fn calls_csv(State(st): State<ApiState>) -> ApiResult<Response> {
    let csv = st.store.call(|s| s.export_emergency_calls_csv()).await?;
    Ok(csv_response(csv, "emergency-calls.csv"))
}

async fn history_csv(State(st): State<ApiState>) -> ApiResult<Response> {
    let csv = st.store.call(|s| s.export_location_history_csv()).await?;
    Ok(csv_response(csv, "device-history.csv"))
}

async fn not_found() -> ApiError {
    ApiError::NoRoute
}
