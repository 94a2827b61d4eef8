//! The text reader of the IR: parses what [`crate::print`] prints back into an equal
//! [`Kernel`], so that kernels can be written, stored and reviewed as text (file tests).
//!
//! Grammar (whitespace and newlines separate tokens and are otherwise ignored; `;` starts a
//! comment that runs to the end of the line):
//!
//! ```text
//! kernel  := "kernel" "@" NAME "(" [param ("," param)*] ")" "{" op* "}"
//! param   := VALUE ":" elem NAME
//! op      := [VALUE ("," VALUE)* "="] body [":" type ("," type)*]
//! body    := "constant" SCALAR | "program_id" INT | "num_programs" INT | "arange" INT
//!          | UNARY VALUE | ("cast" | "bitcast" | "broadcast" | "reshape") VALUE
//!          | (BINARY | CMP) VALUE "," VALUE | "select" VALUE "," VALUE "," VALUE
//!          | ("expand_dims" | REDUCE) VALUE "," "axis" INT
//!          | "dot" VALUE "," VALUE "," VALUE | "addptr" VALUE "," VALUE
//!          | "load" VALUE ["," "mask" VALUE] ["," "other" VALUE]
//!          | ("store" | "atomic_add") VALUE "," VALUE ["," "mask" VALUE]
//!          | "for" VALUE "=" VALUE "to" VALUE "step" VALUE
//!            ["iter_args" "(" VALUE "=" VALUE ("," VALUE "=" VALUE)* ")"] "{" op* "}"
//!          | "if" VALUE "{" op* "}" "else" "{" op* "}"
//!          | "yield" [VALUE ("," VALUE)*]
//! type    := elem ["[" INT ("x" INT)* "]"]          ; i32, f16[16x64], ptr<i8>[16]
//! elem    := DTYPE | "ptr" "<" DTYPE ">"
//! VALUE   := "%" INT
//! UNARY   := neg | not | abs | exp | log | sqrt | rsqrt | round
//! BINARY  := add | sub | mul | div | rem | and | or | xor | shl | shr | min | max
//! CMP     := cmp_eq | cmp_ne | cmp_lt | cmp_le | cmp_gt | cmp_ge
//! REDUCE  := reduce_sum | reduce_max | reduce_min
//! DTYPE   := bool | i8 | u8 | i16 | u16 | i32 | u32 | i64 | u64 | f16 | bf16 | f32
//! SCALAR  := true | false | an integer | a float (Rust syntax, inf, -inf) | NaN ["(" HEX ")"]
//! ```
//!
//! Types are written only where the printer writes them; the reader recovers the rest as the
//! [`crate::KernelBuilder`] assigns them: a parameter's value is a scalar of its kind (a
//! pointer for `ptr<T>`), a loop's induction variable has the type of its lower bound and its
//! carried values the loop's result types, and a constant's scalar takes the element type of
//! its result. Value ids are kept as written. Ids that the text uses but never defines, and
//! gaps in the numbering (values that passes left behind when they removed the ops defining
//! them), get the placeholder type `bool`: nothing well-formed reads them, and the verifier
//! reports any use of an undefined value.
//!
//! The reader checks the syntax and what it needs to build the kernel (one type per result, a
//! constant that fits its type); everything else is the verifier's job, so that ill-formed
//! kernels can be written down too (the verifier's file tests do).

use crate::kernel::{
    AtomicOp, BinaryOp, Block, CmpPred, Hint, Kernel, Op, OpKind, Param, ParamKind, ReduceOp,
    UnaryOp, ValueId,
};
use crate::scalar::Scalar;
use crate::types::{DType, ElemType, TileType};
use half::{bf16, f16};
use std::str::FromStr;

/// A syntax error in IR text: where it is, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// What was expected and what was found instead.
    pub message: String,
}

/// Parses one kernel in the text format of [`crate::print`] (see the module doc).
///
/// ```
/// let text = "kernel @k(%0: ptr<i32> out) {\n  %1 = program_id 0 : i32\n  store %0, %1\n}";
/// let kernel = bitmat_ir::parse_kernel(text)?;
/// assert_eq!(kernel.params[0].name, "out");
/// assert_eq!(kernel.to_string(), text);
/// # Ok::<(), bitmat_ir::ParseError>(())
/// ```
pub fn parse_kernel(text: &str) -> Result<Kernel, ParseError> {
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        types: Vec::new(),
    };
    let kernel = p.kernel()?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(t.error(format!(
            "expected the end of the text after the kernel, found {}",
            t.tok
        )));
    }
    Ok(kernel)
}

impl FromStr for Kernel {
    type Err = ParseError;

    /// Parses the text format of [`crate::print`] with [`parse_kernel`].
    fn from_str(s: &str) -> Result<Kernel, ParseError> {
        parse_kernel(s)
    }
}

/// How printing and reading a kernel back failed to give the kernel again.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RoundTripError {
    /// The printed text did not parse.
    #[error("the printed kernel does not parse: {error}\n{text}")]
    Parse {
        /// The reader's error.
        error: ParseError,
        /// The printed text.
        text: String,
    },
    /// The text parsed into a different kernel.
    #[error("the printed kernel reads back as a different kernel\nprinted:\n{text}\nread back as:\n{read:#?}\nexpected:\n{expected:#?}")]
    Differs {
        /// The printed text.
        text: String,
        /// The kernel read back.
        read: Box<Kernel>,
        /// The original kernel, with the types of values it never defines replaced as the
        /// reader replaces them.
        expected: Box<Kernel>,
    },
}

/// Prints `kernel` and reads it back, requiring an equal kernel: the check that the printer
/// and the reader agree, shared by every round-trip test. Values that the kernel never
/// defines cannot be printed; they are compared as the reader gives them (see the module doc).
pub fn check_round_trip(kernel: &Kernel) -> Result<(), RoundTripError> {
    let text = kernel.to_string();
    let read = parse_kernel(&text).map_err(|error| RoundTripError::Parse {
        error,
        text: text.clone(),
    })?;
    let expected = with_undefined_as_placeholder(kernel);
    if read == expected {
        Ok(())
    } else {
        Err(RoundTripError::Differs {
            text,
            read: Box::new(read),
            expected: Box::new(expected),
        })
    }
}

/// The type the reader gives values that the text does not define.
fn placeholder() -> TileType {
    TileType::scalar(DType::Bool)
}

/// `kernel` as the reader rebuilds it from its text: values that nothing defines get the
/// placeholder type, and values after the last one the text mentions are dropped.
fn with_undefined_as_placeholder(kernel: &Kernel) -> Kernel {
    let n = kernel.values.len();
    let (mut mentioned, mut defined) = (vec![false; n], vec![false; n]);
    let mut note = |v: ValueId, definition: bool| {
        if v.index() < n {
            mentioned[v.index()] = true;
            defined[v.index()] |= definition;
        }
    };
    for p in &kernel.params {
        note(p.value, true);
    }
    visit_values(&kernel.body, &mut note);
    let mut out = kernel.clone();
    for (t, _) in out.values.iter_mut().zip(&defined).filter(|(_, &d)| !d) {
        *t = placeholder();
    }
    out.values
        .truncate(mentioned.iter().rposition(|&m| m).map_or(0, |i| i + 1));
    out
}

/// Calls `note(value, is_definition)` for every value that `block` (nested blocks included)
/// defines or uses.
fn visit_values(block: &Block, note: &mut dyn FnMut(ValueId, bool)) {
    for &a in &block.args {
        note(a, true);
    }
    for op in &block.ops {
        for v in op.kind.operands() {
            note(v, false);
        }
        for &r in &op.results {
            note(r, true);
        }
        for b in op.kind.blocks() {
            visit_values(b, note);
        }
    }
}

/// A token of the text.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// `%N`
    Value(u32),
    /// `@name`
    Global(String),
    /// A run of letters, digits, `_`, `.` and `-`: keywords, names, numbers, `16x32`.
    Word(String),
    /// One of `( ) { } [ ] < > , = :`.
    Punct(char),
    /// A string literal, as Rust's `{:?}` writes it (`"a \"b\"\n"`), unescaped.
    Str(String),
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Value(n) => write!(f, "`%{n}`"),
            Tok::Global(s) => write!(f, "`@{s}`"),
            Tok::Word(s) => write!(f, "`{s}`"),
            Tok::Punct(c) => write!(f, "`{c}`"),
            Tok::Str(s) => write!(f, "`{s:?}`"),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    column: usize,
    /// Its length in characters.
    len: usize,
}

impl Token {
    fn error(&self, message: String) -> ParseError {
        ParseError {
            line: self.line,
            column: self.column,
            message,
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'
}

/// Splits `text` into tokens, dropping whitespace and `;` comments.
fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut out = Vec::new();
    for (l, line) in text.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let (line, column) = (l + 1, i + 1);
            let word_end = |from: usize| {
                let mut j = from;
                while j < chars.len() && is_word_char(chars[j]) {
                    j += 1;
                }
                j
            };
            let tok = if c == ';' {
                break;
            } else if c.is_whitespace() {
                i += 1;
                continue;
            } else if c == '%' {
                let end = word_end(i + 1);
                let digits: String = chars[i + 1..end].iter().collect();
                let n = digits.parse::<u32>().map_err(|_| ParseError {
                    line,
                    column,
                    message: format!("expected a value id such as `%3`, found `%{digits}`"),
                })?;
                i = end;
                Tok::Value(n)
            } else if c == '@' {
                let end = word_end(i + 1);
                let name: String = chars[i + 1..end].iter().collect();
                if name.is_empty() {
                    return Err(ParseError {
                        line,
                        column,
                        message: "expected a kernel name after `@`".into(),
                    });
                }
                i = end;
                Tok::Global(name)
            } else if is_word_char(c) {
                let end = word_end(i);
                let w: String = chars[i..end].iter().collect();
                i = end;
                Tok::Word(w)
            } else if c == '"' {
                let (text, end) = string_literal(&chars, i).map_err(|message| ParseError {
                    line,
                    column,
                    message,
                })?;
                i = end;
                Tok::Str(text)
            } else if "(){}[]<>,=:".contains(c) {
                i += 1;
                Tok::Punct(c)
            } else {
                return Err(ParseError {
                    line,
                    column,
                    message: format!("unexpected character `{c}`"),
                });
            };
            out.push(Token {
                tok,
                line,
                column,
                len: i + 1 - column,
            });
        }
    }
    Ok(out)
}

/// The string literal starting at the `"` at `chars[start]`, with the escapes Rust's `{:?}`
/// writes (`\\ \" \' \n \r \t \0 \u{..}`), and the index after its closing quote.
fn string_literal(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err("unterminated string literal (a `\"` closes it)".into()),
            Some('"') => return Ok((out, i + 1)),
            Some('\\') => {
                let c = match chars.get(i + 1) {
                    Some('\\') => '\\',
                    Some('"') => '"',
                    Some('\'') => '\'',
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('t') => '\t',
                    Some('0') => '\0',
                    Some('u') if chars.get(i + 2) == Some(&'{') => {
                        let close = chars[i + 3..]
                            .iter()
                            .position(|&c| c == '}')
                            .ok_or("unterminated `\\u{..}` escape")?;
                        let hex: String = chars[i + 3..i + 3 + close].iter().collect();
                        let c = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or(format!("`\\u{{{hex}}}` is not a character"))?;
                        out.push(c);
                        i += 4 + close;
                        continue;
                    }
                    other => {
                        return Err(format!(
                            "unknown escape `\\{}` in a string literal",
                            other.map_or(String::new(), |c| c.to_string())
                        ))
                    }
                };
                out.push(c);
                i += 2;
            }
            Some(&c) => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// A recursive-descent parser over the tokens, recording value types as it goes.
struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// The type of every value defined so far (first definition wins), by id.
    types: Vec<Option<TileType>>,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    /// An error at the current token (or at the end of the text).
    fn error_here(&self, expected: &str) -> ParseError {
        match self.tokens.get(self.pos) {
            Some(t) => t.error(format!("expected {expected}, found {}", t.tok)),
            None => {
                let (line, column) = self
                    .tokens
                    .last()
                    .map_or((1, 1), |t| (t.line, t.column + t.len));
                ParseError {
                    line,
                    column,
                    message: format!("expected {expected}, found the end of the text"),
                }
            }
        }
    }

    fn next(&mut self, expected: &str) -> Result<Token, ParseError> {
        let t = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or_else(|| self.error_here(expected))?;
        self.pos += 1;
        Ok(t)
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(s)) if s == w)
    }

    /// Consumes `c` if it is next.
    fn eat_punct(&mut self, c: char) -> bool {
        let yes = self.is_punct(c);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_punct(&mut self, c: char) -> Result<(), ParseError> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            Err(self.error_here(&format!("`{c}`")))
        }
    }

    fn expect_word(&mut self, w: &str) -> Result<(), ParseError> {
        if self.is_word(w) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error_here(&format!("`{w}`")))
        }
    }

    /// Any word; `expected` describes it for the error.
    fn word(&mut self, expected: &str) -> Result<(String, Token), ParseError> {
        match self.peek() {
            Some(Tok::Word(w)) => {
                let w = w.clone();
                let t = self.next(expected)?;
                Ok((w, t))
            }
            _ => Err(self.error_here(expected)),
        }
    }

    fn value(&mut self) -> Result<ValueId, ParseError> {
        match self.peek() {
            Some(&Tok::Value(n)) => {
                // Ids number the values from %0 up, at most one per token: a larger one is a
                // typo (and would make the type table as large as the number).
                let limit = self.tokens.len() + 1024;
                if n as usize >= limit {
                    return Err(self.tokens[self.pos].error(format!(
                        "value `%{n}` is out of range: values are numbered from %0 up, so this kernel's are below %{limit}"
                    )));
                }
                self.pos += 1;
                let v = ValueId(n);
                // Every value mentioned gets a slot, typed when (if ever) it is defined.
                if self.types.len() <= v.index() {
                    self.types.resize(v.index() + 1, None);
                }
                Ok(v)
            }
            _ => Err(self.error_here("a value such as `%3`")),
        }
    }

    /// `VALUE ("," VALUE)*`
    fn string(&mut self, expected: &str) -> Result<String, ParseError> {
        match self.peek() {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.error_here(expected)),
        }
    }

    fn value_list(&mut self) -> Result<Vec<ValueId>, ParseError> {
        let mut vals = vec![self.value()?];
        while self.eat_punct(',') {
            vals.push(self.value()?);
        }
        Ok(vals)
    }

    /// An unsigned integer word of type `T`.
    fn int<T: FromStr>(&mut self, what: &str) -> Result<T, ParseError> {
        let (w, t) = self.word(what)?;
        w.parse::<T>()
            .map_err(|_| t.error(format!("expected {what}, found `{w}`")))
    }

    /// `"," "axis" INT`
    fn axis(&mut self) -> Result<u32, ParseError> {
        self.expect_punct(',')?;
        self.expect_word("axis")?;
        self.int("an axis number")
    }

    /// Records the type of `v` unless it is defined already.
    fn define(&mut self, v: ValueId, ty: TileType) {
        let i = v.index();
        if self.types.len() <= i {
            self.types.resize(i + 1, None);
        }
        self.types[i].get_or_insert(ty);
    }

    fn type_of(&self, v: ValueId) -> Option<&TileType> {
        self.types.get(v.index()).and_then(Option::as_ref)
    }

    fn dtype(&mut self) -> Result<DType, ParseError> {
        const EXPECTED: &str = "an element type (bool, i8, .., f32)";
        let (w, t) = self.word(EXPECTED)?;
        DType::from_name(&w).ok_or_else(|| t.error(format!("expected {EXPECTED}, found `{w}`")))
    }

    /// `elem`: `i32` or `ptr<i8>`.
    fn elem(&mut self) -> Result<ElemType, ParseError> {
        if self.is_word("ptr") {
            self.pos += 1;
            self.expect_punct('<')?;
            let d = self.dtype()?;
            self.expect_punct('>')?;
            Ok(ElemType::Ptr(d))
        } else {
            Ok(ElemType::Val(self.dtype()?))
        }
    }

    /// `type`: an element type and an optional shape `[16x32]`.
    fn tile_type(&mut self) -> Result<TileType, ParseError> {
        let elem = self.elem()?;
        let mut shape = Vec::new();
        if self.eat_punct('[') {
            const EXPECTED: &str = "a shape such as `16x32`";
            let (w, t) = self.word(EXPECTED)?;
            for d in w.split('x') {
                shape.push(
                    d.parse::<u32>()
                        .map_err(|_| t.error(format!("expected {EXPECTED}, found `{w}`")))?,
                );
            }
            self.expect_punct(']')?;
        }
        Ok(TileType::new(elem, shape))
    }

    /// `kernel @name(params) { ops }`
    fn kernel(&mut self) -> Result<Kernel, ParseError> {
        self.expect_word("kernel")?;
        let name = match self.peek() {
            Some(Tok::Global(n)) => {
                let n = n.clone();
                self.pos += 1;
                n
            }
            _ => return Err(self.error_here("the kernel's name such as `@matmul`")),
        };
        self.expect_punct('(')?;
        let mut params = Vec::new();
        if !self.eat_punct(')') {
            loop {
                params.push(self.param()?);
                if self.eat_punct(')') {
                    break;
                }
                if !self.eat_punct(',') {
                    return Err(self.error_here("`,` or `)` after a parameter"));
                }
            }
        }
        self.expect_punct('{')?;
        let body = self.block_ops()?;
        let values = self
            .types
            .iter()
            .map(|t| t.clone().unwrap_or_else(placeholder))
            .collect();
        Ok(Kernel {
            name,
            params,
            body,
            values,
        })
    }

    /// `%0: ptr<i8> a`, optionally followed by `divisible 16`
    fn param(&mut self) -> Result<Param, ParseError> {
        let value = self.value()?;
        self.expect_punct(':')?;
        let kind = match self.elem()? {
            ElemType::Ptr(d) => ParamKind::Ptr(d),
            ElemType::Val(d) => ParamKind::Scalar(d),
        };
        let (name, _) = self.word("the parameter's name")?;
        let elem = match kind {
            ParamKind::Ptr(d) => ElemType::Ptr(d),
            ParamKind::Scalar(d) => ElemType::Val(d),
        };
        self.define(value, TileType::new(elem, vec![]));
        let mut divisibility = 1;
        if self.is_word("divisible") {
            self.next("`divisible`")?;
            let (w, _) = self.word("a power of two")?;
            divisibility = match w.parse::<u32>() {
                Ok(d) if d.is_power_of_two() => d,
                _ => return Err(self.error_here("a power of two after `divisible`")),
            };
        }
        Ok(Param {
            name,
            kind,
            value,
            divisibility,
        })
    }

    /// Ops up to and including the closing `}` of a block.
    fn block_ops(&mut self) -> Result<Block, ParseError> {
        let mut ops = Vec::new();
        while !self.eat_punct('}') {
            if self.peek().is_none() {
                return Err(self.error_here("an op or `}`"));
            }
            ops.push(self.op()?);
        }
        Ok(Block { args: vec![], ops })
    }

    /// One op, its nested blocks and its result types.
    fn op(&mut self) -> Result<Op, ParseError> {
        let start = self.pos;
        let results = if matches!(self.peek(), Some(Tok::Value(_))) {
            let r = self.value_list()?;
            self.expect_punct('=')?;
            r
        } else {
            vec![]
        };
        let (name, name_tok) = self.word("an op name such as `add`")?;
        let kind = self.op_kind(&name, &name_tok)?;
        let mut types = Vec::new();
        if self.eat_punct(':') {
            types.push(self.tile_type()?);
            while self.eat_punct(',') {
                types.push(self.tile_type()?);
            }
        }
        if types.len() != results.len() {
            return Err(self.tokens[start].error(format!(
                "expected one result type per result: `{name}` defines {} result(s) and lists {} type(s)",
                results.len(),
                types.len()
            )));
        }
        let kind = match kind {
            Pending::Done(k) => k,
            Pending::Constant(word, tok) => {
                let dtype = match types.first().map(|t| t.elem) {
                    Some(ElemType::Val(d)) => d,
                    _ => {
                        return Err(tok.error(
                            "expected the constant's result type to be a value type such as `: i32[16]`"
                                .into(),
                        ))
                    }
                };
                OpKind::Constant(scalar_from_text(dtype, &word).map_err(|m| tok.error(m))?)
            }
        };
        for (&r, t) in results.iter().zip(&types) {
            self.define(r, t.clone());
        }
        // Carried values of a loop are typed as its results.
        match &kind {
            OpKind::For { body, .. } => {
                for (&a, t) in body.args.iter().skip(1).zip(&types) {
                    self.define(a, t.clone());
                }
            }
            OpKind::While { body, .. } => {
                for (&a, t) in body.args.iter().zip(&types) {
                    self.define(a, t.clone());
                }
            }
            _ => {}
        }
        Ok(Op { kind, results })
    }

    /// The body of the op called `name`, up to (not including) its result types.
    fn op_kind(&mut self, name: &str, name_tok: &Token) -> Result<Pending, ParseError> {
        let kind = if let Some(u) = unary_op(name) {
            OpKind::Unary(u, self.value()?)
        } else if let Some(b) = binary_op(name) {
            let (a, b2) = self.two_values()?;
            OpKind::Binary(b, a, b2)
        } else if let Some(c) = cmp_pred(name) {
            let (a, b) = self.two_values()?;
            OpKind::Cmp(c, a, b)
        } else if let Some(r) = reduce_op(name) {
            let value = self.value()?;
            let axis = self.axis()?;
            OpKind::Reduce { op: r, value, axis }
        } else {
            match name {
                "constant" => {
                    let (w, t) = self.constant_word()?;
                    return Ok(Pending::Constant(w, t));
                }
                "program_id" => OpKind::ProgramId(self.int("a grid axis (0, 1 or 2)")?),
                "num_programs" => OpKind::NumPrograms(self.int("a grid axis (0, 1 or 2)")?),
                "arange" => OpKind::Arange(self.int("an extent")?),
                "cast" => OpKind::Cast(self.value()?),
                "bitcast" => OpKind::Bitcast(self.value()?),
                "broadcast" => OpKind::Broadcast(self.value()?),
                "reshape" => OpKind::Reshape(self.value()?),
                "device_print" => {
                    let label = self.string("the label, a string literal")?;
                    self.expect_punct(',')?;
                    let value = self.value()?;
                    OpKind::Print { label, value }
                }
                "device_assert" => {
                    let cond = self.value()?;
                    self.expect_punct(',')?;
                    let message = self.string("the message, a string literal")?;
                    OpKind::Assert { cond, message }
                }
                "multiple_of" | "max_contiguous" => {
                    let value = self.value()?;
                    self.expect_punct(',')?;
                    let n = self.int("a power of two")?;
                    let hint = if name == "multiple_of" {
                        Hint::MultipleOf(n)
                    } else {
                        Hint::MaxContiguous(n)
                    };
                    OpKind::Hint { value, hint }
                }
                "select" => {
                    let (cond, on_true) = self.two_values()?;
                    self.expect_punct(',')?;
                    let on_false = self.value()?;
                    OpKind::Select {
                        cond,
                        on_true,
                        on_false,
                    }
                }
                "fma" => {
                    let (a, b) = self.two_values()?;
                    self.expect_punct(',')?;
                    OpKind::Fma(a, b, self.value()?)
                }
                "expand_dims" => {
                    let value = self.value()?;
                    let axis = self.axis()?;
                    OpKind::ExpandDims { value, axis }
                }
                "permute" => {
                    let value = self.value()?;
                    self.expect_punct(',')?;
                    self.expect_word("perm")?;
                    self.expect_punct('[')?;
                    let mut perm = Vec::new();
                    if !self.eat_punct(']') {
                        loop {
                            perm.push(self.int("an axis number")?);
                            if self.eat_punct(']') {
                                break;
                            }
                            self.expect_punct(',')?;
                        }
                    }
                    OpKind::Permute { value, perm }
                }
                "concat" => {
                    let (a, b) = self.two_values()?;
                    let axis = self.axis()?;
                    OpKind::Concat { a, b, axis }
                }
                "slice" => {
                    let value = self.value()?;
                    let axis = self.axis()?;
                    self.expect_punct(',')?;
                    self.expect_word("start")?;
                    let start = self.int("a start index")?;
                    OpKind::Slice { value, axis, start }
                }
                "dot" => {
                    let (a, b) = self.two_values()?;
                    self.expect_punct(',')?;
                    let acc = self.value()?;
                    OpKind::Dot { a, b, acc }
                }
                "addptr" => {
                    let (ptr, offset) = self.two_values()?;
                    OpKind::AddPtr { ptr, offset }
                }
                "load" => {
                    let ptr = self.value()?;
                    let mask = self.keyword_operand("mask")?;
                    let other = self.keyword_operand("other")?;
                    OpKind::Load { ptr, mask, other }
                }
                "store" => {
                    let (ptr, value) = self.two_values()?;
                    let mask = self.keyword_operand("mask")?;
                    OpKind::Store { ptr, value, mask }
                }
                "atomic_cas" => {
                    let (ptr, cmp) = self.two_values()?;
                    self.expect_punct(',')?;
                    let value = self.value()?;
                    let mask = self.keyword_operand("mask")?;
                    OpKind::AtomicCas {
                        ptr,
                        cmp,
                        value,
                        mask,
                    }
                }
                _ if atomic_op(name).is_some() => {
                    let (ptr, value) = self.two_values()?;
                    let mask = self.keyword_operand("mask")?;
                    let op = atomic_op(name).expect("checked by the guard");
                    OpKind::Atomic {
                        op,
                        ptr,
                        value,
                        mask,
                    }
                }
                "yield" => OpKind::Yield(if matches!(self.peek(), Some(Tok::Value(_))) {
                    self.value_list()?
                } else {
                    vec![]
                }),
                "for" => self.for_op()?,
                "while" => self.while_op()?,
                "if" => {
                    let cond = self.value()?;
                    self.expect_punct('{')?;
                    let then_block = self.block_ops()?;
                    self.expect_word("else")?;
                    self.expect_punct('{')?;
                    let else_block = self.block_ops()?;
                    OpKind::If {
                        cond,
                        then_block,
                        else_block,
                    }
                }
                _ => {
                    return Err(name_tok.error(format!(
                        "expected an op name such as `add`, `load` or `for`, found `{name}`"
                    )))
                }
            }
        };
        Ok(Pending::Done(kind))
    }

    /// `VALUE "," VALUE`
    fn two_values(&mut self) -> Result<(ValueId, ValueId), ParseError> {
        let a = self.value()?;
        self.expect_punct(',')?;
        Ok((a, self.value()?))
    }

    /// `["," word VALUE]`: an optional operand introduced by `word` (`mask`, `other`).
    fn keyword_operand(&mut self, word: &str) -> Result<Option<ValueId>, ParseError> {
        let next_is_word = matches!(
            self.tokens.get(self.pos + 1).map(|t| &t.tok),
            Some(Tok::Word(w)) if w == word
        );
        if self.is_punct(',') && next_is_word {
            self.pos += 2;
            Ok(Some(self.value()?))
        } else {
            Ok(None)
        }
    }

    /// `for %iv = %lo to %hi step %st [iter_args(..)] { .. }`
    fn for_op(&mut self) -> Result<OpKind, ParseError> {
        let iv = self.value()?;
        self.expect_punct('=')?;
        let lower = self.value()?;
        self.expect_word("to")?;
        let upper = self.value()?;
        self.expect_word("step")?;
        let step = self.value()?;
        let (mut args, init) = self.iter_args()?;
        args.insert(0, iv);
        let iv_type = self.type_of(lower).cloned().unwrap_or_else(placeholder);
        self.define(iv, iv_type);
        self.expect_punct('{')?;
        let mut body = self.block_ops()?;
        body.args = args;
        Ok(OpKind::For {
            lower,
            upper,
            step,
            init,
            body,
        })
    }

    /// `while [iter_args(..)] { .. }`
    fn while_op(&mut self) -> Result<OpKind, ParseError> {
        let (args, init) = self.iter_args()?;
        self.expect_punct('{')?;
        let mut body = self.block_ops()?;
        body.args = args;
        Ok(OpKind::While { init, body })
    }

    /// `[iter_args(%arg = %init, ..)]`: the block arguments and the initial values.
    fn iter_args(&mut self) -> Result<(Vec<ValueId>, Vec<ValueId>), ParseError> {
        let mut args = vec![];
        let mut init = Vec::new();
        if self.is_word("iter_args") {
            self.pos += 1;
            self.expect_punct('(')?;
            loop {
                args.push(self.value()?);
                self.expect_punct('=')?;
                init.push(self.value()?);
                if self.eat_punct(')') {
                    break;
                }
                if !self.eat_punct(',') {
                    return Err(self.error_here("`,` or `)` in iter_args"));
                }
            }
        }
        Ok((args, init))
    }

    /// The text of a constant: a word, or `NaN(0x..)`.
    fn constant_word(&mut self) -> Result<(String, Token), ParseError> {
        let (mut w, t) = self.word("a constant such as `1`, `0.5`, `true` or `NaN`")?;
        if w == "NaN" && self.eat_punct('(') {
            let (bits, _) = self.word("the bits of a NaN such as `0x7fc00001`")?;
            self.expect_punct(')')?;
            w = format!("NaN({bits})");
        }
        Ok((w, t))
    }
}

/// The scalar of type `dtype` written `w` as [`Scalar`]'s `Display` writes it, or what is
/// wrong with it.
fn scalar_from_text(dtype: DType, w: &str) -> Result<Scalar, String> {
    let bad = || format!("expected a constant of type {dtype}, found `{w}`");
    if dtype == DType::Bool {
        return match w {
            "true" => Ok(Scalar::from_bool(true)),
            "false" => Ok(Scalar::from_bool(false)),
            _ => Err(bad()),
        };
    }
    if dtype.is_int() {
        if dtype == DType::U64 {
            return Ok(Scalar::from_bits(
                dtype,
                w.parse::<u64>().map_err(|_| bad())?,
            ));
        }
        let v = w.parse::<i64>().map_err(|_| bad())?;
        let s = Scalar::from_i64(dtype, v);
        if s.as_i64() != v {
            return Err(format!("constant `{w}` does not fit in {dtype}"));
        }
        return Ok(s);
    }
    if let Some(hex) = w.strip_prefix("NaN(0x").and_then(|r| r.strip_suffix(')')) {
        let bits = u64::from_str_radix(hex, 16).map_err(|_| bad())?;
        let s = Scalar::from_bits(dtype, bits);
        if s.bits() != bits || !s.as_f64().is_nan() {
            return Err(format!("`{w}` is not the bit pattern of a {dtype} NaN"));
        }
        return Ok(s);
    }
    let v = w.parse::<f32>().map_err(|_| bad())?;
    let not_exact = || format!("constant `{w}` is not exactly representable in {dtype}");
    let bits = match dtype {
        DType::F32 => u64::from(v.to_bits()),
        DType::F16 if v.is_nan() => u64::from(f16::NAN.to_bits()),
        DType::BF16 if v.is_nan() => u64::from(bf16::NAN.to_bits()),
        DType::F16 => exact_narrow(f16::from_f32(v).to_bits(), f16::from_f32(v).to_f32(), v)
            .ok_or_else(not_exact)?,
        _ => exact_narrow(bf16::from_f32(v).to_bits(), bf16::from_f32(v).to_f32(), v)
            .ok_or_else(not_exact)?,
    };
    Ok(Scalar::from_bits(dtype, bits))
}

/// Parses one scalar of type `dtype` written as the printer writes constants (`-3`, `true`,
/// `0.5`, `-inf`, `NaN`, `NaN(0x7fc00001)`): for tools that take values as text, such as the
/// file tests' inputs. The position of an error is within `text`, which is one line.
pub fn parse_scalar(dtype: DType, text: &str) -> Result<Scalar, ParseError> {
    scalar_from_text(dtype, text.trim()).map_err(|message| ParseError {
        line: 1,
        column: 1,
        message,
    })
}

/// The bits of a narrowed float when it is exactly the parsed value.
fn exact_narrow(bits: u16, back: f32, v: f32) -> Option<u64> {
    (back.to_bits() == v.to_bits()).then_some(u64::from(bits))
}

/// An op body parsed except for what needs the result type (a constant's scalar).
enum Pending {
    Done(OpKind),
    Constant(String, Token),
}

/// Looks `name` up among the ops of one family, by the names [`OpKind::name`] gives them.
fn by_name<T: Copy>(name: &str, all: &[T], make: impl Fn(T) -> OpKind) -> Option<T> {
    all.iter().copied().find(|&x| make(x).name() == name)
}

fn unary_op(name: &str) -> Option<UnaryOp> {
    by_name(name, &UnaryOp::ALL, |u| OpKind::Unary(u, ValueId(0)))
}

fn binary_op(name: &str) -> Option<BinaryOp> {
    use BinaryOp::*;
    by_name(
        name,
        &[Add, Sub, Mul, Div, Rem, And, Or, Xor, Shl, Shr, Min, Max],
        |b| OpKind::Binary(b, ValueId(0), ValueId(0)),
    )
}

fn cmp_pred(name: &str) -> Option<CmpPred> {
    use CmpPred::*;
    by_name(name, &[Eq, Ne, Lt, Le, Gt, Ge], |c| {
        OpKind::Cmp(c, ValueId(0), ValueId(0))
    })
}

fn atomic_op(name: &str) -> Option<AtomicOp> {
    AtomicOp::ALL.into_iter().find(|op| op.name() == name)
}

fn reduce_op(name: &str) -> Option<ReduceOp> {
    use ReduceOp::*;
    by_name(name, &[Sum, Max, Min, Xor], |op| OpKind::Reduce {
        op,
        value: ValueId(0),
        axis: 0,
    })
}
