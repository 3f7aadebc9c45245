//! The recovery codes of staff MFA; read and written only by [`crate::mfa`], which keeps them in
//! step with the TOTP secret they back up.

pub(crate) mod entity;
