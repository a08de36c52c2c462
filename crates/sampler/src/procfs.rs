//! Linux `/proc` readers: per tracked process and sample, one CPU-clock
//! read and one small `statm` read through a descriptor opened once.
//!
//! Parsing is separate from reading so it is tested on fixed text. Numbers
//! stay in the kernel's units (nanoseconds or clock ticks, pages, kB);
//! converting them is the caller's business.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::Path;

use crate::sys::CpuClock;

/// What one `/proc/<pid>/stat` line says about a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// Parent process id.
    pub ppid: u32,
    /// User + system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// User + system CPU time of its children that it reaped, in clock
    /// ticks.
    pub reaped_ticks: u64,
    /// Resident set size, in pages.
    pub rss_pages: u64,
    /// `Z` (zombie) and `X` (dead) processes use no CPU or memory.
    pub gone: bool,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted after its last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After the name: state(3) ppid(4) … utime(14) stime(15) cutime(16)
    // cstime(17) … vsize(23) rss(24).
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let state = *fields.first()?;
    Some(ProcStat {
        ppid: u32::try_from(field(4)?).ok()?,
        cpu_ticks: field(14)?.checked_add(field(15)?)?,
        reaped_ticks: field(16)?.checked_add(field(17)?)?,
        rss_pages: field(24)?,
        gone: state == "Z" || state == "X",
    })
}

/// Reads `/proc/<pid>/stat` into `buf`; `None` if the process is gone.
pub(crate) fn read_stat(proc_root: &Path, pid: u32, buf: &mut String) -> Option<ProcStat> {
    buf.clear();
    let mut file = fs::File::open(proc_root.join(pid.to_string()).join("stat")).ok()?;
    file.read_to_string(buf).ok()?;
    parse_stat(buf)
}

/// Resident pages from `/proc/<pid>/statm` (its second field); `None` for
/// a process without memory (a zombie, whose fields are all 0) or text that
/// does not parse.
pub(crate) fn parse_statm(text: &str) -> Option<u64> {
    let mut fields = text.split_ascii_whitespace().map(str::parse::<u64>);
    let size = fields.next()?.ok()?;
    let resident = fields.next()?.ok()?;
    (size > 0).then_some(resident)
}

/// Whether `proc_root` is the process table of this process's pid
/// namespace (its `self` names this process), so that its pids name the
/// processes whose CPU clocks this process reads. `/proc` normally is; a
/// fake table in a test, or another namespace's, is not.
pub(crate) fn is_own_table(proc_root: &Path) -> bool {
    fs::read_link(proc_root.join("self"))
        .is_ok_and(|target| target.as_os_str() == std::process::id().to_string().as_str())
}

/// CPU time and memory of a process at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Usage {
    /// CPU time of all its threads so far, ns.
    pub cpu_ns: u64,
    /// Resident set size, in pages.
    pub rss_pages: u64,
}

/// One tracked process, read sample after sample through what was opened
/// when it was found. An open `/proc/<pid>` file stays bound to that
/// process: once it is reaped, reads fail (`ESRCH`), even if its pid is
/// reused, so a reused pid is never mistaken for the process it was.
#[derive(Debug)]
pub(crate) struct ProcessReader {
    /// `statm` when `clock` is set, `stat` otherwise.
    file: fs::File,
    clock: Option<CpuClock>,
}

impl ProcessReader {
    /// Opens `pid` in `proc_root`. With `clocks` (`proc_root` is this
    /// process's own table, [`is_own_table`]) CPU time comes from the
    /// process's CPU clock and memory from `statm`: two cheap calls, where
    /// the kernel renders the ~50 fields of `stat` with a permission check
    /// and a walk over the threads. Without, or where the clock cannot be
    /// read (a kernel emulation may not offer other processes' clocks),
    /// both come from `stat`. `None` if the process is gone.
    pub(crate) fn open(proc_root: &Path, pid: u32, clocks: bool) -> Option<Self> {
        let dir = proc_root.join(pid.to_string());
        let clock = clocks
            .then(|| CpuClock::of_process(pid))
            .flatten()
            .filter(|clock| clock.read_ns().is_some());
        let file = match clock {
            Some(_) => fs::File::open(dir.join("statm")).ok()?,
            None => fs::File::open(dir.join("stat")).ok()?,
        };
        Some(Self { file, clock })
    }

    /// Its CPU time now, ns, where it is read through its CPU clock (one
    /// `clock_gettime` call); `None` without a clock, or once the process
    /// is gone.
    pub(crate) fn clock_ns(&self) -> Option<u64> {
        self.clock?.read_ns()
    }

    /// Reads the process now (the kernel renders the file afresh at offset
    /// 0: one system call, no path lookup); `ns_per_tick` converts `stat`'s
    /// clock ticks. `None` once the process is gone (reaped, a zombie) or
    /// the text does not parse. `buf` must hold a `stat` line (1 KiB does).
    ///
    /// `idle` is an earlier reading whose memory may stand for now: read
    /// through the CPU clock, a process that used no CPU since then keeps
    /// it and its `statm` is not read (`Reading::memory_read` is false).
    /// A zombie (ended, not yet reaped) reads as idle until its memory is
    /// read again, which lets it go.
    pub(crate) fn read(
        &self,
        buf: &mut [u8],
        ns_per_tick: u64,
        idle: Option<Usage>,
    ) -> Option<Reading> {
        use std::os::unix::fs::FileExt;
        match self.clock {
            Some(clock) => {
                // The clock first: the `statm` read after it succeeds only
                // if the process was not reaped meanwhile, so the pid the
                // clock named was still this process's. Unread, a pid
                // reused meanwhile would show another clock; the next
                // memory read fails for it anyway.
                let cpu_ns = clock.read_ns()?;
                if let Some(before) = idle.filter(|before| before.cpu_ns == cpu_ns) {
                    return Some(Reading {
                        usage: before,
                        memory_read: false,
                    });
                }
                let n = self.file.read_at(buf, 0).ok()?;
                let rss_pages = parse_statm(std::str::from_utf8(&buf[..n]).ok()?)?;
                Some(Reading {
                    usage: Usage { cpu_ns, rss_pages },
                    memory_read: true,
                })
            }
            None => {
                let n = self.file.read_at(buf, 0).ok()?;
                let stat = parse_stat(std::str::from_utf8(&buf[..n]).ok()?)?;
                (!stat.gone).then(|| Reading {
                    usage: Usage {
                        cpu_ns: stat.cpu_ticks.saturating_mul(ns_per_tick),
                        rss_pages: stat.rss_pages,
                    },
                    memory_read: true,
                })
            }
        }
    }
}

/// What [`ProcessReader::read`] read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reading {
    pub usage: Usage,
    /// Whether the memory was read now (not kept from an idle reading).
    pub memory_read: bool,
}

/// A `/proc` file read again and again through one open descriptor, from
/// offset 0 (the kernel renders it afresh each time): one system call per
/// reading instead of an open, reads and a close, and no path lookup.
#[derive(Debug)]
pub(crate) struct ProcFile {
    path: std::path::PathBuf,
    file: Option<fs::File>,
    buf: Vec<u8>,
}

/// How much of a [`ProcFile`] is read: the lines the samplers parse come
/// first (`/proc/stat`'s aggregate `cpu` line, `/proc/meminfo`'s
/// `MemTotal`, `MemFree`, `MemAvailable`), well within this.
const HEAD_BYTES: usize = 8 * 1024;

impl ProcFile {
    /// Opened on the first read.
    pub(crate) fn new(path: std::path::PathBuf) -> Self {
        Self {
            path,
            file: None,
            buf: vec![0; HEAD_BYTES],
        }
    }

    /// The complete lines among the file's first [`HEAD_BYTES`] bytes;
    /// `None` if it cannot be opened or read (tried again next time).
    pub(crate) fn read_head(&mut self) -> Option<&str> {
        use std::os::unix::fs::FileExt;
        let file = match &self.file {
            Some(file) => file,
            None => self.file.insert(fs::File::open(&self.path).ok()?),
        };
        let Ok(n) = file.read_at(&mut self.buf, 0) else {
            self.file = None;
            return None;
        };
        let head = &self.buf[..n];
        // A full buffer may end inside a line: leave that line out.
        let head = if n == self.buf.len() {
            &head[..head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)]
        } else {
            head
        };
        std::str::from_utf8(head).ok()
    }
}

/// The last field of `/proc/loadavg`: the pid most recently given to a
/// new process or thread in the reader's pid namespace (or one below it).
/// It moves whenever a task is created, so while it stands still no
/// process can have joined a tree.
pub(crate) fn parse_last_pid(text: &str) -> Option<u32> {
    text.split_ascii_whitespace().nth(4)?.parse().ok()
}

/// The aggregate line of `/proc/stat`, in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CpuTimes {
    /// Every column summed.
    pub total: u64,
    /// `idle` + `iowait`.
    pub idle: u64,
}

/// Parses the first (`cpu `) line of `/proc/stat`. Guest time is already
/// included in user time, so it is not added twice.
pub(crate) fn parse_cpu_times(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    if values.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal guest guest_nice
    let total = values.iter().take(8).sum();
    let idle = values[3] + values.get(4).copied().unwrap_or(0);
    Some(CpuTimes { total, idle })
}

/// System memory from `/proc/meminfo`, in kB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MemInfo {
    /// `MemTotal`.
    pub total_kb: u64,
    /// `MemAvailable` (what can be used without swapping).
    pub available_kb: u64,
}

/// Parses `/proc/meminfo`.
pub(crate) fn parse_meminfo(text: &str) -> Option<MemInfo> {
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.trim_start_matches(':').split_ascii_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some(MemInfo {
        total_kb: value("MemTotal")?,
        available_kb: value("MemAvailable").or_else(|| value("MemFree"))?,
    })
}

/// Every process's parent, from one pass over `/proc`.
pub(crate) fn parent_map(proc_root: &Path) -> HashMap<u32, u32> {
    let mut parents = HashMap::new();
    let Ok(entries) = fs::read_dir(proc_root) else {
        return parents;
    };
    let mut buf = String::with_capacity(512);
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(stat) = read_stat(proc_root, pid, &mut buf) {
            parents.insert(pid, stat.ppid);
        }
    }
    parents
}

/// Children of `pid`, from `/proc/<pid>/task/<tid>/children` of each of its
/// threads (a child belongs to the thread that forked it). `Ok(vec![])` if the
/// process is gone; `Err(())` if the kernel does not provide the files
/// (`CONFIG_PROC_CHILDREN` off): the caller then scans the whole table.
pub(crate) fn children(proc_root: &Path, pid: u32, buf: &mut String) -> Result<Vec<u32>, ()> {
    let process = proc_root.join(pid.to_string());
    let tasks = match fs::read_dir(process.join("task")) {
        Ok(tasks) => tasks,
        Err(_) if !process.exists() => return Ok(Vec::new()),
        Err(_) => return Err(()),
    };
    let mut kids = Vec::new();
    for task in tasks.flatten() {
        buf.clear();
        match fs::File::open(task.path().join("children")) {
            Ok(file) => {
                if read_small(file, buf).is_err() {
                    continue; // the thread ended meanwhile
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && task.path().exists() => {
                return Err(());
            }
            Err(_) => continue,
        }
        kids.extend(
            buf.split_ascii_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    Ok(kids)
}

/// Reads a small `/proc` file whole: read calls only, where
/// `read_to_string` would first ask the file's size (two more system calls
/// that `/proc` answers with 0 anyway).
fn read_small(mut file: fs::File, buf: &mut String) -> std::io::Result<()> {
    let mut bytes = std::mem::take(buf).into_bytes();
    let mut chunk = [0u8; 512];
    let result = loop {
        match file.read(&mut chunk) {
            Ok(0) => break Ok(()),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    *buf = String::from_utf8(bytes)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
    result
}

/// `root` and all its descendants, following the children files: a few reads
/// per tracked process instead of one per process on the machine. `None` if
/// the kernel lacks the children files.
pub(crate) fn descendants_by_children(proc_root: &Path, root: u32) -> Option<Vec<u32>> {
    let mut buf = String::with_capacity(64);
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        for kid in children(proc_root, tree[i], &mut buf).ok()? {
            if !tree.contains(&kid) {
                tree.push(kid);
            }
        }
        i += 1;
    }
    Some(tree)
}

/// CPU seconds (user + system, reaped children included, so the figure
/// never goes back when a child exits) of `root` and all its descendants;
/// `None` if `root` cannot be read.
pub(crate) fn tree_cpu_seconds(proc_root: &Path, root: u32) -> Option<f64> {
    let tree = descendants_by_children(proc_root, root)
        .unwrap_or_else(|| descendants(root, &parent_map(proc_root)));
    let mut buf = String::with_capacity(512);
    let mut ticks = read_stat(proc_root, root, &mut buf).map(|s| s.cpu_ticks + s.reaped_ticks)?;
    for &pid in tree.iter().filter(|&&pid| pid != root) {
        if let Some(stat) = read_stat(proc_root, pid, &mut buf) {
            ticks += stat.cpu_ticks + stat.reaped_ticks;
        }
    }
    Some(ticks as f64 / crate::sys::clock_ticks_per_second())
}

/// `root` and all its descendants according to `parents`.
pub(crate) fn descendants(root: u32, parents: &HashMap<u32, u32>) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &ppid) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        if let Some(kids) = children.get(&tree[i]) {
            for &kid in kids {
                if kid != root && !tree.contains(&kid) {
                    tree.push(kid);
                }
            }
        }
        i += 1;
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_of_this_processs_tree_grows_as_it_works() {
        let proc_root = Path::new("/proc");
        let before = tree_cpu_seconds(proc_root, std::process::id()).unwrap();
        let mut x = 1u64;
        // Two clock ticks of work past the first reading, however long that
        // takes on a loaded machine (a minute at most: then it failed).
        let started = std::time::Instant::now();
        let grown = || tree_cpu_seconds(proc_root, std::process::id()).unwrap() >= before + 0.02;
        while !grown() && started.elapsed() < std::time::Duration::from_secs(60) {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        assert!(grown(), "no CPU counted in a minute of work");
        assert_eq!(tree_cpu_seconds(proc_root, u32::MAX), None);
    }

    #[test]
    fn stat_with_a_hostile_command_name() {
        let line = "4242 (python3 (x) )) S 17 4242 17 0 -1 4194560 2100 0 0 0 150 25 3 1 20 0 4 0 987654 123456789 7321 18446744073709551615 1 1 0 0 0 0 0 16781312 2 0 0 0 17 1 0 0 0 0 0";
        let stat = parse_stat(line).unwrap();
        assert_eq!(
            stat,
            ProcStat {
                ppid: 17,
                cpu_ticks: 175,
                reaped_ticks: 4,
                rss_pages: 7321,
                gone: false
            }
        );
        let zombie = line.replace(")) S 17", ")) Z 17");
        assert!(parse_stat(&zombie).unwrap().gone);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 0 1"), None, "too short");
    }

    #[test]
    fn proc_stat_cpu_line() {
        let text = "cpu  100 5 50 800 20 1 2 3 0 0\ncpu0 50 2 25 400 10 0 1 1 0 0\nintr 1\n";
        assert_eq!(
            parse_cpu_times(text),
            Some(CpuTimes {
                total: 981,
                idle: 820
            })
        );
        assert_eq!(parse_cpu_times("cpu  1 2\n"), None);
        assert_eq!(parse_cpu_times(""), None);
    }

    #[test]
    fn loadavg_last_pid() {
        assert_eq!(parse_last_pid("0.22 1.16 1.57 1/234 6699\n"), Some(6699));
        assert_eq!(parse_last_pid("0.22 1.16 1.57 1/234\n"), None);
        let mut file = ProcFile::new(Path::new("/proc").join("loadavg"));
        let before = parse_last_pid(file.read_head().unwrap()).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        let after = parse_last_pid(file.read_head().unwrap()).unwrap();
        assert_ne!(before, after, "a new process moves it");
    }

    #[test]
    fn meminfo() {
        let text = "MemTotal:       24576000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(
            parse_meminfo(text),
            Some(MemInfo {
                total_kb: 24_576_000,
                available_kb: 20_000_000
            })
        );
        let old = "MemTotal: 100 kB\nMemFree: 40 kB\n";
        assert_eq!(parse_meminfo(old).unwrap().available_kb, 40);
    }

    #[test]
    fn descendants_follow_the_tree_not_siblings() {
        let parents: HashMap<u32, u32> =
            [(10, 1), (11, 10), (12, 11), (13, 10), (20, 1), (21, 20)].into();
        let mut tree = descendants(10, &parents);
        tree.sort_unstable();
        assert_eq!(tree, [10, 11, 12, 13]);
        assert_eq!(descendants(99, &parents), [99]);
    }

    #[test]
    fn children_files_give_the_tree_and_missing_support_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let task = |pid: u32, tid: u32, kids: &str| {
            let path = dir.path().join(format!("{pid}/task/{tid}"));
            fs::create_dir_all(&path).unwrap();
            fs::write(path.join("children"), kids).unwrap();
        };
        task(10, 10, "11 ");
        task(10, 12, "13 14 "); // a child forked by another thread
        task(11, 11, "");
        task(13, 13, "15");
        task(14, 14, "");
        task(15, 15, "");
        let mut tree = descendants_by_children(dir.path(), 10).unwrap();
        tree.sort_unstable();
        assert_eq!(tree, [10, 11, 13, 14, 15]);
        assert_eq!(
            descendants_by_children(dir.path(), 99),
            Some(vec![99]),
            "gone: just the root"
        );
        // A process without task/*/children: the kernel lacks them.
        fs::create_dir_all(dir.path().join("20/task/20")).unwrap();
        assert_eq!(descendants_by_children(dir.path(), 20), None);
    }

    #[test]
    fn statm_gives_resident_pages_and_nothing_for_a_zombie() {
        assert_eq!(parse_statm("10435 7321 1200 300 0 2500 0\n"), Some(7321));
        assert_eq!(
            parse_statm("0 0 0 0 0 0 0\n"),
            None,
            "a zombie has no memory"
        );
        assert_eq!(parse_statm("10435"), None, "too short");
        assert_eq!(parse_statm("x 1"), None);
    }

    #[test]
    fn this_process_table_is_its_own_and_a_fake_one_is_not() {
        assert!(is_own_table(Path::new("/proc")));
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_own_table(dir.path()));
    }

    /// A busy child, read sample after sample through what was opened once,
    /// both ways: CPU time moves on, and once the child is reaped the reads
    /// fail.
    #[test]
    fn an_open_process_rereads_fresh_values_and_fails_once_the_process_is_gone() {
        for clocks in [true, false] {
            let mut child = std::process::Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .unwrap();
            let process = ProcessReader::open(Path::new("/proc"), child.id(), clocks).unwrap();
            let mut buf = [0u8; 1024];
            let first = process.read(&mut buf, 10_000_000, None).unwrap().usage;
            std::thread::sleep(std::time::Duration::from_millis(300));
            // Busy: its memory is read again even when it may be kept.
            let second = process.read(&mut buf, 10_000_000, Some(first)).unwrap();
            assert!(second.memory_read, "{clocks}: {second:?}");
            let second = second.usage;
            assert!(
                second.cpu_ns > first.cpu_ns,
                "{clocks}: {first:?} {second:?}"
            );
            assert!(second.rss_pages > 0, "{clocks}: {second:?}");
            child.kill().unwrap();
            child.wait().unwrap();
            assert_eq!(
                process.read(&mut buf, 10_000_000, None),
                None,
                "{clocks}: reaped: the open process reads nothing"
            );
        }
    }

    /// The CPU clock and `stat` measure the same thing: a stopped child's
    /// CPU time agrees to within a clock tick or two (`stat` rounds down to
    /// whole ticks), and its memory to within what `stat` lags. While it is
    /// stopped, an earlier reading's memory stands.
    #[test]
    fn the_cpu_clock_and_stat_agree() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let pid = child.id();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let signal = |name: &str| {
            std::process::Command::new("kill")
                .args(["-s", name, &pid.to_string()])
                .status()
                .unwrap();
        };
        signal("STOP");
        let mut buf = String::new();
        while read_stat(Path::new("/proc"), pid, &mut buf).is_some() && !buf.contains(") T ") {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let ticks = crate::sys::clock_ticks_per_second();
        let ns_per_tick = (1e9 / ticks) as u64;
        let mut bytes = [0u8; 1024];
        let by_clock = ProcessReader::open(Path::new("/proc"), pid, true).unwrap();
        let first = by_clock.read(&mut bytes, ns_per_tick, None).unwrap();
        // Stopped, so idle: an idle reading's memory stands, unread.
        let pretend = Usage {
            rss_pages: 1,
            ..first.usage
        };
        assert_eq!(
            by_clock.read(&mut bytes, ns_per_tick, Some(pretend)),
            Some(Reading {
                usage: pretend,
                memory_read: false
            })
        );
        let by_clock = first.usage;
        let by_stat = ProcessReader::open(Path::new("/proc"), pid, false)
            .unwrap()
            .read(&mut bytes, ns_per_tick, None)
            .unwrap()
            .usage;
        signal("CONT");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(by_clock.cpu_ns > 0, "{by_clock:?}");
        assert!(
            by_clock.cpu_ns.abs_diff(by_stat.cpu_ns) <= 2 * ns_per_tick,
            "clock {by_clock:?}, stat {by_stat:?}"
        );
        // `statm` sums the kernel's per-CPU memory counters; `stat` reads
        // their running total, which lags by up to a batch (32 pages, or
        // twice the CPUs) per CPU and counter (file, anonymous, shared).
        let cpus = std::thread::available_parallelism().unwrap().get() as u64;
        let lag = 3 * cpus * 32.max(2 * cpus);
        assert!(
            by_clock.rss_pages.abs_diff(by_stat.rss_pages) <= lag,
            "statm {by_clock:?}, stat {by_stat:?}"
        );
    }

    #[test]
    fn a_kept_open_file_is_read_afresh_whole_lines_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meminfo");
        let mut file = ProcFile::new(path.clone());
        assert_eq!(file.read_head(), None, "not there yet");
        fs::write(&path, "MemTotal: 100 kB\nMemFree: 40 kB\n").unwrap();
        assert_eq!(file.read_head(), Some("MemTotal: 100 kB\nMemFree: 40 kB\n"));
        // Rewritten in place, as the kernel renders /proc files afresh.
        fs::write(&path, "MemTotal: 100 kB\nMemFree: 30 kB\n").unwrap();
        assert_eq!(
            parse_meminfo(file.read_head().unwrap())
                .unwrap()
                .available_kb,
            30
        );
        // Longer than what is read: the cut line is left out.
        let long = format!("cpu  1 2 3 4\n{}\n", "x".repeat(HEAD_BYTES));
        fs::write(&path, &long).unwrap();
        assert_eq!(file.read_head(), Some("cpu  1 2 3 4\n"));
        let mut stat = ProcFile::new(Path::new("/proc").join("stat"));
        let first = parse_cpu_times(stat.read_head().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let second = parse_cpu_times(stat.read_head().unwrap()).unwrap();
        assert!(second.total >= first.total, "{first:?} {second:?}");
    }

    #[test]
    fn reads_this_process() {
        let mut buf = String::new();
        let me = read_stat(Path::new("/proc"), std::process::id(), &mut buf).unwrap();
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
        assert!(me.rss_pages > 0);
        assert!(parent_map(Path::new("/proc")).contains_key(&std::process::id()));
        // Both ways of finding a tree agree on a shell's with two children.
        // (Not this process's: the other tests start and reap children of
        // it at any moment, between the two readings.)
        let mut shell = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & sleep 5 & wait"])
            .spawn()
            .unwrap();
        let root = shell.id();
        let children = format!("/proc/{root}/task/{root}/children");
        while fs::read_to_string(&children)
            .unwrap()
            .split_whitespace()
            .count()
            < 2
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let by_children = descendants_by_children(Path::new("/proc"), root);
        let by_parents = descendants(root, &parent_map(Path::new("/proc")));
        let sleeps: Vec<String> = fs::read_to_string(&children)
            .unwrap()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        std::process::Command::new("kill")
            .args(["-s", "KILL", &root.to_string()])
            .args(&sleeps)
            .status()
            .unwrap();
        shell.wait().unwrap();
        if let Some(mut tree) = by_children {
            tree.sort_unstable();
            let mut expected = by_parents;
            expected.sort_unstable();
            assert_eq!(tree.len(), 3, "{tree:?}");
            assert!(tree.contains(&root), "{tree:?}");
            assert_eq!(tree, expected);
        }
        let text = fs::read_to_string("/proc/stat").unwrap();
        assert!(parse_cpu_times(&text).unwrap().total > 0);
    }
}
