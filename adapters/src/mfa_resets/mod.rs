//! The record of managers' MFA resets; written only by [`crate::mfa`], in the transaction that
//! removes the MFA.

pub(crate) mod entity;
