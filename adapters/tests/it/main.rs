//! Integration tests of the adapters, on the backends chosen by `CLINICGATE_TEST_DATABASE_URL`
//! and `CLINICGATE_TEST_REDIS_URL` (SQLite and in-process when unset).

mod backends;
mod clinics;
mod stores;
