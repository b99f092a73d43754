//! Fitting `watch`'s frame to the terminal: at most as many lines as it is high (else the header
//! scrolls away) and every line shorter than it is wide (a line filling the last column would
//! wrap, and a wrapped table is unreadable). A line too long is cut at a space and ends in ` …`,
//! so no number is ever cut in the middle. The size comes from the terminal itself (`TIOCGWINSZ`
//! through `terminal_size`), read for every frame so a resized window is followed; into a pipe
//! there is no size and nothing is cut.

/// The room a frame has: `None` is unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Size {
    /// Columns.
    pub width: Option<usize>,
    /// Lines.
    pub height: Option<usize>,
}

impl Size {
    /// No limit (a pipe or a file).
    pub const UNLIMITED: Size = Size { width: None, height: None };

    /// The terminal on stdout, when it is one.
    pub fn of_stdout() -> Size {
        match terminal_size::terminal_size() {
            Some((terminal_size::Width(w), terminal_size::Height(h))) if w > 0 && h > 0 => {
                Size { width: Some(usize::from(w)), height: Some(usize::from(h)) }
            }
            _ => Size::UNLIMITED,
        }
    }
}

/// `line` cut to fewer than `width` characters at a space, ending in `…` when cut.
pub(crate) fn clip(line: &str, width: Option<usize>) -> String {
    let Some(width) = width else { return line.to_owned() };
    // The last column stays free: a character there makes some terminals wrap.
    let room = width.saturating_sub(1);
    if line.chars().count() <= room {
        return line.to_owned();
    }
    let keep: String = line.chars().take(room.saturating_sub(2)).collect();
    // Back to the last space, so a number or a word is never cut in two.
    let cut = match line.chars().nth(keep.chars().count()) {
        Some(' ') => keep.trim_end(),
        _ => keep.rfind(' ').map_or("", |i| keep[..i].trim_end()),
    };
    if cut.is_empty() {
        "…".to_owned()
    } else {
        format!("{cut} …")
    }
}

/// A frame being laid out: sections of lines, each clipped to the width.
#[derive(Debug)]
pub(crate) struct Frame {
    size: Size,
    lines: Vec<String>,
}

impl Frame {
    /// An empty frame for `size`.
    pub fn new(size: Size) -> Self {
        Self { size, lines: Vec::new() }
    }

    /// Lines still free (`usize::MAX` without a height).
    pub fn left(&self) -> usize {
        self.size.height.map_or(usize::MAX, |h| h.saturating_sub(self.lines.len()))
    }

    /// Adds a line when there is room (clipped to the width); false when the frame is full.
    pub fn push(&mut self, line: &str) -> bool {
        if self.left() == 0 {
            return false;
        }
        self.lines.push(clip(line, self.size.width));
        true
    }

    /// Adds at most `max` of `lines`; when some do not fit, the last one shown says how many
    /// more there are.
    pub fn push_some(&mut self, lines: &[String], max: usize) {
        let room = max.min(self.left());
        if lines.len() <= room {
            for l in lines {
                self.push(l);
            }
            return;
        }
        if room == 0 {
            return;
        }
        for l in &lines[..room - 1] {
            self.push(l);
        }
        self.push(&format!("  … {} more", lines.len() - (room - 1)));
    }

    /// The frame as text: lines joined by `\n`, no newline after the last (on a terminal, one
    /// more would scroll the first line away when the frame fills it).
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_at_a_space_never_in_a_number() {
        assert_eq!(clip("abc 12345.678 xyz", Some(12)), "abc …");
        assert_eq!(clip("abc 12345.678 xyz", Some(17)), "abc 12345.678 …");
        assert_eq!(clip("short", Some(80)), "short");
        assert_eq!(clip("exactly10!", Some(10)), "…");
        assert_eq!(clip("anything goes", None), "anything goes");
        for w in 1..30 {
            assert!(
                clip("storm watch 2026-12-07T16:39:35.123Z redis://127.0.0.1:6390", Some(w)).chars().count() < w.max(2)
            );
        }
    }

    #[test]
    fn a_frame_never_grows_past_the_height() {
        let mut f = Frame::new(Size { width: Some(20), height: Some(4) });
        assert!(f.push("header"));
        let rows: Vec<String> = (0..10).map(|i| format!("row {i}")).collect();
        f.push_some(&rows, 5);
        assert_eq!(f.text(), "header\nrow 0\nrow 1\n  … 8 more");
        assert!(!f.push("no room"));
    }
}
