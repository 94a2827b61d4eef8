//! Compile-time kernel arguments as cache keys.

/// A constexpr value as it enters a kernel cache key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConstexprValue {
    /// Any integer.
    Int(i128),
    /// A float, by its bits (`f64`).
    Float(u64),
    /// A boolean.
    Bool(bool),
    /// A string or char.
    Str(String),
}

impl std::fmt::Display for ConstexprValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConstexprValue::Int(v) => write!(f, "{v}"),
            ConstexprValue::Float(b) => write!(f, "{:?}", f64::from_bits(*b)),
            ConstexprValue::Bool(b) => write!(f, "{b}"),
            ConstexprValue::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// A type usable as a `#[constexpr]` kernel argument: it can key the kernel cache.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a #[constexpr] kernel argument",
    label = "not a constexpr type",
    note = "constexpr arguments are integers, floats, bool, char, &str or String; pass several values as separate arguments, e.g. `#[constexpr] block_m: i32, #[constexpr] block_n: i32`"
)]
pub trait Constexpr: Clone {
    /// The value as it enters a cache key.
    fn key(&self) -> ConstexprValue;

    /// Reads a value from text (`bitmat dump --constexpr k=v`, tuning files); the error says
    /// what was expected.
    fn parse(text: &str) -> Result<Self, String>;
}

/// Parses `text` with `FromStr`, naming the expected type on failure.
fn parse_with<T: std::str::FromStr>(text: &str, expected: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a valid {expected}"))
}

macro_rules! int_constexpr {
    ($($t:ty),*) => {$(
        impl Constexpr for $t {
            fn key(&self) -> ConstexprValue {
                ConstexprValue::Int(*self as i128)
            }

            fn parse(text: &str) -> Result<Self, String> {
                parse_with(text, stringify!($t))
            }
        }
    )*};
}
int_constexpr!(i8, u8, i16, u16, i32, u32, i64, u64, isize, usize);

impl Constexpr for f32 {
    fn key(&self) -> ConstexprValue {
        ConstexprValue::Float(f64::from(*self).to_bits())
    }

    fn parse(text: &str) -> Result<Self, String> {
        parse_with(text, "f32")
    }
}

impl Constexpr for f64 {
    fn key(&self) -> ConstexprValue {
        ConstexprValue::Float(self.to_bits())
    }

    fn parse(text: &str) -> Result<Self, String> {
        parse_with(text, "f64")
    }
}

impl Constexpr for bool {
    fn key(&self) -> ConstexprValue {
        ConstexprValue::Bool(*self)
    }

    fn parse(text: &str) -> Result<Self, String> {
        parse_with(text, "bool")
    }
}

impl Constexpr for char {
    fn key(&self) -> ConstexprValue {
        ConstexprValue::Str(self.to_string())
    }

    fn parse(text: &str) -> Result<Self, String> {
        parse_with(text, "char")
    }
}

impl Constexpr for &str {
    fn key(&self) -> ConstexprValue {
        ConstexprValue::Str(self.to_string())
    }

    /// Strings read from text are interned: each distinct one is leaked once, as the kernels
    /// specialized for it live for the whole process anyway.
    fn parse(text: &str) -> Result<Self, String> {
        static INTERNED: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let mut interned = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = interned.iter().find(|s| **s == text) {
            return Ok(s);
        }
        let s: &'static str = Box::leak(text.to_owned().into_boxed_str());
        interned.push(s);
        Ok(s)
    }
}

impl Constexpr for String {
    fn key(&self) -> ConstexprValue {
        ConstexprValue::Str(self.clone())
    }

    fn parse(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}
