use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox};

use super::ScopeSet;
use crate::ids::TenantId;
use crate::{Error, Result};

/// Clock skew tolerated on `exp` and `nbf` by default, so instances (and partners) with
/// slightly different clocks agree.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// A signing key's id (`kid`): a UUIDv7, so ids sort by creation.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    /// A fresh id.
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// Wraps a stored id.
    pub fn from_stored(id: String) -> Self {
        Self(id)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for KeyId {
    fn default() -> Self {
        Self::new()
    }
}

/// An Ed25519 private key that signs access tokens. Its `Debug` shows only the key id.
pub struct SigningKey {
    kid: KeyId,
    pkcs8: SecretBox<Vec<u8>>,
    public: [u8; 32],
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let der = key
            .to_pkcs8_der()
            .map_err(|e| Error::internal(format!("encoding a signing key: {e}")))?;
        Ok(Self {
            kid: KeyId::new(),
            pkcs8: SecretBox::new(Box::new(der.as_bytes().to_vec())),
            public: key.verifying_key().to_bytes(),
        })
    }

    /// Restores a stored key from its PKCS#8 DER form.
    pub fn from_pkcs8(kid: KeyId, der: Vec<u8>) -> Result<Self> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_der(&der).map_err(|e| {
            Error::internal(format!(
                "stored signing key {} is invalid: {e}",
                kid.as_str()
            ))
        })?;
        Ok(Self {
            kid,
            public: key.verifying_key().to_bytes(),
            pkcs8: SecretBox::new(Box::new(der)),
        })
    }

    /// Its id.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// The private key as PKCS#8 DER, for encrypted storage only.
    pub fn expose_pkcs8(&self) -> &[u8] {
        self.pkcs8.expose_secret()
    }

    /// The public key (32 bytes), for the key ring and JWKS.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, [REDACTED])", self.kid.as_str())
    }
}

/// The public keys that verify tokens: current and recently retired ones, until their tokens
/// have expired.
#[derive(Clone)]
pub struct KeyRing {
    keys: HashMap<KeyId, DecodingKey>,
    public: Vec<(KeyId, [u8; 32])>,
}

impl KeyRing {
    /// A ring of `(kid, public key)` pairs.
    pub fn new(keys: impl IntoIterator<Item = (KeyId, [u8; 32])>) -> Self {
        let mut public: Vec<_> = keys.into_iter().collect();
        public.sort_by(|a, b| b.0.cmp(&a.0));
        let keys = public
            .iter()
            .map(|(kid, x)| (kid.clone(), DecodingKey::from_ed_der(x)))
            .collect();
        Self { keys, public }
    }

    /// The JSON Web Key Set (RFC 7517; OKP keys per RFC 8037), newest key first.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .public
            .iter()
            .map(|(kid, x)| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(x),
                    "kid": kid.as_str(), "use": "sig", "alg": "EdDSA",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Whether the ring holds `kid`.
    pub fn contains(&self, kid: &KeyId) -> bool {
        self.keys.contains_key(kid)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.public.iter().map(|(kid, _)| kid.as_str()))
            .finish()
    }
}

/// An access token's claims.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessClaims {
    /// Issuer: ClinicGate's public URL.
    pub iss: String,
    /// Audience: the public API.
    pub aud: String,
    /// Subject: the API client's `client_id`.
    pub sub: String,
    /// The clinic (tenant) whose data the token reaches.
    pub tid: TenantId,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not valid before (Unix seconds).
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Unique token id, the handle for revocation.
    pub jti: String,
}

impl AccessClaims {
    /// The granted scopes (unknown words, which our tokens never carry, are ignored).
    pub fn scopes(&self) -> ScopeSet {
        self.scope
            .split(' ')
            .filter_map(super::Scope::parse)
            .collect()
    }
}

/// A freshly issued token.
#[derive(Debug)]
pub struct Issued {
    /// The compact JWS to hand to the client.
    pub token: String,
    /// What it says.
    pub claims: AccessClaims,
}

/// Why a presented token was refused. Callers answer every variant the same way (401) and log
/// the variant, so the reason never helps an attacker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, or a header/claim that does not parse (including `alg: none`).
    #[error("malformed token")]
    Malformed,
    /// Signed with another algorithm than EdDSA (e.g. an HS256 forgery with the public key).
    #[error("wrong algorithm")]
    WrongAlgorithm,
    /// Its `kid` is not (or no longer) in the key ring.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Past `exp`.
    #[error("expired")]
    Expired,
    /// Before `nbf`.
    #[error("not yet valid")]
    NotYetValid,
    /// Issued by someone else or for another audience.
    #[error("wrong issuer or audience")]
    WrongIssuerOrAudience,
}

/// Issues and verifies access tokens for one deployment.
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    issuer: String,
    audience: String,
    ttl: Duration,
    leeway: Duration,
}

impl TokenIssuer {
    /// Tokens from `issuer` for `audience`, valid for `ttl`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>, ttl: Duration) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            ttl,
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// The same issuer tolerating `leeway` of clock skew instead of [`DEFAULT_LEEWAY`].
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// How long tokens live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The clock skew tolerated on `exp` and `nbf`.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// What [`Self::verify`] checks besides the signature.
    fn validation(&self) -> Validation {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience (`aud`).
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Signs a token for `client_id` of `tenant` with `scopes`, valid from `now` for the TTL.
    pub fn issue(
        &self,
        key: &SigningKey,
        client_id: &str,
        tenant: TenantId,
        scopes: &ScopeSet,
        now: DateTime<Utc>,
    ) -> Result<Issued> {
        let iat = now.timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).map_err(Error::internal)?;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: client_id.to_owned(),
            tid: tenant,
            scope: scopes.to_string(),
            iat,
            nbf: iat,
            exp: iat + ttl,
            jti: uuid::Uuid::now_v7().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid().as_str().to_owned());
        let token = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ed_der(key.expose_pkcs8()),
        )
        .map_err(|e| Error::internal(format!("signing a token: {e}")))?;
        Ok(Issued { token, claims })
    }

    /// Verifies signature, algorithm, key id, issuer, audience, `exp` and `nbf` (with leeway).
    /// Revocation and whether the client and clinic are still active are the caller's checks.
    pub fn verify(&self, token: &str, ring: &KeyRing) -> Result<AccessClaims, TokenError> {
        self.verify_with_key(token, ring).map(|(claims, _)| claims)
    }

    /// [`Self::verify`], also saying which key verified the token.
    pub fn verify_with_key(
        &self,
        token: &str,
        ring: &KeyRing,
    ) -> Result<(AccessClaims, KeyId), TokenError> {
        // Unknown algorithms, `none` included, fail to parse here.
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::WrongAlgorithm);
        }
        let kid = KeyId::from_stored(header.kid.ok_or(TokenError::UnknownKey)?);
        let key = ring.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation())
            .map(|data| (data.claims, kid))
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidSignature => TokenError::BadSignature,
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                    ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                        TokenError::WrongIssuerOrAudience
                    }
                    ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                    _ => TokenError::Malformed,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::Scope;

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(
            "https://gw.example.com",
            "clinicgate-api",
            Duration::from_secs(900),
        )
    }

    fn scopes() -> ScopeSet {
        [Scope::DoctorsRead, Scope::SlotsRead].into_iter().collect()
    }

    fn setup() -> (SigningKey, KeyRing, Issued) {
        let key = SigningKey::generate().unwrap();
        let ring = KeyRing::new([(key.kid().clone(), key.public_key())]);
        let issued = issuer()
            .issue(&key, "cgcl_abc", TenantId::new(), &scopes(), Utc::now())
            .unwrap();
        (key, ring, issued)
    }

    fn b64(json: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    #[test]
    fn an_issued_token_verifies_and_carries_every_claim() {
        let (key, ring, issued) = setup();
        let claims = issuer().verify(&issued.token, &ring).unwrap();
        assert_eq!(claims, issued.claims);
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(claims.nbf, claims.iat);
        assert_eq!(claims.scopes(), scopes());
        let header = jsonwebtoken::decode_header(&issued.token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key.kid().as_str()));
        assert_eq!(header.alg, Algorithm::EdDSA);
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_refused_beyond_the_leeway() {
        let (key, ring, _) = setup();
        let tenant = TenantId::new();
        let old = issuer()
            .issue(
                &key,
                "c",
                tenant,
                &scopes(),
                Utc::now() - chrono::Duration::hours(1),
            )
            .unwrap();
        assert_eq!(issuer().verify(&old.token, &ring), Err(TokenError::Expired));
        let future = issuer()
            .issue(
                &key,
                "c",
                tenant,
                &scopes(),
                Utc::now() + chrono::Duration::hours(1),
            )
            .unwrap();
        assert_eq!(
            issuer().verify(&future.token, &ring),
            Err(TokenError::NotYetValid)
        );
        let slightly_ahead = issuer()
            .issue(
                &key,
                "c",
                tenant,
                &scopes(),
                Utc::now() + chrono::Duration::seconds(10),
            )
            .unwrap();
        assert!(
            issuer().verify(&slightly_ahead.token, &ring).is_ok(),
            "small clock skew is tolerated"
        );
    }

    #[test]
    fn a_changed_payload_or_signature_is_refused() {
        let (_, ring, issued) = setup();
        let parts: Vec<&str> = issued.token.split('.').collect();
        let mut claims = serde_json::to_value(&issued.claims).unwrap();
        claims["scope"] = "doctors:read slots:read patients:read patients:write".into();
        let forged = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        assert_eq!(
            issuer().verify(&forged, &ring),
            Err(TokenError::BadSignature)
        );
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        signature[0] ^= 1;
        let resigned = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(signature)
        );
        assert_eq!(
            issuer().verify(&resigned, &ring),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn alg_none_and_hs256_with_the_public_key_are_refused() {
        let (key, ring, issued) = setup();
        let payload = issued.token.split('.').nth(1).unwrap().to_owned();
        let none = format!(
            "{}.{payload}.",
            b64(&serde_json::json!({"alg": "none", "typ": "JWT", "kid": key.kid().as_str()}))
        );
        assert_eq!(issuer().verify(&none, &ring), Err(TokenError::Malformed));

        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid().as_str().to_owned());
        let hs256 = jsonwebtoken::encode(
            &header,
            &issued.claims,
            &EncodingKey::from_secret(&key.public_key()),
        )
        .unwrap();
        assert_eq!(
            issuer().verify(&hs256, &ring),
            Err(TokenError::WrongAlgorithm)
        );
    }

    #[test]
    fn a_token_from_an_unknown_key_or_another_issuer_is_refused() {
        let (_, ring, _) = setup();
        let stranger = SigningKey::generate().unwrap();
        let foreign = issuer()
            .issue(&stranger, "c", TenantId::new(), &scopes(), Utc::now())
            .unwrap();
        assert_eq!(
            issuer().verify(&foreign.token, &ring),
            Err(TokenError::UnknownKey)
        );

        let (key, ring, _) = setup();
        let other = TokenIssuer::new(
            "https://evil.example.com",
            "clinicgate-api",
            Duration::from_secs(900),
        );
        let token = other
            .issue(&key, "c", TenantId::new(), &scopes(), Utc::now())
            .unwrap();
        assert_eq!(
            issuer().verify(&token.token, &ring),
            Err(TokenError::WrongIssuerOrAudience)
        );
        assert_eq!(
            issuer().verify("not.a.jwt", &ring),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn a_stored_key_restores_to_the_same_public_key_and_jwks_publishes_it() {
        let old = SigningKey::generate().unwrap();
        let key = SigningKey::generate().unwrap();
        let restored =
            SigningKey::from_pkcs8(key.kid().clone(), key.expose_pkcs8().to_vec()).unwrap();
        assert_eq!(restored.public_key(), key.public_key());
        assert_eq!(
            format!("{key:?}"),
            format!("SigningKey({}, [REDACTED])", key.kid().as_str())
        );

        let ring = KeyRing::new([
            (old.kid().clone(), old.public_key()),
            (key.kid().clone(), key.public_key()),
        ]);
        let jwks = ring.jwks();
        assert_eq!(
            jwks["keys"][0]["kid"],
            key.kid().as_str(),
            "newest key first"
        );
        assert_eq!(jwks["keys"][1]["kid"], old.kid().as_str());
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        let issued = issuer()
            .issue(&key, "c", TenantId::new(), &scopes(), Utc::now())
            .unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&["clinicgate-api"]);
        let decoded = jsonwebtoken::decode::<AccessClaims>(
            &issued.token,
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        );
        assert!(
            decoded.is_ok(),
            "a partner can verify with the published JWK: {decoded:?}"
        );
    }
}
