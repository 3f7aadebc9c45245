//! Serialised directory lists, kept per clinic for as long as the directory they were made from.
//!
//! A directory list's body is a pure function of the clinic's directory and the request's path
//! and query string (links are built from the configured public URL, the path and the query). The
//! directory is immutable and memoised per instance ([`DirectoryService`]), so a body made once
//! can be sent again until the memo is reloaded. Partners poll these lists, and building the
//! JSON again for every poll was more than a quarter of the cost of `GET /api/public/doctors`.
//!
//! Safety of reuse: an entry belongs to one clinic (keyed by the token's tenant) and to one
//! directory value. It is compared by identity through a [`Weak`] reference, which also keeps the
//! old allocation's address from being reused while the entry exists. A reloaded directory is a
//! new value, so its first request starts the clinic's entry afresh. Memory is bounded: at most
//! [`PER_CLINIC`] bodies per clinic, and everything is dropped once [`TOTAL_BYTES`] would be
//! exceeded.
//!
//! [`DirectoryService`]: clinicgate_core::directory::DirectoryService

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use actix_web::web::Bytes;
use clinicgate_core::directory::Directory;
use clinicgate_core::ids::TenantId;

/// Bodies kept per clinic (distinct path + query combinations).
pub const PER_CLINIC: usize = 32;

/// Bytes of bodies kept in all before everything is dropped and kept afresh.
pub const TOTAL_BYTES: usize = 8 * 1024 * 1024;

/// The cache (see the module docs); cheap to share.
#[derive(Debug, Default)]
pub struct ListBodies {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    clinics: HashMap<TenantId, ClinicBodies>,
    bytes: usize,
}

#[derive(Debug)]
struct ClinicBodies {
    directory: Weak<Directory>,
    bodies: HashMap<String, Bytes>,
}

impl ListBodies {
    /// The body for `key` (the request's path and query) made from `directory`, rendering and
    /// keeping it when there is none. Errors from `render` are returned and nothing is kept.
    pub fn get_or_render<E>(
        &self,
        tenant: TenantId,
        directory: &Arc<Directory>,
        key: &str,
        render: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Bytes, E> {
        if let Some(body) = self.get(tenant, directory, key) {
            return Ok(body);
        }
        let body = Bytes::from(render()?);
        self.keep(tenant, directory, key, &body);
        Ok(body)
    }

    fn get(&self, tenant: TenantId, directory: &Arc<Directory>, key: &str) -> Option<Bytes> {
        let inner = self.lock();
        let clinic = inner.clinics.get(&tenant)?;
        if !is_from(clinic, directory) {
            return None;
        }
        clinic.bodies.get(key).cloned()
    }

    fn keep(&self, tenant: TenantId, directory: &Arc<Directory>, key: &str, body: &Bytes) {
        let mut inner = self.lock();
        if inner.bytes + body.len() > TOTAL_BYTES {
            inner.clinics.clear();
            inner.bytes = 0;
            if body.len() > TOTAL_BYTES {
                return;
            }
        }
        let Inner { clinics, bytes } = &mut *inner;
        let clinic = clinics.entry(tenant).or_insert_with(|| ClinicBodies {
            directory: Arc::downgrade(directory),
            bodies: HashMap::new(),
        });
        if !is_from(clinic, directory) {
            *bytes -= clinic.bodies.values().map(Bytes::len).sum::<usize>();
            *clinic = ClinicBodies {
                directory: Arc::downgrade(directory),
                bodies: HashMap::new(),
            };
        }
        if clinic.bodies.len() >= PER_CLINIC || clinic.bodies.contains_key(key) {
            return;
        }
        *bytes += body.len();
        clinic.bodies.insert(key.to_owned(), body.clone());
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether `clinic`'s bodies were made from this very `directory` value.
fn is_from(clinic: &ClinicBodies, directory: &Arc<Directory>) -> bool {
    std::ptr::eq(clinic.directory.as_ptr(), Arc::as_ptr(directory))
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    fn directory() -> Arc<Directory> {
        Arc::new(Directory::default())
    }

    fn render(text: &str) -> impl FnOnce() -> Result<Vec<u8>, Infallible> + '_ {
        move || Ok(text.as_bytes().to_vec())
    }

    #[test]
    fn a_body_is_made_once_per_directory_and_key() {
        let bodies = ListBodies::default();
        let tenant = TenantId::new();
        let current = directory();
        let first = bodies
            .get_or_render(tenant, &current, "/a?x=1", render("one"))
            .unwrap();
        let again = bodies
            .get_or_render(
                tenant,
                &current,
                "/a?x=1",
                || -> Result<Vec<u8>, Infallible> { unreachable!("kept from the first request") },
            )
            .unwrap();
        assert_eq!((&first[..], &again[..]), (&b"one"[..], &b"one"[..]));
        let other = bodies
            .get_or_render(tenant, &current, "/a?x=2", render("two"))
            .unwrap();
        assert_eq!(&other[..], b"two");
    }

    #[test]
    fn a_reloaded_directory_starts_afresh() {
        let bodies = ListBodies::default();
        let tenant = TenantId::new();
        let old = directory();
        bodies
            .get_or_render(tenant, &old, "/a", render("old"))
            .unwrap();
        let new = directory();
        let body = bodies
            .get_or_render(tenant, &new, "/a", render("new"))
            .unwrap();
        assert_eq!(&body[..], b"new");
        // The old value, still held by a request in flight, is no longer served from the cache.
        let body = bodies
            .get_or_render(tenant, &old, "/a", render("old again"))
            .unwrap();
        assert_eq!(&body[..], b"old again");
    }

    #[test]
    fn clinics_never_share_bodies_even_for_the_same_key() {
        let bodies = ListBodies::default();
        let (a, b) = (TenantId::new(), TenantId::new());
        let (of_a, of_b) = (directory(), directory());
        bodies
            .get_or_render(a, &of_a, "/doctors", render("clinic a"))
            .unwrap();
        let body = bodies
            .get_or_render(b, &of_b, "/doctors", render("clinic b"))
            .unwrap();
        assert_eq!(&body[..], b"clinic b");
        // Even handed clinic A's directory, clinic B's entry does not answer with A's body.
        let body = bodies
            .get_or_render(b, &of_a, "/doctors", render("b with a's directory"))
            .unwrap();
        assert_eq!(&body[..], b"b with a's directory");
    }

    #[test]
    fn errors_are_returned_and_not_kept() {
        let bodies = ListBodies::default();
        let tenant = TenantId::new();
        let current = directory();
        let failed: Result<Bytes, &str> =
            bodies.get_or_render(tenant, &current, "/a", || Err("invalid"));
        assert_eq!(failed, Err("invalid"));
        let body = bodies
            .get_or_render(tenant, &current, "/a", render("fine"))
            .unwrap();
        assert_eq!(&body[..], b"fine");
    }

    #[test]
    fn memory_is_bounded_per_clinic_and_in_all() {
        let bodies = ListBodies::default();
        let tenant = TenantId::new();
        let current = directory();
        for i in 0..PER_CLINIC + 10 {
            bodies
                .get_or_render(tenant, &current, &format!("/a?q={i}"), render("x"))
                .unwrap();
        }
        assert_eq!(bodies.lock().clinics[&tenant].bodies.len(), PER_CLINIC);

        let big = "y".repeat(TOTAL_BYTES / 2 + 1);
        bodies
            .get_or_render(TenantId::new(), &directory(), "/big", render(&big))
            .unwrap();
        bodies
            .get_or_render(TenantId::new(), &directory(), "/big", render(&big))
            .unwrap();
        let inner = bodies.lock();
        assert!(inner.bytes <= TOTAL_BYTES, "{} bytes kept", inner.bytes);
        assert_eq!(
            inner.clinics.len(),
            1,
            "the second big body reset the cache"
        );
    }
}
