//! The access rules: who sees and changes which files.

use serde_json::{Value, json};
use wavegate_tests::{TestApp, fixtures::wav, spawn_app};

const GET_FILE: &str = "query($id: ID!) { audioFile(id: $id) { id title } }";
const LIST: &str = "{ audioFiles(first: 100) { totalCount edges { node { id } } } }";
const RENAME: &str =
    "mutation($id: ID!) { updateAudioFile(id: $id, input: { title: \"renamed\" }) { title } }";
const DELETE: &str = "mutation($id: ID!) { deleteAudioFile(id: $id) }";

/// Alice's three files, one per visibility, as (private, unlisted, public) ids.
async fn alice_files(app: &TestApp, alice: &str) -> (String, String, String) {
    let private = app.upload_id(alice, wav(440.0), "PRIVATE").await;
    let unlisted = app.upload_id(alice, wav(550.0), "UNLISTED").await;
    let public = app.upload_id(alice, wav(660.0), "PUBLIC").await;
    (private, unlisted, public)
}

async fn sees(app: &TestApp, token: Option<&str>, id: &str) -> bool {
    let data = app.query(token, GET_FILE, json!({"id": id})).await;
    !data["audioFile"].is_null()
}

fn listed_ids(data: &Value) -> Vec<String> {
    data["audioFiles"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn anonymous_callers_see_public_files_only() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let (private, unlisted, public) = alice_files(&app, &alice).await;

    let listed = listed_ids(&app.query(None, LIST, json!({})).await);

    assert!(!sees(&app, None, &private).await);
    assert!(!sees(&app, None, &unlisted).await);
    assert!(sees(&app, None, &public).await);
    assert_eq!(listed, vec![public]);
}

#[tokio::test]
async fn users_see_their_own_files_and_others_public_and_unlisted_by_id() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bob = app.token("bob", "user");
    let (private, unlisted, public) = alice_files(&app, &alice).await;
    let bobs = app.upload_id(&bob, wav(770.0), "PRIVATE").await;

    let bob_lists = listed_ids(&app.query(Some(&bob), LIST, json!({})).await);
    let alice_lists = listed_ids(&app.query(Some(&alice), LIST, json!({})).await);

    assert!(
        !sees(&app, Some(&bob), &private).await,
        "private files are the owner's alone"
    );
    assert!(
        sees(&app, Some(&bob), &unlisted).await,
        "unlisted files are readable by id"
    );
    assert!(sees(&app, Some(&bob), &public).await);
    assert!(sees(&app, Some(&alice), &private).await);
    assert_eq!(
        bob_lists,
        vec![bobs, public.clone()],
        "bob lists his own and public files, not unlisted ones"
    );
    assert_eq!(alice_lists, vec![public, unlisted, private]);
}

#[tokio::test]
async fn admins_see_and_change_everything() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let admin = app.token("root", "admin");
    let (private, unlisted, public) = alice_files(&app, &alice).await;

    let listed = listed_ids(&app.query(Some(&admin), LIST, json!({})).await);
    let renamed = app
        .query(Some(&admin), RENAME, json!({"id": private}))
        .await;

    assert_eq!(listed, vec![public, unlisted, private.clone()]);
    assert_eq!(renamed["updateAudioFile"]["title"], "renamed");
    assert!(
        app.query(Some(&admin), DELETE, json!({"id": private}))
            .await["deleteAudioFile"]
            .as_bool()
            .unwrap()
    );
}

#[tokio::test]
async fn a_file_the_caller_cannot_see_is_not_found_and_one_it_cannot_change_is_forbidden() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bob = app.token("bob", "user");
    let (private, unlisted, public) = alice_files(&app, &alice).await;
    let missing = uuid::Uuid::now_v7().to_string();

    assert_eq!(
        app.error_code(Some(&bob), RENAME, json!({"id": private}))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.error_code(Some(&bob), RENAME, json!({"id": missing}))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.error_code(Some(&bob), RENAME, json!({"id": unlisted}))
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(Some(&bob), DELETE, json!({"id": public}))
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(None, DELETE, json!({"id": public})).await,
        "UNAUTHENTICATED"
    );
    assert!(
        sees(&app, Some(&alice), &private).await,
        "refused writes change nothing"
    );
    let title = app
        .query(Some(&alice), GET_FILE, json!({"id": unlisted}))
        .await["audioFile"]["title"]
        .clone();
    assert_eq!(title, "take");
}

#[tokio::test]
async fn workers_read_files_but_cannot_change_them() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let worker = app.token("transcoder-1", "worker");
    let (private, _, _) = alice_files(&app, &alice).await;

    assert!(sees(&app, Some(&worker), &private).await);
    assert_eq!(
        app.error_code(Some(&worker), RENAME, json!({"id": private}))
            .await,
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn owners_rename_and_change_visibility_of_their_files() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bob = app.token("bob", "user");
    let id = app.upload_id(&alice, wav(440.0), "PRIVATE").await;

    let updated = app
        .query(
            Some(&alice),
            "mutation($id: ID!) { updateAudioFile(id: $id, input: { title: \"  Pilot  \", visibility: PUBLIC }) { title visibility } }",
            json!({"id": id}),
        )
        .await;

    assert_eq!(
        updated["updateAudioFile"],
        json!({"title": "Pilot", "visibility": "PUBLIC"})
    );
    assert!(
        sees(&app, None, &id).await,
        "a file made public is visible to anonymous callers"
    );
    assert!(sees(&app, Some(&bob), &id).await);
}

#[tokio::test]
async fn other_peoples_files_stay_hidden_until_ready() {
    use entity::audio_file;
    use entity::enums::{AudioStatus, Visibility};
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};

    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bob = app.token("bob", "user");
    let first = app.upload(&alice, wav(440.0), "PUBLIC").await;
    let template =
        wavegate_tests::fixtures::file_row(&app.state.db, first["id"].as_str().unwrap()).await;
    let pending =
        wavegate_tests::fixtures::clone_files(&app.state.db, &template, 1, Visibility::Public)
            .await[0];
    let row = audio_file::ActiveModel {
        id: Set(pending),
        status: Set(AudioStatus::PendingUpload),
        ..Default::default()
    };
    row.update(&app.state.db).await.unwrap();
    let id = pending.to_string();

    let anonymous_list = listed_ids(&app.query(None, LIST, json!({})).await);
    let bob_list = listed_ids(&app.query(Some(&bob), LIST, json!({})).await);

    assert!(!sees(&app, None, &id).await);
    assert!(!sees(&app, Some(&bob), &id).await);
    assert!(
        sees(&app, Some(&alice), &id).await,
        "the owner sees its upload in progress"
    );
    assert!(!anonymous_list.contains(&id) && !bob_list.contains(&id));
}
