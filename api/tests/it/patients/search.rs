//! The clinic home: finding a patient by name (posted, so no name lands in a URL) and the
//! patients this user opened recently.

use reqwest::Method;

use super::SandboxApp;
use crate::common::PASSWORD;

async fn search(env: &SandboxApp, cookie: &str, q: &str) -> reqwest::Response {
    env.app
        .on(Method::POST, "harbour", "/patients/search", Some(cookie))
        .form(&[("q", q)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_name_search_finds_the_patient_and_is_recorded() {
    let env = SandboxApp::start().await;
    let cookie = env.clinic("harbour", Some(0)).await;
    let patient = env.patient_with_alert(0, 1).await;
    let full = format!("{} {}", patient.first_name, patient.last_name);

    let response = search(&env, &cookie, &full).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(
        response.url().query().is_none(),
        "the name is not in the URL"
    );
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&format!("href=\"/patients?patient_id={}\"", patient.id)),
        "the patient is found by first and last name"
    );
    // Reversed order and a fragment of the last name find them too.
    let html = search(
        &env,
        &cookie,
        &format!("{} {}", patient.last_name, patient.first_name),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(html.contains(&patient.id));
    let fragment: String = patient.last_name.chars().take(4).collect();
    let html = search(&env, &cookie, &fragment.to_lowercase())
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&patient.id));

    let ledger = env
        .ledger("harbour", &cookie, &format!("?patient_id={}", patient.id))
        .await;
    let entries = ledger["entries"].as_array().unwrap();
    assert!(entries.len() >= 3);
    assert!(entries.iter().all(|e| e["channel"] == "search"));
    assert_eq!(
        entries[0]["categories"],
        serde_json::json!(["demographics"])
    );

    for bad in ["", "a", &"x".repeat(101)] {
        let html = search(&env, &cookie, bad).await.text().await.unwrap();
        assert!(html.contains("Type at least two letters"), "{bad:?}");
    }
    let html = search(&env, &cookie, "Zzyzxqwv")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("No patient in Cliniko matches this name."));
}

#[tokio::test]
async fn the_home_page_lists_the_patients_this_user_opened_most_recently() {
    let env = SandboxApp::start().await;
    let owner = env.clinic("harbour", Some(0)).await;
    env.app
        .add_user("harbour", &owner, "sam@harbour.example.com", "clinician")
        .await;
    let sam = env
        .app
        .log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;
    let first = env.patient_with_alert(0, 2).await;
    let second = env.patient_with_alert(0, 3).await;

    let home = env
        .page("harbour", "/", Some(&sam))
        .await
        .text()
        .await
        .unwrap();
    assert!(home.contains("Patients you open appear here."));
    for patient in [&first, &second, &first] {
        let response = env
            .page(
                "harbour",
                &format!("/patients?patient_id={}", patient.id),
                Some(&sam),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    let response = env.page("harbour", "/", Some(&sam)).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let home = response.text().await.unwrap();
    let list = &home[home.find("id=\"recent-patients\"").unwrap()..];
    let at = |id: &str| list.find(&format!("patient_id={id}\"")).unwrap();
    assert!(
        at(&first.id) < at(&second.id),
        "most recent first, once each"
    );
    assert_eq!(
        list.matches(&format!("patient_id={}\"", first.id)).count(),
        1
    );

    // Only their own history: the owner opened nobody.
    let home = env
        .page("harbour", "/", Some(&owner))
        .await
        .text()
        .await
        .unwrap();
    assert!(home.contains("Patients you open appear here."));
}
