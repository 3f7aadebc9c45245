//! A partner's patient API, in memory: what ClinicGate's outbound patient sync talks to in tests
//! and demos (`clinicgate partner-stub --port N`). It implements the contract of
//! `docs/partner-sync.md` from that document, not from ClinicGate's code:
//!
//! - `POST /patients` `{cliniko_id, first_name, last_name, date_of_birth, sex, email, phone}` →
//!   201 `{id}`, or 409 `{id}` with `Location` when it already holds that `cliniko_id`; a request
//!   repeating an `Idempotency-Key` it answered gets the same answer;
//! - `PATCH /patients/{id}` → 200 with the changed patient, 404 for an unknown id;
//! - `GET /patients` → `{"patients": [...]}`, so a person can see what it holds.
//!
//! Every call needs `Authorization: Bearer {token}` (401 otherwise). `fail_next` makes the next
//! calls answer a given status, for tests of a partner that is failing.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// A patient the stub holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubPatient {
    /// The stub's own id for it.
    pub id: String,
    /// The fields last received (`cliniko_id`, names, …).
    pub fields: Value,
}

/// A call the stub received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubCall {
    /// `POST`, `PATCH` or `GET`.
    pub method: String,
    /// The path, e.g. `/patients/p-1`.
    pub path: String,
    /// The `Idempotency-Key` it carried.
    pub idempotency_key: Option<String>,
    /// What the stub answered.
    pub status: u16,
}

#[derive(Debug, Default)]
struct Holdings {
    patients: Vec<StubPatient>,
    calls: Vec<StubCall>,
    /// Answers to creates by idempotency key: (status, id).
    replies: HashMap<String, (u16, String)>,
    /// Statuses the next calls answer instead of doing anything.
    faults: Vec<u16>,
    next_id: u64,
}

#[derive(Debug)]
struct StubState {
    token: String,
    holdings: Mutex<Holdings>,
}

impl StubState {
    fn holdings(&self) -> std::sync::MutexGuard<'_, Holdings> {
        self.holdings.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running partner stub.
#[derive(Debug)]
pub struct PartnerStub {
    address: SocketAddr,
    handle: ServerHandle,
    state: Arc<StubState>,
}

impl PartnerStub {
    /// Builds the stub's server on `listener`, accepting `token` as the bearer token; the caller
    /// runs (awaits or spawns) the returned [`Server`]. `signals` makes it stop on
    /// SIGINT/SIGTERM (for the command line).
    ///
    /// # Errors
    /// When the listener cannot be used.
    pub fn bind(
        listener: TcpListener,
        token: &str,
        signals: bool,
    ) -> std::io::Result<(Self, Server)> {
        let address = listener.local_addr()?;
        let state = Arc::new(StubState {
            token: token.to_owned(),
            holdings: Mutex::new(Holdings::default()),
        });
        let shared = Arc::clone(&state);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(Arc::clone(&shared)))
                .app_data(web::PayloadConfig::new(64 * 1024))
                .route("/patients", web::post().to(create))
                .route("/patients", web::get().to(list))
                .route("/patients/{id}", web::patch().to(update))
        })
        .listen(listener)?
        .workers(1)
        .shutdown_timeout(1);
        if !signals {
            server = server.disable_signals();
        }
        let server = server.run();
        let stub = Self {
            address,
            handle: server.handle(),
            state,
        };
        Ok((stub, server))
    }

    /// Starts the stub on `listener` in the current Tokio runtime (for tests).
    ///
    /// # Errors
    /// When the listener cannot be used.
    pub fn start(listener: TcpListener, token: &str) -> std::io::Result<Self> {
        let (stub, server) = Self::bind(listener, token, false)?;
        tokio::spawn(server);
        Ok(stub)
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL to configure patient sync with.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The patients it holds, in the order they were created.
    pub fn patients(&self) -> Vec<StubPatient> {
        self.state.holdings().patients.clone()
    }

    /// The calls it received, in order (unauthenticated ones included).
    pub fn calls(&self) -> Vec<StubCall> {
        self.state.holdings().calls.clone()
    }

    /// Holds a patient already (as if the partner had it before ClinicGate sent it); its id.
    pub fn hold(&self, fields: Value) -> String {
        let mut holdings = self.state.holdings();
        let id = new_id(&mut holdings);
        holdings.patients.push(StubPatient {
            id: id.clone(),
            fields,
        });
        id
    }

    /// Makes the next `count` calls answer `status` without doing anything.
    pub fn fail_next(&self, status: u16, count: usize) {
        self.state
            .holdings()
            .faults
            .extend(std::iter::repeat_n(status, count));
    }

    /// Stops the server.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

fn new_id(holdings: &mut Holdings) -> String {
    holdings.next_id += 1;
    format!("p-{}", holdings.next_id)
}

fn answer(status: u16, body: &Value) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .json(body)
}

/// Checks the token and a pending fault, notes the call, and runs `handle` when both allow it.
fn serve(
    req: &HttpRequest,
    state: &StubState,
    handle: impl FnOnce(&mut Holdings) -> (u16, Value, Option<String>),
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorised = header("authorization").as_deref() == Some(&format!("Bearer {}", state.token));
    let mut holdings = state.holdings();
    let (status, body, location) = if !authorised {
        (
            401,
            json!({"error": "a valid bearer token is required"}),
            None,
        )
    } else if !holdings.faults.is_empty() {
        let status = holdings.faults.remove(0);
        (status, json!({"error": "injected fault"}), None)
    } else {
        handle(&mut holdings)
    };
    holdings.calls.push(StubCall {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        idempotency_key: header("idempotency-key"),
        status,
    });
    let mut response = answer(status, &body);
    if let Some(location) = location
        && let Ok(value) = actix_web::http::header::HeaderValue::from_str(&location)
    {
        response
            .headers_mut()
            .insert(actix_web::http::header::LOCATION, value);
    }
    response
}

async fn create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<StubState>>,
) -> HttpResponse {
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    serve(&req, &state, |holdings| {
        if let Some((status, id)) = key.as_ref().and_then(|k| holdings.replies.get(k)) {
            return (*status, json!({"id": id}), None);
        }
        let fields: Value = match serde_json::from_slice(&body) {
            Ok(fields @ Value::Object(_)) => fields,
            _ => return (400, json!({"error": "send a JSON object"}), None),
        };
        let Some(cliniko_id) = fields["cliniko_id"].as_str().map(str::to_owned) else {
            return (422, json!({"error": "cliniko_id is required"}), None);
        };
        let held = holdings
            .patients
            .iter()
            .find(|p| p.fields["cliniko_id"] == cliniko_id.as_str())
            .map(|p| p.id.clone());
        let (status, id) = match held {
            Some(id) => (409, id),
            None => {
                let id = new_id(holdings);
                holdings.patients.push(StubPatient {
                    id: id.clone(),
                    fields,
                });
                (201, id)
            }
        };
        if let Some(key) = &key {
            holdings.replies.insert(key.clone(), (status, id.clone()));
        }
        (status, json!({"id": id}), Some(format!("/patients/{id}")))
    })
}

async fn update(
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<Arc<StubState>>,
) -> HttpResponse {
    serve(&req, &state, |holdings| {
        let Ok(Value::Object(changes)) = serde_json::from_slice::<Value>(&body) else {
            return (400, json!({"error": "send a JSON object"}), None);
        };
        let Some(patient) = holdings.patients.iter_mut().find(|p| p.id == *id) else {
            return (404, json!({"error": "no such patient"}), None);
        };
        if let Value::Object(fields) = &mut patient.fields {
            fields.extend(changes);
        }
        let mut shown = patient.fields.clone();
        shown["id"] = json!(patient.id);
        (200, shown, None)
    })
}

async fn list(req: HttpRequest, state: web::Data<Arc<StubState>>) -> HttpResponse {
    serve(&req, &state, |holdings| {
        let patients: Vec<Value> = holdings
            .patients
            .iter()
            .map(|p| {
                let mut shown = p.fields.clone();
                shown["id"] = json!(p.id);
                shown
            })
            .collect();
        (200, json!({ "patients": patients }), None)
    })
}
