//! What `/api/tenant/fhir-destinations` reads and answers. A client secret is write-only; a
//! SMART destination's private key is never sent at all; answers carry neither.

use chrono::{DateTime, Utc};
use clinicgate_adapters::fhir_push::{CheckReport, ConnectionReport};
use clinicgate_core::fhir_push::{
    AuthRequest, DestinationAuth, DestinationRequest, FhirBackfill, FhirDestination,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How ClinicGate authenticates to the FHIR server.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DestinationAuthIn {
    /// No authentication (a server on a trusted network).
    None,
    /// OAuth 2.0 client credentials with a client secret (sent as `client_secret_basic`).
    ClientCredentials {
        /// The token endpoint (https; checked by the outbound guard).
        #[schema(example = "https://ehr.example.com/oauth/token")]
        token_url: String,
        /// ClinicGate's client id at that server.
        client_id: String,
        /// The client secret. Stored encrypted; never shown again. Omit it on an update to keep
        /// the stored one.
        client_secret: Option<String>,
        /// Scopes to ask for, space-separated (e.g. `system/Patient.cu system/Appointment.cu`).
        scope: Option<String>,
    },
    /// SMART Backend Services: ClinicGate makes a key pair for this destination (ES384 unless
    /// `algorithm` says RS384) and signs a `client_assertion` with it; register the public key
    /// (`auth.jwks_url`) at the server.
    SmartBackendServices {
        /// The token endpoint (https; checked by the outbound guard).
        #[schema(example = "https://ehr.example.com/oauth/token")]
        token_url: String,
        /// ClinicGate's client id at that server.
        client_id: String,
        /// Scopes to ask for, space-separated.
        scope: Option<String>,
        /// What the key pair signs with: `ES384` (P-384, the default) or `RS384` (RSA 2048).
        /// Omit it on an update to keep the key pair; a different algorithm makes a new key pair
        /// (register the new public key at the server).
        #[schema(example = "ES384")]
        algorithm: Option<String>,
    },
}

// Hand-written so the secret can never reach a log line through `{:?}`.
impl std::fmt::Debug for DestinationAuthIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::ClientCredentials { client_id, .. } => {
                write!(f, "ClientCredentials {{ client_id: {client_id:?}, .. }}")
            }
            Self::SmartBackendServices { client_id, .. } => {
                write!(f, "SmartBackendServices {{ client_id: {client_id:?}, .. }}")
            }
        }
    }
}

/// A FHIR destination as the clinic sets it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FhirDestinationIn {
    /// A name for it (1–100 characters).
    #[schema(example = "Hospital EHR")]
    pub name: String,
    /// The FHIR R4 server's base URL: ClinicGate sends
    /// `PUT {base_url}/Patient?identifier=…`. https (http only where the operator allows it), and
    /// a host the outbound guard permits, as for webhook endpoints.
    #[schema(example = "https://ehr.example.com/fhir/r4")]
    pub base_url: String,
    /// How ClinicGate authenticates there.
    pub auth: DestinationAuthIn,
    /// Which resources to push: `Patient`, `Appointment` (at least one).
    #[schema(example = json!(["Patient", "Appointment"]))]
    pub resources: Vec<String>,
    /// Whether events are pushed (off: deliveries already queued wait).
    pub enabled: bool,
}

impl From<FhirDestinationIn> for DestinationRequest {
    fn from(body: FhirDestinationIn) -> Self {
        Self {
            name: body.name,
            base_url: body.base_url,
            auth: match body.auth {
                DestinationAuthIn::None => AuthRequest::None,
                DestinationAuthIn::ClientCredentials {
                    token_url,
                    client_id,
                    client_secret,
                    scope,
                } => AuthRequest::ClientCredentials {
                    token_url,
                    client_id,
                    client_secret: client_secret.map(SecretString::from),
                    scope,
                },
                DestinationAuthIn::SmartBackendServices {
                    token_url,
                    client_id,
                    scope,
                    algorithm,
                } => AuthRequest::SmartBackend {
                    token_url,
                    client_id,
                    scope,
                    algorithm,
                },
            },
            resources: body.resources,
            enabled: body.enabled,
        }
    }
}

/// How ClinicGate authenticates, without any secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationAuthOut {
    /// `none`, `client_credentials` or `smart_backend_services`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The token endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// ClinicGate's client id there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The scopes asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// SMART: the key id (`kid`) of ClinicGate's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// SMART: what the key signs with, `ES384` or `RS384`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// SMART: where the public key is published (a JWKS), for the server to register.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
}

/// A FHIR destination (never a secret or private key).
#[derive(Debug, Serialize, ToSchema)]
pub struct FhirDestinationOut {
    /// Its id.
    pub id: uuid::Uuid,
    /// Its name.
    pub name: String,
    /// The FHIR server's base URL.
    pub base_url: String,
    /// How ClinicGate authenticates there.
    pub auth: DestinationAuthOut,
    /// Which resources are pushed.
    pub resources: Vec<String>,
    /// Whether events are pushed.
    pub enabled: bool,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it was last configured.
    pub updated_at: DateTime<Utc>,
}

impl FhirDestinationOut {
    /// `d` as shown, its JWKS published under `clinic_url`.
    pub fn new(d: FhirDestination, clinic_url: &str) -> Self {
        let client = d.auth.token_client().cloned();
        let (key_id, algorithm) = match &d.auth {
            DestinationAuth::SmartBackend {
                key_id, algorithm, ..
            } => (Some(key_id.clone()), Some(algorithm.as_str().to_owned())),
            _ => (None, None),
        };
        let jwks_url = key_id
            .as_ref()
            .map(|_| format!("{clinic_url}/fhir-destinations/{}/jwks.json", d.id));
        Self {
            id: d.id.as_uuid(),
            name: d.name,
            base_url: d.base_url,
            auth: DestinationAuthOut {
                kind: d.auth.kind().to_owned(),
                token_url: client.as_ref().map(|c| c.token_url.clone()),
                client_id: client.as_ref().map(|c| c.client_id.clone()),
                scope: client.and_then(|c| c.scope),
                key_id,
                algorithm,
                jwks_url,
            },
            resources: d.resources.iter().map(|r| r.as_str().to_owned()).collect(),
            enabled: d.enabled,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// The clinic's FHIR destinations.
#[derive(Debug, Serialize, ToSchema)]
pub struct FhirDestinationsOut {
    /// Oldest first.
    pub data: Vec<FhirDestinationOut>,
}

/// One check of "test connection".
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckOut {
    /// Whether it passed.
    pub ok: bool,
    /// The HTTP status answered, if any.
    pub status: Option<u16>,
    /// What went wrong (a transport failure's name, or the start of the server's answer).
    pub detail: Option<String>,
}

impl From<CheckReport> for CheckOut {
    fn from(check: CheckReport) -> Self {
        Self {
            ok: check.ok,
            status: check.status,
            detail: check.detail,
        }
    }
}

/// What "test connection" found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionReportOut {
    /// Whether every check passed.
    pub ok: bool,
    /// `GET {base_url}/metadata` (a CapabilityStatement is expected).
    pub metadata: CheckOut,
    /// The token request; absent without authentication.
    pub token: Option<CheckOut>,
    /// The `fhirVersion` the server declares.
    #[schema(example = "4.0.1")]
    pub fhir_version: Option<String>,
}

impl From<ConnectionReport> for ConnectionReportOut {
    fn from(report: ConnectionReport) -> Self {
        Self {
            ok: report.ok,
            metadata: report.metadata.into(),
            token: report.token.map(Into::into),
            fhir_version: report.fhir_version,
        }
    }
}

/// One resource's part of a backfill.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackfillCountOut {
    /// Records queued to the destination so far.
    pub queued: u64,
    /// Records Cliniko counted; `null` until their first page is read.
    pub total: Option<u64>,
}

/// "Send existing records" to a FHIR destination: where its latest run stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct FhirBackfillOut {
    /// `running` (going, or about to resume), `done` or `failed`.
    #[schema(example = "running")]
    pub state: String,
    /// The resource being read now: `Patient`, then `Appointment`.
    pub phase: String,
    /// The clinic's current patients.
    pub patients: BackfillCountOut,
    /// Appointments starting in `[window_start, window_end]`; absent when the destination does
    /// not take appointments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointments: Option<BackfillCountOut>,
    /// The appointments sent start from (30 days before the run started)…
    pub window_start: DateTime<Utc>,
    /// …to (90 days after).
    pub window_end: DateTime<Utc>,
    /// Why it stopped (`failed`: `cliniko_not_connected`, `cliniko_key_rejected`, `internal`) or
    /// waits (`running`: `cliniko_rate_limited`, `cliniko_unavailable`, `storage_unavailable`).
    pub last_error: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it last moved.
    pub updated_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<FhirBackfill> for FhirBackfillOut {
    fn from(b: FhirBackfill) -> Self {
        Self {
            state: b.state.as_str().to_owned(),
            phase: b.phase.as_str().to_owned(),
            patients: BackfillCountOut {
                queued: b.patients_queued,
                total: b.patients_total,
            },
            appointments: b.with_appointments.then_some(BackfillCountOut {
                queued: b.appointments_queued,
                total: b.appointments_total,
            }),
            window_start: b.window_start,
            window_end: b.window_end,
            last_error: b.last_error,
            started_at: b.started_at,
            updated_at: b.updated_at,
            finished_at: b.finished_at,
        }
    }
}

/// A destination's backfill status.
#[derive(Debug, Serialize, ToSchema)]
pub struct FhirBackfillStatusOut {
    /// The latest run; `null` when records were never sent this way.
    pub backfill: Option<FhirBackfillOut>,
}

/// What starting a backfill did.
#[derive(Debug, Serialize, ToSchema)]
pub struct FhirBackfillStartOut {
    /// `true`: this request started a run; `false`: one was going already, and this is it.
    pub started: bool,
    /// The run.
    pub backfill: FhirBackfillOut,
}
