//! `--plot` and `noether::plot`: every image is a PNG of the stated size, a heat map puts the
//! field's peak where it is, and every example plots through the command line.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use noether::plot::{Labels, Size};

use crate::support::{files_with_extension, noether, noether_in, text};

/// The width, height and RGB pixels of the PNG at `path`, after checking its signature and
/// that its header (IHDR, the first chunk) states the size the decoder then delivers.
fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} has the PNG signature", path.display());
    assert_eq!(&bytes[12..16], b"IHDR", "{}: the first chunk is the header", path.display());
    let word = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let (width, height) = (word(16), word(20));
    let mut reader = png::Decoder::new(std::io::Cursor::new(&bytes)).read_info().expect("a valid PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let frame = reader.next_frame(&mut pixels).expect("decodes");
    assert_eq!((frame.width, frame.height), (width, height));
    assert_eq!(frame.color_type, png::ColorType::Rgb);
    pixels.truncate(frame.buffer_size());
    (width, height, pixels)
}

fn size_of(path: &Path) -> (u32, u32) {
    let (width, height, _) = decode(path);
    (width, height)
}

/// The PNG files in `dir`, sorted.
fn pngs(dir: &Path) -> Vec<PathBuf> {
    files_with_extension(dir, "png")
}

fn names(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|p| p.file_name().expect("a name").to_string_lossy().into_owned()).collect()
}

/// A Gaussian bump off the centre of a non-square grid: the pixel closest to the colour map's
/// top colour lies in the peak's cell (axes: `i` rightwards, `j` upwards). A NaN cell is drawn
/// in the colour kept for it, and the image has the size asked for.
#[test]
fn a_heat_map_puts_its_hottest_pixel_on_the_peak() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bump.png");
    let (nx, ny, peak) = (40, 30, (29, 8));
    let mut field = Array2::from_shape_fn((nx, ny), |(i, j)| {
        let (di, dj) = (i as f64 - peak.0 as f64, j as f64 - peak.1 as f64);
        (-(di * di + dj * dj) / 18.0).exp()
    });
    field[[0, ny - 1]] = f64::NAN;
    let labels = Labels { title: "bump".into(), x: "i".into(), y: "j".into() };
    let size = Size { width: 700, height: 520 };
    let area = noether::plot::heatmap(&path, &field.view(), &labels, size).expect("drawn");
    let (width, height, pixels) = decode(&path);
    assert_eq!((width, height), (700, 520));
    assert!(area.left + area.width <= width && area.top + area.height <= height, "{area:?}");
    let at = |x: u32, y: u32| {
        let k = 3 * (y * width + x) as usize;
        [pixels[k], pixels[k + 1], pixels[k + 2]]
    };
    let top = noether::plot::TOP;
    let distance = |[r, g, b]: [u8; 3]| {
        (i32::from(r) - i32::from(top.0)).pow(2)
            + (i32::from(g) - i32::from(top.1)).pow(2)
            + (i32::from(b) - i32::from(top.2)).pow(2)
    };
    let (mut best, mut hottest) = (i32::MAX, (0, 0));
    for y in area.top..area.top + area.height {
        for x in area.left..area.left + area.width {
            if distance(at(x, y)) < best {
                (best, hottest) = (distance(at(x, y)), (x, y));
            }
        }
    }
    let fx = (f64::from(hottest.0 - area.left) + 0.5) / f64::from(area.width);
    let fy = (f64::from(hottest.1 - area.top) + 0.5) / f64::from(area.height);
    let cell = ((fx * nx as f64) as usize, ((1.0 - fy) * ny as f64) as usize);
    assert_eq!(cell, peak, "hottest pixel {hottest:?} in {area:?}");
    assert!(best < 100, "the peak is drawn in the top colour, distance² {best}");
    let nan = noether::plot::NOT_FINITE;
    assert_eq!(at(area.left + 2, area.top + 2), [nan.0, nan.1, nan.2], "the NaN cell [0, {}]", ny - 1);
}

/// A reduced run of each example (few steps or sweeps, small sizes), as `run` or `sample`.
fn reduced(name: &str) -> Vec<&'static str> {
    let script: &'static str = Box::leak(format!("examples/{name}.noe").into_boxed_str());
    let text = std::fs::read_to_string(script).expect("the example");
    let directive = |word: &str| text.lines().any(|l| l.starts_with(word));
    let mut args = if directive("sample ") {
        vec!["sample", script, "--sweeps", "4"]
    } else if directive("run ") {
        vec!["run", script, "--steps", "4"]
    } else {
        vec!["fit", script, "--iters", "4"]
    };
    let sizes: &[&'static str] = match name {
        "heat" | "burgers" | "gray_scott" => &["N=32"],
        "wave" => &["N=40"],
        "ising" => &["L=16"],
        "gbm" | "ou" | "langevin_double_well" | "diffusion_sampling" => &["M=300"],
        "kuramoto" | "cbo" | "vicsek" => &["N=100"],
        _ => &[],
    };
    for size in sizes {
        args.extend(["--set", size]);
    }
    args
}

/// `--plot` succeeds on every example and every image it writes is a PNG of the stated size;
/// ensembles get histograms, fields heat maps or line plots, and the report names each file.
#[test]
fn every_example_plots() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut examples: Vec<String> = std::fs::read_dir("examples")
        .expect("examples/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "noe"))
        .map(|p| p.file_stem().expect("a stem").to_string_lossy().into_owned())
        .collect();
    examples.sort();
    assert!(examples.len() >= 15, "{examples:?}");
    for name in &examples {
        let out = dir.path().join(name);
        let mut args = reduced(name);
        args.extend(["--out", out.to_str().expect("utf-8 path"), "--plot"]);
        let output = noether(&args);
        assert!(output.status.success(), "{name}: {}", text(&output.stderr));
        let files = pngs(&out);
        assert!(!files.is_empty(), "{name} drew nothing");
        let report = text(&output.stdout);
        for file in &files {
            assert_eq!(size_of(file), (800, 600), "{}", file.display());
            assert!(
                report.contains(&file.display().to_string()),
                "{name}: wrote line lacks {}\n{report}",
                file.display()
            );
        }
        let drawn = names(&files);
        let expected: &[&str] = match name.as_str() {
            "heat" => &["observables.png", "u.png"],
            "wave" => &["observables.png", "u.png", "v.png"],
            "ou" | "gbm" => &["X_hist.png", "observables.png"],
            "cbo" => &["observables.png", "x_hist.png"],
            "hmc_gaussian" => &["acceptance.png", "observables.png", "x_hist.png"],
            "ising" => &["observables.png", "s.png"],
            "lj" => &["observables.png", "v.png", "x.png"],
            "ou_inference" | "heat_pinn" | "heat_pinn_inverse" | "burgers_pinn" => &["loss.png"],
            _ => continue,
        };
        assert_eq!(drawn, expected, "{name}");
    }
}

/// `fit --plot` draws the loss per iteration; `--plot-size` sets the size.
#[test]
fn fit_plots_its_loss() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("fit");
    let args = ["fit", "examples/heat_source.noe", "--iters", "3", "--plot", "--plot-size", "640x400", "--out"];
    let output = noether(&[&args[..], &[out.to_str().expect("utf-8 path")]].concat());
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(names(&pngs(&out)), ["loss.png"]);
    assert_eq!(size_of(&out.join("loss.png")), (640, 400));
    assert!(text(&output.stdout).contains(&format!("wrote {}", out.join("loss.png").display())));
    let fitted: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fitted.json")).expect("fitted.json")).expect("JSON");
    assert_eq!(fitted["plots"], serde_json::json!([out.join("loss.png").display().to_string()]), "{fitted}");
}

/// Without `--out` the images go to `<stem>_plots/` in the current directory; a state of
/// three dimensions gets no image but a note saying why.
#[test]
fn a_3d_state_is_not_drawn_and_plots_default_beside_the_script_stem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("cube.noe");
    let source = "state u : [i < 4, j < 3, k < 2] = i + j + k\nstate w : [i < 5, j < 6] = i * j\n\
                  d/dt u = -u\nd/dt w = -w\nobserve total = sum(i, j, k) u[i, j, k]\nrun euler(dt = 0.1, steps = 3)\n";
    std::fs::write(&script, source).expect("written");
    let output = noether_in(dir.path(), &["run", "cube.noe", "--plot"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report = text(&output.stdout);
    assert!(report.contains("note: u has 3 dimensions [4, 3, 2]: no figure"), "{report}");
    assert!(report.contains("wrote cube_plots/w.png, cube_plots/observables.png"), "{report}");
    assert_eq!(names(&pngs(&dir.path().join("cube_plots"))), ["observables.png", "w.png"]);
}

/// `--paths K --plot` draws the first K paths of an ensemble; `--paths` needs somewhere to go.
#[test]
fn paths_are_plotted_and_need_a_destination() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("ou");
    let args = ["run", "examples/ou.noe", "--set", "M=50", "--steps", "20", "--paths", "3", "--plot", "--out"];
    let output = noether(&[&args[..], &[out.to_str().expect("utf-8 path")]].concat());
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(names(&pngs(&out)), ["X_hist.png", "observables.png", "paths.png"]);
    assert_eq!(size_of(&out.join("paths.png")), (800, 600));

    let refused = noether(&["run", "examples/ou.noe", "--paths", "3"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("--out"), "{}", text(&refused.stderr));
}

/// README's gallery has one picture per example, each a PNG that `--plot` drew at 480x360: an
/// example added without its picture, or a picture left after its example went, fails here.
#[test]
fn the_gallery_shows_every_example() {
    let readme = std::fs::read_to_string("README.md").expect("README");
    let mut examples: Vec<String> = std::fs::read_dir("examples")
        .expect("examples")
        .filter_map(|e| e.ok()?.path().file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|stem| Path::new("examples").join(format!("{stem}.noe")).exists())
        .collect();
    examples.sort();
    let mut pictures: Vec<String> = pngs(Path::new("docs/gallery"))
        .iter()
        .map(|p| p.file_stem().expect("a name").to_string_lossy().into_owned())
        .collect();
    pictures.sort();
    assert_eq!(pictures, examples, "docs/gallery/ holds one picture per example");
    for name in &examples {
        let picture = format!("docs/gallery/{name}.png");
        assert!(readme.contains(&format!("![{name}]({picture})")), "README shows {picture}");
        assert_eq!(size_of(Path::new(&picture)), (480, 360), "{picture}");
    }
}
