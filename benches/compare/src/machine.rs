//! The machine a run was made on: CPU, cores, memory, kernel, the file
//! system of the data directory, load, date, and samsa's commit.

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// Facts about the machine, read at the start of a run.
#[derive(Debug, Clone)]
pub struct Machine {
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// Cores this process may use.
    pub cores: usize,
    /// Memory in GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// File system type, device and mount point of the data directory.
    pub filesystem: String,
    /// The data directory.
    pub data_dir: String,
    /// 1, 5 and 15 minute load averages at the start.
    pub load_start: String,
    /// UTC date and time of the start.
    pub date: String,
    /// samsa's git commit, if known.
    pub samsa_commit: String,
    /// rustc's version, if known.
    pub rustc: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The mount (type, device, mount point) holding `path`: the longest mount
/// point that is a prefix of it.
fn filesystem(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut best: Option<(usize, String)> = None;
    for line in read("/proc/self/mounts").lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        let (dev, mnt, ty) = (f[0], f[1], f[2]);
        if path.starts_with(mnt) && best.as_ref().is_none_or(|(n, _)| mnt.len() > *n) {
            best = Some((mnt.len(), format!("{ty} on {dev} (mounted at {mnt})")));
        }
    }
    best.map(|(_, s)| s).unwrap_or_else(|| "unknown".into())
}

fn output(cmd: &str, args: &[&str], dir: Option<&Path>) -> String {
    let mut c = Command::new(cmd);
    c.args(args);
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c.output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// UTC date and time of `secs` since the epoch, `YYYY-MM-DD HH:MM UTC`.
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

impl Machine {
    /// Reads the facts, for data in `data_dir`.
    pub fn describe(data_dir: &Path) -> Machine {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let memory_gib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / (1u64 << 20) as f64);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            filesystem: filesystem(data_dir),
            data_dir: data_dir.display().to_string(),
            load_start: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            date: utc(now),
            samsa_commit: output("git", &["rev-parse", "--short=12", "HEAD"], Some(&repo)),
            rustc: output("rustc", &["--version"], None),
        }
    }

    /// One paragraph for the markdown report.
    pub fn markdown(&self) -> String {
        format!(
            "{cpu}, {cores} cores, {mem:.0} GiB memory, Linux {kernel}; data on {fs}; \
             load average at start {load}; {date}; samsa {commit}; {rustc}.",
            cpu = self.cpu,
            cores = self.cores,
            mem = self.memory_gib,
            kernel = self.kernel,
            fs = self.filesystem,
            load = self.load_start,
            date = self.date,
            commit = self.samsa_commit,
            rustc = self.rustc,
        )
    }

    /// The facts as JSON.
    pub fn json(&self) -> Value {
        json!({
            "cpu": self.cpu,
            "cores": self.cores,
            "memory_gib": self.memory_gib,
            "kernel": self.kernel,
            "filesystem": self.filesystem,
            "data_dir": self.data_dir,
            "load_average_at_start": self.load_start,
            "date": self.date,
            "samsa_commit": self.samsa_commit,
            "rustc": self.rustc,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::utc(951_782_400 + 3_723), "2000-02-29 01:02 UTC");
    }
}
