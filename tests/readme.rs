//! README.md's code blocks: each is marked with its language (`rust` blocks are doctests of
//! the library, `sh`/`text` blocks are not compiled), and a block the text names as an example
//! file ("This is `examples/NAME.rs`") is that file, verbatim.

/// The fenced blocks of `text`: (language, body, the text after the block up to the next one).
fn blocks(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let line_end = after.find('\n').expect("a fence line ends");
        let lang = after[..line_end].trim().to_string();
        let body_start = &after[line_end + 1..];
        let close = body_start.find("```").expect("every block is closed");
        let body = body_start[..close].to_string();
        rest = &body_start[close + 3..];
        let following = rest[..rest.find("```").unwrap_or(rest.len())].to_string();
        out.push((lang, body, following));
    }
    out
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn every_block_names_its_language() {
    let blocks = blocks(&readme());
    assert!(blocks.len() >= 4);
    for (lang, body, _) in &blocks {
        assert!(
            ["rust", "sh", "text"].contains(&lang.as_str()),
            "a block marked `{lang}`:\n{body}"
        );
    }
}

#[test]
fn blocks_that_name_an_example_are_that_file() {
    let mut named = 0;
    for (lang, body, following) in blocks(&readme()) {
        let Some(at) = following.find("This is `examples/") else {
            continue;
        };
        let path = &following[at + "This is `".len()..];
        let path = &path[..path.find('`').unwrap()];
        assert_eq!(lang, "rust", "{path}");
        let file = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(body, file, "README's copy of {path} differs from the file");
        named += 1;
    }
    assert!(named >= 2, "the README names {named} example files");
}
