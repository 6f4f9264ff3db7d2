//! The response cache: repeats are answered from it, never across callers, and never
//! after a write made them stale.

use serde_json::json;
use wavegate_tests::{TestApp, fixtures::wav, spawn_app};

const LIBRARY: &str =
    "query Library { me { subject } audioFiles { totalCount edges { node { id title } } } }";
const TITLE: &str = "query Title($id: ID!) { audioFile(id: $id) { title visibility } }";
const RENAME: &str =
    "mutation($id: ID!, $t: String) { updateAudioFile(id: $id, input: { title: $t }) { title } }";

async fn hits(app: &TestApp) -> f64 {
    app.metric(
        "wavegate_cache_requests_total",
        "cache=\"response\",result=\"hit\"",
    )
    .await
}

#[tokio::test]
async fn a_repeated_query_is_answered_from_the_cache() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    app.upload(&alice, wav(440.0), "PRIVATE").await;

    let first = app.query(Some(&alice), LIBRARY, json!({})).await;
    let before = hits(&app).await;
    let second = app.query(Some(&alice), LIBRARY, json!({})).await;

    assert_eq!(first, second);
    assert_eq!(hits(&app).await, before + 1.0);
}

#[tokio::test]
async fn callers_never_share_answers_but_anonymous_callers_do() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bob = app.token("bob", "user");
    app.upload(&alice, wav(440.0), "PRIVATE").await;
    app.upload(&alice, wav(550.0), "PUBLIC").await;

    let for_alice = app.query(Some(&alice), LIBRARY, json!({})).await;
    let for_bob = app.query(Some(&bob), LIBRARY, json!({})).await;
    let anonymous = app.query(None, LIBRARY, json!({})).await;
    let before = hits(&app).await;
    let anonymous_again = app.query(None, LIBRARY, json!({})).await;

    assert_eq!(for_alice["me"]["subject"], "alice");
    assert_eq!(for_alice["audioFiles"]["totalCount"], 2);
    assert_eq!(for_bob["me"]["subject"], "bob");
    assert_eq!(
        for_bob["audioFiles"]["totalCount"], 1,
        "bob never gets alice's answer"
    );
    assert!(anonymous["me"].is_null());
    assert_eq!(anonymous["audioFiles"]["totalCount"], 1);
    assert_eq!(anonymous_again, anonymous);
    assert_eq!(
        hits(&app).await,
        before + 1.0,
        "anonymous callers share one answer"
    );
}

#[tokio::test]
async fn the_same_subject_with_another_role_gets_its_own_answer() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    app.upload(&alice, wav(440.0), "PRIVATE").await;
    let carol_user = app.token("carol", "user");
    let carol_admin = app.token("carol", "admin");

    let as_user = app.query(Some(&carol_user), LIBRARY, json!({})).await;
    let as_admin = app.query(Some(&carol_admin), LIBRARY, json!({})).await;

    assert_eq!(as_user["audioFiles"]["totalCount"], 0);
    assert_eq!(as_admin["audioFiles"]["totalCount"], 1);
}

#[tokio::test]
async fn crafted_variables_cannot_reach_another_callers_entry() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bob = app.token("bob", "user");
    let id = app.upload_id(&alice, wav(440.0), "PRIVATE").await;
    let seen = app.query(Some(&alice), TITLE, json!({"id": id})).await;

    // Variables spelling other key parts (a scope, an operation) do not meet alice's key.
    let crafted = json!({"id": id, "scope": "user:alice", "operationName": "Title"});
    let (_, body) = app.post(Some(&bob), TITLE, crafted).await;

    assert_eq!(seen["audioFile"]["title"], "take");
    assert!(
        body["data"]["audioFile"].is_null(),
        "bob sees nothing: {body}"
    );
}

#[tokio::test]
async fn a_caller_reads_its_own_write_at_once() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let id = app.upload_id(&alice, wav(440.0), "PUBLIC").await;
    app.query(Some(&alice), TITLE, json!({"id": id})).await;
    app.query(None, TITLE, json!({"id": id})).await;
    app.query(None, LIBRARY, json!({})).await;

    app.query(Some(&alice), RENAME, json!({"id": id, "t": "Renamed"}))
        .await;
    let own = app.query(Some(&alice), TITLE, json!({"id": id})).await;
    let anonymous = app.query(None, TITLE, json!({"id": id})).await;
    let listing = app.query(None, LIBRARY, json!({})).await;

    assert_eq!(own["audioFile"]["title"], "Renamed");
    assert_eq!(
        anonymous["audioFile"]["title"], "Renamed",
        "nobody gets the stale title"
    );
    assert_eq!(
        listing["audioFiles"]["edges"][0]["node"]["title"],
        "Renamed"
    );
}

#[tokio::test]
async fn a_file_made_private_drops_out_of_cached_public_answers() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let id = app.upload_id(&alice, wav(440.0), "PUBLIC").await;
    assert_eq!(
        app.query(None, LIBRARY, json!({})).await["audioFiles"]["totalCount"],
        1
    );
    assert!(!app.query(None, TITLE, json!({"id": id})).await["audioFile"].is_null());

    app.query(
        Some(&alice),
        "mutation($id: ID!) { updateAudioFile(id: $id, input: { visibility: PRIVATE }) { id } }",
        json!({"id": id}),
    )
    .await;

    assert_eq!(
        app.query(None, LIBRARY, json!({})).await["audioFiles"]["totalCount"],
        0
    );
    assert!(app.query(None, TITLE, json!({"id": id})).await["audioFile"].is_null());
}

#[tokio::test]
async fn answers_about_a_public_file_are_shared_and_private_ones_never_are() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bob = app.token("bob", "user");
    let public = app.upload_id(&alice, wav(440.0), "PUBLIC").await;
    let private = app.upload_id(&alice, wav(550.0), "PRIVATE").await;

    let for_alice = app.query(Some(&alice), TITLE, json!({"id": public})).await;
    let before = hits(&app).await;
    let for_bob = app.query(Some(&bob), TITLE, json!({"id": public})).await;
    let anonymous = app.query(None, TITLE, json!({"id": public})).await;
    assert_eq!(for_bob, for_alice);
    assert_eq!(anonymous, for_alice);
    assert_eq!(
        hits(&app).await,
        before + 2.0,
        "bob and an anonymous caller get the answer computed for alice"
    );

    let private_for_alice = app.query(Some(&alice), TITLE, json!({"id": private})).await;
    assert_eq!(private_for_alice["audioFile"]["visibility"], "PRIVATE");
    assert!(
        app.query(Some(&bob), TITLE, json!({"id": private})).await["audioFile"].is_null(),
        "alice's answer about her private file never reaches bob"
    );

    app.query(
        Some(&alice),
        "mutation($id: ID!) { updateAudioFile(id: $id, input: { visibility: PRIVATE }) { id } }",
        json!({"id": public}),
    )
    .await;
    assert!(
        app.query(Some(&bob), TITLE, json!({"id": public})).await["audioFile"].is_null(),
        "the shared answer goes when the file stops being public"
    );
    assert_eq!(
        app.query(Some(&alice), TITLE, json!({"id": public})).await["audioFile"]["visibility"],
        "PRIVATE"
    );
}

#[tokio::test]
async fn an_answer_that_names_the_caller_is_never_shared() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bob = app.token("bob", "user");
    let id = app.upload_id(&alice, wav(440.0), "PUBLIC").await;
    let mixed = "query Mixed($id: ID!) { me { subject } audioFile(id: $id) { title } }";

    let for_alice = app.query(Some(&alice), mixed, json!({"id": id})).await;
    let for_bob = app.query(Some(&bob), mixed, json!({"id": id})).await;

    assert_eq!(for_alice["me"]["subject"], "alice");
    assert_eq!(for_bob["me"]["subject"], "bob");
    assert_eq!(for_bob["audioFile"], for_alice["audioFile"]);
}

#[tokio::test]
async fn a_rename_drops_only_the_answers_that_show_the_file() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let bob = app.token("bob", "user");
    let shown = app.upload_id(&alice, wav(440.0), "PUBLIC").await;
    let own = app.upload_id(&bob, wav(550.0), "PRIVATE").await;
    let first_page = "query Newest { audioFiles(first: 1) { edges { node { id title } } } }";
    app.query(Some(&bob), TITLE, json!({"id": own})).await;
    let newest = app.query(None, first_page, json!({})).await;
    assert_eq!(newest["audioFiles"]["edges"][0]["node"]["id"], shown);

    // alice renames her public file: bob's answer about his own file does not show it.
    app.query(Some(&alice), RENAME, json!({"id": shown, "t": "Renamed"}))
        .await;
    let before = hits(&app).await;
    let bobs = app.query(Some(&bob), TITLE, json!({"id": own})).await;
    let after_bobs = hits(&app).await;
    let listing = app.query(None, first_page, json!({})).await;

    assert_eq!(bobs["audioFile"]["title"], "take");
    assert_eq!(
        after_bobs,
        before + 1.0,
        "an answer not showing the file stays"
    );
    assert_eq!(
        listing["audioFiles"]["edges"][0]["node"]["title"], "Renamed",
        "an answer showing the file is computed again"
    );
    assert_eq!(hits(&app).await, after_bobs);
}

#[tokio::test]
async fn a_rename_reorders_cached_listings_sorted_or_filtered_by_title() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    app.upload_id(&alice, wav(440.0), "PUBLIC").await;
    let other = app.upload_id(&alice, wav(550.0), "PUBLIC").await;
    app.query(Some(&alice), RENAME, json!({"id": other, "t": "zebra"}))
        .await;
    let by_title =
        "query ByTitle { audioFiles(first: 1, orderBy: TITLE_ASC) { edges { node { id } } } }";
    let matching =
        "query Matching { audioFiles(filter: { titleContains: \"aardvark\" }) { totalCount } }";
    let first = app.query(None, by_title, json!({})).await;
    let none = app.query(None, matching, json!({})).await;
    assert_ne!(first["audioFiles"]["edges"][0]["node"]["id"], other);
    assert_eq!(none["audioFiles"]["totalCount"], 0);

    // A file the first page does not show moves to its head by its new title.
    app.query(Some(&alice), RENAME, json!({"id": other, "t": "Aardvark"}))
        .await;
    let reordered = app.query(None, by_title, json!({})).await;
    let found = app.query(None, matching, json!({})).await;

    assert_eq!(reordered["audioFiles"]["edges"][0]["node"]["id"], other);
    assert_eq!(found["audioFiles"]["totalCount"], 1);
}

#[tokio::test]
async fn a_second_instance_sharing_redis_reads_fresh_data_after_a_write_on_the_first() {
    if std::env::var("WAVEGATE_TEST_REDIS_URL").map_or(true, |v| v.is_empty()) {
        // Without Redis each instance keeps its own cache; sharing needs Redis.
        return;
    }
    let first = spawn_app().await;
    let second = first.spawn_sibling().await;
    let alice = first.token("alice", "user");
    let id = first.upload_id(&alice, wav(440.0), "PRIVATE").await;
    first.query(Some(&alice), TITLE, json!({"id": id})).await;
    second.query(Some(&alice), TITLE, json!({"id": id})).await;
    let shared_before = hits(&second).await;
    second.query(Some(&alice), TITLE, json!({"id": id})).await;

    first
        .query(
            Some(&alice),
            RENAME,
            json!({"id": id, "t": "From the first"}),
        )
        .await;
    let on_second = second.query(Some(&alice), TITLE, json!({"id": id})).await;

    assert_eq!(
        hits(&second).await,
        shared_before + 1.0 + 0.0,
        "the second instance answered from the cache"
    );
    assert_eq!(on_second["audioFile"]["title"], "From the first");
}

/// A Redis server of the test's own, on a free port, that the test may stop and restart.
struct PrivateRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    /// Starts one; `None` where no `redis-server` is installed.
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut redis = PrivateRedis { port, child: None };
        redis.resume().then_some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn resume(&mut self) -> bool {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        // Ready once it accepts connections.
        (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        })
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn redis_stopped_and_restarted_under_load_fails_no_request_and_serves_nothing_stale() {
    let Some(mut redis) = PrivateRedis::start() else {
        eprintln!("redis-server is not installed; skipped");
        return;
    };
    let app = wavegate_tests::spawn_app_with(wavegate_tests::Options {
        settings: vec![
            ("REDIS_URL", redis.url()),
            ("WAVEGATE_REDIS_PREFIX", "outage-test:".into()),
        ],
    })
    .await;
    let alice = app.token("alice", "user");
    let id = app.upload_id(&alice, wav(440.0), "PUBLIC").await;

    // Load before, during and after the outage; a write lands while Redis is down.
    let mut statuses = Vec::new();
    for round in 0..3 {
        if round == 1 {
            redis.stop();
        }
        for _ in 0..20 {
            statuses.push(app.post(Some(&alice), TITLE, json!({"id": id})).await.0);
            statuses.push(app.post(None, LIBRARY, json!({})).await.0);
        }
        if round == 1 {
            app.query(
                Some(&alice),
                RENAME,
                json!({"id": id, "t": "Renamed in the outage"}),
            )
            .await;
            let ready: serde_json::Value = app
                .http
                .get(format!("{}/readyz", app.address))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(ready["redis"], "down");
            assert_eq!(
                app.http
                    .get(format!("{}/readyz", app.address))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
                200
            );
            assert!(redis.resume(), "redis restarts");
            tokio::time::sleep(std::time::Duration::from_secs(4)).await;
        }
    }
    let hits_after = hits(&app).await;
    app.query(None, LIBRARY, json!({})).await;
    let own = app.query(Some(&alice), TITLE, json!({"id": id})).await;
    let anonymous = app.query(None, LIBRARY, json!({})).await;

    assert!(
        statuses.iter().all(|s| *s == 200),
        "every request answered: {statuses:?}"
    );
    assert_eq!(own["audioFile"]["title"], "Renamed in the outage");
    assert_eq!(
        anonymous["audioFiles"]["edges"][0]["node"]["title"],
        "Renamed in the outage"
    );
    assert!(
        hits(&app).await > hits_after,
        "the cache is used again once Redis is back"
    );
}

#[tokio::test]
async fn concurrent_misses_on_one_key_are_computed_once() {
    use entity::enums::Visibility;

    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let first = app.upload(&alice, wav(440.0), "PRIVATE").await;
    let template =
        wavegate_tests::fixtures::file_row(&app.state.db, first["id"].as_str().unwrap()).await;
    wavegate_tests::fixtures::clone_files(&app.state.db, &template, 20, Visibility::Private).await;
    app.query(Some(&alice), "{ me { id } }", json!({})).await;
    let page = "query Page { audioFiles(first: 20) { edges { node { id owner { subject } renditions { format } } } } }";

    let before = app.metric("wavegate_db_statements_total", "").await;
    let answers =
        futures::future::join_all((0..8).map(|_| app.query(Some(&alice), page, json!({})))).await;
    let statements = app.metric("wavegate_db_statements_total", "").await - before;

    assert!(answers.iter().all(|a| *a == answers[0]));
    assert!(
        statements <= 6.0,
        "eight concurrent misses took {statements} statements, one computation's worth"
    );
}

#[tokio::test]
async fn cache_metrics_show_hits_by_operation_and_invalidations() {
    let app = spawn_app().await;
    let alice = app.token("alice", "user");
    let id = app.upload_id(&alice, wav(440.0), "PRIVATE").await;

    app.query(Some(&alice), LIBRARY, json!({})).await;
    app.query(Some(&alice), LIBRARY, json!({})).await;
    app.query(Some(&alice), RENAME, json!({"id": id, "t": "x"}))
        .await;

    let by_operation = app
        .metric(
            "wavegate_cache_operation_requests_total",
            "operation=\"Library\",result=\"hit\"",
        )
        .await;
    assert_eq!(by_operation, 1.0);
    assert!(app.metric("wavegate_cache_invalidations_total", "").await >= 3.0);
}
