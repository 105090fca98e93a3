//! Server stall during a snapshot, on disk: the longest pause between two
//! consecutive commits of a live [`MailServer`] while each snapshot policy
//! takes its copy, for 16, 64 and 256 MiB data files.
//!
//! A custom harness (the quantity is a maximum, not a mean): it prints a
//! table. Run it with `cargo bench --bench stall` (optionally
//! `-- --reps N --sizes 16,64 --dir PARENT --policy NAME --diag`; the
//! temporary directory is made in `$TMPDIR` or `/tmp` unless `--dir` names
//! another parent; `STALL_DEBUG=1` prints where each longest gap fell).
//!
//! The server runs on its own thread over an [`OsVolume`] in a temporary
//! directory, committing transactions back to back — a delivery of 2 KB,
//! then a message marked read somewhere in the file, and so on (only marks
//! once the file has grown by 2%); each transaction syncs twice
//! (`fdatasync`), as the server's protocol does.
//! Between transactions it serves control requests from the policy's thread,
//! as the real runner's server thread does. The policies, as on disk:
//!
//! - `CopyOnWrite`: `OsVolume::snapshot` on the server thread (O(1):
//!   copy-before-write on ext4), then the whole snapshot read
//!   (`FileSnapshot::to_content`) on the policy's thread while the server
//!   writes.
//! - `FreezeThaw`: pause, snapshot, resume, then the snapshot read as above
//!   (what `ServerControl::clone_image_and_resume` does under `run --real`):
//!   the freeze window runs from the pause to the resume.
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
//! windows as long as the policy's copy took (median over the windows of
//! each window's longest gap).
//!
//! Columns: `stall` is the longest gap between two consecutive commits that
//! overlaps the copy (best and median of `reps` copies, 5 by default);
//! `base` the baseline's. One transaction alone waits for two `fdatasync`s,
//! whose latency on a shared disk swings from a fraction of a millisecond to
//! tens; so `-sync` repeats both figures with each gap less the time the
//! transaction ending it spent in `fdatasync` (timed by a wrapper around the
//! server's volume, which also times `write_at`, where copy-before-write
//! saves pages): what remains is what the policy holds the server up by —
//! a pause, a stop, a wait for the snapshot reader — plus the scheduler's
//! delays. `copy` is the policy's work from start to end (median);
//! `commit/s` the server's rate during it. After the table, each policy's
//! steps (pause, snapshot, read, stop, copy, start, …) with their medians.
//!
//! `--diag` runs diagnostics instead of the policies: the snapshot read in
//! 64 KiB chunks back to back, the same with 20 µs outside the volume's
//! snapshot lock between chunks, and a reader that only fills a buffer as
//! large as the file (its CPU and memory load without the lock).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use mailsim::MailServer;
use mailsim::datafile::{self, RecordFlags};
use mailsim::real::{FileSnapshot, RotationWriter};
use mailsim::server::ServerState;
use mailsim::volume::{
    Access, Chunk, Content, CopyBuilder, Deny, DirEntry, ForeignOpens, Handle, Holder, Metadata,
    OsVolume, Owner, Volume, VolumePath,
};

const MIB: u64 = 1 << 20;
const PAGE: u64 = mailsim::volume::PAGE_BYTES as u64;
/// `OnlineCopy::default().pages_per_step`.
const ONLINE_STEP_PAGES: u64 = 100;

/// One committed transaction, as the server thread saw it.
#[derive(Clone, Copy, Debug)]
struct Txn {
    start: Instant,
    end: Instant,
    /// Time spent in `write_at` (where copy-before-write saves pages, and
    /// waits for a snapshot read in progress).
    write: Duration,
    /// Time spent in `sync` (`fdatasync`).
    sync: Duration,
}

/// The server's volume, timing `write_at` and `sync` (called on the server
/// thread only) so that a long gap can be told apart: waiting for the disk,
/// for copy-before-write, or for the policy between transactions.
#[derive(Debug)]
struct Timed {
    inner: OsVolume,
    write_ns: AtomicU64,
    sync_ns: AtomicU64,
}

impl Timed {
    fn timed<T>(counter: &AtomicU64, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        counter.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        out
    }

    fn reset(&self) -> (Duration, Duration) {
        (
            Duration::from_nanos(self.write_ns.swap(0, Ordering::Relaxed)),
            Duration::from_nanos(self.sync_ns.swap(0, Ordering::Relaxed)),
        )
    }
}

impl Volume for Timed {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn list(&self, folder: &VolumePath) -> mailsim::Result<Vec<DirEntry>> {
        self.inner.list(folder)
    }
    fn metadata(&self, path: &VolumePath) -> mailsim::Result<Metadata> {
        self.inner.metadata(path)
    }
    fn create_folder(&self, path: &VolumePath) -> mailsim::Result<()> {
        self.inner.create_folder(path)
    }
    fn put_file(&self, path: &VolumePath, content: Content) -> mailsim::Result<()> {
        self.inner.put_file(path, content)
    }
    fn remove_file(&self, path: &VolumePath) -> mailsim::Result<()> {
        self.inner.remove_file(path)
    }
    fn rename(&self, from: &VolumePath, to: &VolumePath) -> mailsim::Result<()> {
        self.inner.rename(from, to)
    }
    fn open(
        &self,
        path: &VolumePath,
        owner: &Owner,
        access: Access,
        deny: Deny,
    ) -> mailsim::Result<Handle> {
        self.inner.open(path, owner, access, deny)
    }
    fn close(&self, handle: Handle) -> mailsim::Result<()> {
        self.inner.close(handle)
    }
    fn len_of(&self, handle: Handle) -> mailsim::Result<u64> {
        self.inner.len_of(handle)
    }
    fn read_at(&self, handle: Handle, offset: u64, len: u64) -> mailsim::Result<Chunk> {
        self.inner.read_at(handle, offset, len)
    }
    fn write_at(&self, handle: Handle, offset: u64, data: &[u8]) -> mailsim::Result<()> {
        Self::timed(&self.write_ns, || self.inner.write_at(handle, offset, data))
    }
    fn set_len(&self, handle: Handle, len_bytes: u64) -> mailsim::Result<()> {
        self.inner.set_len(handle, len_bytes)
    }
    fn sync(&self, handle: Handle) -> mailsim::Result<()> {
        Self::timed(&self.sync_ns, || self.inner.sync(handle))
    }
    fn image(&self, handle: Handle) -> mailsim::Result<Content> {
        self.inner.image(handle)
    }
    fn writer(&self, path: &VolumePath) -> mailsim::Result<Option<Holder>> {
        self.inner.writer(path)
    }
    fn foreign_opens(&self, handle: Handle) -> mailsim::Result<ForeignOpens> {
        self.inner.foreign_opens(handle)
    }
    fn available_bytes(&self) -> mailsim::Result<u64> {
        self.inner.available_bytes()
    }
}

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
    Commits(Vec<Txn>),
}

/// The server thread: serves control requests between transactions, commits
/// back to back while serving, and notes when each commit returned.
fn server_thread(
    volume: OsVolume,
    path: VolumePath,
    ops: Receiver<Op>,
    replies: Sender<Reply>,
) -> mailsim::Result<()> {
    let volume = Timed {
        inner: volume,
        write_ns: AtomicU64::new(0),
        sync_ns: AtomicU64::new(0),
    };
    let mut server = MailServer::start(&volume, path)?;
    let mut commits = Vec::with_capacity(1 << 16);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut n = 0u64;
    let grow_limit = server.header().committed_len * 51 / 50;
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
                    Reply::Snapshot(volume.inner.snapshot(h)?)
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
            if server.state() != ServerState::Serving {
                continue;
            }
            // At most one request between two transactions: a policy
            // reading page by page cannot starve the server.
        }
        n += 1;
        volume.reset();
        let start = Instant::now();
        // Deliveries append; past 2% of growth only marks read, so a fast
        // disk does not grow the file (and the copies) without bound.
        if n % 2 == 1 && server.header().committed_len < grow_limit {
            server.deliver(&volume, 2000)?;
        } else {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            server.mark_read(&volume, (rng >> 33) as u32)?;
        }
        let end = Instant::now();
        let (write, sync) = volume.reset();
        commits.push(Txn {
            start,
            end,
            write,
            sync,
        });
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

    fn take(&self) -> Vec<Txn> {
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
    OnlineCopy,
    StopServer,
    ScheduledCopy,
    /// Diagnostics (`--diag`): the snapshot read in 64 KiB chunks into one
    /// buffer, instead of into a whole image.
    CopyOnWriteChunked,
    /// Diagnostics: as `CopyOnWriteChunked`, resting 20 µs between chunks
    /// (outside the volume's snapshot lock).
    CopyOnWriteChunkedRest,
    /// Diagnostics: no snapshot; the policy's thread fills a fresh buffer as
    /// large as the file, as `to_content` does.
    TouchMemory,
}

impl Policy {
    const DIAG: [Policy; 3] = [
        Policy::CopyOnWriteChunked,
        Policy::CopyOnWriteChunkedRest,
        Policy::TouchMemory,
    ];

    const ALL: [Policy; 5] = [
        Policy::CopyOnWrite,
        Policy::FreezeThaw,
        Policy::OnlineCopy,
        Policy::StopServer,
        Policy::ScheduledCopy,
    ];

    fn name(self) -> &'static str {
        match self {
            Policy::CopyOnWrite => "CopyOnWrite",
            Policy::FreezeThaw => "FreezeThaw",
            Policy::OnlineCopy => "OnlineCopy",
            Policy::StopServer => "StopServer",
            Policy::ScheduledCopy => "ScheduledCopy",
            Policy::CopyOnWriteChunked => "CopyOnWrite chunked",
            Policy::CopyOnWriteChunkedRest => "CopyOnWrite ch.+rest",
            Policy::TouchMemory => "touch memory only",
        }
    }
}

struct Rig {
    volume: OsVolume,
    real: PathBuf,
    backup_dir: PathBuf,
    rotation: RotationWriter,
}

/// Times the steps of a policy.
#[derive(Default)]
struct Steps(Vec<(&'static str, Duration)>);

impl Steps {
    fn time<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.0.push((name, t.elapsed()));
        out
    }
}

/// Takes one copy by `policy`; returns how long each of its steps took.
fn take_copy(rig: &Rig, server: &Server, policy: Policy) -> Steps {
    let mut steps = Steps::default();
    let st = &mut steps;
    match policy {
        Policy::CopyOnWrite => {
            let snap = st.time("snapshot", || server.snapshot());
            let image = st.time("read", || snap.to_content().expect("the snapshot reads"));
            assert_eq!(image.len_bytes(), snap.len_bytes());
        }
        Policy::CopyOnWriteChunked | Policy::CopyOnWriteChunkedRest => {
            let rest = policy == Policy::CopyOnWriteChunkedRest;
            let snap = st.time("snapshot", || server.snapshot());
            st.time("read", || {
                let mut buf = vec![0; 64 * 1024];
                let mut pos = 0;
                while pos < snap.len_bytes() {
                    let n = snap.read_at(pos, &mut buf).expect("the snapshot reads");
                    assert!(n > 0);
                    std::hint::black_box(&buf);
                    pos += n as u64;
                    if rest {
                        thread::sleep(Duration::from_micros(20));
                    }
                }
            });
        }
        Policy::TouchMemory => st.time("fill", || {
            let len = std::fs::metadata(&rig.real).expect("the live file").len();
            let mut v = vec![0u8; len as usize];
            for b in v.iter_mut().step_by(4096) {
                *b = 1;
            }
            std::hint::black_box(&v);
            std::hint::black_box(Content::from_bytes(&v));
        }),
        Policy::FreezeThaw => {
            st.time("pause", || server.do_(Op::Pause));
            let snap = st.time("snapshot", || server.snapshot());
            st.time("resume", || server.do_(Op::Resume));
            let image = st.time("read", || snap.to_content().expect("the snapshot reads"));
            assert_eq!(image.len_bytes(), snap.len_bytes());
        }
        Policy::OnlineCopy => st.time("read", || {
            let len = std::fs::metadata(&rig.real).expect("the live file").len();
            let mut builder = CopyBuilder::default();
            let mut pos = 0;
            while pos < len {
                let chunk = server.read_own(pos, (ONLINE_STEP_PAGES * PAGE).min(len - pos));
                pos += chunk.len_bytes();
                builder.push(&chunk);
            }
            assert_eq!(builder.finish(len).len_bytes(), len);
        }),
        Policy::StopServer => {
            st.time("stop", || server.do_(Op::Stop));
            let n = st.time("copy", || {
                std::fs::copy(&rig.real, rig.backup_dir.join("Microsoft Mail Data"))
                    .expect("room for a copy")
            });
            assert!(n > 0);
            st.time("start", || server.do_(Op::Start));
        }
        Policy::ScheduledCopy => {
            let h = server.handle();
            st.time("pause", || server.do_(Op::Pause));
            st.time("write_from", || {
                let mut own = rig
                    .volume
                    .try_clone_file(h)
                    .expect("a duplicate descriptor");
                rig.rotation.write_from(&mut own).expect("room for a copy")
            });
            st.time("resume", || server.do_(Op::Resume));
        }
    }
    steps
}

/// The gaps between consecutive commits that overlap `[from, to]`, each as
/// (the gap, the gap less the `fdatasync` time of the transaction that ends
/// it, the transactions on either side); `None` when no commit came after `to`.
fn gaps(txns: &[Txn], from: Instant, to: Instant) -> Option<Vec<(Duration, Duration, Txn, Txn)>> {
    txns.last().filter(|l| l.end > to)?;
    Some(
        txns.windows(2)
            .filter(|w| w[1].end > from && w[0].end < to)
            .map(|w| {
                let gap = w[1].end - w[0].end;
                (gap, gap.saturating_sub(w[1].sync), w[0], w[1])
            })
            .collect(),
    )
}

/// The longest gap overlapping `[from, to]`, with and without its sync time.
fn longest(txns: &[Txn], from: Instant, to: Instant) -> Option<(Duration, Duration)> {
    let g = gaps(txns, from, to)?;
    Some((g.iter().map(|x| x.0).max()?, g.iter().map(|x| x.1).max()?))
}

/// Stalls of one (size, policy): one entry per copy.
#[derive(Default)]
struct Measured {
    /// Longest gap between commits during the copy.
    stalls: Vec<Duration>,
    /// The same, each gap less the time its transaction spent in `fdatasync`.
    stalls_without_sync: Vec<Duration>,
    copies: Vec<Duration>,
    /// Each step of the policy, in order, with its duration in each copy.
    steps: Vec<(&'static str, Vec<Duration>)>,
    commits_per_s: f64,
}

/// Commits until one ends after `after` (bounded: 60 s).
fn commits_past(server: &Server, after: Instant) -> Vec<Txn> {
    let mut commits = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        thread::sleep(Duration::from_millis(20));
        commits.extend(server.take());
        if commits.last().is_some_and(|l| l.end > after) {
            return commits;
        }
        assert!(Instant::now() < deadline, "no commit 60 s after the copy");
    }
}

fn measure(rig: &Rig, server: &Server, policy: Policy, reps: usize) -> Measured {
    let mut m = Measured::default();
    let mut commits_total = 0usize;
    let mut span = Duration::ZERO;
    for _ in 0..reps {
        // Let the server settle into its pace, then copy. The last commit
        // before the copy starts the first gap.
        thread::sleep(Duration::from_millis(200));
        let settled = Instant::now() - Duration::from_millis(100);
        let last_before = *commits_past(server, settled).last().expect("a commit");
        let from = Instant::now();
        let steps = take_copy(rig, server, policy);
        let to = Instant::now();
        let mut txns = vec![last_before];
        txns.extend(commits_past(server, to));
        let (stall, without_sync) = longest(&txns, from, to).expect("a commit after the copy");
        if std::env::var_os("STALL_DEBUG").is_some() {
            let g = gaps(&txns, from, to).expect("a commit after the copy");
            let (gap, _, a, b) = *g.iter().max_by_key(|x| x.0).expect("a gap");
            eprintln!(
                "{}: longest gap {} ms from {} ms into a {} ms copy: before the transaction {} ms, \
                 write_at {} ms, fdatasync {} ms, rest {} ms; longest gap less its fdatasync {} ms",
                policy.name(),
                ms(gap),
                ms(a.end.saturating_duration_since(from)),
                ms(to - from),
                ms(b.start - a.end),
                ms(b.write),
                ms(b.sync),
                ms((b.end - b.start).saturating_sub(b.write + b.sync)),
                ms(without_sync),
            );
            let (_, x, a, b) = *g.iter().max_by_key(|x| x.1).expect("a gap");
            eprintln!(
                "    longest gap less its fdatasync {} ms: before the transaction {} ms, write_at {} ms, rest {} ms",
                ms(x),
                ms(b.start - a.end),
                ms(b.write),
                ms((b.end - b.start).saturating_sub(b.write + b.sync)),
            );
            let w = txns
                .iter()
                .filter(|t| t.end > from && t.start < to)
                .map(|t| t.write)
                .max()
                .unwrap_or_default();
            eprintln!("    longest write_at during the copy: {} ms", ms(w));
        }
        commits_total += txns.iter().filter(|t| t.end > from && t.end < to).count();
        span += to - from;
        m.stalls.push(stall);
        m.stalls_without_sync.push(without_sync);
        m.copies.push(to - from);
        for (i, (name, d)) in steps.0.into_iter().enumerate() {
            if m.steps.len() <= i {
                m.steps.push((name, Vec::new()));
            }
            m.steps[i].1.push(d);
        }
    }
    m.commits_per_s = commits_total as f64 / span.as_secs_f64();
    m
}

/// The baseline: the commits of a run with no copy at all.
struct Baseline {
    txns: Vec<Txn>,
}

impl Baseline {
    fn record(server: &Server, span: Duration) -> Baseline {
        server.take();
        thread::sleep(span);
        Baseline {
            txns: server.take(),
        }
    }

    /// The baseline cut into windows of `len` (as many as fit, one after
    /// another; at least one): the longest gap of each window, with and
    /// without its sync time.
    fn windows(&self, len: Duration) -> Measured {
        let mut m = Measured::default();
        let (Some(first), Some(last)) = (self.txns.first(), self.txns.last()) else {
            return m;
        };
        let (first, last) = (first.end, last.end);
        let mut from = first;
        while from + len < last || m.stalls.is_empty() {
            let to = (from + len).min(last - Duration::from_nanos(1));
            let Some((stall, without_sync)) = longest(&self.txns, from, to) else {
                break;
            };
            m.stalls.push(stall);
            m.stalls_without_sync.push(without_sync);
            from += len;
        }
        m
    }

    fn commits_per_s(&self) -> f64 {
        match (self.txns.first(), self.txns.last()) {
            (Some(a), Some(b)) if b.end > a.end => {
                (self.txns.len() - 1) as f64 / (b.end - a.end).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    fn median_gap(&self) -> Duration {
        let gaps: Vec<_> = self.txns.windows(2).map(|w| w[1].end - w[0].end).collect();
        median(&gaps)
    }

    fn median_sync(&self) -> Duration {
        let syncs: Vec<_> = self.txns.iter().map(|t| t.sync).collect();
        median(&syncs)
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

fn best(v: &[Duration]) -> Duration {
    v.iter().min().copied().unwrap_or_default()
}

fn row(cells: &[String; 10]) {
    println!(
        "{:>4} | {:<21} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>8}",
        cells[0],
        cells[1],
        cells[2],
        cells[3],
        cells[4],
        cells[5],
        cells[6],
        cells[7],
        cells[8],
        cells[9]
    );
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
    let mut diag = false;
    let mut parent: Option<PathBuf> = None;
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
            "--diag" => diag = true,
            "--dir" => parent = args.next().map(PathBuf::from),
            // `cargo bench` passes --bench; criterion-style filters are ignored.
            _ => {}
        }
    }

    let header = [
        "MiB",
        "policy",
        "stall best",
        "stall med",
        "base med",
        "-sync best",
        "-sync med",
        "base -sync",
        "copy med",
        "commit/s",
    ];
    row(&header.map(str::to_owned));
    row(&["", "", "ms", "ms", "ms", "ms", "ms", "ms", "ms", ""].map(str::to_owned));
    let mut notes = Vec::new();
    for &mib in &sizes {
        let dir = match &parent {
            Some(p) => tempfile::tempdir_in(p),
            None => tempfile::tempdir(),
        }
        .expect("a temporary directory");
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
        let one_s = baseline.windows(Duration::from_secs(1));
        row(&[
            mib.to_string(),
            "no copy (1 s windows)".to_owned(),
            ms(best(&one_s.stalls)),
            ms(median(&one_s.stalls)),
            "-".to_owned(),
            ms(best(&one_s.stalls_without_sync)),
            ms(median(&one_s.stalls_without_sync)),
            "-".to_owned(),
            "-".to_owned(),
            format!("{:.0}", baseline.commits_per_s()),
        ]);
        notes.push(format!(
            "{mib} MiB, no copy: median gap between commits {} ms, median time in fdatasync per transaction {} ms",
            ms(baseline.median_gap()),
            ms(baseline.median_sync()),
        ));
        let policies = if diag {
            &Policy::DIAG[..]
        } else {
            &Policy::ALL[..]
        };
        for &policy in policies {
            if only.as_deref().is_some_and(|o| o != policy.name()) {
                continue;
            }
            let m = measure(&rig, &server, policy, reps);
            let copy = median(&m.copies);
            let base = baseline.windows(copy);
            row(&[
                mib.to_string(),
                policy.name().to_owned(),
                ms(best(&m.stalls)),
                ms(median(&m.stalls)),
                ms(median(&base.stalls)),
                ms(best(&m.stalls_without_sync)),
                ms(median(&m.stalls_without_sync)),
                ms(median(&base.stalls_without_sync)),
                ms(copy),
                format!("{:.0}", m.commits_per_s),
            ]);
            let steps: Vec<String> = m
                .steps
                .iter()
                .map(|(name, d)| format!("{name} {}", ms(median(d))))
                .collect();
            notes.push(format!(
                "{mib} MiB {}: {} ms (medians)",
                policy.name(),
                steps.join(", ")
            ));
        }
        drop(server);
    }
    println!();
    for n in notes {
        println!("{n}");
    }
}
