//! The `poll_phone_keys` table: per clinic and Cliniko patient, the keyed hashes of their phone
//! numbers' last digits (`clinicgate_core::polling::phones`), written with the patient's
//! snapshot and read by FHIR's phone search, both through the poller's store
//! ([`crate::polling`]).

pub(crate) mod entity;
