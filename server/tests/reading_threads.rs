//! The query threads (`storage::start_reading_threads`): named, and pinned
//! one per CPU where the process has as many CPUs as threads.

use rustix::thread::{CpuSet, sched_getaffinity};

fn cpus() -> Vec<usize> {
    let set = sched_getaffinity(None).expect("affinity");
    (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect()
}

#[test]
fn reading_threads_are_named_and_pinned_one_per_cpu() {
    let pinned = tinyobs::storage::start_reading_threads();
    let threads: Vec<(String, Vec<usize>)> = rayon::broadcast(|_| {
        let name = std::thread::current()
            .name()
            .unwrap_or_default()
            .to_string();
        (name, cpus())
    });
    let names: Vec<&str> = threads.iter().map(|t| t.0.as_str()).collect();
    let expected: Vec<String> = (0..threads.len())
        .map(|i| format!("tinyobs-read-{i}"))
        .collect();
    assert_eq!(names, expected);
    // This thread keeps the process's CPUs.
    let all = cpus();
    assert_eq!(pinned, all.len() == threads.len(), "{all:?}");
    if pinned {
        let each: Vec<Vec<usize>> = threads.iter().map(|t| t.1.clone()).collect();
        let one_each: Vec<Vec<usize>> = all.iter().map(|&c| vec![c]).collect();
        assert_eq!(each, one_each);
    }
}
