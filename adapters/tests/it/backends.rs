//! The database for one test, migrated, on the backend the environment selects.

use clinicgate_adapters::clinics::SeaClinicRepository;
use clinicgate_adapters::db::{self, DatabaseOptions, Db};
use clinicgate_adapters::testing::TestDatabase;
use clinicgate_core::clinics::{ClinicRepository as _, NewClinic, Subdomain};
use clinicgate_core::ids::TenantId;
use clinicgate_migration::{Migrator, MigratorTrait as _};

/// A migrated database and the guard that removes it.
pub async fn migrated_database() -> (TestDatabase, Db) {
    let database = TestDatabase::create().await;
    let options = DatabaseOptions {
        url: database.url(),
        max_connections: 4,
        connect_timeout: std::time::Duration::from_secs(5),
    };
    let db = db::connect(&options)
        .await
        .expect("connect to the test database");
    Migrator::up(&db, None).await.expect("migrations apply");
    (database, db)
}

/// A new clinic with `subdomain` (also its name); its id.
pub async fn clinic(db: &Db, subdomain: &str) -> TenantId {
    SeaClinicRepository::new(db.clone())
        .create(NewClinic {
            name: subdomain.into(),
            subdomain: Subdomain::parse(subdomain).unwrap(),
        })
        .await
        .unwrap()
        .id
}
