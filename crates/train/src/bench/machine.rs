//! What a benchmark record states about the machine it ran on, and the process's CPU time.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

/// Clock ticks per second of the times in `/proc/<pid>/stat` (`USER_HZ`). Linux fixes it
/// at 100 for user space on every architecture it reports to, whatever the kernel's HZ.
const USER_HZ: f64 = 100.0;

/// Shortest CPU time a [`Stopwatch`] reports: 20 ticks of `USER_HZ`.
pub const MIN_CPU_SECONDS: f64 = 20.0 / USER_HZ;

/// The machine and the environment that a benchmark ran in.
#[derive(Clone, Debug, Serialize)]
pub struct MachineInfo {
    /// `model name` of the first processor in `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Logical CPUs this process may use (`std::thread::available_parallelism`).
    pub available_parallelism: usize,
    /// Vector extensions from `/proc/cpuinfo` that matter to the matrix kernels.
    pub simd_flags: Vec<String>,
    /// `RAYON_NUM_THREADS`, which sizes the thread pool of flex and ndarray; unset means
    /// one thread per logical CPU.
    pub rayon_num_threads: Option<String>,
    /// One-, five- and fifteen-minute load averages from `/proc/loadavg` at the start.
    pub load_average_start: Option<[f64; 3]>,
    /// The same at the end: a load above the CPU count means the timings shared the CPU.
    pub load_average_end: Option<[f64; 3]>,
    /// `git rev-parse HEAD` in the working directory, with `-dirty` when files differ.
    pub git_commit: Option<String>,
    pub burn_version: &'static str,
}

impl MachineInfo {
    /// Reads what can be known before the benchmark runs.
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
            .map_or_else(
                || "unknown".to_string(),
                |(_, name)| name.trim().to_string(),
            );
        let flags = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("flags")?.split_once(':'))
            .map(|(_, flags)| flags.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_default();
        let simd_flags = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "neon"]
            .iter()
            .filter(|flag| flags.contains(flag))
            .map(|flag| flag.to_string())
            .collect();
        Self {
            cpu_model,
            available_parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
            simd_flags,
            rayon_num_threads: std::env::var("RAYON_NUM_THREADS").ok(),
            load_average_start: load_average(),
            load_average_end: None,
            git_commit: git_commit(),
            // The workspace pins Burn to this exact version in Cargo.toml.
            burn_version: "0.22.1",
        }
    }
}

/// Returns the one-, five- and fifteen-minute load averages.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|field| field.parse().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

fn git_commit() -> Option<String> {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let commit = run(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|status| !status.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

/// User plus system CPU seconds of this process so far, over all its threads.
///
/// Returns `None` where `/proc/self/stat` is missing (not Linux). The resolution is one
/// tick of 10 ms.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string(Path::new("/proc/self/stat")).ok()?;
    // The command name in field 2 may contain spaces, so fields are counted after its
    // closing parenthesis: utime and stime are fields 14 and 15 of the whole line.
    let (_, rest) = stat.rsplit_once(") ")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / USER_HZ)
}

/// Wall-clock and CPU time of one measured stretch.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    wall: Instant,
    cpu: Option<f64>,
}

impl Stopwatch {
    pub fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu: process_cpu_seconds(),
        }
    }

    /// Returns the wall-clock seconds and the process CPU seconds since the start.
    ///
    /// The CPU time is `None` below [`MIN_CPU_SECONDS`], where the 10 ms tick would make
    /// it off by more than 5 %.
    pub fn stop(&self) -> (f64, Option<f64>) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = match (self.cpu, process_cpu_seconds()) {
            (Some(start), Some(end)) => Some(end - start),
            _ => None,
        };
        (wall, cpu.filter(|&cpu| cpu >= MIN_CPU_SECONDS))
    }
}
