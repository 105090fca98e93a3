//! How wide the command's text may be: `demo` and `run` fit their lines to
//! it, so that nothing wraps in the terminal.
//!
//! What does not live here: the wrapping itself (`mailsim::demo`).

use std::io::IsTerminal;

/// What a pipe or a file is taken to be as wide as.
pub const DEFAULT: usize = 80;

/// The width to fit: the `COLUMNS` environment variable when it holds a
/// positive number; otherwise the terminal's width when stdout is a
/// terminal; otherwise [`DEFAULT`].
pub fn width() -> usize {
    from_columns(std::env::var("COLUMNS").ok().as_deref()).unwrap_or_else(|| {
        if std::io::stdout().is_terminal() {
            console::Term::stdout()
                .size_checked()
                .map_or(DEFAULT, |(_, cols)| usize::from(cols))
                .max(1)
        } else {
            DEFAULT
        }
    })
}

/// `COLUMNS`'s value as a width, when it is a positive number.
fn from_columns(value: Option<&str>) -> Option<usize> {
    value?.trim().parse().ok().filter(|&n: &usize| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_counts_only_when_a_positive_number() {
        assert_eq!(from_columns(Some("120")), Some(120));
        assert_eq!(from_columns(Some(" 100\n")), Some(100));
        assert_eq!(from_columns(Some("0")), None);
        assert_eq!(from_columns(Some("wide")), None);
        assert_eq!(from_columns(Some("")), None);
        assert_eq!(from_columns(None), None);
    }
}
