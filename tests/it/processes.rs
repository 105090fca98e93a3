//! Two real processes contending for one real file: `mailsim serve` holding
//! its data file under an exclusive lock, `mailsim backup` reading it,
//! `mailsim verify` checking what is left; crashes of the server at random
//! moments; bad input; and `mailsim run --real`.
//!
//! Every child is killed and reaped on every path (see [`Proc`]), every
//! wait is bounded, and every directory is a temporary one.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use mailsim::datafile;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_mailsim");
pub(crate) const DATA: &str = "Microsoft Mail Data";
/// Generous bound for anything that should take milliseconds.
pub(crate) const SOON: Duration = Duration::from_secs(10);

/// A running `mailsim` whose stdout is read line by line on a thread.
/// Dropping it kills the process (if still running) and reaps it.
pub(crate) struct Proc {
    child: Child,
    lines: Receiver<String>,
    /// Every stdout line received so far, in order.
    pub(crate) seen: Vec<String>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl Proc {
    pub(crate) fn spawn<S: AsRef<OsStr>>(args: &[S]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the mailsim binary runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(unstamped(line)).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    pub(crate) fn serve(dir: &Path, extra: &[&str]) -> Proc {
        let mut args: Vec<&OsStr> = vec!["serve".as_ref(), "--dir".as_ref(), dir.as_os_str()];
        args.extend(extra.iter().map(OsStr::new));
        Proc::spawn(&args)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `timeout`) for a line satisfying `pred` among the
    /// lines not yet seen; every line received is kept in `seen`.
    pub(crate) fn wait_line(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = pred(&line);
                    self.seen.push(line.clone());
                    if hit {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Like [`Proc::wait_line`], panicking with what was seen on a timeout.
    pub(crate) fn expect_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        match self.wait_line(SOON, pred) {
            Some(l) => l,
            None => {
                let stderr = self.stderr_now();
                panic!(
                    "no {what} line from pid {} within {SOON:?}; stdout so far: {:?}; stderr: \
                     {stderr}",
                    self.pid(),
                    self.seen,
                )
            }
        }
    }

    /// Waits until at least `n` acks have been seen.
    pub(crate) fn expect_acks(&mut self, n: usize) {
        while self.acks().len() < n {
            self.expect_line("ack", |l| l.starts_with("ack "));
        }
    }

    /// Takes the lines that have arrived, without waiting.
    pub(crate) fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    /// The ids acknowledged so far (`ack N` lines).
    pub(crate) fn acks(&self) -> Vec<u64> {
        acks_in(&self.seen)
    }

    /// The ids acknowledged and not deleted since (`deleted N` lines): the
    /// messages the data file owes.
    pub(crate) fn kept(&self) -> Vec<u64> {
        let deleted = ids_after("deleted ", &self.seen);
        acks_in(&self.seen)
            .into_iter()
            .filter(|id| !deleted.contains(id))
            .collect()
    }

    /// Waits (boundedly) for the process to exit, then for the rest of its
    /// stdout; panics if it does not exit in time.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() >= deadline {
                panic!(
                    "pid {} did not exit within {timeout:?}; stdout: {:?}",
                    self.pid(),
                    self.seen
                );
            }
            self.drain();
            thread::sleep(Duration::from_millis(2));
        };
        // The pipe is closed once the process is gone: read to its end.
        while self.wait_line(SOON, |_| false).is_some() {}
        status
    }

    /// Waits at most `timeout` for the process to exit: `Some(code)` if it
    /// did (its stdout read to the end), `None` if it still runs.
    pub(crate) fn exited_within(&mut self, timeout: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                while self.wait_line(SOON, |_| false).is_some() {}
                return Some(s.code());
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.drain();
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGKILL, then reap, then the rest of stdout.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        self.wait_exit(SOON);
    }

    /// SIGTERM through kill(1).
    pub(crate) fn term(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(ok.success());
    }

    /// Stderr, once the process has exited (empty before).
    pub(crate) fn stderr_now(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(_)) => self
                .stderr
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
            _ => String::new(),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

pub(crate) fn acks_in(lines: &[String]) -> Vec<u64> {
    ids_after("ack ", lines)
}

/// The ids of the lines `PREFIX N`.
pub(crate) fn ids_after(prefix: &str, lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|n| n.trim().parse().expect("PREFIX N"))
        .collect()
}

/// A line of serve without the time it starts with
/// (`2026-12-02T22:11:27.123Z `, RFC 3339 to the millisecond, UTC); a
/// line without one is marked, for the test's predicates to fail on.
pub(crate) fn unstamped(line: String) -> String {
    let stamped = line.len() > 25
        && line.as_bytes()[24] == b' '
        && line[..24].bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'.',
            23 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    if stamped {
        line[25..].to_owned()
    } else {
        format!("UNSTAMPED: {line}")
    }
}

/// Runs `mailsim ARGS` to completion, killing it if it takes longer than
/// `timeout`.
pub(crate) fn run_bounded<S: AsRef<OsStr>>(args: &[S], timeout: Duration) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the mailsim binary runs");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => out.expect("wait for mailsim"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let _ = rx.recv_timeout(SOON);
            panic!("mailsim {:?} took more than {timeout:?}", os_args(args));
        }
    }
}

pub(crate) fn os_args<S: AsRef<OsStr>>(args: &[S]) -> Vec<String> {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect()
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn backup(dir: &Path, to: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&OsStr> = vec![
        "backup".as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
        "--to".as_ref(),
        to.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    run_bounded(&args, Duration::from_secs(20))
}

pub(crate) fn verify(file: &Path) -> Output {
    run_bounded(&["verify".as_ref(), file.as_os_str()], SOON)
}

/// Every message id in the data file at `path` (deleted or not), after
/// checking it with the format's full check.
pub(crate) fn ids_in(path: &Path) -> Vec<u64> {
    let bytes = std::fs::read(path).expect("read the data file");
    datafile::verify(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (_, records) = datafile::scan(&bytes).expect("scan");
    records.iter().map(|r| r.message_id).collect()
}

pub(crate) fn assert_all_acked_present(acked: &[u64], path: &Path) {
    let mut present = ids_in(path);
    present.sort_unstable();
    for id in acked {
        assert!(
            present.binary_search(id).is_ok(),
            "acknowledged message {id} missing from {}",
            path.display()
        );
    }
}

pub(crate) fn assert_verifies(path: &Path) {
    let o = verify(path);
    assert_eq!(
        o.status.code(),
        Some(0),
        "verify {}: {}{}",
        path.display(),
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(
        text(&o.stdout).contains("generation"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn an_unaware_backup_makes_serve_shut_down_and_nothing_acknowledged_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, archive) = (tmp.path().join("srv"), tmp.path().join("archive"));
    std::fs::create_dir(&dir).unwrap();
    let mut serve = Proc::serve(&dir, &["--rate", "100"]);
    let ready = serve.expect_line("ready", |l| l.contains("ready"));
    assert!(ready.contains(&serve.pid().to_string()), "{ready}");
    serve.expect_acks(3);

    let o = backup(&dir, &archive, &["--open-files", "ignore-locks"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(&format!("archived {DATA}")));

    serve.expect_line("shut down", |l| l.contains("shut down"));
    let status = serve.wait_exit(SOON);
    // 3: shut down because of a foreign access (a supervisor restarts it).
    assert_eq!(status.code(), Some(3), "{}", serve.stderr_now());
    let data = dir.join(DATA);
    assert_verifies(&data);
    assert!(serve.acks().len() >= 3);
    assert_all_acked_present(&serve.kept(), &data);
    // Nothing was acknowledged after the shutdown line.
    let at = serve
        .seen
        .iter()
        .position(|l| l.contains("shut down"))
        .unwrap();
    assert!(acks_in(&serve.seen[at..]).is_empty(), "{:?}", serve.seen);
    // The backup read the file as a plain reader does, while the server
    // finished its transaction: the archived copy is the file at one
    // generation or torn between several, as the history tells exactly.
    let history = dir.join("Microsoft Mail Data History");
    let o = run_bounded(
        &[
            "verify".as_ref(),
            archive.join(DATA).as_os_str(),
            "--history".as_ref(),
            history.as_os_str(),
            "--json".as_ref(),
        ],
        SOON,
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("verify's JSON");
    match v["verdict"].as_str() {
        Some("consistent") => {
            assert_eq!(o.status.code(), Some(0));
            // At most the last generation the server committed.
            let g = v["generation"].as_u64().unwrap();
            assert!(g >= 1, "{v}");
        }
        Some("torn") => assert_eq!(o.status.code(), Some(1)),
        _ => panic!("the archived copy is a copy of the served file: {v}"),
    }
}

#[test]
fn a_hung_serve_keeps_its_lock_until_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, archive) = (tmp.path().join("srv"), tmp.path().join("archive"));
    std::fs::create_dir(&dir).unwrap();
    let mut serve = Proc::serve(&dir, &["--rate", "100", "--on-conflict", "hang"]);
    serve.expect_line("ready", |l| l.contains("ready"));
    serve.expect_acks(3);

    let o = backup(&dir, &archive, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    serve.expect_line("hung", |l| l.contains("hung"));
    // No more deliveries, still holding the lock.
    assert!(
        serve
            .wait_line(Duration::from_millis(300), |l| l.starts_with("ack "))
            .is_none(),
        "acked after hanging: {:?}",
        serve.seen
    );
    let busy = backup(
        &dir,
        &tmp.path().join("archive2"),
        &["--open-files", "respect-locks"],
    );
    assert!(
        text(&busy.stdout).contains(&format!("(pid {})", serve.pid())),
        "{}",
        text(&busy.stdout)
    );
    // A second server is refused, naming the holder; nothing changes.
    let before = std::fs::read(dir.join(DATA)).unwrap();
    let o = run_bounded(&["serve".as_ref(), "--dir".as_ref(), dir.as_os_str()], SOON);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains(&format!("(pid {})", serve.pid())),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read(dir.join(DATA)).unwrap(), before);

    serve.term();
    let status = serve.wait_exit(SOON);
    // 4: hung, then stopped.
    assert_eq!(status.code(), Some(4), "{}", serve.stderr_now());
    let hung_at = serve.seen.iter().position(|l| l.contains("hung")).unwrap();
    assert!(acks_in(&serve.seen[hung_at..]).is_empty());
    assert_all_acked_present(&serve.kept(), &dir.join(DATA));

    // The lock is released: a new server gets it and carries on.
    let mut again = Proc::serve(&dir, &["--rate", "100"]);
    again.expect_line("ready", |l| l.contains("ready"));
    again.expect_acks(1);
    assert!(again.acks()[0] > *serve.acks().iter().max().unwrap());
    again.term();
    assert_eq!(again.wait_exit(SOON).code(), Some(0));
}

#[test]
fn a_lock_aware_backup_names_the_holder_and_serve_keeps_delivering() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, archive) = (tmp.path().join("srv"), tmp.path().join("archive"));
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), b"not held by anyone").unwrap();
    let mut serve = Proc::serve(&dir, &["--rate", "100"]);
    serve.expect_line("ready", |l| l.contains("ready"));
    serve.expect_acks(3);
    serve.drain();
    let before = serve.acks().len();

    let o = backup(&dir, &archive, &["--open-files", "respect-locks"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let busy = out
        .lines()
        .find(|l| l.starts_with("busy:"))
        .unwrap_or_else(|| panic!("no busy line: {out}"));
    assert!(busy.contains(DATA), "{busy}");
    assert!(busy.contains(&format!("(pid {})", serve.pid())), "{busy}");
    assert!(out.contains("archived notes.txt"), "{out}");
    assert!(!archive.join(DATA).exists());
    assert!(archive.join("notes.txt").exists());

    // The server never saw an open, and keeps delivering.
    serve.drain();
    let after_backup = serve.acks().len();
    serve.expect_acks(after_backup + 3);
    assert!(serve.acks().len() > before);
    // A second server is refused, naming the holder, without opening the
    // file: the first sees no foreign open either.
    let o = run_bounded(&["serve".as_ref(), "--dir".as_ref(), dir.as_os_str()], SOON);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains(&format!("(pid {})", serve.pid())),
        "{}",
        text(&o.stderr)
    );
    serve.drain();
    let n = serve.acks().len();
    serve.expect_acks(n + 2);
    assert!(
        !serve.seen.iter().any(|l| l.contains("foreign open")),
        "{:?}",
        serve.seen
    );
    serve.term();
    assert_eq!(serve.wait_exit(SOON).code(), Some(0));
    assert_all_acked_present(&serve.kept(), &dir.join(DATA));
}

/// A small seeded generator (xorshift64*), so the kill moments repeat.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Every numbered copy in the rotation verifies; temporary files are the
/// only other names. Returns (numbered copies, temporary files).
pub(crate) fn check_rotation(dir: &Path) -> (usize, usize) {
    let (mut copies, mut temps) = (0, 0);
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if name.starts_with("Mail Data Backup #") {
            let bytes = std::fs::read(e.path()).unwrap();
            if let Err(err) = datafile::verify(&bytes) {
                panic!("{name}: a partial or torn copy in the rotation: {err}");
            }
            copies += 1;
        } else {
            assert!(name.starts_with(".mailsim-tmp"), "unexpected {name}");
            temps += 1;
        }
    }
    (copies, temps)
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, rotation) = (tmp.path().join("srv"), tmp.path().join("rotation"));
    std::fs::create_dir(&dir).unwrap();
    std::fs::create_dir(&rotation).unwrap();
    let data = dir.join(DATA);
    let mut rng = Rng(0x5EED_0FC0_FFEE);
    let mut acked: Vec<u64> = Vec::new();
    let (mut copies_seen, mut cut_short) = (0, 0);
    let start = Instant::now();
    for round in 0..30 {
        // Copies aside every 50 ms on some rounds, every 5 ms on others
        // (so that some kills land in the middle of a copy), none on the rest.
        let copy_every = match round % 4 {
            0 => Some("0.05"),
            2 => Some("0.005"),
            _ => None,
        };
        let copy_aside = copy_every.is_some();
        // Reads write in place, deletions none: every id acknowledged is
        // owed, whenever the kill lands.
        let mut args = vec!["--rate", "300", "--mix", "deliver=3,read=1"];
        if let Some(every) = copy_every {
            args.extend([
                "--copy-aside-to",
                rotation.to_str().unwrap(),
                "--copy-every",
                every,
                "--keep",
                "3",
            ]);
        }
        let mut serve = Proc::serve(&dir, &args);
        serve.expect_line("ready", |l| l.contains("ready"));
        serve.expect_acks(2);
        if copy_aside {
            // Then the kill lands anywhere in the next 50 ms cycle, often
            // in the middle of a copy.
            serve.expect_line("copied aside", |l| l.starts_with("copied aside"));
        }
        thread::sleep(Duration::from_millis(rng.below(41)));
        serve.kill();
        let these = serve.acks();
        assert!(these.len() >= 2, "round {round}");
        // Its own copies aside are no foreign opens.
        assert!(
            !serve.seen.iter().any(|l| l.contains("foreign open")),
            "round {round}: {:?}",
            serve.seen
        );
        // Ids keep increasing across restarts: nothing acknowledged was
        // rolled back.
        if let (Some(last), Some(first)) = (acked.last(), these.first()) {
            assert!(first > last, "round {round}: {first} after {last}");
        }
        acked.extend(these);
        assert_all_acked_present(&acked, &data);
        assert_verifies(&data);
        let (copies, temps) = check_rotation(&rotation);
        copies_seen = copies_seen.max(copies);
        cut_short += temps;
    }
    assert!(copies_seen > 0, "no copy aside was ever made");
    eprintln!(
        "30 SIGKILLs: {} acknowledged messages all present, {cut_short} kills left a \
         temporary copy behind, {:?}",
        acked.len(),
        start.elapsed()
    );
}

/// Every path under `root` with its contents (`None` for a directory).
pub(crate) fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            out.insert(p.clone(), None);
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else if meta.is_file() {
            out.insert(p.clone(), Some(std::fs::read(&p).unwrap()));
        } else {
            // A FIFO, a socket, a symlink: never read (a FIFO would block),
            // only its kind and where a symlink leads.
            let what = format!("{:?} {:?}", meta.file_type(), std::fs::read_link(&p).ok());
            out.insert(p.clone(), Some(what.into_bytes()));
        }
    }
    out
}

/// Runs `mailsim ARGS` and expects exit `code`, one line on stderr, nothing
/// on stdout, and nothing changed under `root`.
pub(crate) fn refused<S: AsRef<OsStr>>(root: &Path, args: &[S], code: i32) -> String {
    let before = snapshot(root);
    let o = run_bounded(args, SOON);
    let err = text(&o.stderr);
    crate::support::tally_refusal(o.status.code(), &err);
    assert_eq!(o.status.code(), Some(code), "{:?}: {err}", os_args(args));
    assert!(
        o.stdout.is_empty(),
        "{:?}: {}",
        os_args(args),
        text(&o.stdout)
    );
    assert_eq!(err.lines().count(), 1, "{:?}: {err:?}", os_args(args));
    assert!(err.starts_with("mailsim: error: "), "{err}");
    assert!(
        snapshot(root) == before,
        "{:?} changed the disk",
        os_args(args)
    );
    err
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "0")
}

#[test]
fn bad_input_is_one_line_exit_2_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = root.join("srv");
    std::fs::create_dir(&dir).unwrap();
    let file = root.join("a file");
    std::fs::write(&file, b"just a file").unwrap();
    let missing = root.join("missing");
    let s = |p: &Path| p.to_str().unwrap().to_owned();

    let e = refused(root, &["serve", "--dir", &s(&missing)], 2);
    assert!(e.contains("missing"), "{e}");
    refused(root, &["serve", "--dir", &s(&file)], 2);
    refused(
        root,
        &["serve", "--dir", &s(&dir), "--copy-aside-to", &s(&missing)],
        2,
    );
    assert!(!dir.join(DATA).exists(), "serve created its file anyway");
    refused(
        root,
        &["backup", "--dir", &s(&missing), "--to", &s(&root.join("a"))],
        2,
    );
    let e = refused(root, &["backup", "--dir", &s(&dir), "--to", &s(&file)], 2);
    assert!(e.contains("--to"), "{e}");
    refused(
        root,
        &["backup", "--dir", &s(&dir), "--to", &s(&dir.join("inside"))],
        2,
    );
    refused(
        root,
        &[
            "backup",
            "--dir",
            &s(&dir),
            "--to",
            &s(&file.join("below a file")),
        ],
        2,
    );
    refused(root, &["run", "--real", &s(&missing.join("night"))], 2);
    refused(root, &["run", "--real", &s(&file)], 2);

    // A data file serve cannot use: garbage, one truncated, one torn.
    let valid = datafile::build_image(
        4,
        (1..=5).map(|id| (id, datafile::RecordFlags::empty(), 300)),
    );
    // A payload byte changed: the structure scans, the checksum fails.
    let mut torn = valid.clone();
    let (_, records) = datafile::scan(&valid).unwrap();
    let inside = records[2].offset + datafile::RECORD_HEADER_BYTES + 10;
    torn[inside as usize] ^= 0xFF;
    assert!(datafile::scan(&torn).is_ok() && datafile::verify(&torn).is_err());
    let garbage: Vec<u8> = (0..9000u32).map(|i| (i * 7919 % 251) as u8).collect();
    for (what, bytes) in [
        ("garbage", garbage.clone()),
        ("truncated", valid[..valid.len() - 100].to_vec()),
        ("torn", torn.clone()),
        ("empty", Vec::new()),
    ] {
        std::fs::write(dir.join(DATA), &bytes).unwrap();
        let e = refused(root, &["serve", "--dir", &s(&dir)], 2);
        assert!(e.contains(DATA), "{what}: {e}");
        assert_eq!(std::fs::read(dir.join(DATA)).unwrap(), bytes, "{what}");
    }
    std::fs::remove_file(dir.join(DATA)).unwrap();

    // verify: 2 when it cannot be read, 1 when it fails.
    refused(root, &["verify", &s(&missing)], 2);
    refused(root, &["verify", &s(&dir)], 2);
    let rand = root.join("random");
    std::fs::write(&rand, &garbage).unwrap();
    let e = refused(root, &["verify", &s(&rand)], 1);
    assert!(e.contains("bad magic"), "{e}");
    let trunc = root.join("truncated");
    std::fs::write(&trunc, &valid[..valid.len() - 100]).unwrap();
    let e = refused(root, &["verify", &s(&trunc)], 1);
    assert!(e.contains("truncated"), "{e}");
    let t = root.join("torn");
    std::fs::write(&t, &torn).unwrap();
    refused(root, &["verify", &s(&t)], 1);
    let good = root.join("good");
    std::fs::write(&good, &valid).unwrap();
    let o = verify(&good);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        text(&o.stdout).contains("generation 4, 5 messages"),
        "{}",
        text(&o.stdout)
    );

    // An archive that cannot be written: permissions do not bite for root.
    if is_root() {
        eprintln!("skipping the unwritable-archive case: running as root");
    } else {
        use std::os::unix::fs::PermissionsExt;
        let locked = root.join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        refused(root, &["backup", "--dir", &s(&dir), "--to", &s(&locked)], 2);
        refused(
            root,
            &["backup", "--dir", &s(&dir), "--to", &s(&locked.join("sub"))],
            2,
        );
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn run_real_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args: Vec<&OsStr> = vec![
        "run".as_ref(),
        "--real".as_ref(),
        dir.as_os_str(),
        "--real-scale".as_ref(),
        "36000".as_ref(),
        "--behavior".as_ref(),
        "shutdown".as_ref(),
        "--json".as_ref(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    let o = run_bounded(&args, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("run --real --json prints JSON")
}

#[test]
fn run_real_plays_the_night_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let night = tmp.path().join("night");
    let v = run_real_json(&night, &[]);
    assert_eq!(v["outcome"], "graceful_shutdown");
    assert_eq!(v["metrics"]["messages_lost"], 0);
    assert!(night.join("Server HD").is_dir());
    // The same directory again: an earlier run is replaced.
    let v = run_real_json(&night, &["--exclude-file", DATA]);
    assert_eq!(v["outcome"], "clean");
    assert_eq!(v["metrics"]["files_excluded"], 1);
}
