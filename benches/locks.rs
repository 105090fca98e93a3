//! Locks: the data file's exclusive lock taken and released through mailsim,
//! against a bare `std::fs::File::lock` / `unlock` pair on an open file.
//!
//! Two questions, two groups:
//!
//! - `lock_step`: the lock alone, on a file already open. mailsim's
//!   [`lock::try_lock_exclusive`] + [`lock::unlock`] (fs2, `flock(LOCK_EX |
//!   LOCK_NB)`: the call `OsVolume::open` makes, so the server's lock step)
//!   against std's `File::lock` + `unlock` (the baseline) and std's
//!   `File::try_lock` + `unlock` (the same syscalls as mailsim's).
//! - `server_open`: the whole path the server takes to hold and release its
//!   file, [`OsVolume::open`] (`ReadWrite`, [`Deny::WRITE`]) + `close`,
//!   against the bare equivalent — `open(2)`, `File::lock`, `unlock`,
//!   `close(2)`. The parts mailsim adds are timed alone so the gap can be
//!   read off: the path checks (`real_path`), the `/proc/locks` probe
//!   (`proc_locks::holders`) and the inotify watch (`OpenWatch::new`, and
//!   its drop, which `close` pays); open and close are also timed apart.
//!
//! `cargo bench --bench locks`; the ratios are what BENCHMARKS.md quotes.

use std::fs::File;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mailsim::real::{OpenWatch, lock, proc_locks};
use mailsim::volume::{Access, Content, Deny, OsVolume, Owner, Volume, VolumePath};

struct Fixture {
    // Held for its Drop: removes the directory.
    _dir: tempfile::TempDir,
    volume: OsVolume,
    path: VolumePath,
    real: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let volume = OsVolume::open_dir("Server HD", dir.path()).expect("the directory exists");
    let folder = VolumePath::new("Server HD", ["System Folder", "Extensions"]);
    volume.create_folder(&folder).expect("a fresh directory");
    let path = folder.join("Microsoft Mail Data");
    volume
        .put_file(&path, Content::from_bytes(&[0; 64 * 1024]))
        .expect("room for 64 KiB");
    let real = volume.real_path(&path).expect("inside the volume");
    Fixture {
        _dir: dir,
        volume,
        path,
        real,
    }
}

fn lock_step(c: &mut Criterion) {
    let fx = fixture();
    let file = File::options()
        .read(true)
        .write(true)
        .open(&fx.real)
        .expect("the data file opens");
    let mut g = c.benchmark_group("lock_step");
    g.bench_function("std_lock_unlock", |b| {
        b.iter(|| {
            file.lock().expect("nobody else holds it");
            file.unlock().expect("unlock");
        })
    });
    g.bench_function("std_try_lock_unlock", |b| {
        b.iter(|| {
            file.try_lock().expect("nobody else holds it");
            file.unlock().expect("unlock");
        })
    });
    g.bench_function("mailsim_try_lock_exclusive_unlock", |b| {
        b.iter(|| {
            assert!(lock::try_lock_exclusive(&file).expect("flock"));
            lock::unlock(&file).expect("unlock");
        })
    });
    g.finish();
}

fn server_open(c: &mut Criterion) {
    let fx = fixture();
    let owner = Owner::new(mailsim::MailServer::OWNER);
    let mut g = c.benchmark_group("server_open");
    g.bench_function("std_open_lock_unlock_close", |b| {
        b.iter(|| {
            let f = File::options()
                .read(true)
                .write(true)
                .open(&fx.real)
                .expect("the data file opens");
            f.lock().expect("nobody else holds it");
            f.unlock().expect("unlock");
            drop(f);
        })
    });
    g.bench_function("mailsim_osvolume_open_close", |b| {
        b.iter(|| {
            let h = fx
                .volume
                .open(&fx.path, &owner, Access::ReadWrite, Deny::WRITE)
                .expect("nobody else holds it");
            fx.volume.close(h).expect("close");
        })
    });
    // The same pair, each half timed alone (the other half runs untimed).
    g.bench_function("mailsim_osvolume_open_only", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let h = fx
                    .volume
                    .open(&fx.path, &owner, Access::ReadWrite, Deny::WRITE)
                    .expect("nobody else holds it");
                spent += t.elapsed();
                fx.volume.close(h).expect("close");
            }
            spent
        })
    });
    g.bench_function("mailsim_osvolume_close_only", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let h = fx
                    .volume
                    .open(&fx.path, &owner, Access::ReadWrite, Deny::WRITE)
                    .expect("nobody else holds it");
                let t = Instant::now();
                fx.volume.close(h).expect("close");
                spent += t.elapsed();
            }
            spent
        })
    });
    // The parts of OsVolume::open that the bare path does not have.
    g.bench_function("part_real_path", |b| {
        b.iter(|| black_box(fx.volume.real_path(&fx.path).expect("inside")))
    });
    g.bench_function("part_proc_locks_holders", |b| {
        b.iter(|| black_box(proc_locks::holders(&fx.real).expect("/proc/locks")))
    });
    g.bench_function("part_open_watch_new", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let w = OpenWatch::new(&fx.real).expect("inotify");
                spent += t.elapsed();
                drop(w);
            }
            spent
        })
    });
    g.bench_function("part_open_watch_drop", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let w = OpenWatch::new(&fx.real).expect("inotify");
                let t = Instant::now();
                drop(w);
                spent += t.elapsed();
            }
            spent
        })
    });
    g.finish();
}

criterion_group!(benches, lock_step, server_open);
criterion_main!(benches);
