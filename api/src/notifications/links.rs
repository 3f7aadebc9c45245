//! Where unsubscribe links lead: the clinic's host under the public URL. The token and the
//! path are core's ([`clinicgate_core::notifications::UnsubscribeLinks`]); the page is
//! `pages::unsubscribe`.

use clinicgate_core::clinics::Subdomain;
use clinicgate_core::notifications::ClinicHosts;

use crate::config::PublicUrl;

impl ClinicHosts for PublicUrl {
    fn clinic_url(&self, subdomain: &Subdomain) -> String {
        self.tenant_url(subdomain.as_str())
    }
}
