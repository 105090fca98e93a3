//! Exclusion policies: which paths the backup never opens, and the
//! [`Entry`] it asks them about.

use std::fmt::Debug;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::time::SimTime;
use crate::volume::{EntryKind, Metadata, VolumePath};

/// What the backup knows about a folder or file when it decides whether to
/// skip it: its path and what the volume tells without opening it.
///
/// The size and modification time are the volume's at that moment (the
/// backup asks while it walks the volumes, when it starts): for a live file
/// such as Mail Data, the length the server has written so far. A folder's
/// length is 0; its modification time is what its volume keeps (the start
/// of virtual time on a simulated volume).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    path: &'a VolumePath,
    kind: EntryKind,
    len_bytes: u64,
    modified: SimTime,
}

impl<'a> Entry<'a> {
    /// An entry at `path` (for testing a policy outside a backup).
    pub fn new(path: &'a VolumePath, kind: EntryKind, len_bytes: u64, modified: SimTime) -> Self {
        Entry {
            path,
            kind,
            len_bytes,
            modified,
        }
    }

    /// The entry at `path`, as a volume's [`Metadata`] describes it.
    pub fn from_metadata(path: &'a VolumePath, metadata: &Metadata) -> Self {
        Entry::new(path, metadata.kind, metadata.len_bytes, metadata.modified)
    }

    /// Where it is.
    pub fn path(&self) -> &'a VolumePath {
        self.path
    }

    /// File or folder.
    pub fn kind(&self) -> EntryKind {
        self.kind
    }

    /// Whether it is a file.
    pub fn is_file(&self) -> bool {
        self.kind == EntryKind::File
    }

    /// Whether it is a folder.
    pub fn is_folder(&self) -> bool {
        self.kind == EntryKind::Folder
    }

    /// A file's current length in bytes (0 for a folder).
    pub fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// When it was last modified, in the night's virtual time.
    pub fn modified(&self) -> SimTime {
        self.modified
    }
}

/// Decides which paths the backup skips.
///
/// The backup asks about every folder before entering it (an excluded folder
/// is skipped whole, each file inside counted as excluded) and about every
/// file before opening it, through [`excludes_entry`](Self::excludes_entry),
/// which hands the policy the [`Entry`]: path, kind, length and
/// modification time. A policy that looks at the path only implements
/// [`excludes`](Self::excludes) alone (the default `excludes_entry` asks it);
/// one that looks at more — skip files over 1 MB, or not modified since
/// some time — overrides `excludes_entry`, and should then make `excludes`
/// its best answer from the path alone, for callers that know nothing more
/// about an entry.
///
/// ```
/// use mailsim::policy::{Entry, ExclusionPolicy};
/// use mailsim::{Outcome, Scenario, VolumePath};
///
/// /// Skips every file over 1 MB: Mail Data among them.
/// #[derive(Debug)]
/// struct SkipLargeFiles;
///
/// impl ExclusionPolicy for SkipLargeFiles {
///     fn excludes(&self, _: &VolumePath) -> bool {
///         false
///     }
///     fn excludes_entry(&self, entry: &Entry<'_>) -> bool {
///         entry.is_file() && entry.len_bytes() > 1 << 20
///     }
/// }
///
/// let report = Scenario::kb98097().exclusion(SkipLargeFiles).run()?;
/// assert_eq!(report.outcome(), Outcome::Clean);
/// # Ok::<(), mailsim::Error>(())
/// ```
///
/// Contract: both methods are pure functions of what they are given: no
/// side effects, the same answer every time, no panics.
pub trait ExclusionPolicy: Send + Sync + Debug {
    /// Whether the backup must skip `path`, knowing nothing else about it.
    fn excludes(&self, path: &VolumePath) -> bool;

    /// Whether the backup must skip `entry`; what the backup calls. The
    /// default asks [`excludes`](Self::excludes) about the entry's path.
    fn excludes_entry(&self, entry: &Entry<'_>) -> bool {
        self.excludes(entry.path())
    }

    /// The policy as `Any`, for the built-ins that scenario files can save;
    /// `None` (the default) for a policy of your own.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

impl<P: ExclusionPolicy + ?Sized> ExclusionPolicy for Arc<P> {
    fn excludes(&self, path: &VolumePath) -> bool {
        (**self).excludes(path)
    }

    fn excludes_entry(&self, entry: &Entry<'_>) -> bool {
        (**self).excludes_entry(entry)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        (**self).as_any()
    }
}

impl<P: ExclusionPolicy + ?Sized> ExclusionPolicy for Box<P> {
    fn excludes(&self, path: &VolumePath) -> bool {
        (**self).excludes(path)
    }

    fn excludes_entry(&self, entry: &Entry<'_>) -> bool {
        (**self).excludes_entry(entry)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        (**self).as_any()
    }
}

/// Excludes nothing: Retrospect's default, which archives Mail Data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExcludeNothing;

impl ExclusionPolicy for ExcludeNothing {
    fn excludes(&self, _: &VolumePath) -> bool {
        false
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// A name or a full path, compared as HFS did: ignoring ASCII case.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Name(String),
    Path(VolumePath),
}

impl Target {
    fn spec(&self) -> String {
        match self {
            Target::Name(n) => n.clone(),
            Target::Path(p) => p.to_string(),
        }
    }

    fn new(spec: &str) -> Target {
        match spec
            .contains(':')
            .then(|| VolumePath::parse(spec))
            .flatten()
        {
            Some(p) => Target::Path(p),
            None => Target::Name(spec.to_owned()),
        }
    }
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn prefix_of(prefix: &VolumePath, path: &VolumePath) -> bool {
    same(prefix.volume(), path.volume())
        && prefix.components().len() <= path.components().len()
        && prefix
            .components()
            .iter()
            .zip(path.components())
            .all(|(a, b)| same(a, b))
}

/// Excludes every folder with a given name, and everything inside it
/// (KB remedy 1: "System Folder" or "Extensions").
///
/// A spec with a colon (`Server HD:System Folder`) names one folder by its
/// full path instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExcludeFolder(Target);

impl ExcludeFolder {
    /// Excludes folders named `name` (or the one folder at a `Volume:Path`).
    pub fn new(name: impl AsRef<str>) -> ExcludeFolder {
        ExcludeFolder(Target::new(name.as_ref()))
    }

    /// The name (or `Volume:Path`) it was built with.
    pub fn spec(&self) -> String {
        self.0.spec()
    }
}

impl ExclusionPolicy for ExcludeFolder {
    fn excludes(&self, path: &VolumePath) -> bool {
        match &self.0 {
            // The path is such a folder or lies inside one.
            Target::Name(n) => path.components().iter().any(|c| same(c, n)),
            Target::Path(p) => prefix_of(p, path),
        }
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// Excludes every file with a given name (KB remedy 2: "Microsoft Mail Data").
///
/// A spec with a colon names one file by its full path instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExcludeFile(Target);

impl ExcludeFile {
    /// Excludes files named `name` (or the one file at a `Volume:Path`).
    pub fn new(name: impl AsRef<str>) -> ExcludeFile {
        ExcludeFile(Target::new(name.as_ref()))
    }

    /// The name (or `Volume:Path`) it was built with.
    pub fn spec(&self) -> String {
        self.0.spec()
    }
}

impl ExclusionPolicy for ExcludeFile {
    fn excludes(&self, path: &VolumePath) -> bool {
        match &self.0 {
            Target::Name(n) => !path.is_root() && same(path.name(), n),
            Target::Path(p) => {
                p.components().len() == path.components().len() && prefix_of(p, path)
            }
        }
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// Excludes paths matching a shell-style pattern (`*`, `?`, `[...]`),
/// tried against the name and against the whole `Volume:Folder:File` path,
/// ignoring case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExcludeGlob {
    pattern: glob::Pattern,
}

impl ExcludeGlob {
    /// A glob exclusion. A malformed pattern (an unclosed `[`) is taken
    /// literally; use [`ExcludeGlob::try_new`] to reject it instead.
    pub fn new(pattern: impl AsRef<str>) -> ExcludeGlob {
        let p = pattern.as_ref();
        ExcludeGlob::try_new(p).unwrap_or_else(|_| ExcludeGlob {
            pattern: glob::Pattern::new(&glob::Pattern::escape(p))
                .expect("an escaped pattern is always valid"),
        })
    }

    /// The pattern.
    pub fn pattern(&self) -> &str {
        self.pattern.as_str()
    }

    /// A glob exclusion, or an error naming what is wrong with the pattern.
    pub fn try_new(pattern: impl AsRef<str>) -> Result<ExcludeGlob> {
        let p = pattern.as_ref();
        glob::Pattern::new(p)
            .map(|pattern| ExcludeGlob { pattern })
            .map_err(|e| Error::invalid("exclude-glob", format!("{p:?}: {}", e.msg)))
    }
}

impl ExclusionPolicy for ExcludeGlob {
    fn excludes(&self, path: &VolumePath) -> bool {
        let opts = glob::MatchOptions {
            case_sensitive: false,
            require_literal_separator: false,
            require_literal_leading_dot: false,
        };
        self.pattern.matches_with(path.name(), opts)
            || self.pattern.matches_with(&path.to_string(), opts)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// Excludes a path when any of its policies does: several exclusions at once.
///
/// It hands each policy the whole [`Entry`], so a size- or time-based policy
/// combines like a path-based one.
#[derive(Clone, Debug, Default)]
pub struct ExcludeAny(Vec<Arc<dyn ExclusionPolicy>>);

impl ExcludeAny {
    /// No exclusions yet (excludes nothing).
    pub fn new() -> ExcludeAny {
        ExcludeAny(Vec::new())
    }

    /// Adds a policy.
    pub fn with(mut self, policy: impl ExclusionPolicy + 'static) -> ExcludeAny {
        self.0.push(Arc::new(policy));
        self
    }

    /// Adds a shared policy.
    pub fn with_arc(mut self, policy: Arc<dyn ExclusionPolicy>) -> ExcludeAny {
        self.0.push(policy);
        self
    }

    /// Number of policies combined.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no policy is combined.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The policies combined.
    pub fn policies(&self) -> &[Arc<dyn ExclusionPolicy>] {
        &self.0
    }
}

/// The first answer `f` gives for a policy `p` combines, or for `p` itself
/// when it combines none: the combinations (`ExcludeAny`) looked through,
/// depth first.
pub(crate) fn find_in_combination<T>(
    p: &Arc<dyn ExclusionPolicy>,
    f: &impl Fn(&Arc<dyn ExclusionPolicy>) -> Option<T>,
) -> Option<T> {
    match p.as_any().and_then(|a| a.downcast_ref::<ExcludeAny>()) {
        Some(any) => any
            .policies()
            .iter()
            .find_map(|q| find_in_combination(q, f)),
        None => f(p),
    }
}

impl ExclusionPolicy for ExcludeAny {
    fn excludes(&self, path: &VolumePath) -> bool {
        self.0.iter().any(|p| p.excludes(path))
    }

    fn excludes_entry(&self, entry: &Entry<'_>) -> bool {
        self.0.iter().any(|p| p.excludes_entry(entry))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> VolumePath {
        VolumePath::new(
            "Server HD",
            ["System Folder", "Extensions", "Microsoft Mail Data"],
        )
    }

    #[test]
    fn each_kb_exclusion_covers_mail_data() {
        assert!(ExcludeFolder::new("System Folder").excludes(&data()));
        assert!(ExcludeFolder::new("extensions").excludes(&data()));
        assert!(ExcludeFile::new("Microsoft Mail Data").excludes(&data()));
        assert!(!ExcludeNothing.excludes(&data()));
        let word = VolumePath::new("Server HD", ["Applications", "Microsoft Word"]);
        assert!(!ExcludeFolder::new("System Folder").excludes(&word));
        assert!(!ExcludeFile::new("Microsoft Mail Data").excludes(&word));
    }

    #[test]
    fn full_paths_and_globs() {
        assert!(ExcludeFolder::new("Server HD:System Folder").excludes(&data()));
        assert!(!ExcludeFolder::new("Backup Drive:System Folder").excludes(&data()));
        assert!(
            ExcludeFile::new("Server HD:System Folder:Extensions:Microsoft Mail Data")
                .excludes(&data())
        );
        assert!(ExcludeGlob::new("*mail data").excludes(&data()));
        assert!(ExcludeGlob::new("Server HD:System*").excludes(&data()));
        assert!(!ExcludeGlob::new("*.txt").excludes(&data()));
        assert!(ExcludeGlob::try_new("[").is_err());
        assert!(!ExcludeGlob::new("[").excludes(&data()));
    }

    /// Skips files over 1 MB; knows nothing from a path alone.
    #[derive(Debug)]
    struct OverOneMb;

    impl ExclusionPolicy for OverOneMb {
        fn excludes(&self, _: &VolumePath) -> bool {
            false
        }
        fn excludes_entry(&self, entry: &Entry<'_>) -> bool {
            entry.is_file() && entry.len_bytes() > 1 << 20
        }
    }

    #[test]
    fn entries_reach_the_policy_through_every_wrapper() {
        let path = data();
        let big = Entry::new(&path, EntryKind::File, 3 << 20, SimTime::ZERO);
        let small = Entry::new(&path, EntryKind::File, 1 << 20, SimTime::ZERO);
        assert!(OverOneMb.excludes_entry(&big));
        assert!(!OverOneMb.excludes_entry(&small));
        assert!(Arc::new(OverOneMb).excludes_entry(&big));
        assert!(Box::new(OverOneMb).excludes_entry(&big));
        let shared: Arc<dyn ExclusionPolicy> = Arc::new(OverOneMb);
        assert!(shared.excludes_entry(&big));
        assert!(ExcludeAny::new().with(OverOneMb).excludes_entry(&big));
        assert!(!ExcludeAny::new().with(OverOneMb).excludes_entry(&small));
        assert!(!ExcludeAny::new().with(OverOneMb).excludes(&path));
    }

    #[test]
    fn path_only_policies_judge_an_entry_by_its_path() {
        let path = data();
        let folder = Entry::new(&path, EntryKind::Folder, 0, SimTime::ZERO);
        let meta = Metadata {
            kind: EntryKind::File,
            len_bytes: 7,
            modified: SimTime::from_micros(5),
        };
        let file = Entry::from_metadata(&path, &meta);
        assert_eq!(
            (file.len_bytes(), file.modified()),
            (7, SimTime::from_micros(5))
        );
        assert!(file.is_file() && !file.is_folder() && folder.is_folder());
        for entry in [folder, file] {
            assert!(ExcludeFile::new("Microsoft Mail Data").excludes_entry(&entry));
            assert!(ExcludeFolder::new("Extensions").excludes_entry(&entry));
            assert!(!ExcludeNothing.excludes_entry(&entry));
            assert!(!ExcludeGlob::new("*.txt").excludes_entry(&entry));
        }
    }

    #[test]
    fn any_combines() {
        let p = ExcludeAny::new()
            .with(ExcludeGlob::new("*.txt"))
            .with(ExcludeFile::new("Microsoft Mail Data"));
        assert!(p.excludes(&data()));
        assert!(!ExcludeAny::new().excludes(&data()));
    }
}
