//! The `wavegate` binary: bad arguments and settings end with one line, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::process::Command;

fn wavegate(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    wavegate_in(&dir, args, env)
}

fn wavegate_in(
    dir: &tempfile::TempDir,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wavegate"));
    cmd.args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("WAVEGATE_DATA_DIR", dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn a_malformed_setting_stops_with_one_line_naming_it() {
    let (code, _, stderr) = wavegate(&["serve"], &[("WAVEGATE_LISTEN", "nowhere")]);

    assert_ne!(code, 0);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("WAVEGATE_LISTEN"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn an_unknown_argument_stops_with_one_line() {
    let (code, _, stderr) = wavegate(&["token", "--sub", "a", "--ttl", "forever"], &[]);

    assert_eq!(code, 2);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--ttl"), "{stderr}");
}

#[test]
fn token_prints_a_jwt_for_the_kept_secret() {
    let (code, stdout, stderr) = wavegate(
        &["token", "--sub", "alice", "--role", "admin", "--ttl", "2h"],
        &[],
    );

    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim().split('.').count(), 3, "{stdout}");
}

#[test]
fn export_schema_prints_the_sdl() {
    let (code, stdout, _) = wavegate(&["export-schema"], &[]);

    assert_eq!(code, 0);
    assert!(stdout.contains("type AudioFile"));
}

#[test]
fn migrate_status_lists_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = wavegate_in(&dir, &["migrate", "up"], &[]);
    assert_eq!(code, 0, "{stderr}");

    let (code, stdout, _) = wavegate_in(&dir, &["migrate", "status"], &[]);

    assert_eq!(code, 0);
    assert!(
        stdout.contains("applied  m20261203_000001_create_core_tables"),
        "{stdout}"
    );
}
