//! A local OpenID provider for tests: wiremock serving a discovery document, a JWKS with a test
//! RSA key, and a token endpoint that checks the client's credentials, the code, the redirect
//! URI and the PKCE verifier (S256) before it answers with an ID token signed by that key. The
//! ID token's claims are chosen per login, so tests can send a wrong nonce, audience or expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jwt_simple::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The test RSA key (the SMART tests' fixture), used here with RS256.
const RSA_TEST_KEY: &str = include_str!("../fixtures/smart/rs384-test-key.pem");

/// The client registered at the stub.
pub const CLIENT_ID: &str = "clinicgate-test-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "stub-client-secret-Zq8w1Xv4";

/// What the ID token says, beyond what every token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersonClaims {
    /// The address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the provider verified it.
    pub email_verified: bool,
    /// How the person authenticated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// The stub.
pub struct Provider {
    /// The wiremock server.
    pub server: MockServer,
    key: RS256KeyPair,
}

/// One login's parameters, read from the authorization URL ClinicGate sent the browser to.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// Every query parameter.
    pub params: HashMap<String, String>,
}

impl Authorization {
    /// Reads the authorization URL.
    pub fn parse(url: &str) -> Self {
        let url = reqwest::Url::parse(url).unwrap();
        Self {
            params: url.query_pairs().into_owned().collect(),
        }
    }

    /// One parameter.
    pub fn get(&self, name: &str) -> &str {
        self.params
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.params))
    }
}

/// The token endpoint for one code: checks the request, answers `id_token`.
struct TokenEndpoint {
    code: String,
    challenge: String,
    redirect_uri: String,
    id_token: String,
}

impl TokenEndpoint {
    /// The endpoint for `code` of `login`, answering `id_token`.
    fn for_login(login: &Authorization, code: &str, id_token: String) -> Self {
        Self {
            code: code.to_owned(),
            challenge: login.get("code_challenge").to_owned(),
            redirect_uri: login.get("redirect_uri").to_owned(),
            id_token,
        }
    }
}

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let basic = format!(
            "Basic {}",
            STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
        );
        let authorised = request
            .headers
            .get("authorization")
            .is_some_and(|v| v.to_str().unwrap() == basic);
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let refusal = if !authorised {
            Some("invalid_client")
        } else if form.get("grant_type").map(String::as_str) != Some("authorization_code")
            || form.get("code") != Some(&self.code)
            || form.get("redirect_uri") != Some(&self.redirect_uri)
            || challenge != self.challenge
        {
            Some("invalid_grant")
        } else {
            None
        };
        match refusal {
            Some(error) => ResponseTemplate::new(400).set_body_json(json!({ "error": error })),
            None => ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "stub-access-token",
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token,
            })),
        }
    }
}

/// An RS256 ID token by `key` for `person`, `audience` and `nonce`, valid from now for
/// `expires_in_secs` (negative: expired that long ago).
fn sign(
    key: &RS256KeyPair,
    issuer: &str,
    person: &PersonClaims,
    audience: &str,
    nonce: &str,
    expires_in_secs: i64,
) -> String {
    let mut claims = Claims::with_custom_claims(person.clone(), Duration::from_mins(5))
        .with_issuer(issuer)
        .with_audience(audience)
        .with_subject("stub-subject-42")
        .with_nonce(nonce);
    if expires_in_secs < 0 {
        let now = Clock::now_since_epoch();
        let ago = Duration::from_secs(expires_in_secs.unsigned_abs());
        claims.issued_at = Some(now - ago - Duration::from_mins(10));
        claims.invalid_before = claims.issued_at;
        claims.expires_at = Some(now - ago);
    }
    key.sign(claims).unwrap()
}

/// The token endpoints of the codes `GET /authorize` handed out, by code.
type Issued = Arc<Mutex<HashMap<String, TokenEndpoint>>>;

/// `GET /authorize` of a provider whose user is logged in: every login gets a code.
struct AuthorizeEndpoint {
    key: RS256KeyPair,
    issuer: String,
    person: PersonClaims,
    issued: Issued,
}

impl Respond for AuthorizeEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let login = Authorization::parse(request.url.as_str());
        let mut issued = self.issued.lock().unwrap();
        let code = format!("browser-code-{}", issued.len() + 1);
        let id_token = sign(
            &self.key,
            &self.issuer,
            &self.person,
            login.get("client_id"),
            login.get("nonce"),
            300,
        );
        issued.insert(
            code.clone(),
            TokenEndpoint::for_login(&login, &code, id_token),
        );
        let mut back = reqwest::Url::parse(login.get("redirect_uri")).unwrap();
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", login.get("state"));
        ResponseTemplate::new(302).insert_header("location", back.as_str())
    }
}

/// `POST /token` for the codes [`AuthorizeEndpoint`] handed out.
struct IssuedCodes(Issued);

impl Respond for IssuedCodes {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let code = url::form_urlencoded::parse(&request.body)
            .find(|(name, _)| name == "code")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        match self.0.lock().unwrap().get(&code) {
            Some(endpoint) => endpoint.respond(request),
            None => ResponseTemplate::new(400).set_body_json(json!({ "error": "invalid_grant" })),
        }
    }
}

impl Provider {
    /// Starts the stub: discovery and keys.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let key = RS256KeyPair::from_pem(RSA_TEST_KEY)
            .unwrap()
            .with_key_id("stub-key-1");
        let issuer = server.uri();
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "jwks_uri": format!("{issuer}/jwks"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            })))
            .mount(&server)
            .await;
        let components = key.public_key().to_components();
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [{
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": "stub-key-1",
                "n": URL_SAFE_NO_PAD.encode(&components.n),
                "e": URL_SAFE_NO_PAD.encode(&components.e),
            }]})))
            .mount(&server)
            .await;
        Self { server, key }
    }

    /// The issuer URL.
    pub fn issuer(&self) -> String {
        self.server.uri()
    }

    /// An ID token for `person` with this audience and nonce, valid from `issued_ago` to
    /// `expires_in` from now (negative: already expired).
    pub fn id_token(
        &self,
        person: &PersonClaims,
        audience: &str,
        nonce: &str,
        expires_in_secs: i64,
    ) -> String {
        sign(
            &self.key,
            &self.issuer(),
            person,
            audience,
            nonce,
            expires_in_secs,
        )
    }

    /// Signs `person` in at every browser visit to `GET /authorize`, as a provider whose user
    /// is already logged in there: a 302 back to the login's `redirect_uri` with a fresh code
    /// and its `state`; the token endpoint then answers that code (after the same checks as
    /// [`Provider::will_answer`]) with an ID token for the login's client and nonce.
    pub async fn signs_in(&self, person: PersonClaims) {
        let issued = Arc::new(Mutex::new(HashMap::new()));
        Mock::given(method("GET"))
            .and(path("/authorize"))
            .respond_with(AuthorizeEndpoint {
                key: self.key.clone(),
                issuer: self.issuer(),
                person,
                issued: Arc::clone(&issued),
            })
            .mount(&self.server)
            .await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(IssuedCodes(issued))
            .mount(&self.server)
            .await;
    }

    /// Makes the token endpoint answer `id_token` for the code `code` of `login`.
    pub async fn will_answer(&self, login: &Authorization, code: &str, id_token: String) {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(wiremock::matchers::body_string_contains(format!(
                "code={code}"
            )))
            .respond_with(TokenEndpoint::for_login(login, code, id_token))
            .mount(&self.server)
            .await;
    }
}

/// The JSON body of the provider's settings for ClinicGate.
pub fn settings(provider: &Provider, sso_only: bool) -> Value {
    json!({
        "issuer": provider.issuer(),
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "provider_name": "Stub IdP",
        "sso_only": sso_only,
    })
}
