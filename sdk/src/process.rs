//! Figures about the current process, read from Linux's /proc: resident
//! memory, CPU time, threads, open file descriptors. Elsewhere there are none.
//! Shared by the SDK's process metrics and the TinyObs server's own.

/// Linux reports CPU time in /proc in units of USER_HZ, 100 per second on
/// every architecture Rust targets.
const USER_HZ: f64 = 100.0;

/// One reading, each figure `None` where the platform does not say.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessFigures {
    pub resident_memory_bytes: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub threads: Option<f64>,
    pub open_fds: Option<f64>,
}

impl ProcessFigures {
    /// (Prometheus name, value, is a counter) of each figure present.
    pub fn named(&self) -> Vec<(&'static str, f64, bool)> {
        [
            (
                "process_resident_memory_bytes",
                self.resident_memory_bytes,
                false,
            ),
            ("process_cpu_seconds_total", self.cpu_seconds, true),
            ("process_threads", self.threads, false),
            ("process_open_fds", self.open_fds, false),
        ]
        .into_iter()
        .filter_map(|(name, v, counter)| Some((name, v?, counter)))
        .collect()
    }
}

/// Reads the figures now.
pub fn read() -> ProcessFigures {
    let mut out = ProcessFigures::default();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        };
        out.resident_memory_bytes = field("VmRSS:").map(|kib| kib * 1024.0);
        out.threads = field("Threads:");
    }
    // Fields 14 and 15 of /proc/self/stat (utime, stime), counted after the
    // `(comm)` field, which may itself hold spaces.
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some((_, rest)) = stat.rsplit_once(')')
    {
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
            out.cpu_seconds = Some((user + system) / USER_HZ);
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        out.open_fds = Some(fds.count() as f64);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_memory_threads_and_files() {
        let f = super::read();
        if cfg!(target_os = "linux") {
            assert!(f.resident_memory_bytes.unwrap() > 1e6);
            assert!(f.threads.unwrap() >= 1.0);
            assert!(f.open_fds.unwrap() >= 3.0);
            assert!(f.cpu_seconds.unwrap() >= 0.0);
            assert_eq!(f.named().len(), 4);
        }
    }
}
