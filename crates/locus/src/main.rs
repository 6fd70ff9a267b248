//! `locus`: the command line. It reads the configuration and wires the
//! services together; all SIP and E911 logic lives in the library crates.

mod config;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use config::{Config, LogFormat};

/// Locus: a SIP call server and an enterprise E911 location manager.
///
/// With no command, runs every service with the built-in default
/// configuration: SIP on 127.0.0.1:5060 over UDP and TCP, the E911 manager's
/// API on http://127.0.0.1:8911, data in ./locus-data.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Configuration file for the all-in-one run (default: built-in).
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the SIP server (`[sip]` section of the file).
    Sip {
        /// Configuration file (TOML); see config/locus.example.toml.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the E911 manager (`[e911]` section of the file).
    E911 {
        /// Configuration file (TOML); see config/locus.example.toml.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Check a configuration file and exit: 0 if valid, 2 with the problems if not.
    CheckConfig {
        /// Configuration file (TOML).
        file: PathBuf,
    },
}

fn load(file: Option<&Path>) -> Result<Config, ExitCode> {
    match file {
        None => Ok(Config::default()),
        Some(f) => Config::load(f).map_err(|e| {
            eprintln!("locus: {e}");
            ExitCode::from(2)
        }),
    }
}

fn init_logging(config: &Config) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Watches SIGTERM and SIGINT from now on; the future resolves when one
/// arrives. The handlers are installed by this call, not when the future is
/// first polled: a signal sent as soon as the addresses are printed must
/// stop the process cleanly, not kill it with the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                _ = int.recv() => tracing::info!("SIGINT: stopping"),
            },
            (Ok(mut term), Err(e)) => {
                tracing::error!(error = %e, "cannot watch SIGINT; stop with SIGTERM");
                term.recv().await;
            }
            (Err(e), Ok(mut int)) => {
                tracing::error!(error = %e, "cannot watch SIGTERM; stop with SIGINT");
                int.recv().await;
            }
            (Err(e), Err(_)) => {
                tracing::error!(error = %e, "cannot watch SIGTERM or SIGINT; running until killed");
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The services a command runs.
#[derive(Debug, Clone, Copy)]
struct Services {
    sip: bool,
    e911: bool,
    /// Both, from the built-in default: link the manager to the server.
    linked: bool,
}

/// The call server record that points the manager at this process's own
/// SIP server (the all-in-one run: DESIGN section 1).
fn own_call_server(sip: std::net::SocketAddr) -> locus_e911::model::CallServer {
    use locus_e911::model::{CallServer, CallServerType, Member, SubscriptionMode, Transport};
    CallServer {
        id: 0,
        kind: CallServerType::Locus,
        name: "this server".into(),
        enabled: true,
        onsite_notification_enabled: false,
        members: vec![Member {
            ip: sip.ip(),
            transport: Transport::Udp,
            port: sip.port(),
        }],
        username: "911".into(),
        filters: Vec::new(),
        subscription_mode: SubscriptionMode::Server,
        aors: Vec::new(),
        default_location_id: None,
    }
}

/// Raises the soft limit on open files to the hard limit, as SIP servers
/// do (Kamailio, FreeSWITCH): every call holds four relay sockets, the
/// relay keeps released ones pooled, and TCP/TLS peers each hold one.
/// With a shell's usual 1024 the pool alone could starve TCP accepts.
fn raise_open_files_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    let (Some(current), Some(hard)) = (limit.current, limit.maximum) else {
        return; // unlimited: nothing to raise
    };
    if current < hard {
        limit.current = Some(hard);
        match setrlimit(Resource::Nofile, limit) {
            Ok(()) => tracing::info!(from = current, to = hard, "raised the open files limit"),
            Err(e) => tracing::warn!(error = %e, current, "cannot raise the open files limit"),
        }
    }
}

fn run(config: Config, services: Services) -> ExitCode {
    init_logging(&config);
    raise_open_files_limit();
    // One thread runs the SIP core and its sockets: a datagram is received,
    // handled and answered without crossing threads. Measured with
    // bench/options_load.sh, the multi-thread runtime spent most of its CPU
    // in futex wake-ups and context switches handing each message from a
    // worker to the core's task.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("locus")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("locus: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let shutdown = shutdown_signal();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let mut tasks = Vec::new();
        let mut out = String::new();
        let mut own_sip_udp = None;
        if services.sip {
            let server = match locus_sip::Server::bind(config.sip).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("locus: {e}");
                    return ExitCode::FAILURE;
                }
            };
            for addr in server.local_addrs() {
                out.push_str(&format!("locus sip: listening on {addr}\n"));
                if addr.to_string().starts_with("udp:") && own_sip_udp.is_none() {
                    own_sip_udp = Some(addr.addr);
                }
            }
            tasks.push(tokio::spawn(server.run(stopped())));
        }
        if services.e911 {
            let mut manager = match locus_e911::service::Manager::start(&config.e911).await {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("locus: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if let (true, Some(sip)) = (services.linked, own_sip_udp) {
                match manager
                    .adopt_default_call_server(own_call_server(sip))
                    .await
                {
                    Ok(true) => tracing::info!(%sip, "manager subscribed to this SIP server"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot create the default call server"),
                }
            }
            if let Some(addr) = manager.http_addr() {
                out.push_str(&format!("locus e911: http://{addr}\n"));
            }
            for addr in manager.sip_addrs() {
                out.push_str(&format!("locus e911: sip listening on {addr}\n"));
            }
            tasks.push(tokio::spawn(manager.run(stopped())));
        }
        {
            // Tests and operators read the bound addresses from stdout.
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(out.as_bytes());
            let _ = stdout.flush();
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}

/// jemalloc instead of glibc's malloc: a call through the B2BUA makes
/// about 220 small allocations, and glibc's `free` took 14% of its
/// user-space instructions. Measured with `bench/call_load.sh` (signalling
/// only, three interleaved runs): 6% less CPU per call at 4000 calls/s, 13%
/// at 6000/s. mimalloc gained less (1 to 5%), and without its `no_thp`
/// feature spent ten times the kernel time on transparent huge pages.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => match load(cli.config.as_deref()) {
            Ok(c) => run(
                c,
                Services {
                    sip: true,
                    e911: true,
                    linked: cli.config.is_none(),
                },
            ),
            Err(code) => code,
        },
        Some(Command::Sip { config }) => match load(Some(&config)) {
            Ok(c) => run(
                c,
                Services {
                    sip: true,
                    e911: false,
                    linked: false,
                },
            ),
            Err(code) => code,
        },
        Some(Command::E911 { config }) => match load(Some(&config)) {
            Ok(c) => run(
                c,
                Services {
                    sip: false,
                    e911: true,
                    linked: false,
                },
            ),
            Err(code) => code,
        },
        Some(Command::CheckConfig { file }) => match load(Some(&file)) {
            Ok(_) => {
                println!("{}: valid", file.display());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
    }
}
