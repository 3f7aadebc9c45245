//! The access ledger: owners and admins read it (JSON, pages, CSV) with filters; clinicians
//! cannot; nothing can change or delete an entry; another clinic's entries are invisible.

use reqwest::Method;
use sea_orm::ConnectionTrait as _;

use super::SandboxApp;
use crate::common::PASSWORD;

/// Harbour (sandbox account 0) with an owner and a clinician who each opened patients.
async fn ledger_with_views(env: &SandboxApp) -> (String, String, Vec<super::KnownPatient>) {
    let owner = env.clinic("harbour", Some(0)).await;
    env.app
        .add_user("harbour", &owner, "sam@harbour.example.com", "clinician")
        .await;
    let sam = env
        .app
        .log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;
    let patients = vec![
        env.patient_with_alert(0, 0).await,
        env.patient_with_alert(0, 1).await,
    ];
    for (cookie, patient) in [
        (&sam, &patients[0]),
        (&sam, &patients[1]),
        (&owner, &patients[0]),
    ] {
        let response = env
            .page(
                "harbour",
                &format!("/patients?patient_id={}", patient.id),
                Some(cookie),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    (owner, sam, patients)
}

#[tokio::test]
async fn owners_read_every_view_with_who_what_how_when_and_from_where() {
    let env = SandboxApp::start().await;
    let (owner, _sam, patients) = ledger_with_views(&env).await;
    let ledger = env.ledger("harbour", &owner, "").await;
    let entries = ledger["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let newest = &entries[0];
    assert_eq!(newest["actor"]["email"], "owner@harbour.example.com");
    assert_eq!(newest["actor"]["kind"], "user");
    assert_eq!(newest["patient_id"], patients[0].id.as_str());
    assert_eq!(newest["channel"], "page");
    assert_eq!(newest["ip"], "127.0.0.1");
    assert!(newest["user_agent"].is_string() || newest["user_agent"].is_null());
    assert!(
        newest["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert!(newest["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(ledger["next_cursor"], serde_json::Value::Null);
    let text = serde_json::to_string(&ledger).unwrap();
    assert!(
        !text.contains(&patients[0].last_name),
        "the ledger holds ids, not names"
    );
}

#[tokio::test]
async fn the_ledger_filters_by_patient_actor_and_time_and_pages_with_a_cursor() {
    let env = SandboxApp::start().await;
    let (owner, _sam, patients) = ledger_with_views(&env).await;
    let all = env.ledger("harbour", &owner, "").await;
    let sam_id = all["entries"][1]["actor"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let by_patient = env
        .ledger(
            "harbour",
            &owner,
            &format!("?patient_id={}", patients[0].id),
        )
        .await;
    assert_eq!(by_patient["entries"].as_array().unwrap().len(), 2);
    let by_actor = env
        .ledger("harbour", &owner, &format!("?actor={sam_id}"))
        .await;
    let by_actor = by_actor["entries"].as_array().unwrap();
    assert_eq!(by_actor.len(), 2);
    assert!(
        by_actor
            .iter()
            .all(|e| e["actor"]["email"] == "sam@harbour.example.com")
    );
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let within = env
        .ledger("harbour", &owner, &format!("?from={today}&to={today}"))
        .await;
    assert_eq!(
        within["entries"].as_array().unwrap().len(),
        3,
        "`to` includes that day"
    );
    let later = env
        .ledger("harbour", &owner, &format!("?from={tomorrow}"))
        .await;
    assert_eq!(later["entries"], serde_json::json!([]));
    let newest_at = all["entries"][0]["at"].as_str().unwrap();
    let before_newest = env
        .ledger(
            "harbour",
            &owner,
            &format!("?to={}", newest_at.replace('+', "%2B")),
        )
        .await;
    assert_eq!(
        before_newest["entries"].as_array().unwrap().len(),
        2,
        "a timestamp `to` is exclusive"
    );

    let first = env.ledger("harbour", &owner, "?limit=2").await;
    assert_eq!(first["entries"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = env
        .ledger("harbour", &owner, &format!("?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(second["entries"].as_array().unwrap().len(), 1);
    assert_eq!(second["entries"][0]["id"], all["entries"][2]["id"]);
    assert_eq!(second["next_cursor"], serde_json::Value::Null);

    for bad in [
        "?patient_id=abc",
        "?actor=nobody",
        "?from=31-12-2026",
        "?limit=501",
        "?cursor=x",
    ] {
        let response = env
            .json("harbour", &format!("/api/tenant/audit{bad}"), &owner)
            .await;
        assert_eq!(response.status(), 422, "{bad}");
    }
}

#[tokio::test]
async fn clinicians_cannot_read_the_ledger_in_any_form() {
    let env = SandboxApp::start().await;
    let (_owner, sam, _patients) = ledger_with_views(&env).await;
    for path in ["/api/tenant/audit", "/api/tenant/audit/export"] {
        assert_eq!(
            env.json("harbour", path, &sam).await.status(),
            403,
            "{path}"
        );
    }
    assert_eq!(
        env.page("harbour", "/settings/audit", Some(&sam))
            .await
            .status(),
        403
    );
    let home = env
        .page("harbour", "/", Some(&sam))
        .await
        .text()
        .await
        .unwrap();
    assert!(!home.contains("/settings/audit"));
}

#[tokio::test]
async fn entries_cannot_be_changed_or_deleted_through_the_api_or_in_the_database() {
    let env = SandboxApp::start().await;
    let (owner, _sam, _patients) = ledger_with_views(&env).await;
    let before = env.ledger("harbour", &owner, "").await;
    let id = before["entries"][0]["id"].as_str().unwrap().to_owned();
    for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
        for path in [
            "/api/tenant/audit".to_owned(),
            format!("/api/tenant/audit/{id}"),
        ] {
            let response = env
                .app
                .on(method.clone(), "harbour", &path, Some(&owner))
                .json(&serde_json::json!({"patient_id": "1"}))
                .send()
                .await
                .unwrap();
            assert!(
                [404, 405].contains(&response.status().as_u16()),
                "{method} {path}: {}",
                response.status()
            );
        }
    }
    let db = &env.app.state.db;
    for statement in [
        "UPDATE phi_access_ledger SET patient_id = '1'",
        "DELETE FROM phi_access_ledger",
    ] {
        assert!(
            db.execute_unprepared(statement).await.is_err(),
            "{statement} was allowed"
        );
    }
    assert_eq!(env.ledger("harbour", &owner, "").await, before);
}

#[tokio::test]
async fn the_ledger_page_and_the_csv_export_show_the_same_entries() {
    let env = SandboxApp::start().await;
    let (owner, _sam, patients) = ledger_with_views(&env).await;
    let before = env.ledger("harbour", &owner, "").await;
    let response = env.page("harbour", "/settings/audit", Some(&owner)).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Access ledger"));
    // E-mails break only before the "@".
    assert_eq!(html.matches("sam<wbr>@harbour.example.com</td>").count(), 2);
    assert!(html.contains(&format!("/settings/audit?patient_id={}", patients[1].id)));
    // The clinic's own staff see whose data it was by name, and looking adds no entry.
    for patient in &patients {
        assert!(html.contains(&patient.last_name), "{}", patient.last_name);
    }
    assert_eq!(env.ledger("harbour", &owner, "").await, before);

    let html = env
        .page(
            "harbour",
            &format!("/settings/audit?patient_id={}", patients[1].id),
            Some(&owner),
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(html.matches("<tr><td class=\"when\">").count(), 1);
    let bad = env
        .page("harbour", "/settings/audit?from=soon", Some(&owner))
        .await;
    assert_eq!(bad.status(), 422);

    let response = env
        .json("harbour", "/api/tenant/audit/export", &owner)
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "at,actor_kind,actor_id,actor_email,patient_id,categories,channel,ip,user_agent,request_id"
    );
    assert_eq!(lines.len(), 4);
    assert!(lines[1].contains("owner@harbour.example.com"));
    assert!(lines[1].contains(&patients[0].id));
    assert!(lines[1].contains("demographics;contact;alerts;appointments,page,127.0.0.1"));
    let filtered = env
        .json(
            "harbour",
            &format!("/api/tenant/audit/export?patient_id={}", patients[1].id),
            &owner,
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(filtered.lines().count(), 2);
}

#[tokio::test]
async fn a_clinics_ledger_shows_only_its_own_views() {
    let env = SandboxApp::start().await;
    let (owner, _sam, _patients) = ledger_with_views(&env).await;
    let thames = env.clinic("thames", Some(1)).await;
    let theirs = env.patient_with_alert(1, 0).await;
    let response = env
        .page(
            "thames",
            &format!("/patients?patient_id={}", theirs.id),
            Some(&thames),
        )
        .await;
    assert_eq!(response.status(), 200);
    let harbour = env.ledger("harbour", &owner, "").await;
    assert_eq!(harbour["entries"].as_array().unwrap().len(), 3);
    let thames_ledger = env.ledger("thames", &thames, "").await;
    assert_eq!(thames_ledger["entries"].as_array().unwrap().len(), 1);
    assert_eq!(
        thames_ledger["entries"][0]["patient_id"],
        theirs.id.as_str()
    );
    let filtered = env
        .ledger(
            "thames",
            &thames,
            &format!(
                "?actor={}",
                harbour["entries"][0]["actor"]["id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(filtered["entries"], serde_json::json!([]));
}
