//! Copy-aside on disk: a 64 MiB and a 256 MiB data file copied into the
//! rotation by [`RotationWriter::write_from`], against `std::fs::copy` of the
//! same file.
//!
//! The sync is included on both sides: `write_from` syncs the copy
//! (`sync_all`) before renaming it into place and then syncs the folder; the
//! baseline is `std::fs::copy` followed by `sync_all` of the copy (no rename,
//! no folder sync — those are the rotation's extra work, and are counted
//! against it). Both copy with `copy_file_range` on Linux. The source is in
//! the page cache on both sides (it was just written, and each side reads it
//! many times); what is measured is the write and the sync.
//!
//! Throughput is the source's length per iteration. Each iteration replaces
//! a copy of the same size (the rotation keeps 3, so its oldest is freed by a
//! rename; the baseline's `O_TRUNC` frees the previous copy).
//!
//! `cargo bench --bench copy_aside`. The temporary directory is made where
//! `tempfile` puts it (`$TMPDIR`, else `/tmp`) and removed at the end.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use mailsim::datafile::{self, RecordFlags};
use mailsim::real::RotationWriter;

const MIB: u64 = 1 << 20;

/// A valid data file of about `len_bytes` (64 KiB messages), written and synced.
fn write_data_file(path: &Path, len_bytes: u64) {
    let payload = 64 * 1024 - 64;
    let n = len_bytes / datafile::record_len(payload);
    let image = datafile::build_image(1, (1..=n).map(|id| (id, RecordFlags::default(), payload)));
    let mut f = File::create(path).expect("the source can be created");
    f.write_all(&image).expect("room for the source");
    f.sync_all().expect("sync");
}

fn copy_aside(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rotation_dir = dir.path().join("Backup Drive");
    let std_dir = dir.path().join("std");
    std::fs::create_dir(&rotation_dir).expect("fresh");
    std::fs::create_dir(&std_dir).expect("fresh");

    let mut g = c.benchmark_group("copy_aside");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    for mib in [64, 256] {
        let src = dir.path().join(format!("Microsoft Mail Data {mib}"));
        write_data_file(&src, mib * MIB);
        let len = std::fs::metadata(&src).expect("written").len();
        g.throughput(Throughput::Bytes(len));

        let writer =
            RotationWriter::new(&rotation_dir, "Mail Data Backup", 3).expect("a valid name");
        let mut src_file = File::open(&src).expect("the source opens");
        g.bench_function(
            BenchmarkId::new("rotation_write_from_synced", format!("{mib}MiB")),
            |b| {
                b.iter(|| {
                    let out = writer.write_from(&mut src_file).expect("room for a copy");
                    assert_eq!(out.copied_bytes, len);
                })
            },
        );

        let dst = std_dir.join("copy");
        g.bench_function(
            BenchmarkId::new("std_fs_copy_sync_all", format!("{mib}MiB")),
            |b| {
                b.iter(|| {
                    let n = std::fs::copy(&src, &dst).expect("room for a copy");
                    assert_eq!(n, len);
                    File::options()
                        .write(true)
                        .open(&dst)
                        .and_then(|f| f.sync_all())
                        .expect("sync");
                })
            },
        );
        // Free the space before the next size.
        for n in 1..=3 {
            let _ = std::fs::remove_file(writer.path_of(n));
        }
        let _ = std::fs::remove_file(&dst);
        let _ = std::fs::remove_file(&src);
    }
    g.finish();
}

criterion_group!(benches, copy_aside);
criterion_main!(benches);
