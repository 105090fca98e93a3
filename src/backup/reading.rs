//! The file being archived, read chunk by chunk from an open file or a
//! snapshot's image.

use super::BackupEnv;
use crate::error::{Error, Result};
use crate::time::SimTime;
use crate::volume::{Chunk, Content, CopyBuilder, Handle, VolumePath};

/// The file being archived: where it is read from, how far, and the copy
/// so far.
#[derive(Debug)]
pub(super) struct Reading {
    pub(super) source: Source,
    pub(super) pos: u64,
    pub(super) len: u64,
    pub(super) taken_at: SimTime,
    pub(super) copy: CopyBuilder,
    /// Whether the environment stores this file itself (then `copy` stays
    /// empty).
    pub(super) streamed: bool,
}

impl Reading {
    pub(super) fn new(source: Source, len: u64, taken_at: SimTime) -> Reading {
        Reading {
            source,
            pos: 0,
            len,
            taken_at,
            copy: CopyBuilder::default(),
            streamed: false,
        }
    }

    /// The next chunk, at most `chunk_bytes`; `None` at the end.
    pub(super) fn next_chunk(
        &self,
        env: &dyn BackupEnv,
        volumes: &[String],
        chunk_bytes: u64,
    ) -> Result<Option<Chunk>> {
        let want = chunk_bytes.min(self.len - self.pos);
        match (want, &self.source) {
            (0, _) => Ok(None),
            (_, Source::File(vi, handle)) => {
                let v = env.volume(&volumes[*vi]).ok_or(Error::BadHandle)?;
                v.read_at(*handle, self.pos, want).map(Some)
            }
            (_, Source::Image(content)) => Ok(Some(Chunk::of(content, self.pos, want))),
        }
    }

    /// Hands `chunk` of `path` to the environment, or keeps it.
    pub(super) fn keep(
        &mut self,
        env: &mut dyn BackupEnv,
        path: &VolumePath,
        chunk: &Chunk,
    ) -> Result<()> {
        match env.archive_chunk(path, chunk)? {
            true => {
                self.streamed = true;
                self.copy = CopyBuilder::default();
            }
            false if !self.streamed => self.copy.push(chunk),
            false => {}
        }
        Ok(())
    }

    /// The copy, once the last chunk is in: empty if the environment
    /// stored the file.
    pub(super) fn finish(&mut self) -> Content {
        if self.streamed {
            Content::new()
        } else {
            std::mem::take(&mut self.copy).finish(self.pos)
        }
    }

    /// Closes the file read from, if it is one (an error in closing is
    /// the volume's, and the read is over anyway).
    pub(super) fn close(&self, env: &dyn BackupEnv, volumes: &[String]) {
        if let Source::File(vi, handle) = self.source
            && let Some(v) = env.volume(&volumes[vi])
        {
            let _ = v.close(handle);
        }
    }
}

#[derive(Debug)]
pub(super) enum Source {
    /// An open file on the client's volume number `usize`.
    File(usize, Handle),
    /// A point-in-time image handed over by the snapshot policy.
    Image(Content),
}

/// A digest of contents by their bytes.
pub(crate) fn content_digest(c: &Content) -> u64 {
    let mut b = CopyBuilder::default();
    b.push(&Chunk::of(c, 0, c.len_bytes()));
    b.digest() ^ c.len_bytes()
}
