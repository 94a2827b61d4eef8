//! The parts of a file test: its `; test` header and directives, the kernel, and the
//! expectation after `; expect:`.

/// The marker line that starts a file's expectation.
const EXPECT: &str = "; expect:";

/// A file test, split into its parts.
pub struct TestFile {
    /// What the file runs: `verify`, a pass, `interp`, `ptx` or `clif`.
    pub kind: String,
    /// `key=value` options of the `; test` line, in order.
    pub options: Vec<(String, String)>,
    /// Directives before the expectation, `; grid: X,Y,Z` and `; arg NAME = VALUE`, as
    /// (`grid`/`arg`, the rest of the line), in order.
    pub directives: Vec<(String, String)>,
    /// The text before the expectation: the kernel (comments are skipped by the reader).
    pub kernel_text: String,
    /// The expected output, without its `; ` prefixes, if the file has one.
    pub expectation: Option<String>,
}

impl TestFile {
    /// Splits `text`; an error says what is missing.
    pub fn parse(text: &str) -> Result<TestFile, String> {
        let (kernel_text, expectation) = match text.find(&format!("\n{EXPECT}")) {
            Some(at) => {
                let rest = &text[at + 1 + EXPECT.len()..];
                let lines: Vec<&str> = rest
                    .lines()
                    .skip(1)
                    .map(|l| {
                        l.strip_prefix("; ")
                            .or_else(|| l.strip_prefix(';'))
                            .unwrap_or(l)
                    })
                    .collect();
                let mut e = lines.join("\n");
                e.push('\n');
                (&text[..at + 1], Some(e))
            }
            None => (text, None),
        };
        let mut header = None;
        let mut directives = Vec::new();
        for line in kernel_text.lines() {
            let Some(comment) = line.trim_start().strip_prefix(';') else {
                continue;
            };
            let comment = comment.trim();
            if let Some(rest) = comment.strip_prefix("test ") {
                if header.is_some() {
                    return Err("more than one `; test` line".into());
                }
                header = Some(rest.to_string());
            } else if let Some(rest) = comment.strip_prefix("arg ") {
                directives.push(("arg".to_string(), rest.trim().to_string()));
            } else if let Some(rest) = comment.strip_prefix("grid:") {
                directives.push(("grid".to_string(), rest.trim().to_string()));
            }
        }
        let header =
            header.ok_or("no `; test KIND` line (KIND: verify, simplify, cse, dce, optimize, contiguity, bounds, interp, ptx or clif)")?;
        let mut words = header.split_whitespace();
        let kind = words.next().unwrap_or_default().to_string();
        let options = words
            .map(|w| match w.split_once('=') {
                Some((k, v)) => Ok((k.to_string(), v.to_string())),
                None => Err(format!(
                    "option `{w}` of the `; test` line is not `key=value`"
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(TestFile {
            kind,
            options,
            directives,
            kernel_text: kernel_text.to_string(),
            expectation,
        })
    }

    /// The value of option `key`, if given.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The file's text with `actual` as its expectation.
    pub fn with_expectation(&self, actual: &str) -> String {
        let mut out = self.kernel_text.clone();
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(EXPECT);
        out.push('\n');
        for line in actual.lines() {
            if line.is_empty() {
                out.push_str(";\n");
            } else {
                out.push_str("; ");
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}
