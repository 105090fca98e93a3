//! [`VolumePath`]: a volume name and the folders and file below it.

use std::fmt;
use std::sync::Arc;

/// A path on a named volume: the volume and its components, displayed
/// Mac-style with colons (`Server HD:System Folder:Extensions`).
///
/// A path with no components names the volume itself.
///
/// Cheap to clone: the name and the components are shared.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VolumePath {
    volume: Arc<str>,
    components: Arc<[String]>,
}

impl VolumePath {
    /// The path of `components` on `volume`.
    pub fn new<I, S>(volume: impl Into<String>, components: I) -> VolumePath
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        VolumePath {
            volume: Arc::from(volume.into()),
            components: components.into_iter().map(Into::into).collect(),
        }
    }

    /// The root of `volume`.
    pub fn root(volume: impl Into<String>) -> VolumePath {
        VolumePath {
            volume: Arc::from(volume.into()),
            components: Arc::from([]),
        }
    }

    /// Parses `Volume:Folder:File`. Returns `None` for an empty volume name or
    /// an empty component (`Server HD::x`, `:x`).
    pub fn parse(text: &str) -> Option<VolumePath> {
        let mut parts = text.split(':');
        let volume = parts.next().filter(|v| !v.is_empty())?;
        let mut components = Vec::new();
        for p in parts {
            if p.is_empty() {
                return None;
            }
            components.push(p.to_owned());
        }
        Some(VolumePath {
            volume: Arc::from(volume),
            components: Arc::from(components),
        })
    }

    /// The volume's name.
    pub fn volume(&self) -> &str {
        &self.volume
    }

    /// Folders and file below the volume, outermost first.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// The last component, or the volume's name for a root.
    pub fn name(&self) -> &str {
        self.components.last().map_or(&self.volume, |c| c.as_str())
    }

    /// Whether this names the volume itself.
    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    /// This path with `name` appended.
    pub fn join(&self, name: impl Into<String>) -> VolumePath {
        // Built in place: one allocation for the list, none in between.
        let components = self
            .components
            .iter()
            .cloned()
            .chain(std::iter::once(name.into()))
            .collect();
        VolumePath {
            volume: Arc::clone(&self.volume),
            components,
        }
    }

    /// The enclosing folder (or volume); `None` for a root.
    pub fn parent(&self) -> Option<VolumePath> {
        let (_, rest) = self.components.split_last()?;
        Some(VolumePath {
            volume: Arc::clone(&self.volume),
            components: Arc::from(rest),
        })
    }

    /// Whether `self` is `other` or lies inside it.
    pub fn starts_with(&self, other: &VolumePath) -> bool {
        self.volume == other.volume && self.components.starts_with(&other.components[..])
    }
}

impl fmt::Display for VolumePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.volume)?;
        for c in self.components.iter() {
            f.write_str(":")?;
            f.write_str(c)?;
        }
        Ok(())
    }
}

impl serde::Serialize for VolumePath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_mac_style() {
        let p = VolumePath::new("Server HD", ["System Folder", "Extensions"]);
        assert_eq!(p.to_string(), "Server HD:System Folder:Extensions");
        assert_eq!(VolumePath::parse(&p.to_string()), Some(p.clone()));
        assert_eq!(p.name(), "Extensions");
        assert_eq!(p.parent().unwrap().to_string(), "Server HD:System Folder");
        assert!(p.join("Microsoft Mail Data").starts_with(&p));
    }

    #[test]
    fn rejects_empty_parts() {
        assert_eq!(VolumePath::parse(""), None);
        assert_eq!(VolumePath::parse(":a"), None);
        assert_eq!(VolumePath::parse("a::b"), None);
        assert!(VolumePath::parse("Backup Drive").unwrap().is_root());
    }
}
