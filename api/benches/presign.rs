//! Presigning cost per URL: aws-sdk-s3's `presigned()` against the rusty-s3 signer that
//! wavegate uses for `downloadUrl`. Run with `cargo bench -p wavegate --bench presign`
//! (or `bench/presign.sh`); set `PRESIGN_ITERATIONS` to change the sample size.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails loudly"
)]

use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use wavegate::config::Settings;
use wavegate::storage::presign::{Disposition, Presigner};

const KEY: &str =
    "originals/sha256/ab/cd/abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

fn main() {
    let iterations: u32 = std::env::var("PRESIGN_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let settings = Settings::from_pairs([
        ("WAVEGATE_S3_ENDPOINT", "http://127.0.0.1:9000"),
        ("WAVEGATE_S3_ACCESS_KEY", "bench"),
        ("WAVEGATE_S3_SECRET_KEY", "bench-secret"),
    ])
    .unwrap();
    let endpoint = url::Url::parse("http://127.0.0.1:9000").unwrap();
    let presigner = Presigner::new(&settings.s3, &endpoint).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9000")
            .credentials_provider(Credentials::new(
                "bench",
                "bench-secret",
                None,
                None,
                "bench",
            ))
            .force_path_style(true)
            .build(),
    );

    // Warm both up, then time them one after the other on the same thread.
    let rusty = |n: u32| {
        let started = Instant::now();
        for _ in 0..n {
            let url = presigner.sign_get(
                KEY,
                Duration::from_secs(900),
                "audio/mpeg",
                Disposition::Attachment,
                "take 1.mp3",
            );
            std::hint::black_box(url);
        }
        started.elapsed()
    };
    let sdk = |n: u32| {
        runtime.block_on(async {
            let started = Instant::now();
            for _ in 0..n {
                let config = PresigningConfig::expires_in(Duration::from_secs(900)).unwrap();
                let req = client
                    .get_object()
                    .bucket("audio")
                    .key(KEY)
                    .response_content_type("audio/mpeg")
                    .response_content_disposition("attachment; filename=\"take 1.mp3\"")
                    .presigned(config)
                    .await
                    .unwrap();
                std::hint::black_box(req.uri().to_owned());
            }
            started.elapsed()
        })
    };
    rusty(iterations / 10);
    sdk(iterations / 10);
    let rusty_total = rusty(iterations);
    let sdk_total = sdk(iterations);

    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(iterations);
    println!("presigned GET, {iterations} URLs each, one thread");
    println!("{:<28} {:>10} {:>16}", "signer", "us/URL", "ms per 50 URLs");
    println!(
        "{:<28} {:>10.2} {:>16.3}",
        "aws-sdk-s3 presigned()",
        per(sdk_total),
        per(sdk_total) * 50.0 / 1000.0
    );
    println!(
        "{:<28} {:>10.2} {:>16.3}",
        "rusty-s3 (wavegate)",
        per(rusty_total),
        per(rusty_total) * 50.0 / 1000.0
    );
    println!(
        "ratio sdk/rusty-s3: {:.1}x",
        per(sdk_total) / per(rusty_total)
    );
}
