use clinicgate_adapters::clinics::SeaClinicRepository;
use clinicgate_core::Error;
use clinicgate_core::clinics::{ClinicRepository as _, ClinicStatus, NewClinic, Subdomain};
use clinicgate_core::ids::TenantId;

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
