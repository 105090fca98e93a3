//! Exclusion policies: which paths the backup never opens.

use std::fmt::Debug;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::volume::VolumePath;

/// Decides which paths the backup skips.
///
/// The backup asks about every folder before entering it (an excluded folder
/// is skipped whole, each file inside counted as excluded) and about every
/// file before opening it. Contract: `excludes` is a pure function of the
/// path: no side effects, the same answer every time, no panics.
pub trait ExclusionPolicy: Send + Sync + Debug {
    /// Whether the backup must skip `path`.
    fn excludes(&self, path: &VolumePath) -> bool;

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

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        (**self).as_any()
    }
}

impl<P: ExclusionPolicy + ?Sized> ExclusionPolicy for Box<P> {
    fn excludes(&self, path: &VolumePath) -> bool {
        (**self).excludes(path)
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

impl ExclusionPolicy for ExcludeAny {
    fn excludes(&self, path: &VolumePath) -> bool {
        self.0.iter().any(|p| p.excludes(path))
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

    #[test]
    fn any_combines() {
        let p = ExcludeAny::new()
            .with(ExcludeGlob::new("*.txt"))
            .with(ExcludeFile::new("Microsoft Mail Data"));
        assert!(p.excludes(&data()));
        assert!(!ExcludeAny::new().excludes(&data()));
    }
}
