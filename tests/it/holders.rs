//! Who holds a lock, and who only looks: real lock holders named by the
//! processes that hold the lock *now* — `flock(1)` running a command, the
//! `exec 9>>F; flock -x 9` idiom, a lock inherited across `fork` whose
//! taker is gone, a Python OFD lock, a sqlite3 write transaction — by the
//! library ([`proc_locks`]), by `mailsim backup --open-files respect-locks`
//! and by `mailsim serve`'s refusal to start; and programs that only look
//! at a file (`stat`, `ls -l`, `find`, an `O_PATH` open, `lsof`, `fuser`,
//! `lslocks`) against a running `serve`, which must not take them for a
//! foreign open.
//!
//! A program that is missing is skipped with a printed reason. Every child
//! is killed and reaped at the end of its test (see [`Kids`]); every wait is
//! bounded.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mailsim::real::{OpenWatch, proc_locks};

use crate::processes::{DATA, Proc, SOON, backup, run_bounded};

/// Processes a test started, by pid, and the children it can reap. Dropping
/// it kills each (SIGKILL, by pid) and reaps the children.
#[derive(Default)]
struct Kids {
    children: Vec<Child>,
    pids: Vec<u32>,
    /// Kept open until the end: a sqlite3 shell reading its commands.
    stdin: Vec<ChildStdin>,
}

impl Kids {
    fn add(&mut self, child: Child) -> u32 {
        let pid = child.id();
        self.children.push(child);
        pid
    }
}

impl Drop for Kids {
    fn drop(&mut self) {
        self.stdin.clear();
        for pid in &self.pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn have(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipped: {program} is not installed (.ci/run installs it)");
    }
    found
}

fn alive(pid: u32) -> bool {
    // A zombie has no descriptors and holds no lock.
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

/// The children of `pid` now (their `ppid` in `/proc/PID/stat`).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| {
            fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().nth(1))
                    .and_then(|pp| pp.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

/// The pids a line names (`tar (pid 4242), sleep (pid 11)`), in order.
fn named_pids(line: &str) -> Vec<u32> {
    line.split("(pid ")
        .skip(1)
        .filter_map(|r| r.split(')').next()?.parse().ok())
        .collect()
}

/// Waits (boundedly) until the kernel shows a write lock on `file`.
fn wait_locked(file: &Path) -> Vec<proc_locks::LockHolder> {
    let deadline = Instant::now() + SOON;
    loop {
        let all = proc_locks::holders(file).unwrap();
        if all.iter().any(|h| h.write) {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "no lock on {file:?} within {SOON:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (boundedly) until process `pid` runs `command`.
fn wait_comm(pid: u32, command: &str) {
    let deadline = Instant::now() + SOON;
    while fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() != command)
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(2));
    }
}

/// The first line of a child's stdout, read within [`SOON`].
fn first_line(child: &mut Child) -> String {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(SOON)
        .expect("a line within SOON")
        .trim()
        .to_owned()
}

/// How a holder takes its lock on the file at `F`, and which of its
/// processes may hold it once it has.
enum Case {
    /// `flock -x F sleep 30`: flock(1) and/or its child sleep.
    FlockCommand,
    /// `exec 9>>F; flock -x 9; exec sleep 30`: the shell's pid, as sleep.
    ExecIdiom,
    /// `(flock -x 9; sleep 30 &) 9>>F`: the taker and the subshell exit;
    /// the orphaned sleep alone holds it.
    Inherited,
    /// Python `fcntl(fd, F_OFD_SETLK, F_WRLCK)`: the python process.
    PythonOfd,
    /// `sqlite3 F` with `BEGIN EXCLUSIVE` pending on its stdin.
    Sqlite,
}

impl Case {
    const ALL: [Case; 5] = [
        Case::FlockCommand,
        Case::ExecIdiom,
        Case::Inherited,
        Case::PythonOfd,
        Case::Sqlite,
    ];

    fn program(&self) -> &'static str {
        match self {
            Case::FlockCommand | Case::ExecIdiom | Case::Inherited => "flock",
            Case::PythonOfd => "python3",
            Case::Sqlite => "sqlite3",
        }
    }

    /// Starts the holder and waits until the lock is held; returns the pids
    /// that may name it now (alive), and the one that must be among them,
    /// if the case knows it.
    fn hold(&self, file: &Path, kids: &mut Kids) -> (Vec<u32>, Option<u32>) {
        let sh = |script: &str| {
            Command::new("sh")
                .args(["-c", script, "sh"])
                .arg(file)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .expect("sh runs")
        };
        match self {
            Case::FlockCommand => {
                let child = Command::new("flock")
                    .args([
                        "-x".as_ref(),
                        file.as_os_str(),
                        "sleep".as_ref(),
                        "30".as_ref(),
                    ])
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("flock runs");
                let flock = kids.add(child);
                wait_locked(file);
                // flock(1) locks, then forks its command.
                let deadline = Instant::now() + SOON;
                while children_of(flock).is_empty() && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(5));
                }
                let mut tree = vec![flock];
                tree.extend(children_of(flock));
                kids.pids.extend(&tree);
                (tree, None)
            }
            Case::ExecIdiom => {
                let mut child = sh(r#"exec 9>>"$1"; flock -x 9; echo locked; exec sleep 30"#);
                assert_eq!(first_line(&mut child), "locked");
                let pid = kids.add(child);
                wait_locked(file);
                // The shell says so just before its exec.
                wait_comm(pid, "sleep");
                (vec![pid], Some(pid))
            }
            Case::Inherited => {
                let mut child =
                    sh(r#"(flock -x 9; sleep 30 >/dev/null & echo $!) 9>>"$1"; exit 0"#);
                let sleep: u32 = first_line(&mut child).parse().expect("the sleep's pid");
                kids.pids.push(sleep);
                // `$!` is known at the fork, before the child's exec.
                wait_comm(sleep, "sleep");
                let taker = kids.add(child);
                wait_locked(file);
                // The shell that opened the descriptor is gone, and so is
                // flock(1), which took the lock.
                let deadline = Instant::now() + SOON;
                while alive(taker) && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(5));
                }
                (vec![sleep], Some(sleep))
            }
            Case::PythonOfd => {
                let script = "import fcntl, os, struct, sys, time\n\
                    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n\
                    lk = struct.pack('hhqqi4x', fcntl.F_WRLCK, 0, 0, 0, 0)\n\
                    fcntl.fcntl(fd, getattr(fcntl, 'F_OFD_SETLK', 37), lk)\n\
                    print(os.getpid(), flush=True)\n\
                    time.sleep(30)\n";
                let mut child = Command::new("python3")
                    .args(["-c", script])
                    .arg(file)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("python3 runs");
                let pid: u32 = first_line(&mut child).parse().expect("python's pid");
                kids.add(child);
                let held = wait_locked(file);
                assert!(
                    held.iter().any(|h| h.kind == proc_locks::LockKind::Ofd),
                    "{held:?}"
                );
                (vec![pid], Some(pid))
            }
            Case::Sqlite => {
                let mut child = Command::new("sqlite3")
                    .arg(file)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("sqlite3 runs");
                let mut stdin = child.stdin.take().expect("piped stdin");
                stdin
                    .write_all(
                        b"CREATE TABLE mail(id);\nBEGIN EXCLUSIVE;\nINSERT INTO mail VALUES(1);\n",
                    )
                    .unwrap();
                stdin.flush().unwrap();
                kids.stdin.push(stdin);
                let pid = kids.add(child);
                let held = wait_locked(file);
                assert!(
                    held.iter().any(|h| h.kind == proc_locks::LockKind::Posix),
                    "{held:?}"
                );
                (vec![pid], Some(pid))
            }
        }
    }
}

/// Asserts that `line` names a live holder among `may`, `must` among them,
/// and no other pid.
fn names_live_holders(what: &str, line: &str, may: &[u32], must: Option<u32>) {
    let named = named_pids(line);
    assert!(!named.is_empty(), "{what}: names no pid: {line}");
    for pid in &named {
        assert!(
            may.contains(pid),
            "{what}: pid {pid} holds nothing: {line} (holders {may:?})"
        );
        assert!(alive(*pid), "{what}: pid {pid} is gone: {line}");
    }
    if let Some(pid) = must {
        assert!(named.contains(&pid), "{what}: pid {pid} not named: {line}");
    }
}

#[test]
fn the_processes_holding_a_lock_now_are_named_by_library_backup_and_serve() {
    for case in Case::ALL {
        if !have(case.program()) || !have("flock") {
            continue;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("srv");
        fs::create_dir(&dir).unwrap();
        let file = dir.join(DATA);
        fs::write(&file, b"").unwrap();
        let mut kids = Kids::default();
        let (may, must) = case.hold(&file, &mut kids);
        let may: Vec<u32> = may.into_iter().filter(|&p| alive(p)).collect();

        // The library.
        let held = proc_locks::holders(&file).unwrap();
        let line = proc_locks::names(&held).expect("a holder");
        eprintln!("{}: holders {line}", case.program());
        names_live_holders("proc_locks", &line, &may, must);
        if let Case::ExecIdiom | Case::Inherited = case {
            assert!(line.starts_with("sleep (pid "), "{line}");
        }
        let one = proc_locks::holder(&file).unwrap().expect("a holder");
        assert!(
            one.write && one.pid.is_some_and(|p| may.contains(&p)),
            "{one:?}"
        );

        // mailsim backup --open-files respect-locks: busy, naming them.
        let to = tmp.path().join("archive");
        let o = backup(
            &dir,
            &to,
            &["--open-files", "respect-locks", "--retries", "0"],
        );
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let busy = out
            .lines()
            .find(|l| l.contains("busy: ") && l.contains("held by"))
            .unwrap_or_else(|| panic!("{}: no busy line: {out}", case.program()));
        names_live_holders("backup", busy, &may, must);

        // mailsim serve refuses to start, naming them.
        let o = run_bounded(&["serve".as_ref(), "--dir".as_ref(), dir.as_os_str()], SOON);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{}: {err}", case.program());
        assert!(err.contains("held by"), "{err}");
        names_live_holders("serve", &err, &may, must);
        drop(kids);
    }
}

/// A running `serve --on-conflict shutdown` on a fresh folder, ready.
fn serving(dir: &Path) -> Proc {
    let mut p = Proc::serve(dir, &["--on-conflict", "shutdown"]);
    p.expect_line("ready", |l| l.starts_with("ready"));
    p
}

/// Runs `argv` to completion within [`SOON`]; `None` if it is missing.
fn look(argv: &[&str]) -> Option<std::process::Output> {
    if !have(argv[0]) {
        return None;
    }
    let child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(SOON) {
        Ok(o) => Some(o.expect("waits")),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{argv:?} took more than {SOON:?}");
        }
    }
}

#[test]
fn looking_at_a_served_file_is_no_foreign_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    fs::create_dir(&dir).unwrap();
    let mut serve = serving(&dir);
    let file = dir.join(DATA);
    let f = file.to_str().expect("a UTF-8 temp path");
    let d = dir.to_str().expect("a UTF-8 temp path");
    let o_path =
        "import os, sys\nfd = os.open(sys.argv[1], os.O_PATH)\nos.fstat(fd)\nos.close(fd)\n";
    // Programs that never open the file, and programs that may.
    let lookers: [(&[&str], bool); 8] = [
        (&["stat", f], true),
        (&["ls", "-l", d], true),
        (&["find", d, "-name", DATA, "-size", "+0"], true),
        (&["python3", "-c", o_path, f], true),
        (&["lsof", f], false),
        (&["fuser", "-v", f], false),
        (&["lslocks", "-u"], false),
        (&["lsof", "+D", d], false),
    ];
    let mut watch = OpenWatch::new(&file).unwrap();
    for (argv, never_opens) in lookers {
        let before = watch.opens().unwrap();
        let Some(out) = look(argv) else { continue };
        let opened = watch.opens().unwrap() - before;
        // Serve reads its queue every few milliseconds: give it time to
        // say so, had it seen an open.
        let said = serve.wait_line(Duration::from_millis(300), |l| l.contains("foreign open"));
        let exited = serve.exited_within(Duration::ZERO);
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!(
            "{argv:?}: opened the file {opened} times; serve said {said:?}, exited {exited:?}; \
             it printed {} lines",
            stdout.lines().count()
        );
        if never_opens {
            assert_eq!(opened, 0, "{argv:?} opened the file");
        }
        if opened == 0 {
            assert_eq!(said, None, "{argv:?} opened nothing, yet: {:?}", serve.seen);
            assert_eq!(exited, None, "{argv:?}: serve exited: {:?}", serve.seen);
        } else {
            // What is seen, as it is: the program opened the file, so serve
            // met it as a foreign open; start another for the rest.
            assert!(
                said.is_some(),
                "{argv:?} opened the file unnoticed: {:?}",
                serve.seen
            );
            serve.kill();
            serve = serving(&dir);
            watch = OpenWatch::new(&file).unwrap();
        }
    }
    // lsof, given the file, names serve itself: it looked into serve's fds.
    if let Some(out) = look(&["lsof", "-t", f]) {
        let pids = String::from_utf8_lossy(&out.stdout);
        assert!(
            pids.lines().any(|l| l.trim() == serve.pid().to_string()),
            "lsof -t: {pids:?}"
        );
    }
    assert_eq!(
        serve.exited_within(Duration::ZERO),
        None,
        "{:?}",
        serve.seen
    );
    serve.term();
    assert!(serve.wait_exit(SOON).success(), "{:?}", serve.seen);
}

/// A `mailsim serve --on-conflict shutdown` with `MAILSIM_NO_FANOTIFY` set
/// or not, its stdout read line by line on a thread.
struct Server {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Server {
    fn start(dir: &Path, no_fanotify: bool) -> Server {
        let mut cmd = Command::new(crate::processes::BIN);
        cmd.args(["serve".as_ref(), "--dir".as_ref(), dir.as_os_str()])
            .args(["--on-conflict", "shutdown"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if no_fanotify {
            cmd.env("MAILSIM_NO_FANOTIFY", "1");
        } else {
            cmd.env_remove("MAILSIM_NO_FANOTIFY");
        }
        let mut child = cmd.spawn().expect("the mailsim binary runs");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = Server { child, lines };
        s.line("ready", |l| l.contains(" ready"));
        s
    }

    /// The first line satisfying `pred`, within [`SOON`].
    fn line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SOON;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return l,
                Ok(l) => seen.push(l),
                Err(_) => panic!("no {what} line within {SOON:?}: {seen:?}"),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_names_the_process_that_opened_its_file_with_and_without_fanotify() {
    let probe_dir = tempfile::tempdir().unwrap();
    let probe = probe_dir.path().join("probe");
    fs::write(&probe, b"").unwrap();
    let fanotify = OpenWatch::new(&probe).unwrap().names_by() == mailsim::real::NamedBy::Fanotify;
    if !fanotify {
        eprintln!("fanotify is not permitted here: serve names by the /proc scan in both runs");
    }
    let linger = "import os, sys, time\nf = open(sys.argv[1], 'rb')\n\
                  print(os.getpid(), flush=True)\ntime.sleep(30)\n";
    for no_fanotify in [false, true] {
        for opener in ["cat", "dd", "python3"] {
            if !have(opener) {
                continue;
            }
            let tmp = tempfile::tempdir().unwrap();
            let mut serve = Server::start(tmp.path(), no_fanotify);
            let file = tmp.path().join(DATA);
            let mut cmd = match opener {
                "cat" => {
                    let mut c = Command::new("cat");
                    c.arg(&file).stdout(Stdio::null());
                    c
                }
                "dd" => {
                    let mut c = Command::new("dd");
                    c.arg(format!("if={}", file.display()))
                        .args(["of=/dev/null", "status=none"]);
                    c
                }
                _ => {
                    let mut c = Command::new("python3");
                    c.args(["-c", linger]).arg(&file).stdout(Stdio::piped());
                    c
                }
            };
            let mut kids = Kids::default();
            // Not reaped until serve has spoken: a quick opener's command
            // name stays readable while it is a zombie.
            let pid = kids.add(cmd.stdin(Stdio::null()).spawn().expect("spawns"));
            let lingers = opener == "python3";
            if lingers {
                let said: u32 = first_line(kids.children.last_mut().unwrap())
                    .parse()
                    .expect("python's pid");
                assert_eq!(said, pid);
            }
            let line = serve.line("foreign open", |l| l.contains("foreign open of"));
            eprintln!("fanotify {}: {opener}: {line}", !no_fanotify && fanotify);
            let named = named_pids(&line);
            assert!(
                named.iter().all(|&p| p == pid),
                "{opener} (pid {pid}): another pid named: {line}"
            );
            if lingers || (fanotify && !no_fanotify) {
                assert_eq!(named, [pid], "{opener} (pid {pid}) not named: {line}");
                if opener != "python3" {
                    assert!(line.contains(&format!("{opener} (pid {pid})")), "{line}");
                }
            } else {
                // Gone before the scan: nobody to name, and none named.
                assert!(named == [pid] || line.contains("another process"), "{line}");
            }
            drop(kids);
        }
    }
}

#[test]
fn a_holder_shared_by_several_processes_names_them_all() {
    let mut h = mailsim::volume::Holder::new("flock", Some(10));
    assert_eq!(h.to_string(), "flock (pid 10)");
    h.others
        .push(mailsim::volume::Holder::new("sleep", Some(11)));
    assert_eq!(h.to_string(), "flock (pid 10), sleep (pid 11)");
    assert_eq!(
        mailsim::volume::Holder::new("another process", None).to_string(),
        "another process"
    );
}
