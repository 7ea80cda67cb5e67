//! Source text, spans and the diagnostics sink shared by every stage.
//!
//! Each stage reports user errors as its own enum deriving [`miette::Diagnostic`], with a stable
//! code (`noether::check::out_of_range`), a labelled span and a help line. Stages push them into a
//! [`Sink`] so one run reports every error it can find; the driver turns a non-empty sink into a
//! [`Failure`], which carries the source text so each report renders with its snippet.
//!
//! A sink keeps the first [`MAX_ERRORS`] and counts the rest, as rustc does: garbage input ends
//! in a bounded report whose last line says how many more errors there were.

mod snippet;

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, SourceSpan};

pub use snippet::Snippets;

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset just past the last byte.
    pub end: usize,
}

impl Span {
    /// The bytes `start..end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl From<Span> for SourceSpan {
    fn from(span: Span) -> Self {
        SourceSpan::new(span.start.into(), span.end.saturating_sub(span.start))
    }
}

/// One script: its display name (usually the path) and text.
#[derive(Clone, Debug)]
pub struct Source {
    /// Shown in diagnostics' headers.
    pub name: String,
    /// The script; shared, so diagnostics carry it cheaply.
    pub text: Arc<str>,
}

impl Source {
    /// A script called `name` (a path, or any label for text made in a program).
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        Source { name: name.into(), text: text.into() }
    }

    /// The text as miette reads it to render snippets.
    pub fn snippets(&self) -> Snippets {
        Snippets::new(self.name.clone(), self.text.clone())
    }
}

/// A boxed diagnostic from any stage.
pub type Boxed = Box<dyn Diagnostic + Send + Sync + 'static>;

/// How many diagnostics one run reports; the rest are only counted.
pub const MAX_ERRORS: usize = 50;

/// Collects diagnostics so a stage can keep going after the first error.
#[derive(Default)]
pub struct Sink {
    errors: Vec<Boxed>,
    /// Errors reported after the first [`MAX_ERRORS`], counted but not kept.
    more: usize,
}

impl Sink {
    /// Reports an error (only counted once [`MAX_ERRORS`] are kept).
    pub fn push(&mut self, error: impl Diagnostic + Send + Sync + 'static) {
        if self.is_full() {
            self.more += 1;
        } else {
            self.errors.push(Box::new(error));
        }
    }

    /// Reports the error `make` builds, building it only if it will be kept: for diagnostics
    /// whose text is costly (suggestions, lists of expected tokens).
    pub fn push_with<D: Diagnostic + Send + Sync + 'static>(&mut self, make: impl FnOnce() -> D) {
        if self.is_full() { self.more += 1 } else { self.push(make()) }
    }

    /// Whether further errors are only counted, so work spent on their text is wasted.
    pub fn is_full(&self) -> bool {
        self.errors.len() >= MAX_ERRORS
    }

    /// Whether nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// How many errors were reported, kept or not.
    pub fn len(&self) -> usize {
        self.errors.len() + self.more
    }

    /// `Err` with everything collected against `source`, or `Ok(value)` when nothing was.
    pub fn finish<T>(self, source: &Source, value: T) -> Result<T, Failure> {
        if self.errors.is_empty() { Ok(value) } else { Err(self.fail(source)) }
    }

    /// The collected errors as a failure, ending with how many more there were. A stage that
    /// gives up must have reported why; if it did not, that is a compiler bug, reported as such
    /// rather than hidden.
    pub fn fail(mut self, source: &Source) -> Failure {
        if self.errors.is_empty() {
            self.push(Internal { message: "a compiler stage failed without a diagnostic".into() });
        }
        if self.more > 0 {
            self.errors.push(Box::new(TooManyErrors { shown: self.errors.len(), more: self.more }));
        }
        Failure::new(source, self.errors)
    }
}

/// The last line of a report cut short by [`MAX_ERRORS`].
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("stopped after {shown} errors; {more} more not shown")]
#[diagnostic(
    code(noether::too_many_errors),
    help("fix the errors above and check again: later ones are often consequences of earlier ones")
)]
pub struct TooManyErrors {
    /// Errors shown above.
    pub shown: usize,
    /// Errors counted but not shown.
    pub more: usize,
}

/// A compiler bug surfaced as a diagnostic instead of a panic.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("internal compiler error: {message}")]
#[diagnostic(code(noether::internal), help("this is a bug in Noether; please report it with the script"))]
pub struct Internal {
    /// What went wrong, for the bug report.
    pub message: String,
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink").field("errors", &self.errors.len()).finish()
    }
}

/// One or more user errors against one source file. Never empty.
pub struct Failure {
    source: Snippets,
    errors: Vec<Boxed>,
}

impl Failure {
    /// The `errors` found in `source`; panics when there are none (a failure explains itself).
    pub fn new(source: &Source, errors: Vec<Boxed>) -> Self {
        assert!(!errors.is_empty(), "a Failure holds at least one diagnostic");
        Failure { source: source.snippets(), errors }
    }

    /// A failure made of one diagnostic.
    pub fn single(source: &Source, error: impl Diagnostic + Send + Sync + 'static) -> Self {
        Failure::new(source, vec![Box::new(error)])
    }

    /// Every diagnostic, in the order found.
    pub fn errors(&self) -> &[Boxed] {
        &self.errors
    }

    /// Each diagnostic as a `miette::Report` that carries the source text.
    pub fn into_reports(self) -> Vec<miette::Report> {
        let source = self.source;
        self.errors.into_iter().map(|error| miette::Report::new_boxed(error).with_source_code(source.clone())).collect()
    }

    /// Renders every diagnostic as a user sees it, without colour, at the given width.
    pub fn render_plain(&self, width: usize) -> String {
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(width);
        let mut out = String::new();
        for error in &self.errors {
            let with_source = WithSource { inner: error.as_ref(), source: &self.source };
            if handler.render_report(&mut out, &with_source).is_err() {
                out.push_str(&error.to_string());
            }
            out.push('\n');
        }
        out
    }

    /// The stable codes of all diagnostics, in order.
    pub fn codes(&self) -> Vec<String> {
        self.errors.iter().map(|e| e.code().map(|c| c.to_string()).unwrap_or_default()).collect()
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_plain(100))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.errors[0], f)
    }
}

impl std::error::Error for Failure {}

/// A failure is itself a diagnostic: the first error, with the others as related reports, all
/// against the failure's source text. This lets `?` carry it into `miette::Result`.
impl Diagnostic for Failure {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.errors[0].code()
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.errors[0].help()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.errors[0].labels()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        Some(Box::new(self.errors[1..].iter().map(|e| e.as_ref() as &dyn Diagnostic)))
    }
}

/// Borrows a diagnostic and lends it the source text, for rendering.
struct WithSource<'a> {
    inner: &'a (dyn Diagnostic + Send + Sync),
    source: &'a Snippets,
}

impl fmt::Debug for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.inner, f)
    }
}

impl fmt::Display for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.inner, f)
    }
}

impl std::error::Error for WithSource<'_> {}

impl Diagnostic for WithSource<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.code()
    }
    fn severity(&self) -> Option<miette::Severity> {
        self.inner.severity()
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.help()
    }
    fn url<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.url()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.inner.labels()
    }
    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        self.inner.related()
    }
    fn diagnostic_source(&self) -> Option<&dyn Diagnostic> {
        self.inner.diagnostic_source()
    }
}

/// The closest candidate to `name` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let name: Vec<char> = name.chars().collect();
    let limit = (name.len() / 3).max(1);
    let mut row = Vec::new();
    candidates
        .into_iter()
        .filter_map(|c| Some((edit_distance_within(&name, c, limit, &mut row)?, c)))
        .filter(|(d, _)| *d > 0)
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c.to_string())
}

/// Levenshtein distance over chars, if it is at most `limit`. Gives up as soon as a row of the
/// table exceeds `limit`, so checking a typo against thousands of names stays cheap. `row` is
/// scratch space reused across calls.
fn edit_distance_within(a: &[char], b: &str, limit: usize, row: &mut Vec<usize>) -> Option<usize> {
    let b_len = b.chars().count();
    if a.len().abs_diff(b_len) > limit {
        return None;
    }
    row.clear();
    row.extend(0..=b_len);
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.chars().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if *ca == cb { diagonal } else { 1 + diagonal.min(above).min(row[j]) };
            diagonal = above;
        }
        if row.iter().min().is_some_and(|m| *m > limit) {
            return None;
        }
    }
    (row[b_len] <= limit).then_some(row[b_len])
}

/// "did you mean `x`?" help text, or a fallback.
pub fn suggestion_help(suggestion: Option<String>, fallback: impl Into<String>) -> String {
    match suggestion {
        Some(s) => format!("did you mean `{s}`?"),
        None => fallback.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_sink_counts_the_rest_and_says_how_many() {
        let mut sink = Sink::default();
        for i in 0..MAX_ERRORS + 7 {
            sink.push_with(|| Internal { message: format!("error {i}") });
        }
        assert!(sink.is_full());
        assert_eq!(sink.len(), MAX_ERRORS + 7);
        let failure = sink.fail(&Source::new("test.noe", ""));
        assert_eq!(failure.errors().len(), MAX_ERRORS + 1);
        assert_eq!(failure.codes().last().map(String::as_str), Some("noether::too_many_errors"));
        assert!(failure.render_plain(80).contains("stopped after 50 errors; 7 more not shown"));
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("laplacain", ["laplacian", "gradient"]), Some("laplacian".into()));
        assert_eq!(did_you_mean("D", ["rho", "mu"]), None);
        assert_eq!(did_you_mean("rh", ["rho", "mu"]), Some("rho".into()));
    }

    #[test]
    fn edit_distance_counts_single_edits_up_to_the_limit() {
        let within =
            |a: &str, b: &str, limit| edit_distance_within(&a.chars().collect::<Vec<_>>(), b, limit, &mut Vec::new());
        assert_eq!(within("kitten", "sitting", 3), Some(3));
        assert_eq!(within("kitten", "sitting", 2), None);
        assert_eq!(within("", "abc", 3), Some(3));
        assert_eq!(within("same", "same", 0), Some(0));
        assert_eq!(within("short", "a_much_longer_name", 5), None);
    }
}
