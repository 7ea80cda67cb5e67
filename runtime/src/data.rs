//! Loading `data` fields from `.npy` files, with diagnostics that point at the `load(...)`.

use std::fs::File;
use std::path::Path;

use ndarray::ArrayD;
use ndarray_npy::{ReadNpyError, ReadNpyExt};
use noether_compiler::model::Field;

use crate::error::{RunError, index_text, unflatten};

/// Reads the file of a data field (relative to `base`), checking shape and values.
pub fn load(field: &Field, path: &str, span: noether_compiler::diag::Span, base: &Path) -> Result<Vec<f64>, RunError> {
    let full = base.join(path);
    let file = File::open(&full).map_err(|e| RunError::DataMissing {
        path: full.display().to_string(),
        reason: e.to_string(),
        span,
        name: field.name.clone(),
        help: if base.as_os_str().is_empty() {
            "paths are relative to the script's folder (here the current folder)".into()
        } else {
            format!("paths are relative to the script's folder ({})", base.display())
        },
    })?;
    let array = read_any(file).map_err(|reason| RunError::DataFormat { path: path.into(), reason, span })?;
    let expected = field.shape.extents();
    if array.shape() != expected.as_slice() {
        return Err(RunError::DataShape {
            path: path.into(),
            name: field.name.clone(),
            expected: index_text(&expected),
            found: index_text(array.shape()),
            span,
            help: "resample or reshape the array, or change the shape in the script".into(),
        });
    }
    let values: Vec<f64> = array.iter().copied().collect();
    if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
        return Err(RunError::DataNonFinite {
            path: path.into(),
            value: values[bad],
            index: index_text(&unflatten(bad, &expected)),
            span,
        });
    }
    Ok(values)
}

/// Reads a float or integer `.npy` array as f64, in row-major order.
fn read_any(file: File) -> Result<ArrayD<f64>, String> {
    let mut file = file;
    let describe = |e: ReadNpyError| e.to_string();
    let rewind = |f: &mut File| {
        use std::io::Seek;
        f.rewind().map_err(|e| e.to_string())
    };
    match ArrayD::<f64>::read_npy(&mut file) {
        Ok(array) => return Ok(array.as_standard_layout().into_owned()),
        Err(ReadNpyError::WrongDescriptor(_)) => {}
        Err(e) => return Err(describe(e)),
    }
    rewind(&mut file)?;
    if let Ok(array) = ArrayD::<f32>::read_npy(&mut file) {
        return Ok(array.mapv(f64::from).as_standard_layout().into_owned());
    }
    rewind(&mut file)?;
    if let Ok(array) = ArrayD::<i64>::read_npy(&mut file) {
        return Ok(array.mapv(|v| v as f64).as_standard_layout().into_owned());
    }
    rewind(&mut file)?;
    match ArrayD::<i32>::read_npy(&mut file) {
        Ok(array) => Ok(array.mapv(f64::from).as_standard_layout().into_owned()),
        Err(e) => Err(format!("{}; supported element types: float64, float32, int64, int32", describe(e))),
    }
}
