use std::time::Duration;

use fantoccini::Locator;

use crate::browser::{browser, screenshot};
use crate::common::spawn_app;

#[tokio::test]
async fn the_api_docs_render_with_no_resource_from_another_origin() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_app().await;
    let client = &browser.client;

    client
        .goto(&format!("http://localhost:{}/docs", app.port))
        .await
        .unwrap();
    let title = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(".swagger-ui .info .title"))
        .await
        .expect("Swagger UI rendered the document's title");
    assert!(title.text().await.unwrap().contains("ClinicGate"));
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".opblock-summary-path[data-path='/readyz']"))
        .await
        .expect("the operations are listed");
    screenshot(client, "api-docs").await;

    let resources = client
        .execute("return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);", vec![])
        .await
        .unwrap();
    let origin = format!("http://localhost:{}/", app.port);
    for url in resources.as_array().unwrap() {
        let url = url.as_str().unwrap();
        assert!(
            url.starts_with(&origin),
            "the docs page loaded {url} from another origin"
        );
    }
    browser.client.clone().close().await.unwrap();
}
