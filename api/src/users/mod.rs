//! `/api/tenant/users`: a clinic's staff, managed by its owners and admins; their passwords
//! are [`passwords`]'.

mod passwords;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use clinicgate_core::Error;
use clinicgate_core::ids::UserId;
use clinicgate_core::users::{NewStaff, Role, StaffChange, User};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use passwords::{
    PasswordChangeIn, PasswordLinkOut, ResetLinkIn, change_own_password, create_reset_link,
};

use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// What a staff member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleDto {
    /// Everything, including managing owners (at least one per clinic).
    Owner,
    /// Settings, the Cliniko key, staff (except owners) and API clients.
    Admin,
    /// Patients only.
    Clinician,
}

impl From<Role> for RoleDto {
    fn from(role: Role) -> Self {
        match role {
            Role::Owner => Self::Owner,
            Role::Admin => Self::Admin,
            Role::Clinician => Self::Clinician,
        }
    }
}

impl From<RoleDto> for Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::Owner => Self::Owner,
            RoleDto::Admin => Self::Admin,
            RoleDto::Clinician => Self::Clinician,
        }
    }
}

/// A staff member.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    /// Their id.
    pub id: Uuid,
    /// Their e-mail address (login name), lowercase.
    #[schema(example = "jane@harbourphysio.com.au")]
    pub email: String,
    /// The name staff know them by, if given.
    #[schema(example = "Jane Citizen")]
    pub display_name: Option<String>,
    /// Their role.
    pub role: RoleDto,
    /// Whether they can log in.
    pub active: bool,
    /// When they were added.
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserOut {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            display_name: user.display_name.map(|name| name.as_str().to_owned()),
            role: user.role.into(),
            active: user.active,
            created_at: user.created_at,
        }
    }
}

/// A staff member to add.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserIn {
    /// Their e-mail address (login name); unique within the clinic.
    #[schema(example = "sam@harbourphysio.com.au")]
    pub email: String,
    /// Their role; only an owner may create another owner.
    pub role: RoleDto,
    /// The name staff know them by (up to 100 characters); optional.
    #[schema(example = "Sam Lee")]
    pub display_name: Option<String>,
    /// Their initial password: 12 to 1024 characters, not a common password. Omit it to get
    /// an invite link instead, where they choose their own.
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
    /// Without a password: also e-mail the invite link to them (when the deployment has an
    /// SMTP relay; `invite.emailed` says whether it went). Default false.
    #[serde(default)]
    pub send_invite_email: bool,
}

/// A staff member just added, with their invite link when no password was given.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUserOut {
    /// The staff member.
    #[serde(flatten)]
    pub user: UserOut,
    /// The invite link (7 days, single use), shown this once: pass it on privately. Absent
    /// when a password was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite: Option<PasswordLinkOut>,
}

/// A change to a staff member; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserPatch {
    /// The new role; the last active owner cannot be demoted.
    pub role: Option<RoleDto>,
    /// `false` deactivates (and logs out everywhere); the last active owner cannot be deactivated.
    pub active: Option<bool>,
}

/// The clinic's staff (owners and admins).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "Every staff member, oldest first", body = [UserOut]),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/users")]
pub async fn list_users(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<UserOut>>, ApiError> {
    let users = state.staff.list(auth.ctx()).await?;
    Ok(web::Json(users.into_iter().map(UserOut::from).collect()))
}

route_problems!(
    /// What `POST /api/tenant/users` answers itself.
    CreateUserProblems {
        409 => "The e-mail is already used in this clinic (`email_taken`)",
        422 => "Invalid e-mail, display name or password; or JSON of the wrong shape (`invalid_body`)",
    }
);

/// Adds a staff member (owners and admins; only owners may add owners). Without a password,
/// the answer holds their invite link.
#[utoipa::path(
    tag = "clinic",
    request_body = UserIn,
    responses(
        (status = 201, description = "Added", body = CreatedUserOut),
        SessionErrors, JsonBodyErrors,
        CreateUserProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/users")]
pub async fn create_user(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: web::Json<UserIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let send_invite_email = body.send_invite_email;
    let (user, invite) = state
        .staff
        .create(
            auth.ctx(),
            NewStaff {
                email: body.email,
                role: body.role.into(),
                display_name: body.display_name,
                password: body.password,
            },
        )
        .await?;
    let invite = match invite {
        Some(issued) => Some(
            PasswordLinkOut::new(
                &state,
                &auth.clinic,
                &user.email,
                &issued,
                send_invite_email,
            )
            .await,
        ),
        None => None,
    };
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(CreatedUserOut {
            user: user.into(),
            invite,
        }))
}

route_problems!(
    /// What `PATCH /api/tenant/users/{id}` answers itself.
    UpdateUserProblems {
        404 => "No such user in this clinic",
        409 => "It would leave the clinic without an active owner (`last_owner`)",
        422 => "Nothing to change; or JSON of the wrong shape (`invalid_body`)",
    }
);

/// Changes a staff member's role or active flag.
#[utoipa::path(
    tag = "clinic",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = UserPatch,
    responses(
        (status = 200, description = "Changed", body = UserOut),
        SessionErrors, JsonBodyErrors,
        UpdateUserProblems,
    ),
    security(("session" = []))
)]
#[patch("/api/tenant/users/{id}")]
pub async fn update_user(
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: web::Json<UserPatch>,
) -> Result<web::Json<UserOut>, ApiError> {
    let change = StaffChange {
        role: body.role.map(Role::from),
        active: body.active,
    };
    if change == StaffChange::default() {
        return Err(Error::invalid(
            "role",
            "nothing_to_change",
            "send a new role, a new active flag, or both",
        )
        .into());
    }
    let user = state
        .staff
        .change(auth.ctx(), UserId::from_uuid(id.into_inner()), change)
        .await?;
    Ok(web::Json(user.into()))
}

route_problems!(
    /// What `DELETE /api/tenant/users/{id}` answers itself.
    DeleteUserProblems {
        404 => "No such user in this clinic",
        409 => "It is the clinic's last active owner (`last_owner`)",
    }
);

/// Deactivates a staff member: they can no longer log in and their sessions end.
#[utoipa::path(
    tag = "clinic",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deactivated"),
        SessionErrors,
        DeleteUserProblems,
    ),
    security(("session" = []))
)]
#[delete("/api/tenant/users/{id}")]
pub async fn delete_user(
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .staff
        .deactivate(auth.ctx(), UserId::from_uuid(id.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
