//! `bitmat convert`: which layers to convert, by `--include`/`--exclude` globs, and a
//! progress bar, over the library's [`bitmat::convert`].
//!
//! A 2-D `.weight` tensor is converted when its layer (the name without `.weight`) is one of
//! the default linear modules ([`bitmat::convert::DEFAULT_LINEAR_MODULES`]) or matches an
//! `--include` glob, unless it matches an `--exclude` glob; globs are matched against the layer
//! name and the tensor name.

use bitmat::checkpoint::CheckpointError;
use bitmat::convert::{
    convert_file, is_default_linear, ConvertOptions, ConvertSummary, Selection, Selector, Step,
};
use bitmat::formats::FormatError;
use globset::{Glob, GlobSet, GlobSetBuilder};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::sync::Arc;

/// An error of `bitmat convert`.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// An `--include` / `--exclude` pattern that is not a valid glob.
    #[error("invalid pattern `{pattern}`: {reason}")]
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// Why it is invalid.
        reason: String,
    },
    /// `--group` does not fit a layer's `in_features`.
    #[error("--group {group} does not fit tensor `{tensor}` (in_features {k}): give a nonzero multiple of 16 that divides in_features (e.g. 32, 64 or 128), or --per-row")]
    Group {
        /// The tensor.
        tensor: String,
        /// The `--group` given.
        group: usize,
        /// Its `in_features`.
        k: usize,
    },
    /// Reading, converting or writing the checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

impl ConvertError {
    /// The error in the command's words: a bad group size names `--group` and `--per-row`.
    fn from_checkpoint(e: CheckpointError) -> ConvertError {
        match e {
            CheckpointError::Format {
                tensor,
                source: FormatError::InvalidGroup { group, k },
            } => ConvertError::Group { tensor, group, k },
            e => ConvertError::Checkpoint(e),
        }
    }
}

fn globset(patterns: &[String]) -> Result<GlobSet, ConvertError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = Glob::new(p).map_err(|e| ConvertError::InvalidPattern {
            pattern: p.clone(),
            reason: e.kind().to_string(),
        })?;
        b.add(g);
    }
    b.build().map_err(|e| ConvertError::InvalidPattern {
        pattern: patterns.join(" "),
        reason: e.to_string(),
    })
}

/// The selector of the module docs for `include` and `exclude` globs.
pub fn glob_selector(include: &[String], exclude: &[String]) -> Result<Selector, ConvertError> {
    let (include, exclude) = (globset(include)?, globset(exclude)?);
    Ok(Arc::new(move |layer: &str, name: &str| {
        let matches = |s: &GlobSet| s.is_match(layer) || s.is_match(name);
        if !(is_default_linear(layer) || matches(&include)) {
            Selection::Keep
        } else if matches(&exclude) {
            Selection::Exclude
        } else {
            Selection::Convert
        }
    }))
}

/// A progress bar on standard error that follows a conversion's [`Step`]s.
fn progress_bar() -> bitmat::convert::Progress {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    Arc::new(move |step: Step<'_>| {
        bar.set_length(step.total as u64);
        bar.set_position(step.done as u64);
        match step.layer {
            Some(layer) => bar.set_message(layer.to_string()),
            None => bar.finish_and_clear(),
        }
    })
}

/// Converts `input` into `output` as `opts` says, selecting layers by the `include` and
/// `exclude` globs, with a progress bar unless `quiet`.
pub fn run(
    input: &Path,
    output: &Path,
    mut opts: ConvertOptions,
    include: &[String],
    exclude: &[String],
    quiet: bool,
) -> Result<ConvertSummary, ConvertError> {
    opts.select = glob_selector(include, exclude)?;
    if !quiet {
        opts.progress = progress_bar();
    }
    convert_file(input, output, &opts).map_err(ConvertError::from_checkpoint)
}
