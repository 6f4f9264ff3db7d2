//! Dataloaders keep the SQL statement count of a page flat, whatever its size.

use entity::enums::Visibility;
use serde_json::json;
use wavegate_tests::{TestApp, fixtures, spawn_app};

const PAGE: &str = "query Page($n: Int) {
  audioFiles(first: $n) {
    edges { node {
      id title owner { subject }
      renditions { format downloadUrl { url } }
      jobs { kind status } latestJob { kind }
      downloadUrl { url }
    } }
  }
}";

/// Statements sent while running one page of `n` files.
async fn statements_for_page(app: &TestApp, token: &str, n: usize) -> f64 {
    let before = app.metric("wavegate_db_statements_total", "").await;
    let data = app.query(Some(token), PAGE, json!({"n": n})).await;
    let after = app.metric("wavegate_db_statements_total", "").await;
    let edges = data["audioFiles"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), n);
    let with_renditions = edges
        .iter()
        .filter(|e| e["node"]["renditions"].as_array().unwrap().len() == 2)
        .count();
    assert!(
        with_renditions >= n - 1,
        "every cloned file shows its renditions"
    );
    assert!(
        edges
            .iter()
            .all(|e| e["node"]["owner"]["subject"] == "alice")
    );
    after - before
}

#[tokio::test]
async fn a_page_of_fifty_files_costs_a_handful_of_statements_like_a_page_of_five() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let first = app.upload(&alice, fixtures::wav(440.0), "PRIVATE").await;
    let template = fixtures::file_row(&app.state.db, first["id"].as_str().unwrap()).await;
    fixtures::clone_files(&app.state.db, &template, 60, Visibility::Private).await;

    let five = statements_for_page(&app, &alice, 5).await;
    let fifty = statements_for_page(&app, &alice, 50).await;

    // A list query and one batch per loader (owners, renditions, jobs): 4. A batch may
    // split once when the machine is busy (the loader waits 250 us), never per file.
    assert!(five <= 6.0, "a 5-file page took {five} statements");
    assert!(
        fifty <= 6.0,
        "a 50-file page took {fifty} statements, not a handful"
    );
}

#[tokio::test]
async fn dataloader_batches_are_recorded_in_metrics() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let first = app.upload(&alice, fixtures::wav(440.0), "PRIVATE").await;
    let template = fixtures::file_row(&app.state.db, first["id"].as_str().unwrap()).await;
    fixtures::clone_files(&app.state.db, &template, 19, Visibility::Private).await;

    statements_for_page(&app, &alice, 20).await;

    let batches = app
        .metric(
            "wavegate_dataloader_batch_size_count",
            "loader=\"renditions\"",
        )
        .await;
    let keys = app
        .metric(
            "wavegate_dataloader_batch_size_sum",
            "loader=\"renditions\"",
        )
        .await;
    assert_eq!(batches, 1.0);
    assert_eq!(keys, 20.0);
}
