//! One try of `mailsim trial`: a fresh server, the command against it, the
//! server's outcome, and the copy judged.
//!
//! What does not live here: the flags, the summary and the printing
//! (`trial`).

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use mailsim::history::{self, Verdict};
use mailsim::sim::{MAIL_DATA, RequestMix};

use super::super::CliError;
use super::super::serve::OnConflict;
use super::substitute;

/// Longest a fresh server may take to say it is ready.
const READY_MAX: Duration = Duration::from_secs(10);

/// Longest a server may take to stop after SIGTERM before it is killed.
const STOP_MAX: Duration = Duration::from_secs(10);

/// How long, after the command ended, the server is given to report an
/// open it has not reported yet (it looks every 2 ms), and to react to one.
const SETTLE: Duration = Duration::from_millis(300);

/// Most entries of `{out}` looked at for the copy.
const MAX_ENTRIES: usize = 100_000;

/// What every try shares.
pub(super) struct Plan<'a> {
    /// This binary, run as `serve`.
    pub(super) serve: &'a Path,
    /// The command, as found on `PATH`.
    pub(super) program: &'a Path,
    /// Its arguments, before `{dir}` and `{out}` are replaced.
    pub(super) args: &'a [String],
    pub(super) on_conflict: OnConflict,
    pub(super) rate: f64,
    pub(super) mix: RequestMix,
    pub(super) warm_up: u32,
    pub(super) timeout: Duration,
    /// Where each try's folder is made.
    pub(super) work: &'a Path,
    /// Whether each try's folder is kept.
    pub(super) keep: bool,
}

/// What the server did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ServerOutcome {
    /// Served on to the end (never noticed, or tolerated it); stopped by
    /// trial's signal, exit 0.
    Clean,
    /// Shut down because of the foreign open (exit 3).
    GracefulShutdown,
    /// Hung after the foreign open, until trial's signal (exit 4).
    Hang,
    /// Its data file was removed, replaced or written by the command (exit 5).
    FileTaken,
}

impl ServerOutcome {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ServerOutcome::Clean => "clean",
            ServerOutcome::GracefulShutdown => "graceful_shutdown",
            ServerOutcome::Hang => "hang",
            ServerOutcome::FileTaken => "file_taken",
        }
    }
}

/// What the copy under `{out}` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CopyState {
    Consistent,
    Torn,
    Unknown,
    Missing,
}

impl CopyState {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            CopyState::Consistent => "consistent",
            CopyState::Torn => "torn",
            CopyState::Unknown => "unknown",
            CopyState::Missing => "missing",
        }
    }
}

/// One try, as it is reported.
#[derive(Debug)]
pub(super) struct Try {
    pub(super) index: u32,
    pub(super) noticed: bool,
    pub(super) opener: Option<String>,
    pub(super) server_outcome: ServerOutcome,
    pub(super) copy: CopyState,
    pub(super) generation: Option<u64>,
    /// The command's exit code; `None` when a signal ended it.
    pub(super) command_status: Option<i32>,
    pub(super) timed_out: bool,
    /// The try's folder, when kept.
    pub(super) folder: Option<PathBuf>,
}

/// The program a command names: a path with a `/` as given, else the first
/// executable file of that name on `PATH`. Bad input when there is none.
pub(super) fn resolve_program(name: &str) -> Result<PathBuf, CliError> {
    let usable = |p: &Path| fs::metadata(p).is_ok_and(|m| m.is_file() && is_executable(&m));
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if usable(&p) {
            Ok(p)
        } else {
            Err(CliError::Usage(format!(
                "COMMAND {name}: not an executable file"
            )))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| usable(p))
        .ok_or_else(|| CliError::Usage(format!("COMMAND {name}: not found on PATH")))
}

#[cfg(unix)]
fn is_executable(m: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &fs::Metadata) -> bool {
    true
}

/// A running `serve` and the lines it has printed so far.
struct Server {
    child: Child,
    lines: Receiver<String>,
    /// Its stderr, read to the end on another thread (at most 4 KiB kept).
    stderr: Option<std::thread::JoinHandle<String>>,
    noticed: bool,
    opener: Option<String>,
    hung: bool,
    served: u32,
}

impl Server {
    fn start(plan: &Plan<'_>, dir: &Path) -> Result<Server, CliError> {
        let mut child = Command::new(plan.serve)
            .arg("serve")
            .arg("--dir")
            .arg(dir)
            .arg("--on-conflict")
            .arg(on_conflict_name(plan.on_conflict))
            .arg("--rate")
            .arg(plan.rate.to_string())
            .arg("--mix")
            .arg(plan.mix.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| CliError::Runtime(format!("cannot start mailsim serve: {e}")))?;
        let lines = read_lines(child.stdout.take());
        let stderr = child.stderr.take().map(|mut e| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = (&mut e).take(4096).read_to_end(&mut buf);
                // Drain the rest so that serve never blocks on its stderr.
                let _ = std::io::copy(&mut e, &mut std::io::sink());
                String::from_utf8_lossy(&buf).trim().to_owned()
            })
        });
        let mut s = Server {
            child,
            lines,
            stderr,
            noticed: false,
            opener: None,
            hung: false,
            served: 0,
        };
        let ready = Instant::now() + READY_MAX;
        loop {
            match s.next_line(ready) {
                Some(l) if l.starts_with("ready:") => return Ok(s),
                Some(_) => {}
                None => {
                    let why = s.stop_failed();
                    return Err(CliError::Runtime(format!(
                        "mailsim serve did not get ready: {why}"
                    )));
                }
            }
        }
    }

    /// The next line, without its time, waiting at most until `until`;
    /// `None` at the deadline or when serve closed its stdout. Every line
    /// is noted on the way (a foreign open, a hang, a request served).
    fn next_line(&mut self, until: Instant) -> Option<String> {
        let wait = until.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(line) => {
                let l = unstamped(&line).to_owned();
                self.note(&l);
                Some(l)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    fn note(&mut self, l: &str) {
        let opened = format!("foreign open of {MAIL_DATA} by ");
        if let Some(who) = l.strip_prefix(opened.as_str()) {
            if !self.noticed {
                self.noticed = true;
                self.opener = (who != "another process").then(|| who.to_owned());
            }
        } else if l.starts_with("hung") {
            self.hung = true;
        } else if ["ack ", "read ", "deleted ", "compacted"]
            .iter()
            .any(|p| l.starts_with(p))
        {
            self.served = self.served.saturating_add(1);
        }
    }

    /// Reads lines until `until`, or until serve's stdout closes.
    fn drain_until(&mut self, until: Instant) {
        while self.next_line(until).is_some() {}
    }

    /// Reads what is already there, without waiting.
    fn drain_now(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            let l = unstamped(&line).to_owned();
            self.note(&l);
        }
    }

    /// Whether serve has exited (its status then).
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops serve (SIGTERM, then SIGKILL after [`STOP_MAX`]) and returns
    /// its exit status, having read every line it printed.
    fn stop(&mut self) -> Result<ExitStatus, CliError> {
        if self.exited().is_none() {
            signal(self.child.id(), Signal::Term);
        }
        let deadline = Instant::now() + STOP_MAX;
        loop {
            self.drain_now();
            if let Some(st) = self.exited() {
                self.drain_until(Instant::now() + Duration::from_millis(500));
                return Ok(st);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(CliError::Runtime(format!(
                    "mailsim serve did not stop within {} s of SIGTERM",
                    STOP_MAX.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Kills serve after a failure, and says what it printed on stderr.
    fn stop_failed(&mut self) -> String {
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        let err = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        match (err.is_empty(), status) {
            (false, _) => err.lines().next().unwrap_or_default().to_owned(),
            (true, Some(st)) => format!("it ended with {st}"),
            (true, None) => "it ended".to_owned(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A line without the time serve puts before it.
fn unstamped(line: &str) -> &str {
    match line.split_once(' ') {
        Some((stamp, rest)) if stamp.ends_with('Z') && stamp.contains('T') => rest,
        _ => line,
    }
}

fn on_conflict_name(c: OnConflict) -> &'static str {
    match c {
        OnConflict::Shutdown => "shutdown",
        OnConflict::Hang => "hang",
        OnConflict::Tolerate => "tolerate",
    }
}

/// serve's stdout as lines on a channel, read on another thread.
fn read_lines(stdout: Option<ChildStdout>) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(stdout) = stdout {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// The two signals trial sends.
#[derive(Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

/// Sends `sig` to process `pid`, or, with `group`, to its process group.
#[cfg(unix)]
fn signal_to(pid: u32, sig: Signal, group: bool) {
    use nix::sys::signal::{self, Signal as S};
    use nix::unistd::Pid;
    let Ok(raw) = i32::try_from(pid) else { return };
    let s = match sig {
        Signal::Term => S::SIGTERM,
        Signal::Kill => S::SIGKILL,
    };
    let _ = if group {
        signal::killpg(Pid::from_raw(raw), s)
    } else {
        signal::kill(Pid::from_raw(raw), s)
    };
}

#[cfg(not(unix))]
fn signal_to(_: u32, _: Signal, _: bool) {}

fn signal(pid: u32, sig: Signal) {
    signal_to(pid, sig, false);
}

/// The command's own outcome.
struct Ran {
    status: Option<i32>,
    timed_out: bool,
}

/// Runs the command in its own process group, reading serve's lines
/// meanwhile; kills the whole group at the deadline.
fn run_command(
    plan: &Plan<'_>,
    server: &mut Server,
    dir: &Path,
    out: &Path,
) -> Result<Ran, CliError> {
    let mut cmd = Command::new(plan.program);
    cmd.args(plan.args.iter().map(|a| substitute(a, dir, out)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(|e| {
        CliError::Usage(format!(
            "COMMAND {}: cannot run: {e}",
            plan.program.display()
        ))
    })?;
    let deadline = Instant::now() + plan.timeout;
    loop {
        server.drain_now();
        match child.try_wait() {
            Ok(Some(st)) => {
                // What the command started may still run: end it too.
                signal_to(child.id(), Signal::Kill, true);
                return Ok(Ran {
                    status: st.code(),
                    timed_out: false,
                });
            }
            Ok(None) if Instant::now() >= deadline => {
                signal_to(child.id(), Signal::Kill, true);
                let _ = child.kill();
                let st = child.wait().ok();
                return Ok(Ran {
                    status: st.and_then(|s| s.code()),
                    timed_out: true,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(CliError::Runtime(format!("waiting for COMMAND: {e}"))),
        }
    }
}

/// The first regular file named `Microsoft Mail Data` under `root`
/// (symlinks not followed), in name order, depth first.
fn find_copy(root: &Path) -> Option<PathBuf> {
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        let mut names: Vec<_> = entries.flatten().take(MAX_ENTRIES).collect();
        names.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
        for e in names {
            seen += 1;
            if seen > MAX_ENTRIES {
                return None;
            }
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_file() && e.file_name() == MAIL_DATA {
                return Some(e.path());
            }
            if ft.is_dir() {
                stack.push(e.path());
            }
        }
    }
    None
}

/// The copy's state and generation, judged with the history.
fn judge(history: &Path, copy: Option<&Path>) -> Result<(CopyState, Option<u64>), CliError> {
    let Some(copy) = copy else {
        return Ok((CopyState::Missing, None));
    };
    match history::judge(history, copy) {
        Ok(Verdict::Consistent { generation, .. }) => Ok((CopyState::Consistent, Some(generation))),
        Ok(Verdict::Torn { .. }) => Ok((CopyState::Torn, None)),
        Ok(_) => Ok((CopyState::Unknown, None)),
        Err(e) => Err(CliError::Runtime(format!("judging the copy: {e}"))),
    }
}

/// One try: a fresh folder and server, the command, the verdict. The
/// folder is removed after.
pub(super) fn run(plan: &Plan<'_>, index: u32) -> Result<Try, CliError> {
    let root = tempfile::Builder::new()
        .prefix("mailsim-trial-")
        .tempdir_in(plan.work)
        .map_err(|e| {
            CliError::Runtime(format!(
                "cannot make a folder in {}: {e}",
                plan.work.display()
            ))
        })?;
    let dir = root.path().join("served");
    let out = root.path().join("out");
    for d in [&dir, &out] {
        fs::create_dir(d)
            .map_err(|e| CliError::Runtime(format!("cannot make {}: {e}", d.display())))?;
    }
    let mut server = Server::start(plan, &dir)?;
    let warm_until = Instant::now() + plan.timeout;
    while server.served < plan.warm_up && !server.noticed {
        if server.next_line(warm_until).is_none() {
            break;
        }
    }
    let ran = run_command(plan, &mut server, &dir, &out)?;
    // serve looks every 2 ms: give it the time to tell an open it saw, and
    // to react.
    let settle = Instant::now() + SETTLE;
    while Instant::now() < settle && server.exited().is_none() {
        server.drain_until(Instant::now() + Duration::from_millis(10));
    }
    let status = server.stop()?;
    let server_outcome = match status.code() {
        Some(3) => ServerOutcome::GracefulShutdown,
        Some(4) => ServerOutcome::Hang,
        Some(5) => ServerOutcome::FileTaken,
        Some(0) if server.hung => ServerOutcome::Hang,
        Some(0) => ServerOutcome::Clean,
        _ => {
            let why = server.stop_failed();
            return Err(CliError::Runtime(format!(
                "try {index}: mailsim serve failed ({status}): {why}"
            )));
        }
    };
    let copy = find_copy(&out);
    let (copy, generation) = judge(&dir.join(history::HISTORY_NAME), copy.as_deref())?;
    let folder = plan.keep.then(|| root.keep());
    Ok(Try {
        index,
        noticed: server.noticed,
        opener: server.opener.clone(),
        server_outcome,
        copy,
        generation,
        command_status: ran.status,
        timed_out: ran.timed_out,
        folder,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_copy_wherever_the_command_left_it() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(find_copy(t.path()), None);
        fs::create_dir_all(t.path().join("a/b")).unwrap();
        fs::write(t.path().join("a/b").join(MAIL_DATA), b"x").unwrap();
        fs::write(t.path().join("a/other"), b"x").unwrap();
        assert_eq!(
            find_copy(t.path()),
            Some(t.path().join("a/b").join(MAIL_DATA))
        );
        // A folder of that name is not a copy.
        let u = tempfile::tempdir().unwrap();
        fs::create_dir(u.path().join(MAIL_DATA)).unwrap();
        assert_eq!(find_copy(u.path()), None);
    }

    #[test]
    fn lines_lose_their_time() {
        assert_eq!(unstamped("2026-12-02T22:11:27.123Z ack 17"), "ack 17");
        assert_eq!(unstamped("ack 17"), "ack 17");
    }

    #[test]
    fn commands_are_found_on_path_or_refused() {
        assert!(resolve_program("sh").is_ok());
        assert!(matches!(
            resolve_program("no-such-command-anywhere"),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            resolve_program("/no/such/file"),
            Err(CliError::Usage(_))
        ));
    }
}
