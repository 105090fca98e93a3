//! The history's cost to a server on disk: a `MailServer` on an
//! `OsVolume` in a temporary directory committing as `mailsim serve` does
//! (each commit synced), with and without a [`HistoryWriter`] recording
//! every commit (`commit_from`: the touched pages read back, digested and
//! appended; synced in the background every 50 ms).
//!
//! Two groups, `deliver` (deliveries only) and `mixed` (deliveries, reads
//! and deletions in turn, compacting when the server asks), each `bare`
//! against `history`: the ratio bare/history is the share of the commit
//! rate the history leaves (target ≥ 0.9).
//!
//! `cargo bench --bench history -- --warm-up-time 1 --measurement-time 5`

use std::fs::File;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mailsim::MailServer;
use mailsim::datafile;
use mailsim::history::{self, HistoryWriter};
use mailsim::server::Commit;
use mailsim::volume::{OsVolume, VolumePath};

struct Fixture {
    _dir: tempfile::TempDir,
    hd: OsVolume,
    server: MailServer,
    file: File,
    history: Option<HistoryWriter>,
    step: u64,
}

fn fixture(with_history: bool) -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("Microsoft Mail Data"),
        datafile::build_image(0, []),
    )
    .expect("the data file is written");
    let hd = OsVolume::open_dir("Server HD", dir.path()).expect("the directory exists");
    let server = MailServer::start(&hd, VolumePath::new("Server HD", ["Microsoft Mail Data"]))
        .expect("the server starts");
    let file = hd
        .try_clone_file(server.handle().expect("it holds its file"))
        .expect("the handle clones");
    let history = with_history.then(|| {
        HistoryWriter::open(
            &dir.path().join(history::HISTORY_NAME),
            &file,
            server.generation(),
            history::DEFAULT_LIMIT_BYTES,
        )
        .expect("the history opens")
    });
    Fixture {
        _dir: dir,
        hd,
        server,
        file,
        history,
        step: 0,
    }
}

impl Fixture {
    fn record(&mut self, c: Option<Commit>) {
        if let (Some(c), Some(h)) = (c, self.history.as_mut()) {
            h.commit_from(&c, &self.file).expect("the history records");
        }
    }

    fn deliver(&mut self) {
        let c = self.server.deliver(&self.hd, 2000).expect("delivered");
        self.record(Some(c));
    }

    fn mixed(&mut self) {
        self.step += 1;
        let pick = (self.step * 2_654_435_761) as u32;
        let c = match self.step % 3 {
            0 => Some(self.server.deliver(&self.hd, 2000).expect("delivered")),
            1 => self.server.mark_read(&self.hd, pick).expect("marked"),
            _ if self.server.message_count() > 8 => {
                self.server.delete(&self.hd, pick).expect("deleted")
            }
            _ => Some(self.server.deliver(&self.hd, 2000).expect("delivered")),
        };
        self.record(c);
        if self.server.needs_compaction() {
            let c = self.server.compact(&self.hd).expect("compacted");
            self.record(Some(c));
        }
    }
}

fn bench(c: &mut Criterion) {
    for (group, op) in [
        ("deliver", Fixture::deliver as fn(&mut Fixture)),
        ("mixed", Fixture::mixed),
    ] {
        let mut g = c.benchmark_group(group);
        for with in [false, true] {
            let name = if with { "history" } else { "bare" };
            g.bench_function(name, |b| {
                let mut f = fixture(with);
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        op(&mut f);
                    }
                    start.elapsed()
                });
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
