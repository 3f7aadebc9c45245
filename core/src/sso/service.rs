//! Configuring a clinic's single sign-on (owners; admins may read it) and the two steps of a
//! login through it: [`SsoService::start`] (the redirect) and [`SsoService::finish`] (the
//! callback). A login matches the staff member by the e-mail address the provider has
//! verified, within the clinic whose host the login happens on only: the same address at
//! another clinic is another person.

use std::sync::Arc;

use chrono::Utc;
use secrecy::{ExposeSecret as _, SecretString};

use super::login::{self, LoginState, SsoIdentity, SsoStart};
use super::{
    ClientCredentials, OidcClient, ProviderMetadata, Providers, SsoConfig, SsoConfigRepository,
    SsoFailure, StoredSsoConfig,
};
use crate::ids::TenantId;
use crate::outbound::{UrlCheck, read_url};
use crate::secrets::{SecretPurpose, Vault};
use crate::tenancy::TenantContext;
use crate::users::{Role, UserRepository};
use crate::{Error, FieldError, Result};

/// The longest client id or provider name accepted.
const MAX_CLIENT_ID: usize = 255;
const MAX_PROVIDER_NAME: usize = 60;
const MAX_SECRET: usize = 1024;

/// Single sign-on settings as an owner sends them.
#[derive(Debug)]
pub struct SsoInput {
    /// What the login button names; by default the provider's usual name or the issuer's host.
    pub provider_name: Option<String>,
    /// The issuer URL.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// The client secret; may be left out when changing settings that already have one.
    pub client_secret: Option<SecretString>,
    /// Refuse password login to staff other than owners.
    pub sso_only: bool,
}

/// Single sign-on for every clinic.
#[derive(Debug, Clone)]
pub struct SsoService {
    configs: Arc<dyn SsoConfigRepository>,
    users: Arc<dyn UserRepository>,
    vault: Vault,
    providers: Providers,
    oidc: Arc<dyn OidcClient>,
    urls: Arc<dyn UrlCheck>,
}

fn require_owner(ctx: &TenantContext) -> Result<()> {
    if ctx.role() == Some(Role::Owner) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only an owner can change how the clinic signs in".to_owned(),
        ))
    }
}

/// The name the login button shows for a provider at `issuer` when the owner gave none.
fn default_provider_name(issuer: &str) -> String {
    let host = issuer
        .split("://")
        .nth(1)
        .unwrap_or(issuer)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    match host {
        "accounts.google.com" => "Google".to_owned(),
        "login.microsoftonline.com" => "Microsoft".to_owned(),
        other => other.to_owned(),
    }
}

/// A required, bounded, single-line text field.
fn text(
    field: &'static str,
    raw: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = raw.trim();
    if value.is_empty() {
        errors.push(FieldError::new(field, "required", "this is required"));
        None
    } else if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("use at most {max} characters"),
        ));
        None
    } else if value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "invalid_characters",
            "this cannot hold line breaks or control characters",
        ));
        None
    } else {
        Some(value.to_owned())
    }
}

impl SsoService {
    /// Settings in `configs`, staff in `users`, secrets sealed by `vault`, providers'
    /// documents from `providers`, their OAuth side through `oidc`, issuer URLs checked by
    /// `urls` (the outbound guard).
    pub fn new(
        configs: Arc<dyn SsoConfigRepository>,
        users: Arc<dyn UserRepository>,
        vault: Vault,
        providers: Providers,
        oidc: Arc<dyn OidcClient>,
        urls: Arc<dyn UrlCheck>,
    ) -> Self {
        Self {
            configs,
            users,
            vault,
            providers,
            oidc,
            urls,
        }
    }

    /// The clinic's settings (owners and admins).
    pub async fn get(&self, ctx: &TenantContext) -> Result<Option<SsoConfig>> {
        ctx.require_manager()?;
        self.of_clinic(ctx.tenant_id()).await
    }

    /// The clinic's settings, for its login page and the password login's `sso_only` rule.
    pub async fn of_clinic(&self, tenant: TenantId) -> Result<Option<SsoConfig>> {
        Ok(self.configs.get(tenant).await?.map(|stored| stored.config))
    }

    /// Sets the clinic's single sign-on (owners). The issuer is checked through the outbound
    /// guard and its discovery document fetched, so a wrong issuer is refused now rather than
    /// at the first login.
    ///
    /// # Errors
    /// `Validation` for a missing or malformed field, an issuer that cannot be used, or a
    /// first configuration without a secret.
    pub async fn configure(&self, ctx: &TenantContext, input: SsoInput) -> Result<SsoConfig> {
        require_owner(ctx)?;
        let tenant = ctx.tenant_id();
        let existing = self.configs.get(tenant).await?;
        let mut errors = Vec::new();
        let issuer = read_url(
            self.urls.as_ref(),
            "issuer",
            "give the identity provider's issuer URL, e.g. https://accounts.google.com",
            &input.issuer,
            &mut errors,
        )
        .await
        .map(|url| url.trim_end_matches('/').to_owned());
        let client_id = text("client_id", &input.client_id, MAX_CLIENT_ID, &mut errors);
        let provider_name = match input.provider_name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => {
                text("provider_name", name, MAX_PROVIDER_NAME, &mut errors)
            }
            _ => issuer.as_deref().map(default_provider_name),
        };
        let secret = match (&input.client_secret, &existing) {
            (Some(secret), _) if secret.expose_secret().trim().is_empty() => {
                errors.push(FieldError::new(
                    "client_secret",
                    "required",
                    "this is required",
                ));
                None
            }
            (Some(secret), _) if secret.expose_secret().len() > MAX_SECRET => {
                errors.push(FieldError::new(
                    "client_secret",
                    "too_long",
                    format!("use at most {MAX_SECRET} characters"),
                ));
                None
            }
            (Some(secret), _) => Some(
                self.vault
                    .seal(
                        tenant,
                        SecretPurpose::SsoClientSecret,
                        &SecretString::from(secret.expose_secret().trim().to_owned()),
                    )
                    .await?,
            ),
            (None, Some(stored)) => Some(stored.client_secret.clone()),
            (None, None) => {
                errors.push(FieldError::new(
                    "client_secret",
                    "required",
                    "give the client secret the identity provider issued",
                ));
                None
            }
        };
        let (Some(issuer), Some(client_id), Some(provider_name), Some(secret), true) =
            (issuer, client_id, provider_name, secret, errors.is_empty())
        else {
            return Err(Error::Validation(errors));
        };
        let provider = self.providers.discover(&issuer).await.map_err(|failure| {
            Error::invalid(
                "issuer",
                "discovery_failed",
                format!("no usable OpenID Connect discovery document at this issuer: {failure}"),
            )
        })?;
        let stored = StoredSsoConfig {
            config: SsoConfig {
                provider_name,
                issuer: provider.issuer.trim_end_matches('/').to_owned(),
                client_id,
                sso_only: input.sso_only,
                updated_at: Utc::now(),
            },
            client_secret: secret,
        };
        self.configs.save(tenant, &stored).await?;
        tracing::info!(tenant_id = %tenant, sso_only = input.sso_only, "single sign-on configured");
        Ok(stored.config)
    }

    /// Removes the clinic's single sign-on (owners); password login works for everyone again.
    ///
    /// # Errors
    /// `NotFound` when there is none.
    pub async fn remove(&self, ctx: &TenantContext) -> Result<()> {
        require_owner(ctx)?;
        if self.configs.delete(ctx.tenant_id()).await? {
            tracing::info!(tenant_id = %ctx.tenant_id(), "single sign-on removed");
            Ok(())
        } else {
            Err(Error::NotFound {
                resource: "single sign-on",
            })
        }
    }

    /// The clinic's stored settings, its provider's endpoints and its opened secret.
    async fn provider(
        &self,
        tenant: TenantId,
    ) -> Result<(SsoConfig, ProviderMetadata, SecretString), SsoFailure> {
        let stored = self
            .configs
            .get(tenant)
            .await?
            .ok_or(SsoFailure::NotConfigured)?;
        let provider = self.providers.discover(&stored.config.issuer).await?;
        let secret = self
            .vault
            .open(
                tenant,
                SecretPurpose::SsoClientSecret,
                &stored.client_secret,
            )
            .await?;
        Ok((stored.config, provider, secret))
    }

    /// Starts a login at `tenant`'s provider that comes back to `redirect_uri` and then goes
    /// to `next` (a path on the clinic's host, already checked by the caller).
    ///
    /// # Errors
    /// `NotConfigured`, or `Provider` when the provider cannot be reached.
    pub async fn start(
        &self,
        tenant: TenantId,
        redirect_uri: &str,
        next: &str,
    ) -> Result<SsoStart, SsoFailure> {
        let (config, provider, secret) = self.provider(tenant).await?;
        let request = self.oidc.authorization_request(
            &provider,
            &ClientCredentials {
                client_id: &config.client_id,
                client_secret: &secret,
                redirect_uri,
            },
        )?;
        let sealed_state = login::seal(
            &self.vault,
            tenant,
            &LoginState {
                state: request.state,
                nonce: request.nonce,
                verifier: request.pkce_verifier.expose_secret().to_owned(),
                next: next.to_owned(),
                expires: (Utc::now() + login::LOGIN_LIFETIME).timestamp(),
            },
        )
        .await?;
        Ok(SsoStart {
            authorization_url: request.url,
            sealed_state,
        })
    }

    /// Completes a login at the callback: checks `state` against the browser's sealed state,
    /// exchanges `code`, verifies the ID token and finds the staff member of `tenant` whose
    /// e-mail address the provider has verified.
    ///
    /// # Errors
    /// The [`SsoFailure`] to show.
    pub async fn finish(
        &self,
        tenant: TenantId,
        sealed_state: &str,
        state: &str,
        code: &str,
        redirect_uri: &str,
    ) -> Result<SsoIdentity, SsoFailure> {
        let login = login::open(&self.vault, tenant, sealed_state, state).await?;
        let (config, provider, secret) = self.provider(tenant).await?;
        let client = ClientCredentials {
            client_id: &config.client_id,
            client_secret: &secret,
            redirect_uri,
        };
        let id_token = self
            .oidc
            .exchange_code(
                &provider,
                &client,
                code,
                &SecretString::from(login.verifier.clone()),
            )
            .await?;
        let claims = self
            .providers
            .verify_id_token(&provider, &config.client_id, &id_token, &login.nonce)
            .await?;
        let email = login::verified_email(&claims)?;
        let user = match self.users.credentials_in_tenant(tenant, &email).await? {
            Some((user, _)) if user.active => user,
            _ => {
                tracing::info!(tenant_id = %tenant, "single sign-on for an address with no active staff account here");
                return Err(SsoFailure::NoAccount);
            }
        };
        tracing::info!(tenant_id = %tenant, user_id = %user.id, "single sign-on verified");
        Ok(SsoIdentity {
            user,
            next: login.next,
            multi_factor: login::multi_factor(&claims.amr),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_providers_get_their_usual_names_others_their_host() {
        assert_eq!(
            default_provider_name("https://accounts.google.com"),
            "Google"
        );
        assert_eq!(
            default_provider_name("https://login.microsoftonline.com/abc/v2.0"),
            "Microsoft"
        );
        assert_eq!(
            default_provider_name("https://id.example.org:8443/realms/x"),
            "id.example.org"
        );
    }

    #[test]
    fn only_owners_change_sign_in() {
        use crate::ids::UserId;
        let ctx = |role| TenantContext::new(TenantId::new(), UserId::new(), role);
        assert!(require_owner(&ctx(Role::Owner)).is_ok());
        assert!(require_owner(&ctx(Role::Admin)).is_err());
        assert!(require_owner(&ctx(Role::Clinician)).is_err());
    }
}
