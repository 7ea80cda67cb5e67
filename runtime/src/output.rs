//! Writing results: each file appears complete or not at all (written beside, then renamed).

use std::io::Write;
use std::path::Path;

use ndarray::ArrayViewD;
use ndarray_npy::WriteNpyExt;

use crate::error::RunError;

/// Writes `array` as a `.npy` file at `path`, atomically.
pub fn write_npy(path: &Path, array: &ArrayViewD<'_, f64>) -> Result<(), RunError> {
    atomic_write(path, |file| array.write_npy(file).map_err(|e| e.to_string()))
}

/// Writes `text` to `path`, atomically.
pub fn write_text(path: &Path, text: &str) -> Result<(), RunError> {
    atomic_write(path, |file| file.write_all(text.as_bytes()).map_err(|e| e.to_string()))
}

/// Writes `bytes` (an encoded image, say) to `path`, atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    atomic_write(path, |file| file.write_all(bytes).map_err(|e| e.to_string()))
}

fn atomic_write(path: &Path, fill: impl FnOnce(&mut std::fs::File) -> Result<(), String>) -> Result<(), RunError> {
    let fail = |reason: String| RunError::Write { path: path.display().to_string(), reason };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    ensure_dir(dir).map_err(fail)?;
    let mut temp = output_file().tempfile_in(dir).map_err(|e| fail(e.to_string()))?;
    fill(temp.as_file_mut()).map_err(fail)?;
    temp.as_file().sync_all().map_err(|e| fail(e.to_string()))?;
    temp.persist(path).map_err(|e| fail(e.error.to_string()))?;
    Ok(())
}

/// Makes `dir` ready for results before any work: created where missing and proven writable
/// (a file is created there and dropped), so a long run or fit does not fail only at the end.
pub fn prepare_dir(dir: &Path) -> Result<(), RunError> {
    let fail = |reason: String| RunError::Write { path: dir.display().to_string(), reason };
    ensure_dir(dir).map_err(fail)?;
    output_file().tempfile_in(dir).map(drop).map_err(|e| fail(e.to_string()))
}

fn ensure_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{} is a file, not a directory", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())
}

/// Temporary files are private (0600) by default; a result file is created as any other file,
/// readable as the user's umask allows.
fn output_file() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_readable_npy_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out/a.npy");
        let array =
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[2, 3]), (0..6).map(f64::from).collect()).expect("shape");
        write_npy(&path, &array.view()).expect("written");
        let back: ndarray::ArrayD<f64> =
            ndarray_npy::ReadNpyExt::read_npy(std::fs::File::open(&path).expect("open")).expect("read");
        assert_eq!(back, array);
        let entries = std::fs::read_dir(dir.path().join("out")).expect("dir").count();
        assert_eq!(entries, 1);
    }

    #[test]
    fn a_file_where_the_directory_should_be_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("out");
        std::fs::write(&file, "").expect("written");
        let error = write_text(&file.join("summary.json"), "{}").expect_err("refused");
        assert!(error.to_string().contains("is a file, not a directory"), "{error}");
    }

    /// A result file gets the mode any new file gets here (the umask's), not a temporary 0600.
    #[cfg(unix)]
    #[test]
    fn results_follow_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let mode = |path: &Path| std::fs::metadata(path).expect("exists").permissions().mode() & 0o777;
        let plain = dir.path().join("plain.txt");
        std::fs::File::create(&plain).expect("created");
        let written = dir.path().join("summary.json");
        write_text(&written, "{}").expect("written");
        assert_eq!(mode(&written), mode(&plain));
    }
}
