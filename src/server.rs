//! [`MailServer`]: Microsoft Mail for AppleTalk's server, holding "Microsoft
//! Mail Data" open for reading and writing while it runs.
//!
//! The server commits each request (deliver, read, delete) as one transaction
//! that bumps the generation, following the data file's crash-safe protocol
//! (see [`datafile`]): a delivery appends its record past the committed end,
//! syncs, writes the next header into the other header slot, syncs; a read or
//! a deletion commits a header carrying the flag update, syncs, then writes
//! the flag bytes in place, syncs; a compaction writes the compacted records
//! into a fresh region, syncs, then commits a header pointing at it. Only
//! then is a delivery acknowledged. A crash at any sync, whatever becomes of
//! the writes not yet synced, leaves the state before the transaction or
//! after it. The file is updated in place, so a copy read while the server
//! writes can be torn. When another process opens its data file (a foreign
//! access) the server reacts per [`ConflictBehavior`].
//!
//! What does not live here: when requests arrive (the runner's traffic) and
//! which reaction the KB preset draws (the runner's chooser).

use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use crate::datafile::{self, Header, ReadAt, RecordFlags};
use crate::error::{Error, Result};
use crate::volume::{
    Access, Chunk, Content, Deny, Handle, HandleReader, Owner, Volume, VolumePath,
};

/// How the server reacts when another process opens its data file.
///
/// Non-exhaustive: variants may be added, so a `match` outside mailsim needs
/// a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConflictBehavior {
    /// Finish the transaction in flight, flush, close the file and stop: what
    /// Mail "usually" does, to prevent corruption.
    Shutdown,
    /// Stop answering while still holding the file: what Mail "may" do.
    Hang,
    /// Keep serving: the unsafe choice, which shows what the shutdown prevents.
    Tolerate,
}

impl ConflictBehavior {
    /// The name used on the command line: `shutdown`, `hang`, `tolerate`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictBehavior::Shutdown => "shutdown",
            ConflictBehavior::Hang => "hang",
            ConflictBehavior::Tolerate => "tolerate",
        }
    }
}

/// Whether the server answers requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerState {
    /// Serving requests.
    Serving,
    /// Paused by a policy; holds its file, answers nothing until resumed.
    Paused,
    /// Stopped: the data file is closed.
    Down,
    /// Hung: holds its data file and answers nothing.
    Hung,
}

/// A committed transaction.
///
/// Non-exhaustive: fields may be added; mailsim builds it, users read it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Commit {
    /// Generation of the data file after the commit.
    pub generation: u64,
    /// The message the transaction was about (none for a compaction).
    pub message_id: Option<u64>,
    /// Byte ranges the transaction wrote (for the consistency oracle).
    pub touched: [Range<u64>; 3],
    /// Bytes reclaimed, for a compaction.
    pub reclaimed_bytes: u64,
}

#[derive(Clone, Copy, Debug)]
struct Record {
    id: u64,
    offset: u64,
    len: u64,
    flags: RecordFlags,
}

/// Most bytes of records a compaction holds in memory at once.
pub const COMPACTION_BATCH_BYTES: u64 = 4 << 20;

/// The mail server, holding its data file.
#[derive(Debug)]
pub struct MailServer {
    path: VolumePath,
    owner: Owner,
    handle: Option<Handle>,
    state: ServerState,
    header: Header,
    /// The index, shared with a remembered scan until the server changes
    /// it (see [`own`]): a start or a restart on a file scanned before
    /// copies nothing.
    records: Arc<Vec<Record>>,
    /// Indices into `records` of messages not deleted.
    live: Arc<Vec<u32>>,
    foreign_seen: u64,
    record: Vec<u8>,
}

impl MailServer {
    /// The owner name the server opens its file under.
    pub const OWNER: &'static str = "Microsoft Mail Server";

    /// Starts the server: opens `path` for reading and writing, denying other
    /// writers, and rebuilds its index from the file.
    pub fn start(volume: &dyn Volume, path: VolumePath) -> Result<MailServer> {
        let mut s = MailServer {
            path,
            owner: Owner::new(Self::OWNER),
            handle: None,
            state: ServerState::Down,
            header: Header::empty(),
            records: Arc::default(),
            live: Arc::default(),
            foreign_seen: 0,
            record: Vec::with_capacity(64 * 1024),
        };
        s.open(volume)?;
        Ok(s)
    }

    fn open(&mut self, volume: &dyn Volume) -> Result<()> {
        let h = volume.open(&self.path, &self.owner, Access::ReadWrite, Deny::WRITE)?;
        let index = match self.index_of(volume, h) {
            Ok(index) => index,
            Err(e) => {
                let _ = volume.close(h);
                return Err(e);
            }
        };
        // A flag update the header carries may not have reached its record
        // (a crash between the two syncs): write it again.
        if let Some(p) = index.header.pending {
            let repair = volume.write_synced(
                h,
                p.offset + datafile::FLAGS_OFFSET,
                &datafile::flag_bytes(p.flags),
            );
            if let Err(e) = repair {
                let _ = volume.close(h);
                return Err(e);
            }
        }
        self.header = index.header;
        self.records = Arc::clone(&index.records);
        self.live = Arc::clone(&index.live);
        self.foreign_seen = volume.foreign_opens(h)?.count;
        self.handle = Some(h);
        self.state = ServerState::Serving;
        Ok(())
    }

    /// Reads the index of the file `h` holds, and checks that a transaction
    /// can follow ([`Header::check_room`]). Where images are shared contents
    /// (a simulated volume) the scan of the very same contents is
    /// remembered; elsewhere the file is streamed through the handle, its
    /// payload checksums checked too ([`datafile::scan_verified`]), holding
    /// a bounded window of it at a time, whatever its size.
    fn index_of(&self, volume: &dyn Volume, h: Handle) -> Result<Rc<Index>> {
        let data_error = |source| Error::DataFile {
            path: self.path.clone(),
            source,
        };
        let index = if volume.shares_images() {
            scan_memo(&volume.image(h)?).map_err(data_error)?
        } else {
            let reader = HandleReader::new(volume, h)?;
            let scanned = datafile::scan_verified(&reader);
            if let Some(e) = reader.take_error() {
                return Err(e);
            }
            let (header, infos) = scanned.map_err(data_error)?;
            Rc::new(Index::of(header, &infos))
        };
        index.header.check_room().map_err(data_error)?;
        Ok(index)
    }

    /// A digest of the server's state (its state, its header, whether it
    /// holds its file, its index's size), for the explorer's fingerprint.
    pub(crate) fn digest(&self, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        (
            self.state,
            self.header,
            self.handle.is_some(),
            self.records.len(),
            self.live.len(),
        )
            .hash(h);
    }

    /// The data file's path.
    pub fn path(&self) -> &VolumePath {
        &self.path
    }

    /// Whether the server is serving, paused, down or hung.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// The server's open of its data file, while it holds it.
    pub fn handle(&self) -> Option<Handle> {
        self.handle
    }

    /// Whether the server holds its data file open.
    pub fn holds_file(&self) -> bool {
        self.handle.is_some()
    }

    /// Current generation of the data file.
    pub fn generation(&self) -> u64 {
        self.header.generation
    }

    /// Messages not deleted.
    pub fn message_count(&self) -> u64 {
        self.live.len() as u64
    }

    /// The data file's header as last committed.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Refuses a transaction when the header leaves no room for it
    /// ([`Header::check_room`]).
    fn check_room(&self) -> Result<()> {
        self.header.check_room().map_err(|source| Error::DataFile {
            path: self.path.clone(),
            source,
        })
    }

    fn held(&self) -> Result<Handle> {
        // Not `ok_or`: that builds the error (and drops it) on every call.
        match self.handle {
            Some(h) => Ok(h),
            None => Err(Error::BadHandle),
        }
    }

    /// Commits the next header: the current one changed by `change`, with
    /// the next generation, written into the slot the current one is not
    /// in and synced. When that fails the header stays as it was. Returns
    /// the byte range written.
    fn commit_header(
        &mut self,
        volume: &dyn Volume,
        change: impl FnOnce(&mut Header) -> Option<()>,
    ) -> Result<Range<u64>> {
        // The generation (and a delivery's next id) stay below the limit
        // after the change; every transaction also asks first, before it
        // writes a byte.
        self.check_room()?;
        let before = self.header;
        let changed = change(&mut self.header);
        if changed.is_none() {
            self.header = before;
            return Err(Error::DataFile {
                path: self.path.clone(),
                source: datafile::VerifyError::NoRoom {
                    field: "committed_len",
                    value: before.committed_len,
                },
            });
        }
        self.header.generation += 1;
        let at = self.header.slot_offset();
        let written = self
            .held()
            .and_then(|h| volume.write_synced(h, at, &self.header.encode()));
        match written {
            Ok(()) => Ok(at..at + Header::ENCODED_BYTES as u64),
            Err(e) => {
                self.header = before;
                Err(e)
            }
        }
    }

    /// Delivers a new message of `payload_len` bytes: one transaction. The
    /// message is acknowledged when this returns `Ok`.
    pub fn deliver(&mut self, volume: &dyn Volume, payload_len: u32) -> Result<Commit> {
        let h = self.held()?;
        self.check_room()?;
        let id = self.header.next_message_id;
        if payload_len > datafile::MAX_PAYLOAD_BYTES {
            return Err(Error::invalid(
                "payload_len",
                format!(
                    "{payload_len} bytes exceeds the data file's limit of {} bytes",
                    datafile::MAX_PAYLOAD_BYTES
                ),
            ));
        }
        self.record.clear();
        datafile::encode_synthetic_record(
            id,
            RecordFlags::default(),
            payload_len,
            &mut self.record,
        );
        let offset = self.header.committed_len;
        let len = self.record.len() as u64;
        // The record first, past the committed end: a crash before the
        // header leaves it outside the file's state.
        volume.write_synced(h, offset, &self.record)?;
        let slot = self.commit_header(volume, |header| {
            header.committed_len = header.committed_len.checked_add(len)?;
            header.message_count = header.message_count.checked_add(1)?;
            // Below the limit: `commit_header` checks the room first.
            header.next_message_id += 1;
            header.pending = None;
            Some(())
        })?;
        let n = self.records.len() as u32;
        own(&mut self.live).push(n);
        own(&mut self.records).push(Record {
            id,
            offset,
            len,
            flags: RecordFlags::default(),
        });
        Ok(Commit {
            generation: self.header.generation,
            message_id: Some(id),
            touched: [slot, offset..offset + len, 0..0],
            reclaimed_bytes: 0,
        })
    }

    fn set_flag(
        &mut self,
        volume: &dyn Volume,
        pick: u32,
        flag: RecordFlags,
    ) -> Result<Option<Commit>> {
        match self.message_at(pick) {
            Some(id) => self.set_flag_of(volume, id, flag),
            None => Ok(None),
        }
    }

    /// The id of the message `pick` chooses among those not deleted,
    /// counting back from the newest (0 is the newest); `None` when there is
    /// none.
    // The pick-based methods read the runner's chooser-drawn indices. They
    // are public only for `mailsim serve` (src/cli/serve), the property
    // tests (tests/it/properties.rs) and the benches, which replay such
    // picks; users name a message by id (`mark_read_message`,
    // `delete_message`).
    #[doc(hidden)]
    pub fn message_at(&self, pick: u32) -> Option<u64> {
        if self.live.is_empty() {
            return None;
        }
        let k = self.live.len() - 1 - pick as usize % self.live.len();
        Some(self.records[self.live[k] as usize].id)
    }

    /// Marks message `id` read; `None` (nothing to commit) when it is not in
    /// the file or is deleted.
    pub fn mark_read_message(&mut self, volume: &dyn Volume, id: u64) -> Result<Option<Commit>> {
        self.set_flag_of(volume, id, RecordFlags::READ)
    }

    /// Deletes message `id`; `None` (nothing to commit) when it is not in the
    /// file or is already deleted.
    pub fn delete_message(&mut self, volume: &dyn Volume, id: u64) -> Result<Option<Commit>> {
        self.set_flag_of(volume, id, RecordFlags::DELETED)
    }

    fn set_flag_of(
        &mut self,
        volume: &dyn Volume,
        id: u64,
        flag: RecordFlags,
    ) -> Result<Option<Commit>> {
        let Some(idx) = self.record_index(id) else {
            return Ok(None);
        };
        if self.records[idx].flags.contains(RecordFlags::DELETED) {
            return Ok(None);
        }
        // `live` holds record indices in file order.
        let Some(k) = self.live_position(idx) else {
            return Ok(None);
        };
        let h = self.held()?;
        self.check_room()?;
        let rec = self.records[idx];
        let flags = rec.flags.with(flag);
        // The header carries the update first; then the flag bytes.
        let slot = self.commit_header(volume, |header| {
            header.pending = Some(datafile::PendingFlags {
                offset: rec.offset,
                flags,
            });
            if flag == RecordFlags::DELETED && !rec.flags.contains(RecordFlags::DELETED) {
                header.message_count = header.message_count.checked_sub(1)?;
                header.dead_bytes = header.dead_bytes.checked_add(rec.len)?;
            }
            Some(())
        })?;
        // From here the update is committed: the header carries it, and a
        // restart writes it again if these bytes do not reach the disk.
        own(&mut self.records)[idx].flags = flags;
        if flag == RecordFlags::DELETED {
            own(&mut self.live).remove(k);
        }
        let at = rec.offset + datafile::FLAGS_OFFSET;
        volume.write_synced(h, at, &datafile::flag_bytes(flags))?;
        Ok(Some(Commit {
            generation: self.header.generation,
            message_id: Some(rec.id),
            touched: [slot, at..at + 2, 0..0],
            reclaimed_bytes: 0,
        }))
    }

    /// Marks a message read: `pick` chooses among the messages not deleted,
    /// counting back from the newest (0 is the newest). `None` when the file
    /// holds no message.
    // Public for the binary, tests and benches only: see `message_at`.
    #[doc(hidden)]
    pub fn mark_read(&mut self, volume: &dyn Volume, pick: u32) -> Result<Option<Commit>> {
        self.set_flag(volume, pick, RecordFlags::READ)
    }

    /// Deletes a message: `pick` chooses among the messages not deleted,
    /// counting back from the newest (0 is the newest).
    // Public for the binary, tests and benches only: see `message_at`.
    #[doc(hidden)]
    pub fn delete(&mut self, volume: &dyn Volume, pick: u32) -> Result<Option<Commit>> {
        self.set_flag(volume, pick, RecordFlags::DELETED)
    }

    /// Whether deleted records fill more than a quarter of the record area.
    pub fn needs_compaction(&self) -> bool {
        let area = self
            .header
            .committed_len
            .saturating_sub(datafile::HEADER_BYTES);
        self.header.dead_bytes > 0 && self.header.dead_bytes * 4 > area
    }

    /// Compacts the data file: the live records are written, back to back,
    /// into a fresh region (at the front when they fit before the current
    /// records, else past the committed end), synced, and a header pointing
    /// at them committed. Nothing live is overwritten before the header
    /// commits, so a crash leaves the old records or the new ones.
    ///
    /// The records are copied through a buffer of at most
    /// [`COMPACTION_BATCH_BYTES`] (plus one record): a compaction that fits
    /// is one write and one sync; a larger one is written batch by batch
    /// and synced once, after the last.
    pub fn compact(&mut self, volume: &dyn Volume) -> Result<Commit> {
        let h = self.held()?;
        self.check_room()?;
        let source = FileBytes::of(volume, h)?;
        let live_len: u64 = self
            .records
            .iter()
            .filter(|r| !r.flags.contains(RecordFlags::DELETED))
            .map(|r| r.len)
            .sum();
        let front = datafile::HEADER_BYTES;
        let dest = if front + live_len <= self.header.records_start {
            front
        } else {
            self.header.committed_len
        };
        let mut out = Vec::with_capacity(live_len.min(COMPACTION_BATCH_BYTES) as usize);
        // Where `out` goes in the file.
        let mut out_at = dest;
        let mut kept = Vec::with_capacity(self.records.len());
        for r in self.records.iter() {
            if r.flags.contains(RecordFlags::DELETED) {
                continue;
            }
            if !out.is_empty() && out.len() as u64 + r.len > COMPACTION_BATCH_BYTES {
                volume.write_at(h, out_at, &out)?;
                out_at += out.len() as u64;
                out.clear();
            }
            let at = out.len();
            out.resize(at + r.len as usize, 0);
            if !source.read_at(r.offset, &mut out[at..]) {
                if let Some(e) = source.take_error() {
                    return Err(e);
                }
                return Err(Error::DataFile {
                    path: self.path.clone(),
                    source: datafile::VerifyError::Truncated {
                        committed_len: r.offset + r.len,
                        len_bytes: source.len_bytes(),
                    },
                });
            }
            // The flag bytes as the index knows them (a pending update may
            // not be in the image yet).
            out[at + datafile::FLAGS_OFFSET as usize..][..2]
                .copy_from_slice(&datafile::flag_bytes(r.flags));
            kept.push(Record {
                offset: out_at + at as u64,
                ..*r
            });
        }
        volume.write_synced(h, out_at, &out)?;
        let old_end = self.header.committed_len;
        let reclaimed = self.header.dead_bytes;
        let slot = self.commit_header(volume, |header| {
            header.records_start = dest;
            header.committed_len = dest.checked_add(live_len)?;
            header.dead_bytes = 0;
            header.pending = None;
            Some(())
        })?;
        self.live = Arc::new((0..kept.len() as u32).collect());
        self.records = Arc::new(kept);
        if dest == front {
            // The old region is no longer the file's: drop it.
            volume.set_len(h, self.header.committed_len)?;
        }
        Ok(Commit {
            generation: self.header.generation,
            message_id: None,
            touched: [
                slot,
                dest..dest + live_len,
                self.header.committed_len..old_end.max(dest + live_len),
            ],
            reclaimed_bytes: reclaimed,
        })
    }

    /// The server process died (an injected crash): its open is gone, its
    /// in-memory state with it; a [`restart`](MailServer::restart) recovers
    /// from the file.
    pub fn crashed(&mut self) {
        self.handle = None;
        self.state = ServerState::Down;
    }

    /// Whether someone else has opened the data file since the last call:
    /// `Some(who)`: the openers as the volume names them (`tar (pid 4242)`,
    /// several joined by `, `), or "another process" where it cannot tell.
    pub fn foreign_access(&mut self, volume: &dyn Volume) -> Result<Option<String>> {
        let Some(h) = self.handle else {
            return Ok(None);
        };
        let f = volume.foreign_opens(h)?;
        let new = f.count > self.foreign_seen;
        self.foreign_seen = f.count;
        Ok(new.then(|| f.last_by.unwrap_or_else(|| "another process".to_owned())))
    }

    /// Reacts to a foreign access. Transactions are atomic here, so there is
    /// never one in flight: a shutdown flushes and closes a consistent file.
    pub fn react(&mut self, volume: &dyn Volume, behavior: ConflictBehavior) -> Result<()> {
        match behavior {
            ConflictBehavior::Shutdown => self.stop(volume),
            ConflictBehavior::Hang => {
                self.state = ServerState::Hung;
                Ok(())
            }
            ConflictBehavior::Tolerate => Ok(()),
        }
    }

    /// Flushes, closes the data file and stops (a shutdown, or a planned stop).
    pub fn stop(&mut self, volume: &dyn Volume) -> Result<()> {
        if let Some(h) = self.handle.take() {
            volume.sync(h)?;
            // What the file holds is what the index says: a restart on the
            // very same contents (nobody wrote in between) need not scan.
            // Where an image is a read of the whole file, it is not worth it.
            if volume.shares_images()
                && let Ok(image) = volume.image(h)
            {
                remember_scan(
                    image,
                    Rc::new(Index {
                        header: self.header,
                        records: Arc::clone(&self.records),
                        live: Arc::clone(&self.live),
                    }),
                );
            }
            volume.close(h)?;
        }
        self.state = ServerState::Down;
        Ok(())
    }

    /// Pauses: holds the file, answers nothing.
    pub fn pause(&mut self) {
        if self.state == ServerState::Serving {
            self.state = ServerState::Paused;
        }
    }

    /// Resumes serving after a pause.
    pub fn resume(&mut self) {
        if self.state == ServerState::Paused {
            self.state = ServerState::Serving;
        }
    }

    /// Restarts a stopped or hung server: a hung process is killed (its open
    /// closes), then the server opens its file again and rebuilds its index.
    pub fn restart(&mut self, volume: &dyn Volume) -> Result<()> {
        if let Some(h) = self.handle.take() {
            volume.close(h)?;
        }
        self.open(volume)
    }

    /// Reads the data file through the server's own handle: not a foreign access.
    pub fn read_own(&self, volume: &dyn Volume, offset: u64, len_bytes: u64) -> Result<Chunk> {
        volume.read_at(self.held()?, offset, len_bytes)
    }

    /// Where message `id`'s record starts, as the server's index has it.
    pub fn offset_of(&self, id: u64) -> Option<u64> {
        let i = self.record_index(id)?;
        Some(self.records[i].offset)
    }

    /// Where message `id` is in `records` (sorted by id). Ids are handed
    /// out in order and records leave only when the file is compacted, so
    /// the record is usually at `id - first id`: look there first.
    fn record_index(&self, id: u64) -> Option<usize> {
        let first = self.records.first()?.id;
        let guess = usize::try_from(id.checked_sub(first)?).ok()?;
        if self.records.get(guess).is_some_and(|r| r.id == id) {
            return Some(guess);
        }
        let upto = guess.min(self.records.len());
        self.records[..upto]
            .binary_search_by_key(&id, |r| r.id)
            .ok()
    }

    /// Where record `idx` is in `live` (increasing record indices). With `d`
    /// records deleted, it is among positions `idx - d ..= idx`.
    fn live_position(&self, idx: usize) -> Option<usize> {
        let deleted = self.records.len() - self.live.len();
        let lo = idx.saturating_sub(deleted);
        let hi = (idx + 1).min(self.live.len());
        let window = self.live.get(lo..hi)?;
        window.binary_search(&(idx as u32)).ok().map(|k| lo + k)
    }

    /// The data file's current image, as the holder sees it.
    pub fn image(&self, volume: &dyn Volume) -> Result<Content> {
        volume.image(self.held()?)
    }
}

/// The bytes of the file a handle holds: a simulated volume hands out its
/// contents in O(1); elsewhere they are read through the handle, a bounded
/// window at a time.
enum FileBytes<'a> {
    Shared(Content),
    Read(HandleReader<'a>),
}

impl<'a> FileBytes<'a> {
    fn of(volume: &'a dyn Volume, h: Handle) -> Result<FileBytes<'a>> {
        Ok(if volume.shares_images() {
            FileBytes::Shared(volume.image(h)?)
        } else {
            FileBytes::Read(HandleReader::new(volume, h)?)
        })
    }

    /// The first error a read through the handle met.
    fn take_error(&self) -> Option<Error> {
        match self {
            FileBytes::Shared(_) => None,
            FileBytes::Read(r) => r.take_error(),
        }
    }
}

impl datafile::ReadAt for FileBytes<'_> {
    fn len_bytes(&self) -> u64 {
        match self {
            FileBytes::Shared(c) => c.len_bytes(),
            FileBytes::Read(r) => r.len_bytes(),
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        match self {
            FileBytes::Shared(c) => c.read_at(offset, buf),
            FileBytes::Read(r) => r.read_at(offset, buf),
        }
    }
}

/// `v` to change: when it is shared (with a remembered scan), a copy of it
/// first, with room for a night's deliveries so that it does not grow by
/// reallocation mid-night.
fn own<T: Copy>(v: &mut Arc<Vec<T>>) -> &mut Vec<T> {
    if Arc::get_mut(v).is_none() {
        let mut copy = Vec::with_capacity(v.len() + v.len() / 2 + 256);
        copy.extend_from_slice(v);
        *v = Arc::new(copy);
    }
    Arc::get_mut(v).expect("not shared any more")
}

/// What the server knows of a data file once it has scanned it.
#[derive(Debug)]
struct Index {
    header: Header,
    records: Arc<Vec<Record>>,
    /// Indices into `records` of messages not deleted.
    live: Arc<Vec<u32>>,
}

impl Index {
    fn of(header: Header, infos: &[datafile::RecordInfo]) -> Index {
        let records: Vec<Record> = infos
            .iter()
            .map(|info| Record {
                id: info.message_id,
                offset: info.offset,
                len: info.record_len,
                flags: info.flags,
            })
            .collect();
        let live = (0..records.len() as u32)
            .filter(|&i| !records[i as usize].flags.contains(RecordFlags::DELETED))
            .collect();
        Index {
            header,
            records: Arc::new(records),
            live: Arc::new(live),
        }
    }
}

/// `datafile::scan`, remembered for the last image scanned on this thread.
/// Contents are immutable and shared, so an image that is the very same
/// shared contents (as every night's start from the preset is) scans alike.
/// The last two images scanned (the preset's, and the last one stopped on).
type Memo = Vec<(Content, Rc<Index>)>;

thread_local! {
    static MEMO: std::cell::RefCell<Memo> = const { std::cell::RefCell::new(Vec::new()) };
}

fn remember_scan(image: Content, index: Rc<Index>) {
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= 2 {
            m.remove(0);
        }
        m.push((image, index));
    });
}

fn scan_memo(image: &Content) -> std::result::Result<Rc<Index>, datafile::VerifyError> {
    if let Some(hit) = MEMO.with(|m| {
        let mut m = m.borrow_mut();
        let i = m.iter().position(|(c, _)| c.ptr_eq(image))?;
        // Most recently used last: the preset's image stays while nights
        // come and go.
        let entry = m.remove(i);
        let hit = Rc::clone(&entry.1);
        m.push(entry);
        Some(hit)
    }) {
        return Ok(hit);
    }
    let (header, infos) = datafile::scan(image)?;
    let index = Rc::new(Index::of(header, &infos));
    remember_scan(image.clone(), Rc::clone(&index));
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datafile::VerifyError;
    #[cfg(feature = "real")]
    use crate::volume::OsVolume;
    use crate::volume::SimVolume;

    fn path() -> VolumePath {
        VolumePath::new("Server HD", ["Microsoft Mail Data"])
    }

    /// A data file of generation `generation` holding two messages, whose
    /// next message id is `next_id`.
    fn image_at(generation: u64, next_id: u64) -> Vec<u8> {
        let mut image = datafile::build_image(generation, [(1, RecordFlags::empty(), 10)]);
        let (mut header, _) = datafile::scan(&image).unwrap();
        header.next_message_id = next_id;
        let at = header.slot_offset() as usize;
        image[at..at + Header::ENCODED_BYTES].copy_from_slice(&header.encode());
        image
    }

    /// Every counter's last transaction, on a simulated and a real volume:
    /// a file with no room is refused at start, naming the field; the last
    /// transaction with room commits and is kept; the one after is refused
    /// before a byte is written; nothing wraps.
    #[test]
    fn counters_never_wrap_and_a_file_without_room_is_refused() {
        let sim = SimVolume::new("Server HD");
        #[cfg(feature = "real")]
        let (_tmp, os) = {
            let tmp = tempfile::tempdir().unwrap();
            let os = OsVolume::open_dir("Server HD", tmp.path()).unwrap();
            (tmp, os)
        };
        for volume in [
            &sim as &dyn Volume,
            #[cfg(feature = "real")]
            &os,
        ] {
            for (generation, next_id, field) in [
                (u64::MAX - 1, 5, "generation"),
                (3, u64::MAX - 1, "next_message_id"),
            ] {
                volume
                    .put_file(&path(), Content::from_bytes(&image_at(generation, next_id)))
                    .unwrap();
                match MailServer::start(volume, path()) {
                    Err(Error::DataFile {
                        source: VerifyError::NoRoom { field: f, .. },
                        ..
                    }) => assert_eq!(f, field),
                    other => panic!("{field}: {other:?}"),
                }
                // The file is released and unchanged.
                let h = volume
                    .open(&path(), &Owner::new("t"), Access::ReadWrite, Deny::ALL)
                    .unwrap();
                assert!(volume.image(h).unwrap().to_vec() == image_at(generation, next_id));
                volume.close(h).unwrap();
            }
            // One transaction of room left: it commits; the next is refused.
            volume
                .put_file(&path(), Content::from_bytes(&image_at(u64::MAX - 2, 7)))
                .unwrap();
            let mut server = MailServer::start(volume, path()).unwrap();
            let commit = server.deliver(volume, 100).unwrap();
            assert_eq!(commit.generation, u64::MAX - 1);
            assert_eq!(commit.message_id, Some(7));
            let before = server.image(volume).unwrap().to_vec();
            match server.deliver(volume, 100) {
                Err(Error::DataFile {
                    source: VerifyError::NoRoom { field, value },
                    ..
                }) => assert_eq!((field, value), ("generation", u64::MAX - 1)),
                other => panic!("{other:?}"),
            }
            assert!(matches!(
                server.mark_read(volume, 0),
                Err(Error::DataFile { .. })
            ));
            assert_eq!(server.generation(), u64::MAX - 1);
            assert!(
                server.image(volume).unwrap().to_vec() == before,
                "nothing written"
            );
            server.stop(volume).unwrap();
            // The acknowledged message is in a file that verifies.
            let h = volume
                .open(&path(), &Owner::new("t"), Access::Read, Deny::NONE)
                .unwrap();
            let v = datafile::verify(&volume.image(h).unwrap().to_vec()).unwrap();
            assert_eq!((v.generation, v.message_count), (u64::MAX - 1, 2));
            volume.close(h).unwrap();
        }
    }

    /// A real file is scanned through its handle with its payloads checked:
    /// a payload damaged on disk is refused at start, the file untouched.
    #[cfg(feature = "real")]
    #[test]
    fn a_real_file_with_a_damaged_payload_is_refused_at_start() {
        let tmp = tempfile::tempdir().unwrap();
        let os = OsVolume::open_dir("Server HD", tmp.path()).unwrap();
        let mut image = image_at(4, 2);
        let last = image.len() - 9;
        image[last] ^= 0xff;
        os.put_file(&path(), Content::from_bytes(&image)).unwrap();
        assert!(matches!(
            MailServer::start(&os, path()),
            Err(Error::DataFile {
                source: VerifyError::RecordChecksum { .. },
                ..
            })
        ));
        assert!(std::fs::read(tmp.path().join("Microsoft Mail Data")).unwrap() == image);
    }
}
