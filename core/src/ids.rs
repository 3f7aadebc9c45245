//! Identifier newtypes. Every entity has its own id type so ids of different entities cannot be
//! swapped by accident.
//!
//! ClinicGate's own ids are UUIDv7: globally unique without coordination between instances, and
//! time-ordered so primary-key indexes stay append-mostly on both SQLite and PostgreSQL. They are
//! serialised as the canonical hyphenated lowercase string.

/// Declares a UUIDv7 id newtype; paths are absolute so other modules of this crate can use it.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(::uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(::uuid::Uuid::now_v7())
            }

            /// Wraps an id read back from storage.
            pub const fn from_uuid(id: ::uuid::Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID, for storage adapters.
            pub const fn as_uuid(&self) -> ::uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::uuid::Error;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s).map(Self)
            }
        }
    };
}

// Lets other modules declare their ids the same way (e.g. the ledger's `EntryId`).
pub(crate) use uuid_id;

uuid_id!(
    /// A clinic (tenant). Every tenant-owned row carries one.
    TenantId
);
uuid_id!(
    /// A staff member of one clinic.
    UserId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_string_form() {
        let id = TenantId::new();
        let parsed: TenantId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
    }

    #[test]
    fn ids_created_later_sort_later() {
        let first = TenantId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(TenantId::new() > first);
    }
}
