//! `updraft`: ship web bundles to Capacitor apps, and run the whole service locally.

mod client;
mod commands;
mod config;
mod delta;
mod output;
mod serve;
mod simulate;
mod zip_entry;
mod zipper;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use commands::Ctx;
use output::Out;

#[derive(Parser)]
#[command(
    name = "updraft",
    version,
    about = "Live updates for Capacitor apps",
    after_help = "Quick start:\n  updraft serve\n  updraft login <KEY>\n  updraft app add com.example.app\n  updraft channel add production --default\n  updraft upload --path dist --bundle 1.0.1 --channel production"
)]
struct Cli {
    /// Print one JSON document on stdout (human text goes to stderr).
    #[arg(long, global = true)]
    json: bool,
    /// API key (default: UPDRAFT_API_KEY, ./.updraft.toml, then the user credentials file).
    #[arg(long, global = true)]
    api_key: Option<String>,
    /// Server URL (default: UPDRAFT_API_URL, the saved one, then http://127.0.0.1:8787).
    #[arg(long, global = true)]
    api_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every route (device API, /v1, bundle storage) in one process on the embedded store.
    #[command(
        after_help = "Example: updraft serve --listen 0.0.0.0:8787 --public-url https://updates.example.com"
    )]
    Serve(serve::ServeArgs),
    /// Play a fleet of virtual devices against a server (the device SDK's behaviour).
    #[command(
        after_help = "Example: updraft simulate --url http://127.0.0.1:8787 --app com.example.app --devices 5000 --duration 10m --fail-version 1.0.2 --fail-rate 0.5"
    )]
    Simulate(simulate::SimulateArgs),
    /// Check an API key and save it with the server URL.
    #[command(
        after_help = "Example: updraft login upd_0123… --api-url https://updates.example.com"
    )]
    Login {
        /// The key (default: --api-key or UPDRAFT_API_KEY).
        key: Option<String>,
        /// Save to ./.updraft.toml (added to .gitignore) instead of the user config.
        #[arg(long)]
        local: bool,
    },
    /// Forget the saved API key.
    #[command(after_help = "Example: updraft logout")]
    Logout,
    /// Show the server and the key in use.
    #[command(after_help = "Example: updraft whoami --json")]
    Whoami,
    /// Keys of end-to-end bundle encryption.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Apps: add, list, delete, debug a device.
    #[command(subcommand)]
    App(AppCmd),
    /// Channels: what devices get.
    #[command(subcommand)]
    Channel(ChannelCmd),
    /// Bundles: upload, list, delete, clean up, zip.
    #[command(subcommand)]
    Bundle(BundleCmd),
    /// Print a new API key and its SHA-256 (for a deployment's initial admin key parameter).
    #[command(after_help = "Example: updraft keygen --json")]
    Keygen,
    /// Same as `updraft bundle upload`.
    #[command(
        after_help = "Example: updraft upload --path dist --bundle 1.4.0 --channel production"
    )]
    Upload(commands::bundle::UploadArgs),
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Make an RSA-2048 key pair: the private key stays here (.capgo_key_v2, mode 0600), the
    /// public key goes into the app (plugins.CapacitorUpdater.publicKey).
    #[command(after_help = "Example: updraft key create --write-config")]
    Create {
        /// Replace an existing key (apps with the old public key cannot read new bundles).
        #[arg(long)]
        force: bool,
        /// Write the public key into capacitor.config.json.
        #[arg(long)]
        write_config: bool,
    },
}

#[derive(Subcommand)]
enum AppCmd {
    /// Register an app (id from the argument or capacitor.config).
    #[command(after_help = "Example: updraft app add com.example.app --name 'Example'")]
    Add {
        app: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// List the apps this key can see.
    #[command(after_help = "Example: updraft app list --json")]
    List,
    /// Change an app: its name, or the webhook told about every change of its channels.
    #[command(
        after_help = "Example: updraft app set com.example.app --webhook https://hooks.example.com/updraft"
    )]
    Set {
        app: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// An https URL told (signed, see README) about rollouts, rollbacks and every other
        /// change of what a channel serves; a new signing secret is printed once.
        #[arg(long, conflicts_with = "no_webhook")]
        webhook: Option<String>,
        /// Stop sending webhooks.
        #[arg(long)]
        no_webhook: bool,
    },
    /// Delete an app and everything under it.
    #[command(after_help = "Example: updraft app delete com.example.app --yes")]
    Delete {
        app: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Follow one device's events live; exits when it reports `set` (or on Ctrl-C).
    ///
    /// While it runs, the server logs the device's update checks too (a debug session);
    /// otherwise only what the device reports (downloads, installs, failures) is logged.
    #[command(
        after_help = "Example: updraft app debug --device 6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f --expect 1.4.0"
    )]
    Debug {
        app: Option<String>,
        /// The device's id (its UUID).
        #[arg(long)]
        device: String,
        /// Print what is logged already and exit (starts no debug session).
        #[arg(long)]
        once: bool,
        /// Only a `set` of this bundle version ends the watch.
        #[arg(long)]
        expect: Option<String>,
    },
}

#[derive(Subcommand)]
enum ChannelCmd {
    /// Create a channel.
    #[command(after_help = "Example: updraft channel add production --default")]
    Add {
        name: String,
        app: Option<String>,
        /// Devices that ask for no channel get this one (public).
        #[arg(long)]
        default: bool,
        /// Devices may pick it themselves.
        #[arg(long)]
        self_assign: bool,
    },
    /// List channels and what they serve.
    #[command(after_help = "Example: updraft channel list com.example.app")]
    List { app: Option<String> },
    /// Change what a channel serves and whom.
    #[command(after_help = "Example: updraft channel set production --bundle 1.4.0 --no-emulator")]
    Set(commands::channel::SetArgs),
    /// Show what a channel serves.
    #[command(after_help = "Example: updraft channel current production")]
    Current { name: String, app: Option<String> },
    /// Delete a channel.
    #[command(after_help = "Example: updraft channel delete beta")]
    Delete { name: String, app: Option<String> },
    /// Serve a bundle to a share of the channel's devices; change the share, pause, resume.
    #[command(
        after_help = "Examples:\n  updraft channel rollout production --bundle 1.4.0 --percent 10\n  updraft channel rollout production --percent 50\n  updraft channel rollout production --pause"
    )]
    Rollout(commands::channel::RolloutArgs),
    /// Complete the rollout: its bundle becomes the one every device gets.
    #[command(after_help = "Example: updraft channel promote production")]
    Promote { name: String, app: Option<String> },
    /// What a channel serves, each version's health, and its latest changes.
    #[command(after_help = "Example: updraft channel status production")]
    Status { name: String, app: Option<String> },
    /// Every change of what a channel serves: who, when, from, to, why.
    #[command(after_help = "Example: updraft channel history production --json")]
    History { name: String, app: Option<String> },
    /// Abort the rollout, or serve the previous bundle (or --to) again.
    #[command(after_help = "Example: updraft channel rollback production --to 1.3.0")]
    Rollback {
        name: String,
        app: Option<String>,
        /// Serve this version (it counts as re-promoted if it was rolled back).
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Subcommand)]
enum BundleCmd {
    /// Zip the build folder, upload it straight to storage, and optionally serve it on a channel.
    #[command(
        after_help = "Example: updraft bundle upload --path dist --bundle 1.4.0 --channel production"
    )]
    Upload(commands::bundle::UploadArgs),
    /// List bundles.
    #[command(after_help = "Example: updraft bundle list --json")]
    List { app: Option<String> },
    /// Delete a bundle no channel serves.
    #[command(after_help = "Example: updraft bundle delete 1.2.0")]
    Delete {
        version: String,
        app: Option<String>,
    },
    /// Delete old bundles, keeping the newest N and every served one.
    #[command(after_help = "Example: updraft bundle cleanup --keep 5 --yes")]
    Cleanup {
        app: Option<String>,
        #[arg(long, default_value_t = 10)]
        keep: usize,
        #[arg(long)]
        yes: bool,
    },
    /// Write the bundle zip locally (offline) and print its version, checksum and size.
    #[command(after_help = "Example: updraft bundle zip --path dist --bundle 1.4.0 --name app.zip")]
    Zip {
        #[command(flatten)]
        zip: commands::bundle::ZipArgs,
        /// Output file (default: ./bundle-<version>.zip).
        #[arg(long)]
        name: Option<PathBuf>,
    },
    /// Decrypt an encrypted bundle as a device does (public key, session key, checksum) and
    /// check it: for verifying an upload, or bundles made by other tools.
    #[command(
        after_help = "Example: updraft bundle decrypt bundle.zip.enc --session-key 'IV:KEY' --checksum 4f2a… --out bundle.zip"
    )]
    Decrypt(commands::bundle::DecryptArgs),
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
}

async fn run(cli: Cli, ctx: Ctx) -> anyhow::Result<()> {
    use commands::{app, bundle, channel, debug, login};
    match cli.command {
        Command::Serve(args) => {
            init_tracing();
            serve::run(args).await
        }
        Command::Simulate(args) => simulate::run(args).await,
        Command::Login { key, local } => login::login(&ctx, key, cli.api_url.clone(), local).await,
        Command::Logout => login::logout(&ctx).await,
        Command::Keygen => login::keygen(&ctx),
        Command::Key(KeyCmd::Create {
            force,
            write_config,
        }) => commands::key::create(&ctx, force, write_config),
        Command::Whoami => login::whoami(&ctx).await,
        Command::App(AppCmd::Add { app, name }) => app::add(&ctx, app, name).await,
        Command::App(AppCmd::List) => app::list(&ctx).await,
        Command::App(AppCmd::Set {
            app,
            name,
            webhook,
            no_webhook,
        }) => app::set(&ctx, app, name, webhook, no_webhook).await,
        Command::App(AppCmd::Delete { app, yes }) => app::delete(&ctx, app, yes).await,
        Command::App(AppCmd::Debug {
            app,
            device,
            once,
            expect,
        }) => debug::debug(&ctx, app, device, once, expect).await,
        Command::Channel(ChannelCmd::Add {
            name,
            app,
            default,
            self_assign,
        }) => channel::add(&ctx, name, app, default, self_assign).await,
        Command::Channel(ChannelCmd::List { app }) => channel::list(&ctx, app).await,
        Command::Channel(ChannelCmd::Set(args)) => channel::set(&ctx, args).await,
        Command::Channel(ChannelCmd::Current { name, app }) => {
            channel::current(&ctx, name, app).await
        }
        Command::Channel(ChannelCmd::Delete { name, app }) => {
            channel::delete(&ctx, name, app).await
        }
        Command::Channel(ChannelCmd::Rollout(args)) => channel::rollout(&ctx, args).await,
        Command::Channel(ChannelCmd::Promote { name, app }) => {
            channel::promote(&ctx, name, app).await
        }
        Command::Channel(ChannelCmd::Status { name, app }) => {
            channel::status(&ctx, name, app).await
        }
        Command::Channel(ChannelCmd::History { name, app }) => {
            channel::history(&ctx, name, app).await
        }
        Command::Channel(ChannelCmd::Rollback { name, app, to }) => {
            channel::rollback(&ctx, name, app, to).await
        }
        Command::Bundle(BundleCmd::Upload(args)) | Command::Upload(args) => {
            bundle::upload(&ctx, args).await
        }
        Command::Bundle(BundleCmd::List { app }) => bundle::list(&ctx, app).await,
        Command::Bundle(BundleCmd::Delete { version, app }) => {
            bundle::delete(&ctx, version, app).await
        }
        Command::Bundle(BundleCmd::Cleanup { app, keep, yes }) => {
            bundle::cleanup(&ctx, app, keep, yes).await
        }
        Command::Bundle(BundleCmd::Zip { zip, name }) => bundle::zip(&ctx, zip, name).await,
        Command::Bundle(BundleCmd::Decrypt(args)) => bundle::decrypt(&ctx, args),
    }
}

// Many small, short-lived allocations per request and per zip entry: mimalloc serves them
// from per-thread pages where glibc's malloc spent ~15 % of an update check (BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // One TLS stack for the whole binary: rustls on ring, as the AWS SDK's client uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let out = Out { json: cli.json };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let ctx = Ctx {
        out,
        cwd,
        flag_key: cli.api_key.clone(),
        flag_url: cli.api_url.clone(),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli, ctx)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let (code, message) = match e.downcast_ref::<client::ServerError>() {
                Some(s) => (s.code.clone(), s.to_string()),
                None => ("cli_error".to_string(), format!("{e:#}")),
            };
            if out.json {
                println!("{}", serde_json::json!({"error": code, "message": message}));
            }
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
