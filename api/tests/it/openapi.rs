use crate::common::spawn_app;

/// The committed document, relative to this crate.
fn committed() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    ))
    .unwrap()
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = clinicgate_api::openapi::spec_json().unwrap();
    assert!(
        committed() == generated,
        "openapi/openapi.json is stale; regenerate it with `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[tokio::test]
async fn the_served_document_is_openapi_3_1_and_the_committed_one() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let served: serde_json::Value = response.json().await.unwrap();
    assert_eq!(served["openapi"], "3.1.0");
    let committed: serde_json::Value = serde_json::from_str(&committed()).unwrap();
    assert_eq!(served, committed);
}

#[tokio::test]
async fn the_interactive_docs_load_nothing_from_other_origins() {
    let app = spawn_app().await;
    let redirect = app.get("/docs").await;
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/docs/");

    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    for attribute in ["src=\"", "href=\""] {
        for reference in html
            .split(attribute)
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
        {
            assert!(
                !reference.contains("//"),
                "the docs page references another origin: {reference}"
            );
        }
    }
    let initializer = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(initializer.status(), 200);
    assert!(initializer.text().await.unwrap().contains("/openapi.json"));
}
