//! How soon the opener of a watched file is named: from the moment a child
//! process is told to open the file to the moment its name is available —
//! through fanotify's event (`OpenWatch::drain_openers` with fanotify),
//! through the `/proc/PID/fd` scan (`OpenWatch::without_fanotify`), and,
//! as the baseline, the bare inotify event that only says an open happened
//! (`OpenWatch::opens` growing). All three include the same pipe round to
//! the child, so the figures compare as ratios.
//!
//! The child is `sh`, opening the file with `exec 3<F` when told and closing
//! it again before the next round. fanotify needs root (`CAP_SYS_ADMIN`);
//! without it that case is left out, with a message.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mailsim::real::{NamedBy, OpenWatch};

/// Longest a round may wait for a name: a bench never hangs.
const BOUND: Duration = Duration::from_secs(5);

struct Opener {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Opener {
    fn spawn(path: &Path) -> Opener {
        let mut child = Command::new("sh")
            .args([
                "-c",
                r#"while read c; do
                     if [ "$c" = o ]; then exec 3<"$1"; else exec 3<&-; echo closed; fi
                   done"#,
                "sh",
            ])
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh runs");
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Opener {
            child,
            stdin,
            stdout,
        }
    }

    fn open(&mut self) {
        self.stdin.write_all(b"o\n").expect("the child reads");
    }

    fn close(&mut self) {
        self.stdin.write_all(b"c\n").expect("the child reads");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("the child answers");
    }
}

impl Drop for Opener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a round waits for.
#[derive(Clone, Copy)]
enum Until {
    /// inotify's count of opens grows.
    Counted,
    /// `drain_openers` names the child.
    Named,
}

/// Times `rounds` of: tell the child to open, spin until it is seen.
fn rounds(rounds: u64, opener: &mut Opener, watch: &mut OpenWatch, until: Until) -> Duration {
    let pid = opener.child.id();
    let mut total = Duration::ZERO;
    for _ in 0..rounds {
        let base = watch.opens().expect("drains");
        let start = Instant::now();
        opener.open();
        loop {
            let seen = match until {
                Until::Counted => watch.opens().expect("drains") > base,
                Until::Named => watch
                    .drain_openers()
                    .expect("names")
                    .iter()
                    .any(|o| o.pid == pid),
            };
            if seen {
                break;
            }
            assert!(start.elapsed() < BOUND, "not seen within {BOUND:?}");
            std::hint::spin_loop();
        }
        total += start.elapsed();
        opener.close();
        // What is left of this round is not the next one's (no scan: it
        // would only cool the caches before the next round).
        if watch.names_by() == NamedBy::Fanotify {
            let _ = watch.drain_openers();
        }
        let _ = watch.opens();
    }
    total
}

fn naming(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("Microsoft Mail Data");
    std::fs::write(&path, b"mail").expect("written");
    let mut opener = Opener::spawn(&path);
    let mut g = c.benchmark_group("naming");
    g.measurement_time(Duration::from_secs(3));

    let mut bare = OpenWatch::without_fanotify(&path).expect("a watch");
    g.bench_function("inotify_event_baseline", |b| {
        b.iter_custom(|n| rounds(n, &mut opener, &mut bare, Until::Counted))
    });
    g.bench_function("proc_scan", |b| {
        b.iter_custom(|n| rounds(n, &mut opener, &mut bare, Until::Named))
    });
    drop(bare);

    let mut fan = OpenWatch::new(&path).expect("a watch");
    if fan.names_by() == NamedBy::Fanotify {
        g.bench_function("fanotify", |b| {
            b.iter_custom(|n| rounds(n, &mut opener, &mut fan, Until::Named))
        });
    } else {
        eprintln!("naming/fanotify left out: fanotify is not permitted here (needs CAP_SYS_ADMIN)");
    }
    drop(fan);

    g.finish();
    drop(opener);
}

criterion_group!(benches, naming);
criterion_main!(benches);
