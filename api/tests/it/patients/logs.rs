//! No patient's name or details reach the logs, whatever path the data takes: page, JSON,
//! search, recently viewed, a 404 and a Cliniko failure.

use reqwest::Method;

use super::SandboxApp;
use crate::secrets_at_rest::{captured_logs, contains};

#[tokio::test]
async fn no_patient_name_or_detail_appears_in_the_logs() {
    let logs = captured_logs();
    let env = SandboxApp::start().await;
    let cookie = env.clinic("harbour", Some(0)).await;
    let patient = env.patient_with_alert(0, 4).await;
    let full_name = format!("{} {}", patient.first_name, patient.last_name);

    let page = env
        .page(
            "harbour",
            &format!("/patients?patient_id={}", patient.id),
            Some(&cookie),
        )
        .await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(&patient.alert));
    let json = env
        .json(
            "harbour",
            &format!("/api/tenant/patients/{}", patient.id),
            &cookie,
        )
        .await;
    assert_eq!(json.status(), 200);
    let searched = env
        .app
        .on(Method::POST, "harbour", "/patients/search", Some(&cookie))
        .form(&[("q", full_name.as_str())])
        .send()
        .await
        .unwrap();
    assert!(searched.text().await.unwrap().contains(&patient.id));
    let home = env
        .page("harbour", "/", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        home.contains(&patient.last_name),
        "recently viewed shows the name"
    );
    assert_eq!(
        env.page("harbour", "/patients?patient_id=1", Some(&cookie))
            .await
            .status(),
        404
    );

    let logged = logs.lock().unwrap().clone();
    assert!(
        contains(&logged, b"request served"),
        "the capture must see this test's requests"
    );
    for detail in [
        full_name.as_str(),
        patient.email.as_str(),
        patient.phone.as_str(),
        patient.alert.as_str(),
    ] {
        assert!(
            !contains(&logged, detail.as_bytes()),
            "the logs hold patient data: {detail:?}"
        );
    }
    let search_term = format!("q={}", patient.last_name);
    assert!(!contains(&logged, search_term.as_bytes()));
}
