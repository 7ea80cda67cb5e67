//! Source text, spans and the diagnostics sink shared by every stage.
//!
//! Each stage reports user errors as its own enum deriving [`miette::Diagnostic`], with a stable
//! code (`noether::check::out_of_range`), a labelled span and a help line. Stages push them into a
//! [`Sink`] so one run reports every error it can find; the driver turns a non-empty sink into a
//! [`Failure`], which carries the source text so each report renders with its snippet.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, NamedSource, SourceSpan};

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
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
    pub name: String,
    pub text: Arc<str>,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        Source { name: name.into(), text: text.into() }
    }

    pub fn named_source(&self) -> NamedSource<Arc<str>> {
        NamedSource::new(self.name.clone(), self.text.clone())
    }
}

/// A boxed diagnostic from any stage.
pub type Boxed = Box<dyn Diagnostic + Send + Sync + 'static>;

/// Collects diagnostics so a stage can keep going after the first error.
#[derive(Default)]
pub struct Sink {
    errors: Vec<Boxed>,
}

impl Sink {
    pub fn push(&mut self, error: impl Diagnostic + Send + Sync + 'static) {
        self.errors.push(Box::new(error));
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// `Err` with everything collected against `source`, or `Ok(value)` when nothing was.
    pub fn finish<T>(self, source: &Source, value: T) -> Result<T, Failure> {
        if self.errors.is_empty() { Ok(value) } else { Err(Failure::new(source, self.errors)) }
    }
}

impl Sink {
    /// The collected errors as a failure. A stage that gives up must have reported why; if it
    /// did not, that is a compiler bug, reported as such rather than hidden.
    pub fn fail(mut self, source: &Source) -> Failure {
        if self.errors.is_empty() {
            self.push(Internal { message: "a compiler stage failed without a diagnostic".into() });
        }
        Failure::new(source, self.errors)
    }
}

/// A compiler bug surfaced as a diagnostic instead of a panic.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("internal compiler error: {message}")]
#[diagnostic(code(noether::internal), help("this is a bug in Noether; please report it with the script"))]
pub struct Internal {
    pub message: String,
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink").field("errors", &self.errors.len()).finish()
    }
}

/// One or more user errors against one source file. Never empty.
pub struct Failure {
    source: NamedSource<Arc<str>>,
    errors: Vec<Boxed>,
}

impl Failure {
    pub fn new(source: &Source, errors: Vec<Boxed>) -> Self {
        assert!(!errors.is_empty(), "a Failure holds at least one diagnostic");
        Failure { source: source.named_source(), errors }
    }

    /// A failure made of one diagnostic.
    pub fn single(source: &Source, error: impl Diagnostic + Send + Sync + 'static) -> Self {
        Failure::new(source, vec![Box::new(error)])
    }

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
    source: &'a NamedSource<Arc<str>>,
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
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c.to_string())
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb { diagonal } else { 1 + diagonal.min(above).min(row[j]) };
            diagonal = above;
        }
    }
    row[b.len()]
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
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("laplacain", ["laplacian", "gradient"]), Some("laplacian".into()));
        assert_eq!(did_you_mean("D", ["rho", "mu"]), None);
        assert_eq!(did_you_mean("rh", ["rho", "mu"]), Some("rho".into()));
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
