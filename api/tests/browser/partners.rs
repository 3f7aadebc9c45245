//! Settings → Partners in a real browser: the owner chooses the Cliniko field that shows a
//! partner's own patient id, and the clinic's setting says so.

use fantoccini::Locator;
use reqwest::Method;

use crate::browser::browser;
use crate::common::PASSWORD;
use crate::onboarding::{
    click_button, field, log_in_to, spawn_on_own_port, wait_for_path, wait_for_text,
};

#[tokio::test]
async fn an_owner_chooses_where_partner_ids_show_in_cliniko() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_on_own_port(None).await;
    let clinic = app.sign_up("harbour").await;
    let client = &browser.client;
    let origin = format!("http://harbour.localhost:{}", app.port);
    log_in_to(client, &origin, "/settings/partners", &clinic.owner_email).await;

    let select = field(client, "Also write partner patient ids into").await;
    select
        .find(Locator::Css("option[value='old_reference_id']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_button(client, "Save").await;
    wait_for_text(
        client,
        "#partner-field-done",
        "Partner ids are written into Cliniko.",
    )
    .await;

    let owner = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let settings: serde_json::Value = app
        .on(Method::GET, "harbour", "/api/tenant/settings", Some(&owner))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["partner_id_field"], "old_reference_id");

    // After a reload the page shows the stored choice.
    client.refresh().await.unwrap();
    wait_for_path(client, &origin, "/settings/partners").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let chosen = field(client, "Also write partner patient ids into")
            .await
            .prop("value")
            .await
            .unwrap();
        if chosen.as_deref() == Some("old_reference_id") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "shown: {chosen:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
