//! Server stall during a snapshot, on disk: the longest pause between two
//! consecutive commits of a live [`MailServer`] while each snapshot policy
//! takes its copy, for 16, 64 and 256 MiB data files.
//!
//! A custom harness (the quantity is a maximum, not a mean): it prints a
//! table. Run it with `cargo bench --bench stall` (optionally
//! `-- --reps N --sizes 16,64`).
//!
//! The server runs on its own thread over an [`OsVolume`] in a temporary
//! directory, committing transactions back to back — a delivery of 2 KB,
//! then a message marked read somewhere in the file, and so on; each
//! transaction syncs twice (`fdatasync`), as the server's protocol does.
//! Between transactions it serves control requests from the policy's thread,
//! as the real runner's server thread does. The policies, as on disk:
//!
//! - `CopyOnWrite`: `OsVolume::snapshot` on the server thread (O(1):
//!   copy-before-write on ext4), then the whole snapshot read
//!   (`FileSnapshot::to_content`) on the policy's thread while the server
//!   writes.
//! - `FreezeThaw`: pause, snapshot, resume, then the snapshot read as above:
//!   the freeze window is the pause.
//! - `FreezeThaw (runner)`: FreezeThaw as `FreezeThaw::before_live_file` runs
//!   under `run --real` today: `ServerControl::clone_image` (which reads the
//!   whole snapshot before it returns) between the pause and the resume.
//! - `OnlineCopy`: the file read through the server's own handle, 100 pages
//!   (400 KiB, the policy's default step) per request, each request served
//!   between two transactions; the server never pauses. One pass (the
//!   policy's restarts on a changed generation are not exercised).
//! - `StopServer`: stop (sync, close), `std::fs::copy` of the whole file
//!   (the backup's read; not synced), start (open, read and index the file).
//! - `ScheduledCopy`: pause, [`RotationWriter::write_from`] of the server's
//!   own descriptor (`try_clone_file`; copy, sync, rename, folder sync),
//!   resume.
//!
//! Baseline, in the same run: 5 s of commits with no copy at all, cut into
//! windows as long as the policy's copy took; the longest gap in each window
//! (best and median over the windows). One transaction alone takes two
//! `fdatasync`s, so even the baseline's longest gap is several milliseconds
//! on a slow disk: `excess` (median stall − median baseline) is the pause the
//! policy adds.
//!
//! For each (size, policy) the copy is taken `reps` times (5 by default);
//! the table shows the best (smallest) and the median stall, and the copy's
//! median duration (start of the policy's work to its end).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use mailsim::MailServer;
use mailsim::datafile::{self, RecordFlags};
use mailsim::real::{FileSnapshot, RotationWriter};
use mailsim::server::ServerState;
use mailsim::volume::{Chunk, CopyBuilder, Handle, OsVolume, VolumePath};

const MIB: u64 = 1 << 20;
const PAGE: u64 = mailsim::volume::PAGE_BYTES as u64;
/// `OnlineCopy::default().pages_per_step`.
const ONLINE_STEP_PAGES: u64 = 100;

enum Op {
    Pause,
    Resume,
    Snapshot,
    ReadOwn(u64, u64),
    Stop,
    Start,
    Handle,
    /// The commit times since the last `Take`.
    Take,
    Quit,
}

enum Reply {
    Done,
    Snapshot(FileSnapshot),
    Chunk(Chunk),
    Handle(Handle),
    Commits(Vec<Instant>),
}

/// The server thread: serves control requests between transactions, commits
/// back to back while serving, and notes when each commit returned.
fn server_thread(
    volume: OsVolume,
    path: VolumePath,
    ops: Receiver<Op>,
    replies: Sender<Reply>,
) -> mailsim::Result<()> {
    let mut server = MailServer::start(&volume, path)?;
    let mut commits = Vec::with_capacity(1 << 16);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut n = 0u64;
    replies.send(Reply::Done).ok();
    loop {
        let serving = server.state() == ServerState::Serving;
        let op = if serving {
            ops.try_recv().ok()
        } else {
            // Paused or down: nothing to commit; wait for the next request.
            ops.recv().ok().or(Some(Op::Quit))
        };
        if let Some(op) = op {
            let reply = match op {
                Op::Pause => {
                    server.pause();
                    Reply::Done
                }
                Op::Resume => {
                    server.resume();
                    Reply::Done
                }
                Op::Snapshot => {
                    let h = server.handle().expect("the server holds its file");
                    Reply::Snapshot(volume.snapshot(h)?)
                }
                Op::ReadOwn(offset, len) => Reply::Chunk(server.read_own(&volume, offset, len)?),
                Op::Stop => {
                    server.stop(&volume)?;
                    Reply::Done
                }
                Op::Start => {
                    server.restart(&volume)?;
                    Reply::Done
                }
                Op::Handle => Reply::Handle(server.handle().expect("the server holds its file")),
                Op::Take => Reply::Commits(std::mem::take(&mut commits)),
                Op::Quit => return Ok(()),
            };
            replies.send(reply).ok();
            continue;
        }
        n += 1;
        if n % 2 == 1 {
            server.deliver(&volume, 2000)?;
        } else {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            server.mark_read(&volume, (rng >> 33) as u32)?;
        }
        commits.push(Instant::now());
    }
}

struct Server {
    ops: Sender<Op>,
    replies: Receiver<Reply>,
    thread: Option<thread::JoinHandle<mailsim::Result<()>>>,
}

impl Server {
    fn spawn(volume: OsVolume, path: VolumePath) -> Server {
        let (ops, ops_rx) = mpsc::channel();
        let (replies_tx, replies) = mpsc::channel();
        let thread = thread::spawn(move || server_thread(volume, path, ops_rx, replies_tx));
        let s = Server {
            ops,
            replies,
            thread: Some(thread),
        };
        s.wait();
        s
    }

    fn ask(&self, op: Op) -> Reply {
        self.ops.send(op).expect("the server thread runs");
        self.wait()
    }

    fn wait(&self) -> Reply {
        match self.replies.recv() {
            Ok(r) => r,
            // Its error is printed when the thread is joined, on drop.
            Err(_) => panic!("the server thread ended"),
        }
    }

    fn do_(&self, op: Op) {
        match self.ask(op) {
            Reply::Done => {}
            _ => unreachable!("a plain request answers Done"),
        }
    }

    fn snapshot(&self) -> FileSnapshot {
        match self.ask(Op::Snapshot) {
            Reply::Snapshot(s) => s,
            _ => unreachable!("Snapshot answers a snapshot"),
        }
    }

    fn read_own(&self, offset: u64, len: u64) -> Chunk {
        match self.ask(Op::ReadOwn(offset, len)) {
            Reply::Chunk(c) => c,
            _ => unreachable!("ReadOwn answers a chunk"),
        }
    }

    fn handle(&self) -> Handle {
        match self.ask(Op::Handle) {
            Reply::Handle(h) => h,
            _ => unreachable!("Handle answers a handle"),
        }
    }

    fn take(&self) -> Vec<Instant> {
        match self.ask(Op::Take) {
            Reply::Commits(c) => c,
            _ => unreachable!("Take answers commits"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.ops.send(Op::Quit);
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("server thread failed: {e}"),
                Err(_) => eprintln!("server thread panicked"),
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    CopyOnWrite,
    FreezeThaw,
    FreezeThawRunner,
    OnlineCopy,
    StopServer,
    ScheduledCopy,
}

impl Policy {
    const ALL: [Policy; 6] = [
        Policy::CopyOnWrite,
        Policy::FreezeThaw,
        Policy::FreezeThawRunner,
        Policy::OnlineCopy,
        Policy::StopServer,
        Policy::ScheduledCopy,
    ];

    fn name(self) -> &'static str {
        match self {
            Policy::CopyOnWrite => "CopyOnWrite",
            Policy::FreezeThaw => "FreezeThaw",
            Policy::FreezeThawRunner => "FreezeThaw (runner)",
            Policy::OnlineCopy => "OnlineCopy",
            Policy::StopServer => "StopServer",
            Policy::ScheduledCopy => "ScheduledCopy",
        }
    }
}

struct Rig {
    volume: OsVolume,
    real: PathBuf,
    backup_dir: PathBuf,
    rotation: RotationWriter,
}

/// Takes one copy by `policy`; returns the pause the policy itself asked
/// for, where it asked for one (the freeze window, the stop, …).
fn take_copy(rig: &Rig, server: &Server, policy: Policy) -> Option<Duration> {
    match policy {
        Policy::CopyOnWrite => {
            let snap = server.snapshot();
            let image = snap.to_content().expect("the snapshot reads");
            assert_eq!(image.len_bytes(), snap.len_bytes());
            None
        }
        Policy::FreezeThaw => {
            let t = Instant::now();
            server.do_(Op::Pause);
            let snap = server.snapshot();
            server.do_(Op::Resume);
            let frozen = t.elapsed();
            let image = snap.to_content().expect("the snapshot reads");
            assert_eq!(image.len_bytes(), snap.len_bytes());
            Some(frozen)
        }
        Policy::FreezeThawRunner => {
            let t = Instant::now();
            server.do_(Op::Pause);
            let snap = server.snapshot();
            let image = snap.to_content().expect("the snapshot reads");
            server.do_(Op::Resume);
            assert_eq!(image.len_bytes(), snap.len_bytes());
            Some(t.elapsed())
        }
        Policy::OnlineCopy => {
            let len = std::fs::metadata(&rig.real).expect("the live file").len();
            let mut builder = CopyBuilder::default();
            let mut pos = 0;
            while pos < len {
                let chunk = server.read_own(pos, (ONLINE_STEP_PAGES * PAGE).min(len - pos));
                pos += chunk.len_bytes();
                builder.push(&chunk);
            }
            assert_eq!(builder.finish(len).len_bytes(), len);
            None
        }
        Policy::StopServer => {
            let t = Instant::now();
            server.do_(Op::Stop);
            let n = std::fs::copy(&rig.real, rig.backup_dir.join("Microsoft Mail Data"))
                .expect("room for a copy");
            assert!(n > 0);
            server.do_(Op::Start);
            Some(t.elapsed())
        }
        Policy::ScheduledCopy => {
            let h = server.handle();
            let t = Instant::now();
            server.do_(Op::Pause);
            let mut own = rig
                .volume
                .try_clone_file(h)
                .expect("a duplicate descriptor");
            rig.rotation.write_from(&mut own).expect("room for a copy");
            server.do_(Op::Resume);
            Some(t.elapsed())
        }
    }
}

/// The longest gap between consecutive commits among the gaps that overlap
/// `[from, to]`; `None` when no commit came after `to`.
fn longest_gap(commits: &[Instant], from: Instant, to: Instant) -> Option<Duration> {
    commits.last().filter(|&&l| l > to)?;
    commits
        .windows(2)
        .filter(|w| w[1] > from && w[0] < to)
        .map(|w| w[1] - w[0])
        .max()
}

struct Measured {
    stalls: Vec<Duration>,
    copies: Vec<Duration>,
    asked: Vec<Duration>,
    commits_per_s: f64,
}

/// Commit times until one comes after `after` (bounded: 60 s).
fn commits_past(server: &Server, after: Instant) -> Vec<Instant> {
    let mut commits = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        thread::sleep(Duration::from_millis(20));
        commits.extend(server.take());
        if commits.last().is_some_and(|&l| l > after) {
            return commits;
        }
        assert!(Instant::now() < deadline, "no commit 60 s after the copy");
    }
}

fn measure(rig: &Rig, server: &Server, policy: Policy, reps: usize) -> Measured {
    let mut m = Measured {
        stalls: Vec::new(),
        copies: Vec::new(),
        asked: Vec::new(),
        commits_per_s: 0.0,
    };
    let mut commits_total = 0usize;
    let mut span = Duration::ZERO;
    for _ in 0..reps {
        // Let the server settle into its pace, then copy.
        thread::sleep(Duration::from_millis(200));
        server.take();
        let from = Instant::now();
        let asked = take_copy(rig, server, policy);
        let to = Instant::now();
        let commits = commits_past(server, to);
        let stall = longest_gap(&commits, from, to).expect("a commit after the copy");
        commits_total += commits.iter().filter(|&&c| c > from && c < to).count();
        span += to - from;
        m.stalls.push(stall);
        m.copies.push(to - from);
        m.asked.extend(asked);
    }
    m.commits_per_s = commits_total as f64 / span.as_secs_f64();
    m
}

/// The baseline: commit times of a run with no copy at all.
struct Baseline {
    commits: Vec<Instant>,
}

impl Baseline {
    fn record(server: &Server, span: Duration) -> Baseline {
        server.take();
        thread::sleep(span);
        Baseline {
            commits: server.take(),
        }
    }

    /// The longest gap between commits in windows of `len` with no copy (as
    /// many windows as fit, one after another): the smallest and the median.
    fn for_window(&self, len: Duration) -> (Duration, Duration) {
        let (Some(&first), Some(&last)) = (self.commits.first(), self.commits.last()) else {
            return (Duration::ZERO, Duration::ZERO);
        };
        let mut maxima = Vec::new();
        let mut from = first;
        while from + len < last {
            maxima.extend(longest_gap(&self.commits, from, from + len));
            from += len;
        }
        if maxima.is_empty() {
            maxima.extend(longest_gap(&self.commits, first, last - Duration::from_nanos(1)));
        }
        (
            maxima.iter().min().copied().unwrap_or_default(),
            median(&maxima),
        )
    }

    fn commits_per_s(&self) -> f64 {
        match (self.commits.first(), self.commits.last()) {
            (Some(&a), Some(&b)) if b > a => (self.commits.len() - 1) as f64 / (b - a).as_secs_f64(),
            _ => 0.0,
        }
    }

    fn median_gap(&self) -> Duration {
        let gaps: Vec<_> = self.commits.windows(2).map(|w| w[1] - w[0]).collect();
        median(&gaps)
    }
}

/// A valid data file of about `len_bytes` (64 KiB messages), written and synced.
fn write_data_file(path: &Path, len_bytes: u64) {
    let payload = 64 * 1024 - 64;
    let n = len_bytes / datafile::record_len(payload);
    let image = datafile::build_image(1, (1..=n).map(|id| (id, RecordFlags::default(), payload)));
    let mut f = File::create(path).expect("the data file can be created");
    f.write_all(&image).expect("room for the data file");
    f.sync_all().expect("sync");
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let mut reps = 5usize;
    let mut sizes = vec![16u64, 64, 256];
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--reps" => reps = args.next().and_then(|v| v.parse().ok()).expect("--reps N"),
            "--sizes" => {
                sizes = args
                    .next()
                    .expect("--sizes 16,64")
                    .split(',')
                    .map(|s| s.parse().expect("MiB"))
                    .collect()
            }
            "--policy" => only = args.next(),
            // `cargo bench` passes --bench; criterion-style filters are ignored.
            _ => {}
        }
    }

    println!(
        "{:>4} | {:<19} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>7}",
        "MiB",
        "policy",
        "stall best",
        "stall med",
        "base best",
        "base med",
        "excess med",
        "copy med",
        "commit/s"
    );
    println!(
        "{:>4} | {:<19} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>7}",
        "", "", "ms", "ms", "ms", "ms", "ms", "ms", ""
    );
    let mut notes = Vec::new();
    for &mib in &sizes {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let hd = dir.path().join("Server HD");
        let backup_dir = dir.path().join("Backup Drive");
        std::fs::create_dir_all(hd.join("System Folder")).expect("fresh");
        std::fs::create_dir_all(&backup_dir).expect("fresh");
        let real = hd.join("System Folder").join("Microsoft Mail Data");
        write_data_file(&real, mib * MIB);
        let volume = OsVolume::open_dir("Server HD", &hd).expect("the directory exists");
        let path = VolumePath::new("Server HD", ["System Folder", "Microsoft Mail Data"]);
        let rig = Rig {
            volume: volume.clone(),
            real,
            backup_dir: backup_dir.clone(),
            rotation: RotationWriter::new(&backup_dir, "Mail Data Backup", 3).expect("valid"),
        };
        let server = Server::spawn(volume, path);
        thread::sleep(Duration::from_millis(200));
        let baseline = Baseline::record(&server, Duration::from_secs(5));
        println!(
            "{:>4} | {:<19} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>7.0}",
            mib,
            "no copy (5 s)",
            "-",
            "-",
            ms(baseline.for_window(Duration::from_secs(1)).0),
            ms(baseline.for_window(Duration::from_secs(1)).1),
            "-",
            "-",
            baseline.commits_per_s()
        );
        notes.push(format!(
            "{mib} MiB: median gap between commits with no copy {} ms (one transaction, two fdatasyncs)",
            ms(baseline.median_gap())
        ));
        for policy in Policy::ALL {
            if only.as_deref().is_some_and(|o| o != policy.name()) {
                continue;
            }
            let m = measure(&rig, &server, policy, reps);
            let best = m.stalls.iter().min().copied().unwrap_or_default();
            let copy = median(&m.copies);
            let (base_best, base_med) = baseline.for_window(copy);
            let stall_med = median(&m.stalls);
            println!(
                "{:>4} | {:<19} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>7.0}",
                mib,
                policy.name(),
                ms(best),
                ms(stall_med),
                ms(base_best),
                ms(base_med),
                ms(stall_med.saturating_sub(base_med)),
                ms(copy),
                m.commits_per_s
            );
            if !m.asked.is_empty() {
                notes.push(format!(
                    "{mib} MiB {}: pause/stop asked by the policy, median {} ms",
                    policy.name(),
                    ms(median(&m.asked))
                ));
            }
        }
        drop(server);
    }
    println!();
    for n in notes {
        println!("{n}");
    }
}
