//! The `wavegate` command line.
//!
//! # Layout
//!
//! - [`main`]: parses arguments, sets up logging and runs one command.
//! - [`seed`]: `wavegate seed`, realistic data for benchmarks.
//! - `worker`: `wavegate worker`, the reference processing worker ([`crate::worker`]).
//!
//! Every failure ends with one line on stderr naming what is wrong, and a non-zero exit.

pub mod seed;
mod worker;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use entity::enums::Role;
use sea_orm_migration::MigratorTrait;

use crate::auth::JwtVerifier;
use crate::config::Settings;
use crate::http::Application;

/// GraphQL data gateway for audio platforms.
#[derive(Debug, Parser)]
#[command(name = "wavegate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply, revert or list database migrations.
    Migrate {
        #[arg(value_enum, default_value_t = MigrateAction::Up)]
        action: MigrateAction,
    },
    /// Print a JWT signed with the configured HS256 secret (development aid).
    Token {
        /// The `sub` claim.
        #[arg(long)]
        sub: String,
        /// The `role` claim.
        #[arg(long, value_enum, default_value_t = RoleArg::User)]
        role: RoleArg,
        /// Lifetime, such as `15m`, `1h` or `7d`.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: Duration,
    },
    /// Print the GraphQL schema (SDL).
    ExportSchema,
    /// Fill the database and bucket with realistic data for benchmarks.
    Seed {
        /// Users `user-1` … `user-N`.
        #[arg(long, default_value_t = 1000)]
        users: u32,
        /// Audio files, spread over the users.
        #[arg(long, default_value_t = 100_000)]
        files: u32,
    },
    /// Claim processing jobs and run them with ffmpeg, through the GraphQL API.
    Worker(worker::WorkerArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MigrateAction {
    /// Apply pending migrations.
    Up,
    /// Revert the last migration.
    Down,
    /// List applied and pending migrations.
    Status,
    /// Drop every table and apply all migrations again.
    Fresh,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    User,
    Worker,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::User => Role::User,
            RoleArg::Worker => Role::Worker,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// Parses a token lifetime: 1 second to 365 days.
fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(raw)
        .map_err(|e| format!("{raw:?} is not a duration like 1h: {e}"))?;
    if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(365 * 24 * 3600) {
        return Err("must be between 1s and 365d".to_owned());
    }
    Ok(ttl)
}

/// Runs the command line; the exit code says whether it worked.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!("{first} (see wavegate --help)");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);

    // The schema needs no configuration at all.
    if let Command::ExportSchema = command {
        print!("{}", crate::graphql::sdl());
        return ExitCode::SUCCESS;
    }

    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let long_running = matches!(command, Command::Serve | Command::Worker(_));
    init_logging(&settings, long_running);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let is_worker = matches!(command, Command::Worker(_));
    match runtime.block_on(run(command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The worker's start-up errors (ffmpeg missing) stand alone on one line.
            if !is_worker {
                tracing::error!(error = format!("{e:#}"), "stopped");
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Sets up `tracing`: the configured filter for the server and the worker, warnings only
/// for tools.
fn init_logging(settings: &Settings, server: bool) {
    use tracing_subscriber::EnvFilter;

    let filter = if server {
        settings.log_filter.as_str()
    } else {
        "warn"
    };
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if settings.log_json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Runs one command.
async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            tracing::info!(addr = %app.addr(), "wavegate listening; GraphiQL at http://{}/graphql", app.addr());
            app.run_until_stopped().await?;
        }
        Command::Migrate { action } => {
            let db = crate::db::connect(&settings, None).await?;
            match action {
                MigrateAction::Up => migration::Migrator::up(&db, None).await?,
                MigrateAction::Down => migration::Migrator::down(&db, Some(1)).await?,
                MigrateAction::Fresh => migration::Migrator::fresh(&db).await?,
                MigrateAction::Status => {
                    for m in migration::Migrator::get_applied_migrations(&db).await? {
                        println!("applied  {}", m.name());
                    }
                    for m in migration::Migrator::get_pending_migrations(&db).await? {
                        println!("pending  {}", m.name());
                    }
                }
            }
        }
        Command::Token { sub, role, ttl } => {
            if sub.is_empty() || sub.len() > 255 {
                anyhow::bail!("--sub must be 1 to 255 characters");
            }
            let verifier = JwtVerifier::from_settings(&settings.jwt, &settings.data_dir)?;
            let token = verifier
                .mint(&sub, role.into(), ttl)
                .map_err(anyhow::Error::msg)?;
            println!("{token}");
        }
        Command::Seed { users, files } => seed::run(settings, users, files).await?,
        Command::Worker(args) => worker::run(args, &settings).await?,
        Command::ExportSchema => print!("{}", crate::graphql::sdl()),
    }
    Ok(())
}
