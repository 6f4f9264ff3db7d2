//! Bearer tokens: valid ones create users on first sight; bad ones are refused, never
//! treated as anonymous.

use serde_json::json;
use wavegate_tests::{TEST_SECRET, now, spawn_app};

const ME: &str = "{ me { subject role } }";

#[tokio::test]
async fn a_valid_token_creates_the_user_on_first_sight() {
    let app = spawn_app().await;
    let token = app.token("carol@idp", "admin");

    let data = app.query(Some(&token), ME, json!({})).await;

    assert_eq!(data["me"], json!({"subject": "carol@idp", "role": "ADMIN"}));
}

#[tokio::test]
async fn no_token_means_anonymous() {
    let app = spawn_app().await;

    let data = app.query(None, ME, json!({})).await;

    assert!(data["me"].is_null());
}

#[tokio::test]
async fn bad_tokens_are_refused_as_unauthenticated() {
    let app = spawn_app().await;
    let other_key =
        jsonwebtoken::EncodingKey::from_secret(b"another-secret-that-is-long-enough-too").unwrap();
    let wrong_signature = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "eve", "exp": now() + 600}),
        &other_key,
    )
    .unwrap();
    let expired = app.sign(json!({"sub": "eve", "exp": now() - 3600}));
    let without_exp = app.sign(json!({"sub": "eve"}));
    let without_sub = app.sign(json!({"exp": now() + 600}));
    let hs384 = {
        let key = jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()).unwrap();
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384);
        jsonwebtoken::encode(&header, &json!({"sub": "eve", "exp": now() + 600}), &key).unwrap()
    };
    let alg_none = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims =
            b64.encode(json!({"sub": "eve", "role": "admin", "exp": now() + 600}).to_string());
        format!("{header}.{claims}.")
    };

    for (what, token) in [
        ("wrong signature", wrong_signature),
        ("expired", expired),
        ("no exp", without_exp),
        ("no sub", without_sub),
        ("unpinned algorithm", hs384),
        ("alg none", alg_none),
        ("garbage", "not-a-jwt".to_owned()),
    ] {
        let (status, body) = app.post(Some(&token), ME, json!({})).await;

        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{what}: {body}"
        );
        assert!(
            body["data"].is_null(),
            "{what}: no data for a refused token"
        );
    }
}

#[tokio::test]
async fn an_authorization_header_without_bearer_is_refused() {
    let app = spawn_app().await;
    let token = app.token("alice", "user");

    let resp = app
        .http
        .post(format!("{}/graphql", app.address))
        .header("Authorization", format!("Basic {token}"))
        .json(&json!({"query": ME}))
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn the_role_is_read_from_a_configured_claim_path() {
    let app = wavegate_tests::spawn_app_with(wavegate_tests::Options {
        settings: vec![("WAVEGATE_JWT_ROLE_CLAIM", "realm_access.roles".into())],
    })
    .await;
    let token = app.sign(json!({"sub": "kc-user", "exp": now() + 600, "realm_access": {"roles": ["offline", "admin"]}}));

    let data = app.query(Some(&token), ME, json!({})).await;

    assert_eq!(data["me"]["role"], "ADMIN");
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let app = wavegate_tests::spawn_app_with(wavegate_tests::Options {
        settings: vec![
            ("WAVEGATE_JWT_ISSUER", "https://idp.example".into()),
            ("WAVEGATE_JWT_AUDIENCE", "wavegate".into()),
        ],
    })
    .await;
    let good = app.sign(
        json!({"sub": "a", "exp": now() + 600, "iss": "https://idp.example", "aud": "wavegate"}),
    );
    let wrong_iss = app.sign(
        json!({"sub": "a", "exp": now() + 600, "iss": "https://evil.example", "aud": "wavegate"}),
    );
    let wrong_aud = app.sign(
        json!({"sub": "a", "exp": now() + 600, "iss": "https://idp.example", "aud": "other"}),
    );

    assert_eq!(
        app.query(Some(&good), ME, json!({})).await["me"]["subject"],
        "a"
    );
    assert_eq!(app.post(Some(&wrong_iss), ME, json!({})).await.0, 401);
    assert_eq!(app.post(Some(&wrong_aud), ME, json!({})).await.0, 401);
}

/// Signs claims with one of the test key pairs in `tests/keys`.
fn sign_with_key(
    alg: jsonwebtoken::Algorithm,
    private_pem: &str,
    claims: serde_json::Value,
) -> String {
    let pem = std::fs::read(format!("{}/keys/{private_pem}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let key = match alg {
        jsonwebtoken::Algorithm::RS256 => jsonwebtoken::EncodingKey::from_rsa_pem(&pem),
        jsonwebtoken::Algorithm::ES256 => jsonwebtoken::EncodingKey::from_ec_pem(&pem),
        _ => jsonwebtoken::EncodingKey::from_ed_pem(&pem),
    }
    .unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &key).unwrap()
}

#[tokio::test]
async fn tokens_signed_with_a_configured_public_key_are_accepted_for_its_algorithm_only() {
    use jsonwebtoken::Algorithm::{ES256, EdDSA, RS256};

    for (alg, private, public) in [
        (RS256, "rsa-private.pem", "rsa-public.pem"),
        (ES256, "ec-private.pem", "ec-public.pem"),
        (EdDSA, "ed25519-private.pem", "ed25519-public.pem"),
    ] {
        let public_path = format!("{}/keys/{public}", env!("CARGO_MANIFEST_DIR"));
        let app = wavegate_tests::spawn_app_with(wavegate_tests::Options {
            settings: vec![("WAVEGATE_JWT_PUBLIC_KEY_FILE", public_path.clone())],
        })
        .await;
        let good = sign_with_key(alg, private, json!({"sub": "pk-user", "exp": now() + 600}));
        // The classic confusion attack: HS256 keyed with the public key's own bytes.
        let confused = {
            let key = jsonwebtoken::EncodingKey::from_secret(&std::fs::read(&public_path).unwrap())
                .unwrap();
            jsonwebtoken::encode(
                &jsonwebtoken::Header::default(),
                &json!({"sub": "eve", "exp": now() + 600}),
                &key,
            )
            .unwrap()
        };
        let shared_secret = app.sign(json!({"sub": "eve", "exp": now() + 600}));

        assert_eq!(
            app.query(Some(&good), ME, json!({})).await["me"]["subject"],
            "pk-user",
            "{alg:?}"
        );
        assert_eq!(
            app.post(Some(&confused), ME, json!({})).await.0,
            401,
            "{alg:?}: HS256 with the public key"
        );
        assert_eq!(
            app.post(Some(&shared_secret), ME, json!({})).await.0,
            401,
            "{alg:?}: HS256 at all"
        );
    }
}
