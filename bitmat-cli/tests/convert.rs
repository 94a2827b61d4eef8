//! `bitmat convert`: the glob selector, and the command on a small checkpoint (what it
//! converts, its summary, its errors with nothing written).

use bitmat::checkpoint::{Checkpoint, Tensor};
use bitmat::convert::Selection;
use bitmat::formats::{quantize_int4, Int4Group};
use bitmat_cli::convert::{glob_selector, ConvertError};
use std::process::{Command, Output};

const K: usize = 64;

/// Weights `[rows, K]` of distinct values.
fn weights(rows: usize, seed: usize) -> Vec<f32> {
    (0..rows * K)
        .map(|i| (((i * 7919 + seed * 104_729) % 201) as f32 - 100.0) / 50.0)
        .collect()
}

/// Two decoder layers with a q_proj each, an extra MLP layer, a norm and an embedding.
fn checkpoint() -> Checkpoint {
    let mut ck = Checkpoint::new();
    for (i, name) in [
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.1.self_attn.q_proj.weight",
        "model.layers.0.mlp.fc_extra.weight",
        "model.embed_tokens.weight",
    ]
    .iter()
    .enumerate()
    {
        ck.insert(*name, Tensor::from_f32(&[32, K], &weights(32, i)).unwrap());
    }
    ck.insert(
        "model.norm.weight",
        Tensor::from_f32(&[K], &[1.0; K]).unwrap(),
    );
    ck
}

#[test]
fn globs_include_and_exclude_layers() {
    let select = glob_selector(&["*.fc_extra".into()], &["model.layers.1.*".into()]).unwrap();
    for (layer, want) in [
        ("model.layers.0.self_attn.q_proj", Selection::Convert),
        ("model.layers.1.self_attn.q_proj", Selection::Exclude),
        ("model.layers.0.mlp.fc_extra", Selection::Convert),
        ("model.layers.1.mlp.fc_extra", Selection::Exclude),
        ("model.embed_tokens", Selection::Keep),
    ] {
        assert_eq!(select(layer, &format!("{layer}.weight")), want, "{layer}");
    }
    // A glob may name the tensor instead of the layer.
    let select = glob_selector(&[], &["*.q_proj.weight".into()]).unwrap();
    let layer = "model.layers.0.self_attn.q_proj";
    assert_eq!(
        select(layer, &format!("{layer}.weight")),
        Selection::Exclude
    );
}

#[test]
fn an_invalid_glob_is_a_typed_error() {
    let err = glob_selector(&["model.[".into()], &[]).err().unwrap();
    match &err {
        ConvertError::InvalidPattern { pattern, .. } => assert_eq!(pattern, "model.["),
        e => panic!("{e:?}"),
    }
    assert!(
        err.to_string().contains("invalid pattern `model.[`"),
        "{err}"
    );
}

fn convert(args: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    checkpoint()
        .save(dir.path().join("in.safetensors"))
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bitmat"))
        .arg("convert")
        .arg(dir.path().join("in.safetensors"))
        .arg(dir.path().join("out.safetensors"))
        .args(args)
        .output()
        .unwrap();
    (out, dir)
}

#[test]
fn the_command_converts_what_the_globs_select() {
    let args = [
        "--to",
        "int4",
        "--group",
        "32",
        "--include",
        "*.fc_extra",
        "--exclude",
        "model.layers.1.*",
        "--quiet",
    ];
    let (r, dir) = convert(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(
        stdout.contains("converted 2 layers, kept 3 tensors (1 excluded)"),
        "{stdout}"
    );
    let out = Checkpoint::load(dir.path().join("out.safetensors")).unwrap();
    for (i, layer) in [
        (0, "model.layers.0.self_attn.q_proj"),
        (2, "model.layers.0.mlp.fc_extra"),
    ] {
        let want = quantize_int4(&weights(32, i), 32, K, Int4Group::Size(32)).unwrap();
        assert_eq!(out.int4(layer).unwrap(), want, "{layer}");
    }
    let kept = "model.layers.1.self_attn.q_proj.weight";
    assert_eq!(
        out.tensor(kept).unwrap(),
        checkpoint().tensor(kept).unwrap()
    );
}

#[test]
fn command_errors_exit_non_zero_and_write_nothing() {
    for (args, expected) in [
        // Group 128 does not divide K = 64.
        (&["--to", "int4", "--quiet"][..], "--group 128 does not fit"),
        (
            &["--to", "ternary", "--include", "model.[", "--quiet"],
            "invalid pattern `model.[`",
        ),
    ] {
        let (r, dir) = convert(args);
        assert!(!r.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!dir.path().join("out.safetensors").exists());
    }
}
