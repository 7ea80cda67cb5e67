//! The source text as miette reads it to render a snippet.
//!
//! miette's own `SourceCode` for text scans from the start of the file to every labelled span,
//! so rendering one diagnostic costs the whole file and rendering many is quadratic. A
//! [`Snippets`] finds a span's line in an index of line starts (built once, on the first
//! render) and hands miette only the lines around it, with line and column numbers as miette
//! itself would compute them. On a very long line (a generated 8,000-term sum) only the part
//! around the span is shown.
//!
//! Example: a label at byte 10,000,000 of a 10 MB script costs a binary search and a few lines.

use std::sync::{Arc, OnceLock};

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// A line longer than this is shown only around the span.
const LONG_LINE: usize = 1024;
/// How much of a long line is shown on each side of the span.
const CLIPPED_CONTEXT: usize = 100;

/// A named source text with an index of its line starts.
#[derive(Clone, Debug)]
pub struct Snippets {
    name: String,
    text: Arc<str>,
    line_starts: Arc<OnceLock<Vec<usize>>>,
}

impl Snippets {
    /// The text of the script `name`; lines are indexed on first use.
    pub fn new(name: String, text: Arc<str>) -> Self {
        Snippets { name, text, line_starts: Arc::default() }
    }

    /// The byte offset where each line starts. A line ends at `\n`, `\r\n` or a lone `\r`, as
    /// miette counts them.
    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            let bytes = self.text.as_bytes();
            let mut starts = vec![0];
            for (i, &b) in bytes.iter().enumerate() {
                let ends_line = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
                if ends_line {
                    starts.push(i + 1);
                }
            }
            starts
        })
    }

    /// The index of the line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts().partition_point(|&start| start <= offset) - 1
    }

    fn floor_boundary(&self, mut i: usize) -> usize {
        while !self.text.is_char_boundary(i) {
            i -= 1;
        }
        i
    }

    fn ceil_boundary(&self, mut i: usize) -> usize {
        i = i.min(self.text.len());
        while !self.text.is_char_boundary(i) {
            i += 1;
        }
        i
    }

    /// The byte range `[lo, hi)` holding `span` with its context lines, clipped on long lines.
    fn window(&self, span: &SourceSpan, before: usize, after: usize) -> (usize, usize) {
        let starts = self.line_starts();
        let len = self.text.len();
        let start = span.offset().min(len);
        let end = (span.offset() + span.len()).min(len);
        let first = self.line_of(start);
        let mut lo = starts[first.saturating_sub(before)];
        if start - lo > LONG_LINE {
            lo = self.floor_boundary(start.saturating_sub(CLIPPED_CONTEXT)).max(starts[first]);
        }
        // Without context lines miette's snippet starts at the span, and where an empty span
        // ends depends on the byte before it: keep that byte in the window.
        if before == 0 {
            lo = lo.saturating_sub(1);
        }
        // One line more than miette reads: it stops by itself after the context lines.
        let last = self.line_of(end.saturating_sub(1).max(start));
        let mut hi = starts.get(last + after + 2).copied().unwrap_or(len);
        if hi - end > LONG_LINE {
            hi = self.ceil_boundary(end + CLIPPED_CONTEXT);
        }
        (lo, hi)
    }
}

impl SourceCode for Snippets {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        if span.offset() + span.len() > self.text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let (lo, hi) = self.window(span, context_lines_before, context_lines_after);
        let local = SourceSpan::new((span.offset() - lo).into(), span.len());
        let inner = self.text.as_bytes()[lo..hi].read_span(&local, context_lines_before, context_lines_after)?;
        let lines_before = self.line_of(lo);
        // miette reports the column of the span's start only without context lines before; a
        // window that starts inside a line (a clipped long line) shifts it.
        let column = if context_lines_before == 0 && inner.line() == 0 {
            inner.column() + (lo - self.line_starts()[lines_before])
        } else {
            inner.column()
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            SourceSpan::new((inner.span().offset() + lo).into(), inner.span().len()),
            inner.line() + lines_before,
            column,
            inner.line_count() + lines_before,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What miette's own reader and a `Snippets` give for one span.
    fn both(text: &str, span: (usize, usize), context: usize) -> [(String, usize, usize, usize, usize); 2] {
        let span = SourceSpan::new(span.0.into(), span.1);
        let summary = |c: Box<dyn SpanContents<'_> + '_>| {
            let data = String::from_utf8_lossy(c.data()).into_owned();
            (data, c.span().offset(), c.line(), c.column(), c.line_count())
        };
        let theirs = summary(text.read_span(&span, context, context).expect("in range"));
        let snippets = Snippets::new("test.noe".into(), text.into());
        let ours = summary(snippets.read_span(&span, context, context).expect("in range"));
        [theirs, ours]
    }

    #[test]
    fn reads_what_miette_reads_for_every_span() {
        let text = "const a = 1\nconst é = 2\r\nconst c = a +\r  b\n\nrun euler(dt = 1, steps = 2)\n";
        for context in [0, 1, 2] {
            for start in (0..=text.len()).filter(|i| text.is_char_boundary(*i)) {
                for end in (start..=text.len()).filter(|i| text.is_char_boundary(*i)) {
                    let [theirs, ours] = both(text, (start, end - start), context);
                    assert_eq!(theirs, ours, "span {start}..{end} with {context} context lines");
                }
            }
        }
    }

    #[test]
    fn long_lines_are_clipped_around_the_span() {
        let line = format!("observe m = {}\n", vec!["u[0]"; 5000].join(" + "));
        let text = format!("const a = 1\n{line}const b = 2\n");
        let snippets = Snippets::new("test.noe".into(), text.as_str().into());
        let start = 12 + line.len() / 2;
        let contents = snippets.read_span(&SourceSpan::new(start.into(), 4), 1, 1).expect("in range");
        assert!(contents.data().len() < 2 * CLIPPED_CONTEXT + 4 + 1);
        assert_eq!(contents.line(), 1);
        let header = snippets.read_span(&SourceSpan::new(start.into(), 4), 0, 0).expect("in range");
        assert_eq!(header.column(), start - 12);
    }

    #[test]
    fn spans_past_the_end_are_out_of_bounds() {
        let snippets = Snippets::new("test.noe".into(), "abc".into());
        assert!(snippets.read_span(&SourceSpan::new(2.into(), 5), 0, 0).is_err());
    }
}
