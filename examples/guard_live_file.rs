//! For embedders: a server that must survive being backed up holds its live
//! file with a [`LiveFileGuard`] — an exclusive lock, and a watch that tells
//! it when some lock-unaware program opens the file anyway — and keeps
//! crash-safe copies of it aside with a [`RotationWriter`] and snapshots with
//! [`LiveFileGuard::snapshot_to`], read through its own descriptor so that
//! its own copies are no foreign opens.
//!
//! Run with `cargo run --example guard_live_file`. It works in a temporary
//! directory, takes well under a second, and never waits without a bound.

use std::error::Error;
use std::io::Read;
use std::time::{Duration, Instant};

use mailsim::datafile::{self, RecordFlags};
use mailsim::real::{LiveFileGuard, OpenWatch, OwnSnapshot, RotationWriter, proc_locks};

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let live = dir.path().join("Microsoft Mail Data");
    let rotation_dir = dir.path().join("Backup Drive");
    std::fs::create_dir(&rotation_dir)?;

    // 1. The server creates its data file (three messages, generation 3),
    //    then guards it: opened read/write under an exclusive lock, watched.
    let image = datafile::build_image(
        3,
        [
            (1, RecordFlags::empty(), 500),
            (2, RecordFlags::READ, 800),
            (3, RecordFlags::empty(), 1200),
        ],
    );
    std::fs::write(&live, &image)?;
    let mut guard = LiveFileGuard::acquire(&live)?;
    println!("server: holds {} exclusively", live.display());

    // 2. What a lock-aware program sees, without opening the file (which the
    //    guard would notice): who holds it. A second guard is refused.
    match proc_locks::holder(&live)? {
        Some(h) => println!("lock-aware backup: the file is busy, held by {h}: skipping it"),
        None => println!("lock-aware backup: this system cannot tell who holds the file"),
    }
    match LiveFileGuard::acquire(&live) {
        Err(e) => println!("second server: refused: {e}"),
        Ok(_) => println!("second server: got the file (no locks on this system?)"),
    }

    // 3. A lock-unaware reader simply opens it: flock is advisory.
    let path = live.clone();
    let reader = std::thread::spawn(move || -> std::io::Result<(Instant, usize)> {
        std::thread::sleep(Duration::from_millis(20));
        let opened_at = Instant::now();
        let mut header = [0u8; 64];
        std::fs::File::open(&path)?.read_exact(&mut header)?;
        Ok((opened_at, header.len()))
    });
    let seen = guard.wait_for_foreign_open(Duration::from_millis(500))?;
    let noticed_at = Instant::now();
    let (opened_at, read) = reader.join().map_err(|_| "the reader panicked")??;
    println!("lock-unaware backup: opened the file and read {read} bytes of it");
    if seen {
        println!(
            "server: noticed the foreign open {:?} after it happened: time to shut down (or \
             keep going, at the risk of a torn copy)",
            noticed_at.saturating_duration_since(opened_at)
        );
    } else if !OpenWatch::is_supported() {
        println!("server: foreign opens cannot be seen on this system");
    } else {
        println!("server: no foreign open seen within 500 ms");
    }

    // 4. The server copies its own file aside, as MS Mail Backup did:
    //    through a duplicate of the held descriptor (no open, so not a
    //    foreign access), to a temporary name, synced, renamed into the
    //    rotation. A crash never leaves a half-written "#1".
    let rotation = RotationWriter::new(&rotation_dir, "Mail Data Backup", 3)?;
    for _ in 0..2 {
        let mut own = guard.file().try_clone()?;
        let copy = rotation.write_from(&mut own)?;
        let v = datafile::verify(&std::fs::read(&copy.path)?)?;
        println!(
            "server: copied aside {} ({} bytes): generation {}, {} messages",
            copy.path.display(),
            copy.copied_bytes,
            v.generation,
            v.message_count
        );
    }
    // A point-in-time snapshot beside it: a copy-on-write clone through the
    // held descriptor, or a copy through it where the file system cannot
    // clone (ext4). Not an open either.
    let snapshot = dir.path().join("Mail Data Snapshot");
    match guard.snapshot_to(&snapshot)? {
        OwnSnapshot::Cloned => println!("server: cloned its file to {}", snapshot.display()),
        OwnSnapshot::Copied { bytes, reason } => println!(
            "server: copied its file to {} ({bytes} bytes; no clone here: {reason})",
            snapshot.display()
        ),
        other => println!("server: snapshot {}: {other:?}", snapshot.display()),
    }
    println!(
        "server: foreign opens so far: {} (its own copies are not counted)",
        guard.foreign_opens()?
    );

    // 5. Its own reads go through the held handle too.
    let own = guard.read_own_copy()?;
    let v = datafile::verify(&own)?;
    println!(
        "server: its file is consistent: generation {}, {} messages",
        v.generation, v.message_count
    );

    drop(guard);
    println!(
        "server: released the file; holder now: {}",
        proc_locks::holder(&live)?.map_or_else(|| "nobody".to_owned(), |h| h.to_string())
    );
    Ok(())
}
