//! Text for a terminal: the [`Tone`] a line is painted in and its ANSI
//! colours, bold, and wrapping at a width with a hanging indent; shared by
//! the table and the excerpts.
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
