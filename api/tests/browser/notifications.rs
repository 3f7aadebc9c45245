//! Settings → Notifications in a real browser: the owner writes the booking confirmation in the
//! clinic's own words, is told which line names an unknown variable, previews the draft with
//! sample data, saves it and goes back to the default.

use crate::browser::{browser, screenshot};
use crate::common::PASSWORD;
use crate::onboarding::{click_button, fill, log_in_to, spawn_on_own_port, wait_for_text};

#[tokio::test]
async fn an_owner_edits_previews_saves_and_resets_a_template() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_on_own_port(None).await;
    let clinic = app.sign_up("harbour").await;
    let client = &browser.client;
    let origin = format!("http://harbour.localhost:{}", app.port);
    log_in_to(
        client,
        &origin,
        "/settings/notifications",
        &clinic.owner_email,
    )
    .await;
    wait_for_text(client, "#tmpl-event", "Booked (confirmation)").await;
    wait_for_text(client, "#tmpl-state", "The default wording.").await;

    // An unknown variable is refused on its field, naming the line.
    fill(client, "Subject", "Harbour: {{ whenn }}").await;
    click_button(client, "Save template").await;
    wait_for_text(
        client,
        "#tmpl-subject-error",
        "line 1: unknown variable `whenn`",
    )
    .await;

    // The corrected draft, previewed with sample data before it is saved.
    fill(client, "Subject", "Harbour: see you {{ when }}").await;
    fill(client, "Plain text", "Kia ora {{ patient_name }}!").await;
    click_button(client, "Preview draft").await;
    wait_for_text(
        client,
        "#preview-subject",
        "Harbour: see you Mon 7 Dec 2026, 9:30",
    )
    .await;
    wait_for_text(client, "#preview-text", "Kia ora Jane Citizen!").await;
    click_button(client, "Save template").await;
    wait_for_text(client, "#template-saved", "Saved.").await;
    wait_for_text(client, "#tmpl-state", "Your own wording").await;
    screenshot(client, "settings-notifications").await;

    // Saved: the API sends it from now on.
    let saved: serde_json::Value = app
        .on(
            reqwest::Method::GET,
            "harbour",
            "/api/tenant/notifications/templates",
            Some(&app.log_in("harbour", &clinic.owner_email, PASSWORD).await),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = saved
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["event"] == "appointment.created")
        .unwrap();
    assert_eq!(created["custom"], true);
    assert_eq!(
        created["template"]["subject"],
        "Harbour: see you {{ when }}"
    );

    click_button(client, "Back to the default").await;
    wait_for_text(client, "#template-saved", "Back to the default wording.").await;
    wait_for_text(client, "#tmpl-state", "The default wording.").await;
}
