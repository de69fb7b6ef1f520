//! What Linux's `/proc` says about this process: CPU time and context switches per thread, resident
//! memory, and resource limits. Every function returns `None` where `/proc` cannot be read.

use std::collections::HashMap;
use std::fs;

/// Per-thread counters, by thread id.
pub type PerThread = HashMap<u32, u64>;

/// Reads `file` of every thread of this process (or those whose name passes `wanted`), through
/// `parse`.
fn per_thread(
    file: &str,
    wanted: Option<fn(&str) -> bool>,
    parse: impl Fn(&str) -> Option<u64>,
) -> Option<PerThread> {
    let tasks = fs::read_dir("/proc/self/task").ok()?;
    let mut counters = HashMap::new();
    for task in tasks.flatten() {
        let Some(id) = task.file_name().to_str().and_then(|id| id.parse().ok()) else {
            continue;
        };
        let path = task.path();
        if let Some(wanted) = &wanted {
            // A thread may end between listing and reading; it is left out.
            let Ok(name) = fs::read_to_string(path.join("comm")) else {
                continue;
            };
            if !wanted(name.trim()) {
                continue;
            }
        }
        if let Some(value) = fs::read_to_string(path.join(file))
            .ok()
            .and_then(|text| parse(&text))
        {
            counters.insert(id, value);
        }
    }
    Some(counters)
}

fn schedstat_ns(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Nanoseconds each thread of the process but the calling one has spent on a CPU (the first field
/// of `schedstat`): the calling thread reads its own with [`own_cpu_ns`], so that the time it spends
/// reading the others can be left out.
pub fn others_cpu_ns() -> Option<PerThread> {
    let own = own_thread_id()?;
    let mut threads = per_thread("schedstat", None, schedstat_ns)?;
    threads.remove(&own);
    Some(threads)
}

/// Nanoseconds the calling thread has spent on a CPU.
pub fn own_cpu_ns() -> Option<u64> {
    schedstat_ns(&fs::read_to_string("/proc/thread-self/schedstat").ok()?)
}

fn own_thread_id() -> Option<u32> {
    let link = fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// Context switches, voluntary and not, of each of the library's threads (named `mdr-...`): each
/// is a wake-up or a preemption.
pub fn library_switches() -> Option<PerThread> {
    per_thread("status", Some(|name| name.starts_with("mdr-")), |text| {
        Some(
            text.lines()
                .filter(|line| line.contains("ctxt_switches"))
                .filter_map(|line| line.split_whitespace().last()?.parse::<u64>().ok())
                .sum(),
        )
    })
}

/// How much the counters grew from `before` to `after`; threads that started meanwhile count from
/// zero, threads that ended meanwhile are not seen.
pub fn growth(before: &PerThread, after: &PerThread) -> u64 {
    after
        .iter()
        .map(|(id, now)| now.saturating_sub(before.get(id).copied().unwrap_or(0)))
        .sum()
}

/// Threads of the library running now.
pub fn library_threads() -> Option<usize> {
    library_switches().map(|threads| threads.len())
}

/// Resident memory of the process, in KiB (`VmRSS` in `/proc/self/status`).
pub fn resident_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The soft limit named `name` in `/proc/self/limits` ("Max open files"); `Some(None)` when
/// unlimited.
pub fn soft_limit(name: &str) -> Option<Option<u64>> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with(name))?;
    let soft = line[name.len()..].split_whitespace().next()?;
    Some(soft.parse().ok())
}

/// File descriptors open now.
pub fn open_files() -> Option<u64> {
    Some(fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// Threads of the process running now.
pub fn threads() -> Option<u64> {
    Some(fs::read_dir("/proc/self/task").ok()?.count() as u64)
}
