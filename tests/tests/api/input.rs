//! Bad input on every argument: a clear `BAD_USER_INPUT`, and nothing changes.

use serde_json::json;
use wavegate_tests::{fixtures::wav, spawn_app};

#[tokio::test]
async fn out_of_range_and_malformed_arguments_are_bad_user_input() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let id = app.upload_id(&alice, wav(440.0), "PRIVATE").await;
    let long = "x".repeat(201);

    let cases = [
        ("{ audioFiles(first: -1) { totalCount } }", json!({})),
        ("{ audioFiles(first: 101) { totalCount } }", json!({})),
        (
            "{ audioFiles(after: \"bm90IGEgY3Vyc29y\") { totalCount } }",
            json!({}),
        ),
        ("{ audioFiles(after: \"%%%\") { totalCount } }", json!({})),
        (
            "query($f: AudioFileFilter) { audioFiles(filter: $f) { totalCount } }",
            json!({"f": {"titleContains": long}}),
        ),
        (
            "query($f: AudioFileFilter) { audioFiles(filter: $f) { totalCount } }",
            json!({"f": {"createdAfter": "yesterday"}}),
        ),
        (
            "{ audioFiles(orderBy: SIDEWAYS) { totalCount } }",
            json!({}),
        ),
        ("{ audioFile(id: \"not-a-uuid\") { id } }", json!({})),
        ("{ processingJob(id: \"42\") { id } }", json!({})),
        (
            "{ me { audioFiles(first: 1000) { totalCount } } }",
            json!({}),
        ),
        (
            "query($id: ID!) { audioFile(id: $id) { downloadUrl(expiresIn: 0) { url } } }",
            json!({"id": id}),
        ),
        (
            "query($id: ID!) { audioFile(id: $id) { jobs(status: LOST) { id } } }",
            json!({"id": id}),
        ),
        (
            "mutation($id: ID!) { updateAudioFile(id: $id, input: { title: \"\" }) { id } }",
            json!({"id": id}),
        ),
        (
            "mutation($id: ID!, $t: String) { updateAudioFile(id: $id, input: { title: $t }) { id } }",
            json!({"id": id, "t": long}),
        ),
        (
            "mutation($id: ID!) { updateAudioFile(id: $id, input: { title: \"a\\u0007b\" }) { id } }",
            json!({"id": id}),
        ),
        (
            "mutation { updateAudioFile(id: \"nope\", input: {}) { id } }",
            json!({}),
        ),
        ("mutation { deleteAudioFile(id: \"nope\") }", json!({})),
        ("{ audioFiles { totalCount ", json!({})),
        ("{ noSuchField }", json!({})),
    ];
    for (query, variables) in cases {
        let code = app.error_code(Some(&alice), query, variables).await;

        assert_eq!(code, "BAD_USER_INPUT", "{query}");
    }
    let title = app
        .query(
            Some(&alice),
            "query($id: ID!) { audioFile(id: $id) { title } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        title["audioFile"]["title"], "take",
        "refused updates changed nothing"
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_graphql_request_is_bad_user_input() {
    let app = spawn_app().await;

    let resp = app
        .http
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn deeply_nested_queries_are_refused() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let mut query = String::from("id");
    for _ in 0..12 {
        query =
            format!("audioFile {{ owner {{ audioFiles {{ edges {{ node {{ {query} }} }} }} }} }}");
    }
    let query = format!(
        "{{ processingJob(id: \"{}\") {{ {query} }} }}",
        uuid::Uuid::now_v7()
    );

    let code = app.error_code(Some(&alice), &query, json!({})).await;

    assert_eq!(code, "BAD_USER_INPUT");
}
