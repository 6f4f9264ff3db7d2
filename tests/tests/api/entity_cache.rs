//! The entity cache beneath the dataloaders: rows shared by every caller, checked against
//! the write counters, so a write is seen at once here and on other instances.

use serde_json::json;
use wavegate_tests::{TestApp, fixtures::wav, spawn_app};

/// Through `audioFile(id)`, a dataloader read; each call spells the query anew (an alias
/// that changes) so the response cache misses and the entity cache answers.
async fn title(app: &TestApp, token: &str, id: &str, n: usize) -> String {
    let query = format!(
        "query($id: ID!) {{ f{n}: audioFile(id: $id) {{ title renditions {{ format }} latestJob {{ status }} }} }}"
    );
    app.query(Some(token), &query, json!({"id": id})).await[format!("f{n}")]["title"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn entity(app: &TestApp, result: &str) -> f64 {
    app.metric(
        "wavegate_cache_requests_total",
        &format!("cache=\"entity\",result=\"{result}\""),
    )
    .await
}

const RENAME: &str =
    "mutation($id: ID!, $t: String!) { updateAudioFile(id: $id, input: { title: $t }) { title } }";

#[tokio::test]
async fn rows_are_served_from_the_entity_cache_until_a_write_changes_them() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bob = app.token("bob", "user");
    let id = app.upload_id(&alice, wav(440.0), "PUBLIC").await;

    title(&app, &alice, &id, 1).await;
    let hits_before = entity(&app, "hit").await;
    let by_bob = title(&app, &bob, &id, 2).await;
    let hits_after = entity(&app, "hit").await;
    app.query(Some(&alice), RENAME, json!({"id": id, "t": "Renamed"}))
        .await;
    let after_write = title(&app, &bob, &id, 3).await;

    assert!(
        hits_after > hits_before,
        "another caller's read was served from the entity cache"
    );
    assert_eq!(by_bob, "take");
    assert_eq!(after_write, "Renamed");
}

#[tokio::test]
async fn a_second_instance_reads_a_write_made_on_the_first_through_its_entity_cache() {
    if std::env::var("WAVEGATE_TEST_REDIS_URL").map_or(true, |v| v.is_empty()) {
        eprintln!("needs WAVEGATE_TEST_REDIS_URL: instances share counters through Redis");
        return;
    }
    let first = spawn_app().await;
    let second = first.spawn_sibling().await;
    let alice = first.token("alice", "user");
    let id = first.upload_id(&alice, wav(440.0), "PRIVATE").await;
    title(&second, &alice, &id, 1).await;
    title(&second, &alice, &id, 2).await;
    let cached = entity(&second, "hit").await;

    first
        .query(
            Some(&alice),
            RENAME,
            json!({"id": id, "t": "From the first"}),
        )
        .await;
    let on_second = title(&second, &alice, &id, 3).await;

    assert!(cached > 0.0, "the second instance had the row cached");
    assert_eq!(on_second, "From the first");
}

#[tokio::test]
async fn a_private_file_cached_for_its_owner_stays_hidden_from_others() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let mallory = app.token("mallory", "user");
    let id = app.upload_id(&alice, wav(440.0), "PRIVATE").await;
    title(&app, &alice, &id, 1).await;

    let seen = app
        .query(
            Some(&mallory),
            "query($id: ID!) { other: audioFile(id: $id) { title } }",
            json!({"id": id}),
        )
        .await;

    assert_eq!(seen["other"], serde_json::Value::Null);
}
