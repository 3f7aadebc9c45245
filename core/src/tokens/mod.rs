//! Third-party access: OAuth 2.0 scopes, API clients and their secrets, the signed access tokens
//! (JWTs) partners present on every public API call, their signing keys, and revocation.
//!
//! Services here hold the rules; storing clients, keys and revocations is the adapters' job
//! (through the ports [`ApiClientRepository`], [`RevocationRepository`] and
//! `secrets::ServiceKeyRepository`), and HTTP is the api's. Tokens are EdDSA (Ed25519) JWTs:
//! asymmetric, so partners verify them offline with the keys published at
//! `/.well-known/jwks.json`, and small and fast to verify.

mod access;
mod assertions;
mod client_keys;
mod client_service;
mod clients;
mod clinic_status;
mod jwt;
mod keys;
mod leases;
mod remote_jwks;
mod revocation_sync;
mod revocations;
mod scopes;
mod secrets;
mod service;
mod smart_scopes;
mod verified;

pub use access::{AccessChecker, Freshness, Refusal};
pub use assertions::{
    ASSERTION_ALGORITHMS, AssertionError, AssertionJtiRepository, CLIENT_ASSERTION_TYPE,
    ClientAssertions, MAX_ASSERTION_LIFETIME, MAX_JTI_LEN, claimed_client,
};
pub use client_keys::{
    ClientJwks, ClientJwksRepository, ClientKeys, ClientKeysService, KeyRegistration, KeySource,
    MAX_CLIENT_KEYS, MAX_REMOTE_KEYS,
};
pub use client_service::{ClientPatch, ClientService, ClientWithSecret, NewClientRequest};
pub use clients::{
    ApiClient, ApiClientRepository, CLIENT_ID_PREFIX, ClientAccess, ClientChange,
    ClientCredentials, ClientId, ClientName, MAX_RATE_LIMIT_PER_MINUTE, NewApiClient,
    validate_budget_share, validate_rate_limit,
};
pub use clinic_status::TokenAwareClinics;
pub use jwt::{
    AccessClaims, DEFAULT_LEEWAY, Issued, KeyId, KeyRing, SigningKey, TokenError, TokenIssuer,
};
pub use keys::{KeyPolicy, KeySet, SigningKeys};
pub use leases::{LEASE_SPAN, LEASE_TTL, LeasedLimiter};
pub use remote_jwks::{
    JWKS_CACHE_TTL, JWKS_FETCH_TIMEOUT, JwksFetcher, MAX_JWKS_BYTES, RemoteJwks,
    UNKNOWN_KID_REFETCH,
};
pub use revocations::{RevocationRepository, RevokedToken};
pub use scopes::{Scope, ScopeSet};
pub use secrets::{CLIENT_SECRET_PREFIX, ClientSecret, SecretHasher, load_secret_hasher};
pub use service::{
    ApiAccess, ClientCredentialsGrant, ClientProof, ClientRevokeError, GrantError, Granted,
    Rejection, RevokeError, TokenPolicy, TokenService,
};
pub use smart_scopes::{RequestedScopes, SMART_SYSTEM_SCOPES};
