//! Keyset pagination across pages, in every order, with filters.

use entity::enums::Visibility;
use serde_json::{Value, json};
use wavegate_tests::{TestApp, fixtures, spawn_app};

const LIST: &str =
    "query($first: Int, $after: String, $order: AudioFileOrder, $filter: AudioFileFilter) {
  audioFiles(first: $first, after: $after, orderBy: $order, filter: $filter) {
    totalCount
    edges { cursor node { id title sizeBytes createdAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

/// Alice with 25 files.
async fn library(app: &TestApp) -> String {
    let alice = app.token("alice", "user");
    let first = app.upload(&alice, fixtures::wav(440.0), "PRIVATE").await;
    let template = fixtures::file_row(&app.state.db, first["id"].as_str().unwrap()).await;
    fixtures::clone_files(&app.state.db, &template, 24, Visibility::Private).await;
    alice
}

/// Every page of a listing, in order: (ids, hasNextPage of each page).
async fn walk(
    app: &TestApp,
    token: &str,
    order: &str,
    filter: Value,
    size: i32,
) -> (Vec<String>, Vec<bool>) {
    let mut ids = Vec::new();
    let mut has_next = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .query(
                Some(token),
                LIST,
                json!({"first": size, "after": after, "order": order, "filter": filter}),
            )
            .await;
        let conn = &data["audioFiles"];
        for edge in conn["edges"].as_array().unwrap() {
            ids.push(edge["node"]["id"].as_str().unwrap().to_owned());
        }
        let next = conn["pageInfo"]["hasNextPage"].as_bool().unwrap();
        has_next.push(next);
        if !next {
            return (ids, has_next);
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

#[tokio::test]
async fn pages_cover_the_whole_list_once_in_order() {
    let app = spawn_app().await;
    let alice = library(&app).await;

    let (ids, has_next) = walk(&app, &alice, "CREATED_AT_DESC", Value::Null, 10).await;
    let whole = app.query(Some(&alice), LIST, json!({"first": 100})).await;

    let expected: Vec<String> = whole["audioFiles"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(ids.len(), 25);
    assert_eq!(has_next, vec![true, true, false]);
    assert_eq!(whole["audioFiles"]["totalCount"], 25);
}

#[tokio::test]
async fn every_order_pages_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let alice = library(&app).await;

    for order in [
        "CREATED_AT_DESC",
        "CREATED_AT_ASC",
        "TITLE_ASC",
        "SIZE_DESC",
    ] {
        let (ids, _) = walk(&app, &alice, order, Value::Null, 7).await;
        let whole = app
            .query(Some(&alice), LIST, json!({"first": 100, "order": order}))
            .await;
        let expected: Vec<String> = whole["audioFiles"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect();

        assert_eq!(ids, expected, "order {order}");
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 25, "order {order} repeats no file");
    }
}

#[tokio::test]
async fn titles_sort_alphabetically() {
    let app = spawn_app().await;
    let alice = library(&app).await;

    let data = app
        .query(
            Some(&alice),
            LIST,
            json!({"first": 3, "order": "TITLE_ASC"}),
        )
        .await;

    let titles: Vec<&str> = data["audioFiles"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["Clone 000", "Clone 001", "Clone 002"]);
}

#[tokio::test]
async fn a_cursor_of_one_order_is_refused_by_another() {
    let app = spawn_app().await;
    let alice = library(&app).await;
    let data = app.query(Some(&alice), LIST, json!({"first": 5})).await;
    let cursor = data["audioFiles"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap();

    let code = app
        .error_code(
            Some(&alice),
            LIST,
            json!({"first": 5, "after": cursor, "order": "TITLE_ASC"}),
        )
        .await;

    assert_eq!(code, "BAD_USER_INPUT");
}

#[tokio::test]
async fn filters_narrow_the_list_and_its_count() {
    let app = spawn_app().await;
    let alice = library(&app).await;
    let bob = app.token("bob", "user");
    app.upload(&bob, fixtures::wav(880.0), "PUBLIC").await;

    let clones_01x = walk(
        &app,
        &alice,
        "CREATED_AT_DESC",
        json!({"titleContains": "clone 01"}),
        4,
    )
    .await
    .0;
    let percent = app
        .query(
            Some(&alice),
            LIST,
            json!({"filter": {"titleContains": "%"}}),
        )
        .await;
    let bobs = app
        .query(
            Some(&alice),
            LIST,
            json!({"filter": {"ownerSubject": "bob"}}),
        )
        .await;
    let public = app
        .query(
            Some(&alice),
            LIST,
            json!({"filter": {"visibility": "PUBLIC"}}),
        )
        .await;

    assert_eq!(
        clones_01x.len(),
        10,
        "titles Clone 010 to Clone 019, matched case-insensitively"
    );
    assert_eq!(
        percent["audioFiles"]["totalCount"], 0,
        "% is a literal character, not a wildcard"
    );
    assert_eq!(bobs["audioFiles"]["totalCount"], 1);
    assert_eq!(public["audioFiles"]["totalCount"], 1);
}

#[tokio::test]
async fn created_after_and_before_bound_the_list() {
    let app = spawn_app().await;
    let alice = library(&app).await;
    let data = app.query(Some(&alice), LIST, json!({"first": 25})).await;
    let edges = data["audioFiles"]["edges"].as_array().unwrap();
    let newest = edges[0]["node"]["createdAt"].as_str().unwrap();
    let fifth = edges[4]["node"]["createdAt"].as_str().unwrap();

    let between = app
        .query(
            Some(&alice),
            LIST,
            json!({"filter": {"createdAfter": fifth, "createdBefore": newest}}),
        )
        .await;

    assert_eq!(
        between["audioFiles"]["totalCount"], 3,
        "strictly between the fifth and the newest"
    );
}

#[tokio::test]
async fn user_audio_files_lists_only_that_users_visible_files() {
    let app = spawn_app().await;
    let alice = library(&app).await;

    let mine = app
        .query(
            Some(&alice),
            "{ me { audioFiles(first: 30) { edges { node { id } } } } }",
            json!({}),
        )
        .await;

    assert_eq!(
        mine["me"]["audioFiles"]["edges"].as_array().unwrap().len(),
        25
    );
}
