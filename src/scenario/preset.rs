//! The KB Q98097 night's volumes, built once per thread and shared between
//! nights (pages are shared, copied only when written).

use std::sync::Arc;

use crate::datafile::{self, RecordFlags};
use crate::volume::{Content, SimVolume, Volume, VolumePath};

/// Name of the server's disk.
pub const SERVER_HD: &str = "Server HD";
/// Name of the external disk MS Mail Backup copies to.
pub const BACKUP_DRIVE: &str = "Backup Drive";
/// The data file's name (see [`crate::datafile::MAIL_DATA`]).
pub use crate::datafile::MAIL_DATA;

/// Where the data file lives in the preset.
pub fn mail_data_path() -> VolumePath {
    VolumePath::new(SERVER_HD, ["System Folder", "Extensions", MAIL_DATA])
}

const KB: u64 = 1024;

/// The static files of Server HD: (folders, name, bytes).
const STATIC_FILES: &[(&[&str], &str, u64)] = &[
    (&["Applications"], "Aldus PageMaker 4.2", 3_100 * KB),
    (&["Applications"], "FileMaker Pro", 1_600 * KB),
    (&["Applications"], "HyperCard", 880 * KB),
    (&["Applications"], "Microsoft Excel", 2_150 * KB),
    (&["Applications"], "Microsoft Mail", 610 * KB),
    (&["Applications"], "Microsoft Word", 2_420 * KB),
    (&["Applications"], "ResEdit", 520 * KB),
    (&["Applications", "Retrospect"], "Retrospect", 1_050 * KB),
    (&["Documents"], "Budget FY93", 310 * KB),
    (&["Documents"], "Network Map", 190 * KB),
    (&["Documents"], "Quarterly Report", 1_130 * KB),
    (&["Documents"], "Staff Directory", 420 * KB),
    (&["Documents", "Scans"], "Floor Plan", 2_600 * KB),
    (&["Documents", "Scans"], "Logo Artwork", 2_400 * KB),
    (&["System Folder"], "Clipboard", 12 * KB),
    (
        &["System Folder", "Control Panels"],
        "General Controls",
        21 * KB,
    ),
    (
        &["System Folder", "Control Panels"],
        "MS Mail Backup",
        64 * KB,
    ),
    (&["System Folder", "Control Panels"], "Network", 38 * KB),
    (
        &["System Folder", "Control Panels"],
        "Sharing Setup",
        29 * KB,
    ),
    (&["System Folder", "Extensions"], "AppleShare", 152 * KB),
    (&["System Folder", "Extensions"], "LaserWriter", 310 * KB),
    (
        &["System Folder", "Extensions"],
        "Microsoft Mail Server",
        420 * KB,
    ),
    (
        &["System Folder", "Extensions"],
        "Retrospect Remote",
        118 * KB,
    ),
    (&["System Folder"], "Finder", 356 * KB),
    (&["System Folder", "Preferences"], "Finder Prefs", 4 * KB),
    (
        &["System Folder", "Preferences"],
        "Mail Server Prefs",
        8 * KB,
    ),
    (&["System Folder"], "Scrapbook File", 290 * KB),
    (&["System Folder"], "System", 1_420 * KB),
];

/// Messages in the preset's initial Mail Data, and its generation.
const INITIAL_MESSAGES: u64 = 1_400;
const INITIAL_GENERATION: u64 = 52_000;

/// A realistic payload size for the `i`-th message of the initial file
/// (a fixed sequence: the preset does not depend on the seed).
fn initial_size(i: u64) -> u32 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    let bytes = match x % 20 {
        0 => 4_000 + (x >> 8) % 28_000,
        1..=5 => 1_200 + (x >> 8) % 2_800,
        _ => 200 + (x >> 8) % 1_000,
    };
    bytes as u32
}

fn initial_mail_data() -> Vec<u8> {
    datafile::build_image(
        INITIAL_GENERATION,
        (1..=INITIAL_MESSAGES).map(|id| {
            let flags = match id % 10 {
                0 => RecordFlags::READ.with(RecordFlags::DELETED),
                1..=6 => RecordFlags::READ,
                _ => RecordFlags::empty(),
            };
            (id, flags, initial_size(id))
        }),
    )
}

/// The preset's volumes, built once per thread.
#[derive(Debug)]
pub(crate) struct Prototype {
    pub(crate) server_hd: SimVolume,
    pub(crate) backup_drive: SimVolume,
}

fn build() -> Prototype {
    let hd = SimVolume::new(SERVER_HD);
    let pattern = Content::pattern_pages(16, 0x5a);
    for (i, (folders, name, bytes)) in STATIC_FILES.iter().enumerate() {
        let folder = VolumePath::new(SERVER_HD, folders.iter().copied());
        hd.create_folder(&folder).expect("fresh volume");
        hd.put_file(
            &folder.join(*name),
            Content::from_pattern(*bytes, &pattern, i * 7),
        )
        .expect("fresh volume");
    }
    hd.put_file(&mail_data_path(), Content::from_bytes(&initial_mail_data()))
        .expect("fresh volume");
    let drive = SimVolume::new(BACKUP_DRIVE);
    Prototype {
        server_hd: hd,
        backup_drive: drive,
    }
}

thread_local! {
    static PROTOTYPE: Arc<Prototype> = Arc::new(build());
}

/// Fresh volumes for a run: forks of this thread's prototype.
pub(crate) fn volumes() -> (SimVolume, SimVolume) {
    PROTOTYPE.with(|p| (p.server_hd.fork(), p.backup_drive.fork()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_mail_data_is_valid_and_a_few_megabytes() {
        let (hd, _) = volumes();
        let c = hd.contents(&mail_data_path()).unwrap();
        let v = datafile::verify(&c.to_vec()).unwrap();
        assert_eq!(v.generation, INITIAL_GENERATION);
        assert_eq!(v.message_count, INITIAL_MESSAGES - INITIAL_MESSAGES / 10);
        assert!(
            (2 << 20..6 << 20).contains(&c.len_bytes()),
            "{}",
            c.len_bytes()
        );
        let total: u64 = STATIC_FILES.iter().map(|f| f.2).sum();
        assert!(
            (20 << 20..60 << 20).contains(&total),
            "some tens of MB: {total}"
        );
    }
}
