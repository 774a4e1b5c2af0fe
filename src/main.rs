//! The `scanlake` binary: parse flags, set up logging and the runtime, run
//! the command, map the result to an exit code (0 ok, 1 alerts with
//! `--exit-code`, 2 error).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use scanlake::Outcome;
use scanlake::cli::Cli;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => Level::ERROR,
        (false, 0) => Level::INFO,
        (false, 1) => Level::DEBUG,
        (false, _) => Level::TRACE,
    };
    // Other crates (HTTP clients among them) never log below INFO: their
    // debug output could carry request headers.
    // Ballista's client logs every connection at INFO: shown with -v, or
    // when this process is a scheduler or executor.
    let ballista = if cli.verbose > 0 || cli.command.is_service() { level.min(Level::INFO) } else { Level::WARN };
    let filter = ["ballista", "ballista_core", "ballista_scheduler", "ballista_executor"]
        .into_iter()
        .fold(Targets::new().with_target("scanlake", level), |f, target| f.with_target(target, ballista.min(level)))
        .with_default(level.min(Level::INFO));
    let format = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(false);
    tracing_subscriber::registry().with(format.with_filter(filter)).init();

    // Query plans are walked recursively (Ballista decodes them from
    // protobuf on the scheduler and executors): deep plans need more than
    // tokio's default 2 MiB per worker thread, in debug builds above all.
    let runtime = match tokio::runtime::Builder::new_multi_thread().thread_stack_size(16 << 20).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(scanlake::run(cli.command)) {
        Ok(Outcome::Alerts(n)) if n > 0 => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
