//! What the two-step login shows wherever it is set up (the JSON routes and the account page):
//! the account's label in the user's authenticator app and the QR code of its `otpauth` URI.

use clinicgate_core::Error;
use clinicgate_core::clinics::Clinic;
use qrcode::QrCode;
use qrcode::render::svg;

/// The label the user's app shows for this account.
pub fn issuer(clinic: &Clinic) -> String {
    format!("ClinicGate {}", clinic.name)
}

/// The QR code of `uri` as an SVG document.
///
/// # Errors
/// `Internal` when the URI does not fit in a QR code (it always does: it is under 300 bytes).
pub fn qr_svg(uri: &str) -> Result<String, Error> {
    let code = QrCode::new(uri.as_bytes())
        .map_err(|e| Error::internal(format!("QR code of the otpauth URI: {e}")))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}
