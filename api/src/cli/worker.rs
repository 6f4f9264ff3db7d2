//! `wavegate worker`: arguments, the endpoint and token defaults, and the signals that
//! stop it. The worker itself is [`crate::worker`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use url::Url;

use crate::auth::JwtVerifier;
use crate::config::Settings;
use crate::worker::{self, Credentials, KINDS, Minter, WorkerConfig};

/// Arguments of `wavegate worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Job kinds to claim, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "transcode,waveform",
          value_parser = parse_kind)]
    kinds: Vec<String>,
    /// GraphQL endpoint [default: http://<WAVEGATE_LISTEN>/graphql].
    #[arg(long, env = "WAVEGATE_WORKER_ENDPOINT", value_parser = parse_endpoint)]
    endpoint: Option<Url>,
    /// Bearer token of role worker [default: one minted from the HS256 secret].
    #[arg(long, env = "WAVEGATE_WORKER_TOKEN", hide_env_values = true,
          value_parser = parse_token)]
    token: Option<Token>,
    /// Wait between two claims that found no job, such as `1s` or `250ms`.
    #[arg(long, default_value = "1s", value_parser = parse_poll_interval)]
    poll_interval: Duration,
    /// The ffmpeg program.
    #[arg(long, default_value = "ffmpeg")]
    ffmpeg: PathBuf,
}

/// A bearer token given on the command line; never printed.
#[derive(Clone)]
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Runs the worker until ctrl-c or SIGTERM.
pub async fn run(args: WorkerArgs, settings: &Settings) -> anyhow::Result<()> {
    let endpoint = match args.endpoint {
        Some(url) => url,
        None => local_endpoint(settings.listen)?,
    };

    // The token: given, or minted here as `wavegate token` would.
    let credentials = match args.token {
        Some(Token(token)) => Credentials::Fixed(token),
        None => {
            let verifier = JwtVerifier::from_settings(&settings.jwt, &settings.data_dir)?;
            let minter = Minter::new(verifier, worker::default_subject())
                .context("no --token or WAVEGATE_WORKER_TOKEN, and none can be minted")?;
            Credentials::Minted(Box::new(minter))
        }
    };
    let token = credentials.bearer()?;

    let config = WorkerConfig {
        endpoint,
        token,
        kinds: args.kinds,
        poll_interval: args.poll_interval,
        ffmpeg: args.ffmpeg,
    };
    // Checks ffmpeg before anything else.
    worker::run_with(config, credentials, shutdown_signal()).await
}

/// `http://<listen>/graphql`, with a wildcard address replaced by loopback.
fn local_endpoint(listen: SocketAddr) -> anyhow::Result<Url> {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let addr = SocketAddr::new(ip, listen.port());
    Url::parse(&format!("http://{addr}/graphql"))
        .with_context(|| format!("WAVEGATE_LISTEN {listen} gives no endpoint URL"))
}

/// Resolves on ctrl-c or, on Unix, SIGTERM; never when the handlers cannot be installed.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}

/// A job kind this worker knows.
fn parse_kind(raw: &str) -> Result<String, String> {
    let kind = raw.trim();
    if KINDS.contains(&kind) {
        Ok(kind.to_owned())
    } else {
        Err(format!(
            "{kind:?} is not a kind this worker runs ({})",
            KINDS.join(", ")
        ))
    }
}

/// An `http://` URL; this build has no TLS client.
fn parse_endpoint(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".to_owned());
    }
    Ok(url)
}

/// A non-empty token.
fn parse_token(raw: &str) -> Result<Token, String> {
    let token = raw.trim();
    if token.is_empty() {
        return Err("must not be empty".to_owned());
    }
    Ok(Token(token.to_owned()))
}

/// A poll interval: 10 ms to 1 hour.
fn parse_poll_interval(raw: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(raw)
        .map_err(|e| format!("{raw:?} is not a duration like 1s: {e}"))?;
    if interval < Duration::from_millis(10) || interval > Duration::from_secs(3600) {
        return Err("must be between 10ms and 1h".to_owned());
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_address_becomes_loopback() {
        let url = local_endpoint("0.0.0.0:8080".parse().unwrap()).unwrap();

        assert_eq!(url.as_str(), "http://127.0.0.1:8080/graphql");
    }

    #[test]
    fn unknown_kinds_and_tiny_intervals_are_refused() {
        assert!(parse_kind("transcode").is_ok());
        assert!(parse_kind("thumbnail").is_err());
        assert!(parse_poll_interval("1ms").is_err());
        assert!(parse_endpoint("https://gw.example/graphql").is_ok());
        assert!(parse_endpoint("ftp://gw.example/graphql").is_err());
    }
}
