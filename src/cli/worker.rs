//! `dsl-engine worker --nats URL`: an evaluation worker for `iterate --nats` and `bench --nats`
//! on any machine (see `crate::scale::worker` and `docs/scale-out.md`). One line per job.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::ExitStatus;
use crate::data::{default_data_dir, DataDir, MANIFEST};
use crate::iterate::Stop;
use crate::scale::data::Store;
use crate::scale::{self, worker, Auth};

/// `dsl-engine worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The NATS server (JetStream enabled), e.g. nats://10.0.0.5:4222.
    #[arg(long, value_name = "URL")]
    pub nats: String,
    /// Jobs evaluated at once [default: the number of cores; at most 32].
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u32).range(1..=32))]
    pub jobs: Option<u32>,
    /// The data set this worker holds [default: the synthetic market's cache directory, when
    /// it exists]. A job on another data set gets it by digest: a synthetic market is
    /// regenerated, other data is fetched from the server's object store and verified; copies
    /// are kept in the user cache (dsl-engine/data/by-digest/).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Intermediate results a warm sandbox session keeps for later jobs, in MiB (0: off)
    /// [default: a quarter of each run's `--memory`; at most half of it].
    #[arg(long, value_name = "MIB", value_parser = crate::sandbox::parse_reuse_mib)]
    pub reuse_mib: Option<usize>,
    #[command(flatten)]
    pub auth: Auth,
}

pub fn run(a: WorkerArgs) -> anyhow::Result<ExitStatus> {
    let own = match &a.data_dir {
        Some(d) => Some(
            DataDir::open(d)
                .with_context(|| format!("cannot open data directory {}", d.display()))?,
        ),
        None => {
            let d = default_data_dir();
            d.join(MANIFEST)
                .is_file()
                .then(|| DataDir::open(&d))
                .transpose()
                .with_context(|| format!("cannot open data directory {}", d.display()))?
        }
    };
    let jobs = a
        .jobs
        .map_or_else(crate::parallel::default_jobs, |j| j as usize);
    let rt = scale::runtime()?;
    let stop = Stop::new();
    {
        let stop = stop.clone();
        rt.spawn(async move {
            let first = super::iterate::signal().await;
            errln!("{first}: finishing the jobs in flight, pulling no more (again to abort)");
            stop.request();
            let again = super::iterate::signal().await;
            errln!("{again} again: aborted; the jobs in flight go to other workers");
            std::process::exit(130);
        });
    }
    let log: worker::Log = Arc::new(|line: &str| outln!("{line}"));
    let opts = worker::Options {
        url: a.nats.clone(),
        auth: a.auth.clone(),
        jobs,
        own,
        store_root: Store::default_root(),
        reuse_bytes: a.reuse_mib.map(|m| m << 20),
    };
    let done = rt.block_on(worker::run(opts, stop, log))?;
    errln!("worker stopped after answering {done} job(s)");
    rt.shutdown_background();
    Ok(ExitStatus::Success)
}
