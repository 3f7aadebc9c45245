use std::sync::Arc;

use clinicgate_adapters::clinics::SeaClinicRepository;
use clinicgate_adapters::users::SeaUserRepository;
use clinicgate_core::Error;
use clinicgate_core::clinics::{ClinicRepository as _, NewClinic, Subdomain};
use clinicgate_core::ids::{TenantId, UserId};
use clinicgate_core::users::{Email, NewUser, PasswordHash, Role, UserChange, UserRepository};

use crate::backends::migrated_database;

fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        id: UserId::new(),
        email: Email::parse(email).unwrap(),
        display_name: None,
        role,
        password_hash: PasswordHash::from_stored(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        ),
    }
}

async fn clinic(repo: &SeaClinicRepository, subdomain: &str) -> TenantId {
    repo.create(NewClinic {
        name: subdomain.into(),
        subdomain: Subdomain::parse(subdomain).unwrap(),
    })
    .await
    .unwrap()
    .id
}

fn demote() -> UserChange {
    UserChange {
        role: Some(Role::Admin),
        active: None,
    }
}

#[tokio::test]
async fn users_are_only_ever_found_within_their_own_clinic() {
    let (_guard, db) = migrated_database().await;
    let clinics = SeaClinicRepository::new(db.clone());
    let users = SeaUserRepository::new(db);
    let (a, b) = (
        clinic(&clinics, "clinic-a").await,
        clinic(&clinics, "clinic-b").await,
    );
    let sam = users
        .create_in_tenant(a, new_user("sam@example.com", Role::Clinician))
        .await
        .unwrap();
    assert_eq!(sam.tenant_id, a);

    assert!(users.find_in_tenant(a, sam.id).await.unwrap().is_some());
    assert!(users.find_in_tenant(b, sam.id).await.unwrap().is_none());
    let email = Email::parse("SAM@example.com").unwrap();
    let (found, hash) = users
        .credentials_in_tenant(a, &email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, sam.id);
    assert!(hash.as_str().starts_with("$argon2id$"));
    assert!(
        users
            .credentials_in_tenant(b, &email)
            .await
            .unwrap()
            .is_none()
    );
    assert!(users.list_in_tenant(b).await.unwrap().is_empty());
    let err = users
        .change_in_tenant(b, sam.id, demote())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { resource: "user" }),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_email_is_unique_within_a_clinic_and_free_in_others() {
    let (_guard, db) = migrated_database().await;
    let clinics = SeaClinicRepository::new(db.clone());
    let users = SeaUserRepository::new(db);
    let (a, b) = (
        clinic(&clinics, "clinic-a").await,
        clinic(&clinics, "clinic-b").await,
    );
    users
        .create_in_tenant(a, new_user("sam@example.com", Role::Clinician))
        .await
        .unwrap();
    let err = users
        .create_in_tenant(a, new_user("Sam@Example.com", Role::Admin))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                code: "email_taken",
                ..
            }
        ),
        "{err:?}"
    );
    users
        .create_in_tenant(b, new_user("sam@example.com", Role::Clinician))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_last_active_owner_can_be_neither_demoted_nor_deactivated() {
    let (_guard, db) = migrated_database().await;
    let clinics = SeaClinicRepository::new(db.clone());
    let users = SeaUserRepository::new(db);
    let a = clinic(&clinics, "clinic-a").await;
    let owner = users
        .create_in_tenant(a, new_user("owner@example.com", Role::Owner))
        .await
        .unwrap();
    for change in [
        demote(),
        UserChange {
            role: None,
            active: Some(false),
        },
    ] {
        let err = users
            .change_in_tenant(a, owner.id, change)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Conflict {
                    code: "last_owner",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    // An inactive owner does not count as the clinic's owner.
    let dormant = users
        .create_in_tenant(a, new_user("dormant@example.com", Role::Owner))
        .await
        .unwrap();
    users
        .change_in_tenant(
            a,
            dormant.id,
            UserChange {
                role: None,
                active: Some(false),
            },
        )
        .await
        .unwrap();
    assert!(users.change_in_tenant(a, owner.id, demote()).await.is_err());

    let second = users
        .create_in_tenant(a, new_user("second@example.com", Role::Owner))
        .await
        .unwrap();
    let demoted = users.change_in_tenant(a, owner.id, demote()).await.unwrap();
    assert_eq!(demoted.role, Role::Admin);
    assert!(
        users
            .change_in_tenant(a, second.id, demote())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_the_clinic_one_owner() {
    let (_guard, db) = migrated_database().await;
    let clinics = SeaClinicRepository::new(db.clone());
    let users = Arc::new(SeaUserRepository::new(db));
    for round in 0..5 {
        let a = clinic(&clinics, &format!("clinic-{round}")).await;
        let first = users
            .create_in_tenant(a, new_user("first@example.com", Role::Owner))
            .await
            .unwrap();
        let second = users
            .create_in_tenant(a, new_user("second@example.com", Role::Owner))
            .await
            .unwrap();
        let (one, two) = tokio::join!(
            {
                let users = users.clone();
                async move { users.change_in_tenant(a, first.id, demote()).await }
            },
            {
                let users = users.clone();
                async move { users.change_in_tenant(a, second.id, demote()).await }
            },
        );
        assert!(
            one.is_ok() != two.is_ok(),
            "round {round}: exactly one demotion must win: {one:?} {two:?}"
        );
        let owners = users
            .list_in_tenant(a)
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.role == Role::Owner && u.active)
            .count();
        assert_eq!(owners, 1, "round {round}");
    }
}
