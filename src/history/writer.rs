//! The history's writer: opens (and reconciles) the file beside a live
//! data file, appends a record per commit, syncs in the background, and
//! drops the oldest generations when the file would pass its limit.
//!
//! Order: the server commits (and syncs) the data file first, then the
//! writer appends the commit's record with one `write(2)`, then the server
//! acknowledges. The history therefore never gets ahead of a data file that
//! is still being written; the kernel holds every acknowledged record, so a
//! crash of the process loses none. The record reaches the disk at the next
//! background sync ([`HistoryWriter::set_sync_interval`], 50 ms by default;
//! zero syncs every record before returning).
//!
//! Reconciling at open: records for generations past the data file's are
//! dropped (a data file restored or rolled back under the history); a torn
//! last record is cut off; when what is left does not end in the data
//! file's current state — page by page, and its length — a baseline of that
//! state (every page's digest) is appended for the data file's generation.
//!
//! Dropping the oldest generations: the file is rewritten under the name
//! `HISTORY.new` in the same folder — a baseline of the oldest generation
//! kept, then the newer records as they were — synced, renamed over the
//! history and the folder synced. Until the rename the old history stands.
//! The rewrite keeps what fits in half the limit, so it comes seldom.
//!
//! What does not live here: the bytes (the format) and judging (the judge).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::format::{self, HEADER_BYTES, MAX_LIMIT_BYTES, RecordHead};
use super::judge::{History, kind_of, not_a_history};
use crate::datafile::PAGE_BYTES;
use crate::error::{Error, Result};
use crate::server::Commit;

/// The smallest limit a history may have.
pub const MIN_LIMIT_BYTES: u64 = 64 << 10;

/// How often, by default, the background thread syncs what was appended.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_millis(50);

/// The writer of a data file's history.
///
/// Order: the server commits (and syncs) the data file first, then
/// [`commit_from`](Self::commit_from) appends the commit's record with one
/// `write(2)`, then the server acknowledges. The history never gets ahead of
/// a data file still being written; the kernel holds every acknowledged
/// record, so a crash of the process loses none. Records reach the disk at
/// the next background sync ([`set_sync_interval`](Self::set_sync_interval),
/// 50 ms by default; zero syncs each record before returning), and at
/// [`sync`](Self::sync).
///
/// At open, records past the data file's generation and a torn last record
/// are cut off; when what is left does not end in the data file's current
/// state (every page's digest, and its length), a baseline of that state is
/// appended for the data file's generation — so after a machine crash the
/// history is whole again, missing at most the generations of the last
/// sync interval before it.
///
/// When an append would pass the limit, the file is rewritten without its
/// oldest generations (a baseline of the oldest kept, then the newer
/// records as they were, in half the limit) under `PATH.new`, synced,
/// renamed over the history, the folder synced: until the rename the old
/// history stands.
#[derive(Debug)]
pub struct HistoryWriter {
    path: PathBuf,
    file: Arc<File>,
    limit_bytes: u64,
    /// Bytes of the history file.
    len_bytes: u64,
    newest_generation: u64,
    /// The data file's length at the newest generation.
    data_len: u64,
    /// A record being built, reused.
    buf: Vec<u8>,
    /// A page being read, reused.
    page: Vec<u8>,
    sync_interval: Duration,
    syncer: Syncer,
}

impl HistoryWriter {
    /// Opens or creates the history at `path` for the data file open as
    /// `data`, now at `generation`, to be kept under `limit_bytes`
    /// ([`DEFAULT_LIMIT_BYTES`](super::DEFAULT_LIMIT_BYTES); between
    /// [`MIN_LIMIT_BYTES`] and [`MAX_LIMIT_BYTES`]), and reconciles it with
    /// the data file (see [`HistoryWriter`]). Refuses, touching nothing, a
    /// directory, FIFO, symlink, device or socket at `path`, and a file that
    /// is not a history ([`Error::NotAHistory`]). Reads the data file page
    /// by page.
    pub fn open(
        path: &Path,
        data: &File,
        generation: u64,
        limit_bytes: u64,
    ) -> Result<HistoryWriter> {
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        if !(MIN_LIMIT_BYTES..=MAX_LIMIT_BYTES).contains(&limit_bytes) {
            return Err(history_err(
                path,
                format!(
                    "a limit of {limit_bytes} bytes, outside {MIN_LIMIT_BYTES}..={MAX_LIMIT_BYTES}"
                ),
            ));
        }
        let exists = match fs::symlink_metadata(path) {
            Ok(m) if m.is_file() => true,
            Ok(m) => {
                return Err(not_a_history(
                    path,
                    format!("not a regular file ({})", kind_of(&m)),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_err(e)),
        };
        let mut page = vec![0u8; PAGE_BYTES as usize];
        let data_len = data.metadata().map_err(io_err)?.len();
        let data_at = data
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now());
        let baseline_bytes = format::record_bytes(true, data_len.div_ceil(PAGE_BYTES));
        if HEADER_BYTES + baseline_bytes > limit_bytes {
            return Err(history_err(
                path,
                format!(
                    "the data file's {data_len} bytes need a baseline of {baseline_bytes} \
                     bytes, more than the limit of {limit_bytes}"
                ),
            ));
        }
        let mut digests = Vec::with_capacity(data_len.div_ceil(PAGE_BYTES) as usize);
        for p in 0..data_len.div_ceil(PAGE_BYTES) {
            digests.push(read_page(data, p, data_len, &mut page).map_err(io_err)?);
        }
        let baseline = |out: &mut Vec<u8>| {
            format::encode_record(
                out,
                RecordHead {
                    baseline: true,
                    generation,
                    committed_at_ms: unix_ms(data_at),
                    len_bytes: data_len,
                },
                digests.iter().map(|&d| (0, d)),
            )
        };
        if !exists {
            let mut bytes = format::encode_header(limit_bytes).to_vec();
            baseline(&mut bytes);
            replace(path, &bytes)?;
            return HistoryWriter::start(path, limit_bytes, generation, data_len, page);
        }
        let file = open_rw(path)?;
        let size = file.metadata().map_err(io_err)?.len();
        let mut bytes = Vec::new();
        (&file)
            .take(HEADER_BYTES)
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        if size == 0 {
            // Created by someone else, never written: a history of nothing.
            bytes = format::encode_header(limit_bytes).to_vec();
        } else {
            let theirs = format::decode_header(&bytes).map_err(|r| not_a_history(path, r))?;
            let bound = theirs.max(limit_bytes).saturating_mul(2);
            if size > bound {
                return Err(history_err(
                    path,
                    format!("{size} bytes, over twice its limit of {theirs} bytes"),
                ));
            }
            (&file).read_to_end(&mut bytes).map_err(io_err)?;
        }
        let recs = format::parse(&bytes).map_err(|r| not_a_history(path, r))?;
        // Records past the data file's generation, and a torn tail, go.
        let mut keep = recs
            .records
            .iter()
            .position(|r| r.head.generation > generation)
            .unwrap_or(recs.records.len());
        let agrees = |keep: usize| -> Result<bool, String> {
            if keep == 0 || recs.records[keep - 1].head.generation != generation {
                return Ok(false);
            }
            let kept = format::Records {
                limit_bytes: recs.limit_bytes,
                records: recs.records[..keep].to_vec(),
                good_bytes: recs.good_bytes,
                total_bytes: recs.good_bytes,
            };
            let h = History::from_records(&kept)?;
            Ok(h.newest_len() == Some(data_len)
                && h.state_at(keep - 1).eq(digests.iter().map(|&d| Some(d))))
        };
        let agreed = agrees(keep).map_err(|r| not_a_history(path, r))?;
        if !agreed && keep > 0 && recs.records[keep - 1].head.generation == generation {
            // The same generation with other contents: what the data file
            // holds now wins.
            keep -= 1;
        }
        let end = recs.records.get(keep).map_or(recs.good_bytes, |r| r.offset);
        let mut tail = Vec::new();
        if !agreed {
            baseline(&mut tail);
        }
        if recs.limit_bytes != limit_bytes || end + tail.len() as u64 > limit_bytes || size == 0 {
            let mut out = bytes[..end as usize].to_vec();
            out[..HEADER_BYTES as usize].copy_from_slice(&format::encode_header(limit_bytes));
            out.extend_from_slice(&tail);
            let out = shrink(path, &out, limit_bytes, 0)?;
            replace(path, &out)?;
        } else if end != size || !tail.is_empty() {
            file.set_len(end).map_err(io_err)?;
            (&file).write_all(&tail).map_err(io_err)?;
            file.sync_data().map_err(io_err)?;
        }
        drop(file);
        HistoryWriter::start(path, limit_bytes, generation, data_len, page)
    }

    fn start(
        path: &Path,
        limit_bytes: u64,
        newest_generation: u64,
        data_len: u64,
        page: Vec<u8>,
    ) -> Result<HistoryWriter> {
        let file = Arc::new(open_rw(path)?);
        let len_bytes = file
            .metadata()
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        let syncer = Syncer::spawn(Arc::clone(&file), DEFAULT_SYNC_INTERVAL).map_err(|source| {
            Error::Io {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(HistoryWriter {
            path: path.to_path_buf(),
            file,
            limit_bytes,
            len_bytes,
            newest_generation,
            data_len,
            buf: Vec::new(),
            page,
            sync_interval: DEFAULT_SYNC_INTERVAL,
            syncer,
        })
    }

    /// Records `commit`, just synced to the data file open as `data` and
    /// not yet acknowledged: reads the pages it touched (and any the
    /// file's new length brought in or cut) with positioned reads, and
    /// appends their digests, the file's length and the time now.
    pub fn commit_from(&mut self, commit: &Commit, data: &File) -> Result<()> {
        let io_err = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        let len = data.metadata().map_err(io_err)?.len();
        let pages = len.div_ceil(PAGE_BYTES);
        let before = self.data_len.div_ceil(PAGE_BYTES);
        let mut touched: Vec<u64> = crate::oracle::touched_pages(&commit.touched, pages as usize)
            .map(|p| p as u64)
            .chain(before.min(pages)..pages)
            .chain((len != self.data_len && pages > 0).then(|| pages - 1))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        let mut page = std::mem::take(&mut self.page);
        let digests: io::Result<Vec<(u64, u64)>> = touched
            .iter()
            .map(|&p| Ok((p, read_page(data, p, len, &mut page)?)))
            .collect();
        self.page = page;
        let digests = digests.map_err(io_err)?;
        self.commit(commit.generation, SystemTime::now(), len, digests)
    }

    /// Records generation `generation`, committed at `committed_at`, after
    /// which the data file is `len_bytes` long and its pages `pages` (page
    /// index, [`page_digest`](super::page_digest)) changed. Every page the
    /// new length brings into the file must be among them.
    pub fn commit(
        &mut self,
        generation: u64,
        committed_at: SystemTime,
        len_bytes: u64,
        pages: impl IntoIterator<Item = (u64, u64)>,
    ) -> Result<()> {
        if generation <= self.newest_generation {
            return Err(history_err(
                &self.path,
                format!(
                    "generation {generation} is not after the history's newest, {}",
                    self.newest_generation
                ),
            ));
        }
        if let Some(e) = self.syncer.take_error() {
            return Err(Error::Io {
                path: self.path.clone(),
                source: e,
            });
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let head = RecordHead {
            baseline: false,
            generation,
            committed_at_ms: unix_ms(committed_at),
            len_bytes,
        };
        let count_pages = len_bytes.div_ceil(PAGE_BYTES);
        let before = self.data_len.div_ceil(PAGE_BYTES);
        let mut new_pages = 0u64;
        let mut past_end = None;
        format::encode_record(
            &mut buf,
            head,
            pages.into_iter().inspect(|&(p, _)| {
                if p >= count_pages {
                    past_end = Some(p);
                }
                if p >= before && p < count_pages {
                    new_pages += 1;
                }
            }),
        );
        let result = if let Some(p) = past_end {
            Err(format!("page {p} past the file's {count_pages} pages"))
        } else if count_pages > before && new_pages < count_pages - before {
            Err(format!(
                "the file grows from {before} to {count_pages} pages but the commit writes \
                 {new_pages} of the new ones"
            ))
        } else {
            Ok(())
        };
        let result = result
            .map_err(|r| history_err(&self.path, r))
            .and_then(|()| self.append(&buf));
        self.buf = buf;
        result?;
        self.newest_generation = generation;
        self.data_len = len_bytes;
        Ok(())
    }

    fn append(&mut self, record: &[u8]) -> Result<()> {
        let io_err = |path: &Path, source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        if self.len_bytes + record.len() as u64 > self.limit_bytes {
            self.compact(record.len() as u64)?;
        }
        if let Err(e) = (&*self.file).write_all(record) {
            // Nothing half-written stays to hide the records after it.
            let _ = self.file.set_len(self.len_bytes);
            return Err(io_err(&self.path, e));
        }
        self.len_bytes += record.len() as u64;
        if self.sync_interval.is_zero() {
            self.file.sync_data().map_err(|e| io_err(&self.path, e))?;
        } else {
            self.syncer.dirty();
        }
        Ok(())
    }

    /// Rewrites the history without its oldest generations, so that it and
    /// `incoming` more bytes fit the limit.
    fn compact(&mut self, incoming: u64) -> Result<()> {
        let io_err = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        // From the start: the handle appends, so its position is moot.
        let mut bytes = Vec::new();
        let mut f = &*self.file;
        io::Seek::seek(&mut f, io::SeekFrom::Start(0)).map_err(io_err)?;
        f.take(self.limit_bytes.saturating_mul(2))
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        let out = shrink(&self.path, &bytes, self.limit_bytes, incoming)?;
        self.file.sync_data().map_err(io_err)?;
        replace(&self.path, &out)?;
        let file = Arc::new(open_rw(&self.path)?);
        self.len_bytes = out.len() as u64;
        self.syncer.set_file(Arc::clone(&file));
        self.file = file;
        Ok(())
    }

    /// Syncs every record appended so far (for a shutdown).
    pub fn sync(&mut self) -> Result<()> {
        self.syncer.clean();
        self.file.sync_data().map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })?;
        match self.syncer.take_error() {
            Some(source) => Err(Error::Io {
                path: self.path.clone(),
                source,
            }),
            None => Ok(()),
        }
    }

    /// How long a record may wait in the kernel before the background
    /// thread syncs it ([`DEFAULT_SYNC_INTERVAL`]); zero syncs each record
    /// before [`commit`](Self::commit) returns.
    pub fn set_sync_interval(&mut self, interval: Duration) {
        self.sync_interval = interval;
        self.syncer.state().interval = interval;
    }

    /// The history file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The newest generation it records.
    pub fn newest_generation(&self) -> u64 {
        self.newest_generation
    }

    /// Its length in bytes.
    pub fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// The limit it is kept under, in bytes.
    pub fn limit_bytes(&self) -> u64 {
        self.limit_bytes
    }
}

/// The bytes of a history (`bytes`, whose header is already right) without
/// its oldest generations, so that it and `incoming` more bytes fit half
/// the limit where they can, the limit at least: a baseline of the oldest
/// generation kept, then the newer records as they were.
fn shrink(path: &Path, bytes: &[u8], limit_bytes: u64, incoming: u64) -> Result<Vec<u8>> {
    let total = bytes.len() as u64;
    if total + incoming <= limit_bytes {
        return Ok(bytes.to_vec());
    }
    let recs = format::parse(bytes).map_err(|r| not_a_history(path, r))?;
    let history = History::from_records(&recs).map_err(|r| not_a_history(path, r))?;
    let size_from = |i: usize| {
        let r = &recs.records[i];
        let pages = r.head.len_bytes.div_ceil(PAGE_BYTES);
        HEADER_BYTES + format::record_bytes(true, pages) + (recs.good_bytes - r.offset - r.bytes)
    };
    let fits = |i: usize, room: u64| size_from(i) + incoming <= room;
    let complete = |i: usize| history.state_at(i).all(|d| d.is_some());
    let n = recs.records.len();
    let cut = (0..n)
        .find(|&i| fits(i, limit_bytes / 2) && complete(i))
        .or_else(|| (0..n).find(|&i| fits(i, limit_bytes) && complete(i)))
        .ok_or_else(|| {
            history_err(
                path,
                format!(
                    "its newest generation and the next record do not fit the limit of \
                     {limit_bytes} bytes"
                ),
            )
        })?;
    let r = &recs.records[cut];
    let mut out = bytes[..HEADER_BYTES as usize].to_vec();
    format::encode_record(
        &mut out,
        RecordHead {
            baseline: true,
            ..r.head
        },
        // `complete` said every page has a version.
        history.state_at(cut).map(|d| (0, d.unwrap_or(0))),
    );
    out.extend_from_slice(&bytes[(r.offset + r.bytes) as usize..recs.good_bytes as usize]);
    Ok(out)
}

fn history_err(path: &Path, reason: String) -> Error {
    Error::History {
        path: path.to_path_buf(),
        reason,
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The digest of page `p` of a file `len` bytes long.
fn read_page(data: &File, p: u64, len: u64, page: &mut [u8]) -> io::Result<u64> {
    let at = p * PAGE_BYTES;
    let n = (len.saturating_sub(at)).min(PAGE_BYTES) as usize;
    // The file may have shrunk since its length was read: a short read is
    // an error, as `read_exact_at`'s.
    if crate::volume::os::files::read_full_at(data, &mut page[..n], at)? < n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(format::page_digest(&page[..n]))
}

/// Opens the regular file `path` to read and append, never through a
/// symlink, never blocking on a FIFO.
fn open_rw(path: &Path) -> Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC);
    }
    let file = opts.open(path).map_err(|source| {
        #[cfg(unix)]
        if source.raw_os_error() == Some(libc::ELOOP) {
            return not_a_history(path, "not a regular file (a symlink)".into());
        }
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    })?;
    let meta = file.metadata().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(not_a_history(
            path,
            format!("not a regular file ({})", kind_of(&meta)),
        ));
    }
    Ok(file)
}

/// Puts `bytes` at `path` crash-safely: written to `PATH.new`, synced,
/// renamed over `path`, the folder synced.
fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    let io_err = |p: &Path, source| Error::Io {
        path: p.to_path_buf(),
        source,
    };
    // A leftover of a crash mid-rewrite; never followed if a symlink.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&tmp, e)),
        _ => {}
    }
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(0o644);
    }
    let written = opts.open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))?;
    Ok(())
}

/// The background thread that syncs the history some time after each
/// append, and its shared state.
#[derive(Debug)]
struct Syncer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<SyncState>,
    wake: Condvar,
}

#[derive(Debug)]
struct SyncState {
    file: Arc<File>,
    dirty: bool,
    stop: bool,
    interval: Duration,
    error: Option<io::Error>,
}

/// The longest the thread sleeps before it looks at its state again.
const IDLE_WAIT: Duration = Duration::from_millis(500);

impl Syncer {
    fn spawn(file: Arc<File>, interval: Duration) -> io::Result<Syncer> {
        let shared = Arc::new(Shared {
            state: Mutex::new(SyncState {
                file,
                dirty: false,
                stop: false,
                interval,
                error: None,
            }),
            wake: Condvar::new(),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("mailsim history sync".into())
            .spawn(move || s.run())?;
        Ok(Syncer {
            shared,
            thread: Some(thread),
        })
    }

    fn state(&self) -> MutexGuard<'_, SyncState> {
        self.shared.state.lock()
    }

    fn dirty(&self) {
        let mut s = self.state();
        if !s.dirty {
            s.dirty = true;
            self.shared.wake.notify_one();
        }
    }

    fn clean(&self) {
        self.state().dirty = false;
    }

    fn set_file(&self, file: Arc<File>) {
        self.state().file = file;
    }

    fn take_error(&self) -> Option<io::Error> {
        self.state().error.take()
    }
}

impl Shared {
    fn run(&self) {
        let mut s = self.state.lock();
        loop {
            if !s.dirty {
                if s.stop {
                    return;
                }
                self.wake.wait_for(&mut s, IDLE_WAIT);
                continue;
            }
            // Let an interval's appends gather, then sync them at once.
            let deadline = Instant::now() + s.interval;
            while !s.stop && Instant::now() < deadline {
                self.wake.wait_until(&mut s, deadline);
            }
            s.dirty = false;
            let file = Arc::clone(&s.file);
            let synced = MutexGuard::unlocked(&mut s, || file.sync_data());
            if let Err(e) = synced {
                s.error.get_or_insert(e);
            }
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.state().stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            // Bounded: the thread's last act is one sync.
            let _ = t.join();
        }
    }
}
