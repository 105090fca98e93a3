//! Text for a terminal: the [`Tone`] a line is painted in and its ANSI
//! colours, bold, and wrapping at a width with a hanging indent
//! ([`wrap`]; [`wrap_narration`] for a line of narration); shared by the
//! table, the excerpts and `mailsim run`.
//!
//! What does not live here: deciding when to paint (the command's
//! `--color`).

/// How a line of narration is painted on a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tone {
    Plain,
    Dim,
    /// The foreign access itself.
    Conflict,
    /// Something went wrong: a shutdown, a hang, a torn copy.
    Bad,
    /// Requests deferred, the administrator's restart.
    Warn,
    /// A remedy acting: a planned stop, a pause, a snapshot, a copy aside.
    Remedy,
    /// A consistent copy archived.
    Good,
}

impl Tone {
    fn ansi(self) -> &'static str {
        match self {
            Tone::Plain => "",
            Tone::Dim => "\x1b[2m",
            Tone::Conflict => "\x1b[1;31m",
            Tone::Bad => "\x1b[31m",
            Tone::Warn => "\x1b[33m",
            Tone::Remedy => "\x1b[36m",
            Tone::Good => "\x1b[32m",
        }
    }
}

const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// `text` in `tone` when `color` is on.
pub(super) fn paint(text: &str, tone: Tone, color: bool) -> String {
    if color && tone != Tone::Plain && !text.is_empty() {
        format!("{}{text}{RESET}", tone.ansi())
    } else {
        text.to_owned()
    }
}

pub(super) fn bold(text: &str, color: bool) -> String {
    if color && !text.is_empty() {
        format!("{BOLD}{text}{RESET}")
    } else {
        text.to_owned()
    }
}

/// `text` wrapped at `width` columns on spaces; continuation lines start
/// with `indent`. A word longer than the width has a line of its own.
pub(super) fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut fresh = true;
    for word in text.split(' ') {
        if !fresh && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
            line.push_str(indent);
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `text` wrapped at `width` columns (counted in characters) on spaces,
/// continuation lines starting with `indent`; a word longer than the width
/// has a line of its own. For the `mailsim` binary (`run`'s summary).
pub fn wrap_text(text: &str, width: usize, indent: &str) -> Vec<String> {
    wrap(text, width, indent)
}

/// Continuation lines of narration start under the text after the time.
pub(super) const NARRATION_INDENT: &str = "         ";

/// A line of narration wrapped at `width` by words, continuation lines
/// indented under the text after its time; neither a size (`(3.0 MB)`),
/// a closing `…`, nor a path of `paths` that fits on a continuation line is
/// broken across lines.
pub(super) fn wrap_narration(line: &str, paths: &[String], width: usize) -> Vec<String> {
    const KEEP: char = '\u{a0}';
    let room = width.saturating_sub(NARRATION_INDENT.len());
    let mut kept = line
        .replace(" MB)", "\u{a0}MB)")
        .replace(" KB)", "\u{a0}KB)");
    // A run of traffic ends with `…`, which stays with its last word.
    if let Some(head) = kept.strip_suffix(" …") {
        kept = format!("{head}{KEEP}…");
    }
    for p in paths {
        if p.chars().count() <= room {
            kept = kept.replace(p.as_str(), &p.replace(' ', &KEEP.to_string()));
        }
    }
    wrap(&kept, width, NARRATION_INDENT)
        .into_iter()
        .map(|l| l.replace(KEEP, " "))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narration_wraps_by_words_keeping_paths_and_sizes_whole() {
        let path = "Server HD:System Folder:Extensions:Microsoft Mail Data".to_owned();
        let line = format!("01:23:12 Retrospect Remote archives {path} (3.0 MB)");
        let lines = wrap_narration(&line, std::slice::from_ref(&path), 70);
        assert_eq!(
            lines,
            [
                "01:23:12 Retrospect Remote archives".to_owned(),
                format!("{NARRATION_INDENT}{path}"),
                format!("{NARRATION_INDENT}(3.0 MB)"),
            ]
        );
        // A path wider than a continuation line breaks at its spaces.
        let lines = wrap_narration(&line, std::slice::from_ref(&path), 40);
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{lines:?}");
        let joined = lines.join(" ");
        assert!(joined.split_whitespace().eq(line.split_whitespace()));
        // A run of traffic keeps its closing `…`.
        let run =
            "23:00:05–00:59:53 … 203 mail transactions (102 deliveries, 70 reads, 31 deletions) …";
        let lines = wrap_narration(run, &[], 80);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with("deletions) …"), "{lines:?}");
        assert!(lines[0].chars().count() <= 80);
    }
}
