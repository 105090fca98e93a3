//! `mailsim backup` on real files, through the built binary: where the
//! archive may not be (compared by file-system identity, through symlinks
//! and bind mounts), nothing created through a symlink, memory independent
//! of a file's size, sparse files kept sparse, numbers within their ranges,
//! bad paths as exit 2, a full disk as exit 1 with nothing half-written, and
//! special files under DIR never opened.
//!
//! Every process is waited for boundedly and killed on a timeout; every
//! mount is undone by a guard, even when a test fails; tests that need to
//! mount or to change user say so and return where that is not permitted.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::hash::Hasher;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use mailsim::datafile;

const BIN: &str = env!("CARGO_BIN_EXE_mailsim");
const DATA: &str = "Microsoft Mail Data";
/// Generous bound for anything that should take a second.
const SOON: Duration = Duration::from_secs(20);

/// Runs `cmd` to its end, killing it (and failing the test) after `timeout`.
fn bounded(mut cmd: Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command runs");
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {timeout:?}: killed");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out.join().expect("reader"),
        stderr: err.join().expect("reader"),
    }
}

fn mailsim<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    bounded(cmd, SOON)
}

fn backup(dir: &Path, to: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&OsStr> = vec![
        "backup".as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
        "--to".as_ref(),
        to.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    mailsim(&args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The one-line error of a run that exited with `code`.
fn failed(o: &Output, code: i32) -> String {
    let err = text(&o.stderr);
    crate::support::tally_refusal(o.status.code(), &err);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}stderr: {err}",
        text(&o.stdout)
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("mailsim: error: "), "{err}");
    err
}

fn done(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}stderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Everything under `root`, by `lstat`: kind, and for files length and a
/// digest of the bytes; symlinks by target.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).expect("lstat");
        let what = if m.file_type().is_symlink() {
            format!("link {:?}", fs::read_link(&p).expect("readlink"))
        } else if m.is_dir() {
            for e in fs::read_dir(&p).expect("read_dir") {
                stack.push(e.expect("entry").path());
            }
            "dir".to_owned()
        } else if m.is_file() {
            format!("file {} {:x}", m.len(), digest(&p))
        } else {
            format!("special {:o}", m.mode())
        };
        out.insert(p.strip_prefix(root).expect("below").to_path_buf(), what);
    }
    out
}

fn digest(path: &Path) -> u64 {
    let mut f = fs::File::open(path).expect("open");
    let mut h = std::hash::DefaultHasher::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            return h.finish();
        }
        h.write(&buf[..n]);
    }
}

/// A served directory as `mailsim serve` leaves it: a valid data file in
/// DIR, and a few files and folders.
fn served_tree(dir: &Path) {
    fs::create_dir_all(dir.join("System Folder/Extensions")).unwrap();
    let image = datafile::build_image(
        3,
        (1..=20).map(|id| (id, datafile::RecordFlags::empty(), 500)),
    );
    fs::write(dir.join(DATA), image).unwrap();
    fs::write(dir.join("System Folder/Finder"), b"finder").unwrap();
    fs::write(dir.join("System Folder/Extensions/Mail"), b"extension").unwrap();
}

/// A mount, undone when dropped (also when the test fails). Declare it
/// after the temporary directories it lives in, so that it is dropped
/// first: a directory is never removed through a mount.
struct Mount(PathBuf);

impl Mount {
    /// `mount ARGS… TARGET`, or `None` (with the reason printed) where
    /// mounting is not permitted.
    fn new(args: &[&OsStr], target: &Path) -> Option<Mount> {
        let mut cmd = Command::new("mount");
        cmd.args(args).arg(target);
        match cmd.output() {
            Ok(o) if o.status.success() => Some(Mount(target.to_path_buf())),
            Ok(o) => {
                eprintln!(
                    "skipping: cannot mount ({:?}): {}",
                    cmd,
                    text(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipping: no mount command: {e}");
                None
            }
        }
    }

    fn bind(from: &Path, to: &Path) -> Option<Mount> {
        Mount::new(&["--bind".as_ref(), from.as_os_str()], to)
    }

    fn tmpfs(options: &str, at: &Path) -> Option<Mount> {
        Mount::new(
            &[
                "-t".as_ref(),
                "tmpfs".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "tmpfs".as_ref(),
            ],
            at,
        )
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Asserts that the backup into `to` is refused (exit 2, naming `--to`)
/// and that nothing under `root` changed.
fn refused_to(root: &Path, dir: &Path, to: &Path) -> String {
    let before = snapshot(root);
    let err = failed(&backup(dir, to, &[]), 2);
    assert!(err.contains("--to"), "{err}");
    assert_eq!(snapshot(root), before, "{} changed the disk", to.display());
    err
}

/// A running `mailsim serve`, killed and reaped when dropped.
struct Serve {
    child: Child,
    lines: Receiver<String>,
}

impl Serve {
    fn start(dir: &Path) -> Serve {
        let mut child = Command::new(BIN)
            .args(["serve", "--rate", "200", "--dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve runs");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(crate::processes::unstamped(line)).is_err() {
                    break;
                }
            }
        });
        let mut s = Serve { child, lines };
        s.expect(|l| l.starts_with("ready"), "ready");
        s
    }

    fn expect(&mut self, pred: impl Fn(&str) -> bool, what: &str) {
        let deadline = Instant::now() + SOON;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return,
                Ok(_) => {}
                Err(e) => panic!("no {what} line from serve: {e}"),
            }
        }
    }

    /// Waits for `n` more acknowledged deliveries.
    fn acks(&mut self, n: usize) {
        for _ in 0..n {
            self.expect(|l| l.starts_with("ack "), "ack");
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// 1. Where the archive may be.

#[test]
fn an_archive_above_the_served_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x");
    let dir = x.join("srv");
    fs::create_dir_all(&dir).unwrap();
    // The night of the bug: serve holds the file, the archive is DIR's parent.
    let mut serve = Serve::start(&dir);
    serve.acks(3);
    let ino = fs::metadata(dir.join(DATA)).unwrap().ino();
    let names = |p: &Path| -> Vec<_> {
        fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    };
    let above = names(&x);
    let err = failed(&backup(&dir, &x, &[]), 2);
    assert!(err.contains("ancestor of --dir"), "{err}");
    assert!(!dir.join("srv").exists(), "no archive folder was created");
    assert_eq!(names(&x), above);
    serve.acks(3);
    assert_eq!(
        fs::metadata(dir.join(DATA)).unwrap().ino(),
        ino,
        "the live file still has its name"
    );
    drop(serve);

    // Without a server, every ancestor, and nothing changes.
    let still = tmp.path().join("still");
    served_tree(&still);
    for to in [tmp.path(), Path::new("/"), &tmp.path().join("x/..")] {
        refused_to(tmp.path(), &still, to);
    }
}

#[test]
fn an_archive_that_is_the_served_dir_or_inside_it_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    served_tree(&dir);
    let err = refused_to(tmp.path(), &dir, &dir);
    assert!(err.contains("itself"), "{err}");
    for to in [
        dir.join("archive"),
        dir.join("System Folder"),
        dir.join("System Folder/Extensions/new/deeper"),
        tmp.path().join("srv/./System Folder/../x"),
    ] {
        let err = refused_to(tmp.path(), &dir, &to);
        assert!(
            err.contains("inside --dir") || err.contains("itself"),
            "{err}"
        );
    }
    // Refused also when DIR is named through a path of its own.
    refused_to(tmp.path(), &dir.join("System Folder/.."), &dir.join("a"));
}

#[test]
fn a_symlinked_alias_of_the_served_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x/srv");
    served_tree(&dir);
    let elsewhere = tempfile::tempdir().unwrap();
    let to_parent = elsewhere.path().join("parent");
    let to_dir = elsewhere.path().join("dir");
    std::os::unix::fs::symlink(tmp.path().join("x"), &to_parent).unwrap();
    std::os::unix::fs::symlink(&dir, &to_dir).unwrap();
    for to in [
        to_parent.clone(),
        to_parent.join("srv"),
        to_parent.join("srv/new"),
        to_dir.clone(),
        to_dir.join("System Folder/new"),
    ] {
        refused_to(tmp.path(), &dir, &to);
        assert!(
            fs::symlink_metadata(&to_parent)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
    // DIR named through the alias, the archive by its real name.
    refused_to(tmp.path(), &to_parent.join("srv"), &dir.join("new"));
    refused_to(tmp.path(), &to_dir, &tmp.path().join("x"));
}

#[test]
fn a_bind_mount_of_the_served_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x/srv");
    served_tree(&dir);
    let elsewhere = tempfile::tempdir().unwrap();
    let (of_dir, of_parent, of_folder) = (
        elsewhere.path().join("dir"),
        elsewhere.path().join("parent"),
        elsewhere.path().join("folder"),
    );
    for p in [&of_dir, &of_parent, &of_folder] {
        fs::create_dir(p).unwrap();
    }
    // After the directories: unmounted first.
    let Some(_m1) = Mount::bind(&dir, &of_dir) else {
        return;
    };
    let Some(_m2) = Mount::bind(&tmp.path().join("x"), &of_parent) else {
        return;
    };
    let Some(_m3) = Mount::bind(&dir.join("System Folder"), &of_folder) else {
        return;
    };
    for to in [
        of_dir.clone(),
        of_dir.join("new"),
        of_parent.clone(),
        of_parent.join("srv/new"),
        of_folder.join("Extensions"),
    ] {
        let err = refused_to(tmp.path(), &dir, &to);
        assert!(err.contains("--dir"), "{err}");
    }
    // A bind mount of one of DIR's folders inside the archive, where the
    // backup would put that very folder: refused before anything is written.
    let archive = tempfile::tempdir().unwrap();
    let inside = archive.path().join("System Folder");
    fs::create_dir(&inside).unwrap();
    let Some(_m4) = Mount::bind(&dir.join("System Folder"), &inside) else {
        return;
    };
    let err = refused_to(tmp.path(), &dir, archive.path());
    assert!(err.contains("folder of --dir"), "{err}");
}

#[test]
fn a_symlink_inside_the_archive_is_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    served_tree(&dir);
    let archive = tmp.path().join("archive");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&archive).unwrap();
    fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, archive.join("System Folder")).unwrap();
    let err = refused_to(tmp.path(), &dir, &archive);
    assert!(err.contains("symlink"), "{err}");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    // Deeper down, and dangling: the same.
    fs::remove_file(archive.join("System Folder")).unwrap();
    fs::create_dir(archive.join("System Folder")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", archive.join("System Folder/Extensions")).unwrap();
    let err = refused_to(tmp.path(), &dir, &archive);
    assert!(err.contains("symlink"), "{err}");
    // A dangling symlink on the way to a new archive.
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), tmp.path().join("dangling")).unwrap();
    let err = refused_to(tmp.path(), &dir, &tmp.path().join("dangling/new"));
    assert!(err.contains("dangling symlink"), "{err}");
    // Without the symlinks, the same archive takes the backup.
    fs::remove_file(archive.join("System Folder/Extensions")).unwrap();
    let out = done(&backup(&dir, &archive, &[]));
    assert!(out.contains("3 files archived"), "{out}");
    assert_eq!(
        fs::read(archive.join("System Folder/Extensions/Mail")).unwrap(),
        b"extension"
    );
}

// 2. Memory and sparse files.

/// Writes `len` bytes of a pattern no block of which is all zeros.
fn write_dense(path: &Path, len: usize) {
    let mut f = fs::File::create(path).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for b in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&(x | 1).to_le_bytes()[..b.len()]);
        }
        let n = left.min(buf.len());
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
}

#[test]
fn a_64_mib_file_is_archived_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    served_tree(&dir);
    write_dense(&dir.join("big"), 64 << 20);
    let archive = tmp.path().join("archive");
    let out = done(&backup(&dir, &archive, &[]));
    assert!(
        out.contains(&format!("archived big ({} bytes)", 64 << 20)),
        "{out}"
    );
    for name in [
        "big",
        DATA,
        "System Folder/Finder",
        "System Folder/Extensions/Mail",
    ] {
        assert_eq!(
            snapshot(&dir.join(name)),
            snapshot(&archive.join(name)),
            "{name}"
        );
    }
    let o = mailsim(&["verify".as_ref(), archive.join(DATA).as_os_str()]);
    assert!(done(&o).contains("generation 3"));
    let left: Vec<_> = fs::read_dir(&archive)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".mailsim"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A 1 GiB file, all hole but a few bytes.
fn sparse_gib(path: &Path) {
    let f = fs::File::create(path).unwrap();
    f.set_len(1 << 30).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"middle", 512 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"end", (1 << 30) - 3).unwrap();
}

#[test]
fn a_sparse_file_stays_sparse_in_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    fs::create_dir(&dir).unwrap();
    sparse_gib(&dir.join("sparse"));
    let archive = tmp.path().join("archive");
    done(&backup(&dir, &archive, &[]));
    let copy = archive.join("sparse");
    let m = fs::metadata(&copy).unwrap();
    assert_eq!(m.len(), 1 << 30);
    assert!(
        m.blocks() * 512 <= 1 << 20,
        "{} bytes allocated for a file of 9 bytes of data",
        m.blocks() * 512
    );
    let f = fs::File::open(&copy).unwrap();
    let at = |offset: u64, len: usize| {
        let mut b = vec![0; len];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut b, offset).unwrap();
        b
    };
    assert_eq!(at(512 << 20, 6), b"middle");
    assert_eq!(at((1 << 30) - 3, 3), b"end");
    assert_eq!(at(12345, 4), [0; 4]);
}

#[test]
fn a_file_larger_than_the_address_space_limit_is_archived() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    served_tree(&dir);
    sparse_gib(&dir.join("sparse"));
    write_dense(&dir.join("dense"), 16 << 20);
    let archive = tmp.path().join("archive");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 500000 && exec \"$0\" backup --dir \"$1\" --to \"$2\"")
        .arg(BIN)
        .arg(&dir)
        .arg(&archive);
    let out = done(&bounded(cmd, SOON));
    assert!(
        out.contains(&format!("archived sparse ({} bytes)", 1u64 << 30)),
        "{out}"
    );
    assert_eq!(fs::metadata(archive.join("sparse")).unwrap().len(), 1 << 30);
    assert_eq!(digest(&archive.join("dense")), digest(&dir.join("dense")));
}

// 3. Numbers.

#[test]
fn numbers_out_of_their_range_are_refused_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    served_tree(&dir);
    let to = tmp.path().join("archive");
    let rl = "respect-locks";
    let wi = "wait-for-idle";
    for (policy, flag, value, says) in [
        (rl, "--retries", "4294967295", "0..=100"),
        (rl, "--retries", "101", "0..=100"),
        (rl, "--retries", "-1", "--retries"),
        (rl, "--retry-interval", "18446744073709s", "1h"),
        (rl, "--retry-interval", "0", "1ms"),
        (rl, "--retry-interval", "0.1ms", "1ms"),
        (wi, "--idle", "0", "1ms"),
        (wi, "--idle", "-1s", "negative"),
        (wi, "--idle", "3601", "1h"),
        (wi, "--timeout", "0", "1ms"),
        (wi, "--timeout", "24.01h", "24h"),
    ] {
        let o = backup(&dir, &to, &["--open-files", policy, flag, value]);
        let err = failed(&o, 2);
        assert!(
            err.contains(flag) && err.contains(says),
            "{flag} {value}: {err}"
        );
        assert!(!to.exists(), "{flag} {value}");
    }
    // Within each range, but too long in all.
    let o = backup(
        &dir,
        &to,
        &[
            "--open-files",
            rl,
            "--retries",
            "100",
            "--retry-interval",
            "1h",
        ],
    );
    let err = failed(&o, 2);
    assert!(err.contains("--retries") && err.contains("24h"), "{err}");
    assert!(!to.exists());
    // The ends of the ranges are taken.
    done(&backup(
        &dir,
        &to,
        &[
            "--open-files",
            rl,
            "--retries",
            "0",
            "--retry-interval",
            "1ms",
        ],
    ));
    let help = text(&mailsim(&["backup", "--help"]).stdout);
    for range in ["0..=100", "1ms..=1h", "1ms..=24h", "24h 0.5s"] {
        assert!(help.contains(range), "{range} not in the help");
    }
}

// 4. Bad paths.

/// Runs `mailsim ARGS` as the user nobody, or `None` where that is not
/// possible.
fn as_nobody(args: &[&OsStr]) -> Option<Output> {
    let mut probe = Command::new("setpriv");
    probe.args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"]);
    if !probe.status().is_ok_and(|s| s.success()) {
        eprintln!("skipping: cannot run as nobody (setpriv)");
        return None;
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args(args);
    Some(bounded(cmd, SOON))
}

#[test]
fn an_archive_that_cannot_be_written_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    served_tree(&dir);
    let file = tmp.path().join("a file");
    fs::write(&file, b"x").unwrap();
    for to in [
        file.clone(),
        file.join("below"),
        PathBuf::from("/proc/self/x"),
        PathBuf::from("/proc/self"),
        tmp.path().join("n".repeat(300)),
        tmp.path().join("new").join("n".repeat(300)),
        tmp.path().join("new/../x"),
    ] {
        refused_to(tmp.path(), &dir, &to);
    }
    // A read-only file system.
    let ro = tempfile::tempdir().unwrap();
    if let Some(_m) = Mount::tmpfs("ro,size=1m", ro.path()) {
        for to in [ro.path().to_path_buf(), ro.path().join("new")] {
            let err = refused_to(tmp.path(), &dir, &to);
            assert!(err.to_lowercase().contains("read-only"), "{err}");
        }
    }
    // Not permitted (EACCES): as nobody, into a folder of root's.
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let locked = tmp.path().join("locked");
    fs::create_dir(&locked).unwrap();
    let args = |to: &Path| {
        vec![
            OsStr::new("backup").to_owned(),
            "--dir".into(),
            dir.clone().into_os_string(),
            "--to".into(),
            to.as_os_str().to_owned(),
        ]
    };
    for to in [locked.clone(), locked.join("sub")] {
        let a = args(&to);
        let a: Vec<&OsStr> = a.iter().map(|s| s.as_os_str()).collect();
        let before = snapshot(tmp.path());
        let Some(o) = as_nobody(&a) else { return };
        let err = failed(&o, 2);
        assert!(err.contains("ermission denied"), "{err}");
        assert_eq!(snapshot(tmp.path()), before);
    }
}

#[test]
fn a_dir_that_is_missing_not_a_directory_or_unreadable_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let to = root.join("archive");
    let fifo = root.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let file = root.join("file");
    fs::write(&file, b"x").unwrap();
    for (dir, says) in [
        (root.join("missing"), "No such file"),
        (file.clone(), "not a directory (a regular file)"),
        (fifo.clone(), "not a directory (a FIFO)"),
        (
            PathBuf::from("/dev/null"),
            "not a directory (a character device)",
        ),
    ] {
        let before = snapshot(root);
        let err = failed(&backup(&dir, &to, &[]), 2);
        assert!(err.contains("--dir") && err.contains(says), "{err}");
        assert_eq!(snapshot(root), before);
    }
    // Unreadable: as nobody, a folder only root may read.
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
    let secret = root.join("secret");
    fs::create_dir(&secret).unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o711)).unwrap();
    let open = root.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let Some(o) = as_nobody(&[
        "backup".as_ref(),
        "--dir".as_ref(),
        secret.as_os_str(),
        "--to".as_ref(),
        open.join("a").as_os_str(),
    ]) else {
        return;
    };
    let err = failed(&o, 2);
    assert!(
        err.contains("--dir") && err.contains("cannot be read"),
        "{err}"
    );
    assert!(!open.join("a").exists());
}

// 5. A full disk.

fn temporaries(root: &Path) -> Vec<PathBuf> {
    snapshot(root)
        .into_keys()
        .filter(|p| p.to_string_lossy().contains(".mailsim"))
        .collect()
}

#[test]
fn a_full_archive_disk_stops_with_disk_full_and_leaves_nothing_half_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("a small"), vec![7u8; 10_000]).unwrap();
    write_dense(&dir.join("b big"), 3 << 20);
    fs::write(dir.join("c after"), b"never reached").unwrap();
    let small = tempfile::tempdir().unwrap();
    let Some(_m) = Mount::tmpfs("size=2m", small.path()) else {
        return;
    };
    let archive = small.path().join("archive");
    let err = failed(&backup(&dir, &archive, &[]), 1);
    assert!(err.contains("disk full"), "{err}");
    assert!(err.contains("b big"), "{err}");
    assert_eq!(temporaries(small.path()), Vec::<PathBuf>::new());
    assert_eq!(
        fs::read(archive.join("a small")).unwrap(),
        vec![7u8; 10_000]
    );
    assert!(!archive.join("b big").exists(), "no half-written file");
    assert!(!archive.join("c after").exists());

    // One file larger than the whole disk: the same, and the disk is
    // left as empty as it was.
    fs::remove_dir_all(&archive).unwrap();
    let only = tmp.path().join("only");
    fs::create_dir(&only).unwrap();
    write_dense(&only.join("huge"), 4 << 20);
    let err = failed(&backup(&only, &archive, &[]), 1);
    assert!(err.contains("disk full"), "{err}");
    assert_eq!(snapshot(&archive).len(), 1, "only the archive folder");
}

// 6. Special files under DIR.

#[test]
fn a_fifo_or_socket_under_the_served_dir_is_skipped_without_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    served_tree(&dir);
    let folder = dir.join("System Folder");
    assert!(
        Command::new("mkfifo")
            .arg(folder.join("pipe"))
            .status()
            .unwrap()
            .success()
    );
    let _socket = std::os::unix::net::UnixListener::bind(folder.join("socket")).unwrap();
    // A device too, where root may make one.
    let device = Command::new("mknod")
        .arg(folder.join("zero"))
        .args(["c", "1", "5"])
        .status()
        .is_ok_and(|s| s.success());
    if !device {
        eprintln!("no device node: mknod not permitted");
    }
    for policy in ["ignore-locks", "respect-locks", "wait-for-idle"] {
        let mut extra = vec!["--open-files", policy];
        if policy == "wait-for-idle" {
            extra.extend(["--idle", "1ms"]);
        }
        let archive = tmp.path().join(policy);
        let started = Instant::now();
        let out = done(&backup(&dir, &archive, &extra));
        assert!(started.elapsed() < Duration::from_secs(10), "{policy}");
        assert!(out.contains("3 files archived"), "{policy}: {out}");
        for special in ["pipe", "socket", "zero"] {
            assert!(!out.contains(special), "{policy}: {out}");
            assert!(!archive.join("System Folder").join(special).exists());
        }
    }
}
