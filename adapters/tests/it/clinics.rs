use clinicgate_adapters::clinics::SeaClinicRepository;
use clinicgate_adapters::users::SeaUserRepository;
use clinicgate_core::Error;
use clinicgate_core::clinics::{ClinicRepository as _, ClinicStatus, NewClinic, Subdomain};
use clinicgate_core::ids::{TenantId, UserId};
use clinicgate_core::users::{Email, NewUser, PasswordHash, Role, UserRepository as _};

use crate::backends::migrated_database;

fn new_clinic(name: &str, subdomain: &str) -> NewClinic {
    NewClinic {
        name: name.into(),
        subdomain: Subdomain::parse(subdomain).unwrap(),
    }
}

#[tokio::test]
async fn a_clinic_round_trips_with_utc_timestamps() {
    let (_guard, db) = migrated_database().await;
    let repo = SeaClinicRepository::new(db);
    let created = repo
        .create(new_clinic("Harbour Physio", "Harbour-Physio"))
        .await
        .unwrap();
    assert_eq!(created.subdomain.as_str(), "harbour-physio");
    assert_eq!(created.status, ClinicStatus::Active);

    let found = repo
        .find_by_subdomain(&Subdomain::parse("HARBOUR-physio").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, created.id);
    assert_eq!(found.name, "Harbour Physio");
    // Stored timestamps keep at least second precision on both engines.
    assert!(
        (found.created_at - created.created_at)
            .num_milliseconds()
            .abs()
            < 1000
    );
    assert_eq!(
        repo.find_by_id(created.id)
            .await
            .unwrap()
            .unwrap()
            .subdomain,
        created.subdomain
    );
}

#[tokio::test]
async fn a_taken_subdomain_is_a_conflict_on_every_database_engine() {
    let (_guard, db) = migrated_database().await;
    let repo = SeaClinicRepository::new(db);
    repo.create(new_clinic("First", "bayside")).await.unwrap();
    let err = repo
        .create(new_clinic("Second", "BaySide"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                code: "subdomain_taken",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_clinics_are_absent_not_errors() {
    let (_guard, db) = migrated_database().await;
    let repo = SeaClinicRepository::new(db);
    assert!(repo.find_by_id(TenantId::new()).await.unwrap().is_none());
    assert!(
        repo.find_by_subdomain(&Subdomain::parse("nobody").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let err = repo
        .set_status(TenantId::new(), ClinicStatus::Suspended)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { resource: "clinic" }));
}

#[tokio::test]
async fn a_clinic_can_be_suspended() {
    let (_guard, db) = migrated_database().await;
    let repo = SeaClinicRepository::new(db);
    let clinic = repo.create(new_clinic("Quiet", "quiet")).await.unwrap();
    repo.set_status(clinic.id, ClinicStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(
        repo.find_by_id(clinic.id).await.unwrap().unwrap().status,
        ClinicStatus::Suspended
    );
}

#[tokio::test]
async fn a_lost_database_is_reported_as_unavailable() {
    let (_guard, db) = migrated_database().await;
    let repo = SeaClinicRepository::new(db.clone());
    db.close().await.unwrap();
    let err = repo.find_by_id(TenantId::new()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unavailable {
                dependency: "database"
            }
        ),
        "{err:?}"
    );
}

fn owner(id: UserId) -> NewUser {
    NewUser {
        id,
        email: Email::parse("owner@example.com").unwrap(),
        display_name: None,
        role: Role::Owner,
        password_hash: PasswordHash::from_stored(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        ),
    }
}

#[tokio::test]
async fn a_clinic_and_its_owner_are_created_together() {
    let (_guard, db) = migrated_database().await;
    let repo = SeaClinicRepository::new(db.clone());
    let (clinic, user) = repo
        .create_with_owner(new_clinic("Harbour", "harbour"), owner(UserId::new()))
        .await
        .unwrap();
    assert_eq!(user.tenant_id, clinic.id);
    assert_eq!(user.role, Role::Owner);
    let users = SeaUserRepository::new(db);
    assert_eq!(users.list_in_tenant(clinic.id).await.unwrap(), [user]);
}

#[tokio::test]
async fn when_the_owner_cannot_be_stored_the_clinic_is_rolled_back_too() {
    let (_guard, db) = migrated_database().await;
    let repo = SeaClinicRepository::new(db);
    let taken = UserId::new();
    repo.create_with_owner(new_clinic("First", "first"), owner(taken))
        .await
        .unwrap();
    // Reusing the first owner's id makes the second owner's insert fail after the clinic's.
    let err = repo
        .create_with_owner(new_clinic("Second", "second"), owner(taken))
        .await
        .unwrap_err();
    assert!(
        !matches!(
            err,
            Error::Conflict {
                code: "subdomain_taken",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        repo.find_by_subdomain(&Subdomain::parse("second").unwrap())
            .await
            .unwrap()
            .is_none(),
        "the clinic must not outlive its failed owner"
    );
    // ...and the name is free to take again.
    repo.create_with_owner(new_clinic("Second", "second"), owner(UserId::new()))
        .await
        .unwrap();
}
