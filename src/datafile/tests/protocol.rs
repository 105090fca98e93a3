//! The commit protocol as a server runs it, against a reference model of
//! what the file holds: every transaction, crashed at any sync under the
//! crash model of the format's documentation, leaves the state before it or
//! the state after it; and the bit flips and splices a copy may suffer are
//! caught where they matter.
//!
//! What does not live here: the checks of single images, in the modules
//! whose code they test.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{D, E, Paged, R, header_of, messages};
use crate::datafile::header::read_slot;
use crate::datafile::{
    FLAGS_OFFSET, HEADER_BYTES, Header, PendingFlags, RecordFlags, RecordInfo, SLOT_BYTES,
    SLOT_OFFSETS, Verified, VerifyError, build_image, encode_record, flag_bytes, record_len, scan,
    synthetic_payload, verify, verify_from,
};

// ---- The commit protocol, as a server runs it, and a reference model ----

/// One transaction. Picks choose among the live records, in file order,
/// modulo their number; with no live record a pick is no transaction.
#[derive(Clone, Copy, Debug)]
enum Op {
    Deliver(u32),
    Read(usize),
    Delete(usize),
    Compact,
}

/// The writes between two syncs; a transaction is a list of them, each
/// ended by a sync.
type Interval = Vec<(u64, Vec<u8>)>;

fn header_write(h: &Header) -> (u64, Vec<u8>) {
    (h.slot_offset(), h.encode().to_vec())
}

/// The server's side of the protocol: what it knows of the file.
struct Writer {
    header: Header,
    records: Vec<RecordInfo>,
}

impl Writer {
    /// Opens the file as the server does: scan, then the recovery writes
    /// (redo the pending flag update) to run before any header commit.
    fn open(image: &[u8]) -> (Writer, Vec<Interval>) {
        let (header, records) = scan(image).expect("the writer opens a valid file");
        let recovery = header
            .pending
            .map(|p| {
                vec![vec![(
                    p.offset + FLAGS_OFFSET,
                    flag_bytes(p.flags).to_vec(),
                )]]
            })
            .unwrap_or_default();
        (Writer { header, records }, recovery)
    }

    /// The writes of `op` against `image` (the file, all synced), or
    /// `None` when there is nothing to do. Updates the writer as if the
    /// transaction committed.
    fn plan(&mut self, op: Op, image: &[u8]) -> Option<Vec<Interval>> {
        let mut h = Header {
            generation: self.header.generation + 1,
            pending: None,
            ..self.header
        };
        let live: Vec<usize> = (0..self.records.len())
            .filter(|&i| !self.records[i].flags.contains(D))
            .collect();
        let intervals = match op {
            Op::Deliver(len) => {
                let id = h.next_message_id;
                let mut payload = Vec::new();
                synthetic_payload(id, len, &mut payload);
                let mut rec = Vec::new();
                encode_record(id, E, &payload, &mut rec);
                let offset = h.committed_len;
                let n = rec.len() as u64;
                h.committed_len += n;
                h.message_count += 1;
                h.next_message_id += 1;
                self.records.push(RecordInfo {
                    offset,
                    message_id: id,
                    flags: E,
                    payload_len: len,
                    record_len: n,
                });
                vec![vec![(offset, rec)], vec![header_write(&h)]]
            }
            Op::Read(pick) | Op::Delete(pick) => {
                if live.is_empty() {
                    return None;
                }
                let flag = if matches!(op, Op::Read(_)) { R } else { D };
                let r = &mut self.records[live[pick % live.len()]];
                r.flags = r.flags.with(flag);
                if flag == D {
                    h.message_count -= 1;
                    h.dead_bytes += r.record_len;
                }
                h.pending = Some(PendingFlags {
                    offset: r.offset,
                    flags: r.flags,
                });
                let flag_write = (r.offset + FLAGS_OFFSET, flag_bytes(r.flags).to_vec());
                vec![vec![header_write(&h)], vec![flag_write]]
            }
            Op::Compact => {
                let n: u64 = live.iter().map(|&i| self.records[i].record_len).sum();
                let start = self.header.compaction_start(n);
                let mut out = Vec::new();
                let mut kept = Vec::new();
                for &i in &live {
                    let r = self.records[i];
                    let at = out.len();
                    out.extend_from_slice(
                        &image[r.offset as usize..(r.offset + r.record_len) as usize],
                    );
                    out[at + 2..at + 4].copy_from_slice(&flag_bytes(r.flags));
                    kept.push(RecordInfo {
                        offset: start + at as u64,
                        ..r
                    });
                }
                h.records_start = start;
                h.committed_len = start + n;
                h.dead_bytes = 0;
                self.records = kept;
                vec![vec![(start, out)], vec![header_write(&h)]]
            }
        };
        self.header = h;
        Some(intervals)
    }
}

/// A positioned write; a write past the end extends the file (a hole
/// reads as zeros).
fn write_at(image: &mut Vec<u8>, at: u64, bytes: &[u8]) {
    let at = at as usize;
    let end = at + bytes.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[at..end].copy_from_slice(bytes);
}

fn run_all(image: &mut Vec<u8>, intervals: &[Interval]) {
    for (at, bytes) in intervals.iter().flatten() {
        write_at(image, *at, bytes);
    }
}

/// What a crash does to the part of an unsynced write that falls in one
/// sector. This is the crash model of SQLite's crash-test file system
/// (`test6.c`), with powersafe overwrite: each sector's part of a write
/// is written, not written, or replaced by garbage, and no byte outside
/// the unsynced writes changes. Writes are atomic at no larger grain
/// than a sector, so one write may land torn. (Below a sector the format
/// is not safe: see `sub_sector_garbage_can_resurrect_an_aborted_header`.)
#[derive(Clone, Copy, Debug)]
enum Fate {
    Kept,
    Dropped,
    Garbage,
}

/// A crash at the sync that ends interval `at` (modulo the transaction's
/// intervals). The sector-sized pieces of that interval's writes meet
/// `fates` in turn (cycling), garbage drawn from `seed`. With `again`,
/// the recovery that follows crashes the same way.
#[derive(Clone, Debug)]
struct Crash {
    at: usize,
    sector: u64,
    fates: Vec<Fate>,
    seed: u64,
    again: bool,
}

/// Pseudo-random bytes (splitmix64).
fn garbage(mut seed: u64, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Runs a transaction that crashes: the intervals before the crash are
/// synced, the writes of the interrupted one meet their fates, sector
/// piece by sector piece.
fn crash_in(image: &mut Vec<u8>, intervals: &[Interval], crash: &Crash) {
    let k = crash.at % intervals.len();
    run_all(image, &intervals[..k]);
    let mut piece = 0usize;
    for (at, bytes) in &intervals[k] {
        let end = at + bytes.len() as u64;
        let mut pos = *at;
        while pos < end {
            let next = ((pos / crash.sector + 1) * crash.sector).min(end);
            let part = &bytes[(pos - at) as usize..(next - at) as usize];
            match crash.fates[piece % crash.fates.len()] {
                Fate::Kept => write_at(image, pos, part),
                Fate::Dropped => {}
                Fate::Garbage => write_at(
                    image,
                    pos,
                    &garbage(crash.seed ^ pos.rotate_left(32), part.len()),
                ),
            }
            piece += 1;
            pos = next;
        }
    }
}

/// The reference model: what the file holds between transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    generation: u64,
    next_id: u64,
    messages: Vec<(u64, RecordFlags, u32)>,
}

impl State {
    fn initial(generation: u64, messages: &[(u64, RecordFlags, u32)]) -> State {
        State {
            generation,
            next_id: messages.last().map_or(1, |m| m.0 + 1),
            messages: messages.to_vec(),
        }
    }

    /// The state after `op` commits; `None` when `op` is no transaction.
    fn after(&self, op: Op) -> Option<State> {
        let mut s = self.clone();
        s.generation += 1;
        match op {
            Op::Deliver(len) => {
                s.messages.push((s.next_id, E, len));
                s.next_id += 1;
            }
            Op::Read(pick) | Op::Delete(pick) => {
                let live: Vec<usize> = (0..s.messages.len())
                    .filter(|&i| !s.messages[i].1.contains(D))
                    .collect();
                if live.is_empty() {
                    return None;
                }
                let flag = if matches!(op, Op::Read(_)) { R } else { D };
                let m = &mut s.messages[live[pick % live.len()]];
                m.1 = m.1.with(flag);
            }
            Op::Compact => s.messages.retain(|m| !m.1.contains(D)),
        }
        Some(s)
    }

    /// The state a file holds, checked by verify, verify_from and scan.
    fn of(image: &[u8]) -> Result<State, TestCaseError> {
        let verified =
            verify(image).map_err(|e| TestCaseError::fail(format!("verify fails: {e}")))?;
        prop_assert_eq!(verify_from(&Paged::new(image)), Ok(verified));
        let (header, records) =
            scan(image).map_err(|e| TestCaseError::fail(format!("scan fails: {e}")))?;
        prop_assert_eq!(scan(&Paged::new(image)), Ok((header, records.clone())));
        prop_assert_eq!(header.generation, verified.generation);
        Ok(State {
            generation: header.generation,
            next_id: header.next_message_id,
            messages: records
                .iter()
                .map(|r| (r.message_id, r.flags, r.payload_len))
                .collect(),
        })
    }
}

/// Runs `ops` on `image` through the protocol, crashing where told, and
/// checks after every transaction that the file holds the state before or
/// after it (after, when it did not crash). Returns the final state.
fn run_ops(
    image: &mut Vec<u8>,
    mut state: State,
    ops: &[(Op, Option<Crash>)],
) -> Result<State, TestCaseError> {
    let (mut w, recovery) = Writer::open(image);
    prop_assert!(recovery.is_empty());
    prop_assert_eq!(&State::of(image)?, &state);
    for (op, crash) in ops {
        let after = state.after(*op);
        let planned = w.plan(*op, image);
        prop_assert_eq!(after.is_some(), planned.is_some());
        let (Some(after), Some(intervals)) = (after, planned) else {
            continue;
        };
        let Some(crash) = crash else {
            run_all(image, &intervals);
            state = after;
            prop_assert_eq!(&State::of(image)?, &state, "after {:?}", op);
            continue;
        };
        crash_in(image, &intervals, crash);
        let got = State::of(image)?;
        prop_assert!(
            got == state || got == after,
            "crash in {:?} ({:?}) left {:?}, neither {:?} nor {:?}",
            op,
            crash,
            got,
            state,
            after
        );
        state = got;
        // The server restarts: it opens the file and redoes a pending
        // flag update (and may crash doing so).
        let (_, recovery) = Writer::open(image);
        if crash.again && !recovery.is_empty() {
            crash_in(image, &recovery, crash);
            prop_assert_eq!(&State::of(image)?, &state, "recovery crashed");
        }
        let (reopened, recovery) = Writer::open(image);
        run_all(image, &recovery);
        prop_assert_eq!(&State::of(image)?, &state, "after recovery");
        w = reopened;
    }
    Ok(state)
}

/// Runs `op` to completion.
fn commit(w: &mut Writer, image: &mut Vec<u8>, op: Op) {
    let intervals = w.plan(op, image).expect("a transaction");
    run_all(image, &intervals);
}

fn run_clean(image: &mut Vec<u8>, ops: &[Op]) {
    let (mut w, recovery) = Writer::open(image);
    run_all(image, &recovery);
    for &op in ops {
        if let Some(intervals) = w.plan(op, image) {
            run_all(image, &intervals);
        }
    }
}

fn slot(image: &[u8], index: usize) -> &[u8] {
    let at = SLOT_OFFSETS[index] as usize;
    &image[at..at + SLOT_BYTES]
}

#[test]
fn delivery_through_the_protocol() {
    let mut image = build_image(4, [(1, E, 10)]);
    let (mut w, _) = Writer::open(&image);
    let intervals = w.plan(Op::Deliver(99), &image).unwrap();
    // The record at the old committed_len, then the header in slot B.
    assert_eq!(intervals[0][0].0, image.len() as u64);
    assert_eq!(intervals[1][0].0, 512);
    run_all(&mut image, &intervals[..1]);
    assert_eq!(verify(&image).unwrap().generation, 4);
    run_all(&mut image, &intervals[1..]);
    assert_eq!(
        verify(&image),
        Ok(Verified {
            generation: 5,
            message_count: 2
        })
    );
    // Both slots are valid now.
    assert_eq!(Header::decode(slot(&image, 0)).unwrap().generation, 4);
    assert_eq!(Header::decode(slot(&image, 1)).unwrap().generation, 5);
}

#[test]
fn compaction_writes_a_fresh_region() {
    let msgs = [(1, D, 100), (2, E, 50), (3, D, 10), (4, R, 20)];
    let mut image = build_image(0, msgs);
    let old_len = image.len() as u64;
    let (mut w, _) = Writer::open(&image);
    assert_eq!(w.header.compaction_start(0), HEADER_BYTES);
    assert_eq!(w.header.compaction_start(1), old_len);

    // Records start at the header page: the live ones go past the end.
    let intervals = w.plan(Op::Compact, &image).unwrap();
    assert_eq!(intervals[0][0].0, old_len);
    run_all(&mut image, &intervals[..1]);
    assert_eq!(
        State::of(&image).unwrap(),
        State::initial(0, &msgs),
        "compacted records not yet committed"
    );
    run_all(&mut image, &intervals[1..]);
    let h = header_of(&image);
    assert_eq!(h.records_start, old_len);
    assert_eq!(h.committed_len, image.len() as u64);
    assert_eq!(h.dead_bytes, 0);
    let want = State {
        generation: 1,
        next_id: 5,
        messages: vec![(2, E, 50), (4, R, 20)],
    };
    assert_eq!(State::of(&image).unwrap(), want);

    // Now they fit before records_start: back to the header page.
    let intervals = w.plan(Op::Compact, &image).unwrap();
    assert_eq!(intervals[0][0].0, HEADER_BYTES);
    run_all(&mut image, &intervals);
    let h = header_of(&image);
    assert_eq!(h.records_start, HEADER_BYTES);
    assert_eq!(
        h.committed_len,
        HEADER_BYTES + record_len(50) + record_len(20)
    );
    assert_eq!(
        State::of(&image).unwrap(),
        State {
            generation: 2,
            ..want
        }
    );
    // Bytes past committed_len are no part of the state: the file may be
    // truncated, and deliveries overwrite them.
    let mut cut = image.clone();
    cut.truncate(h.committed_len as usize);
    assert_eq!(verify(&cut), verify(&image));
    commit(&mut w, &mut image, Op::Deliver(500));
    assert_eq!(verify(&image).unwrap().message_count, 3);
}

#[test]
fn the_other_slot_is_a_fallback_not_a_backup() {
    let mut image = build_image(4, [(1, E, 40), (2, E, 40)]);
    let (mut w, _) = Writer::open(&image);
    commit(&mut w, &mut image, Op::Deliver(10));
    // Right after a delivery the older slot still describes a state of
    // the file: damage to the current slot falls back to it.
    let mut damaged = image.clone();
    damaged[512 + 30] ^= 4;
    assert_eq!(
        verify(&damaged),
        Ok(Verified {
            generation: 4,
            message_count: 2
        })
    );
    // After a deletion, the older slot predates the flag bytes written
    // in place: falling back to it is an error (or, for a READ flag, a
    // state the server never committed). Only the current slot counts.
    commit(&mut w, &mut image, Op::Delete(0));
    assert_eq!(header_of(&image).generation, 6);
    let mut damaged = image.clone();
    damaged[30] ^= 4;
    assert_eq!(
        verify(&damaged),
        Err(VerifyError::CountMismatch {
            header: 3,
            found: 2
        })
    );
    assert_eq!(verify(&image).unwrap().message_count, 2);
}

#[test]
fn pending_update_must_be_redone_on_open() {
    let mut image = build_image(2, [(1, E, 40), (2, E, 40)]);
    let (mut w, _) = Writer::open(&image);
    let intervals = w.plan(Op::Delete(1), &image).unwrap();
    // Crash after the header sync: the flag write is lost.
    run_all(&mut image, &intervals[..1]);
    let deleted = State {
        generation: 3,
        next_id: 3,
        messages: vec![(1, E, 40), (2, D, 40)],
    };
    assert_eq!(State::of(&image).unwrap(), deleted);

    // A server that skips the recovery write and commits a delivery
    // (whose header clears the pending update) loses the deletion.
    let mut careless = image.clone();
    let (mut w, recovery) = Writer::open(&careless);
    assert_eq!(recovery.len(), 1);
    commit(&mut w, &mut careless, Op::Deliver(5));
    assert_eq!(
        verify(&careless),
        Err(VerifyError::CountMismatch {
            header: 2,
            found: 3
        })
    );

    // Following the protocol, the deletion survives.
    let (mut w, recovery) = Writer::open(&image);
    run_all(&mut image, &recovery);
    commit(&mut w, &mut image, Op::Deliver(5));
    assert_eq!(
        State::of(&image).unwrap(),
        State {
            generation: 4,
            next_id: 4,
            messages: vec![(1, E, 40), (2, D, 40), (3, E, 5)],
        }
    );
}

/// Why the crash model is per sector: the format assumes that a crash
/// leaves each header slot (80 bytes, inside one 512-byte sector) whole,
/// untouched or all garbage. Below that grain an aborted header can come
/// back: here a deletion's header, garbled in its first 8 bytes only, is
/// completed by the first 8 bytes of the next attempt at that generation
/// (a mark read, whose write is torn after them), which are the same.
#[test]
fn sub_sector_garbage_can_resurrect_an_aborted_header() {
    let msgs = [(1, E, 10), (2, E, 10)];
    let mut image = build_image(0, msgs);
    let (mut w, _) = Writer::open(&image);
    let x = w.plan(Op::Delete(0), &image).unwrap();
    let (at, bytes) = &x[0][0];
    write_at(&mut image, *at, bytes);
    write_at(&mut image, *at, &garbage(1, 8));
    // The deletion did not commit.
    assert_eq!(State::of(&image).unwrap(), State::initial(0, &msgs));
    let (mut w, recovery) = Writer::open(&image);
    assert!(recovery.is_empty());
    let y = w.plan(Op::Read(1), &image).unwrap();
    let (at, bytes) = &y[0][0];
    write_at(&mut image, *at, &bytes[..8]);
    // Neither before nor after the mark read: the deletion is back.
    assert_eq!(
        State::of(&image).unwrap(),
        State {
            generation: 1,
            next_id: 3,
            messages: vec![(1, D, 10), (2, E, 10)],
        }
    );
}

/// Bytes of `image` that the format reads from its current state: the
/// current slot, and each record's header and payload (not the padding,
/// nor the flag bytes of the record of a pending update).
fn meaningful(image: &[u8]) -> Vec<bool> {
    let (header, records) = scan(image).unwrap();
    let mut m = vec![false; image.len()];
    let slot = header.slot_offset() as usize;
    m[slot..slot + SLOT_BYTES].fill(true);
    for r in records {
        let start = r.offset as usize;
        m[start..start + 24 + r.payload_len as usize].fill(true);
    }
    if let Some(p) = header.pending {
        let at = (p.offset + FLAGS_OFFSET) as usize;
        m[at..at + 2].fill(false);
    }
    m
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u32..200).prop_map(Op::Deliver),
        2 => any::<usize>().prop_map(Op::Read),
        2 => any::<usize>().prop_map(Op::Delete),
        1 => Just(Op::Compact),
    ]
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![Just(Fate::Kept), Just(Fate::Dropped), Just(Fate::Garbage)]
}

fn crash() -> impl Strategy<Value = Crash> {
    (
        any::<usize>(),
        prop_oneof![Just(128u64), Just(256), Just(512)],
        prop::collection::vec(fate(), 1..6),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|(at, sector, fates, seed, again)| Crash {
            at,
            sector,
            fates,
            seed,
            again,
        })
}

/// An image written through the protocol: both slots may be valid, and
/// the current header may carry a pending update.
fn protocol_image() -> impl Strategy<Value = Vec<u8>> {
    (0u64..4, messages(), prop::collection::vec(op(), 0..8)).prop_map(|(generation, msgs, ops)| {
        let mut image = build_image(generation, msgs);
        run_clean(&mut image, &ops);
        image
    })
}

proptest! {
    #[test]
    fn crash_at_any_sync_leaves_the_state_before_or_after(
        generation in 0u64..4,
        msgs in messages(),
        ops in prop::collection::vec((op(), prop::option::weighted(0.3, crash())), 0..16),
    ) {
        let mut image = build_image(generation, msgs.clone());
        let state = State::initial(generation, &msgs);
        let end = run_ops(&mut image, state, &ops)?;
        prop_assert_eq!(State::of(&image)?, end);
    }

    #[test]
    fn single_bit_flips_are_detected_where_meaningful(
        image in protocol_image(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let want = verify(&image).unwrap();
        let m = meaningful(&image);
        let current = header_of(&image).slot_offset() as usize;
        let at = at.index(image.len());
        let mut flipped = image.clone();
        flipped[at] ^= 1 << bit;
        let r = verify(&flipped);
        prop_assert_eq!(&r, &verify_from(&Paged::new(&flipped)));
        if (current..current + SLOT_BYTES).contains(&at) {
            // The current slot is no longer valid: the other slot
            // decides. If it is valid, the file verifies (or not) as
            // with that header; if not, the file is rejected (with the
            // error of slot A, whichever that is).
            let mut fallback = image.clone();
            fallback[current..current + SLOT_BYTES].fill(0);
            let other_valid = read_slot(&image, 1 - current / 512).is_ok();
            if other_valid || current != 0 {
                prop_assert_eq!(&r, &verify(&fallback));
            } else {
                prop_assert!(r.is_err());
            }
            prop_assert_ne!(r, Ok(want));
        } else if m[at] {
            prop_assert!(r.is_err(), "flip at {} undetected", at);
        } else {
            prop_assert_eq!(r, Ok(want));
        }
    }

    #[test]
    fn verify_never_panics_on_spliced_images(
        image in protocol_image(),
        at in any::<prop::sample::Index>(),
        junk in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let mut image = image;
        let at = at.index(image.len());
        let end = (at + junk.len()).min(image.len());
        image[at..end].copy_from_slice(&junk[..end - at]);
        let r = verify(&image);
        prop_assert_eq!(&r, &verify_from(&Paged::new(&image)));
        let _ = scan(&image);
    }
}
