//! The syntax tree the parser builds (RFC 5228 §8.2): commands with arguments, tests
//! and blocks, each node with its byte offset in the source for error positions.

/// A parsed, not yet validated script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    pub commands: Vec<Command>,
}

/// `identifier arguments (";" / block)` (RFC 5228 §8.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Lower-cased: identifiers are case-insensitive (RFC 5228 §2.9).
    pub name: String,
    /// Byte offset of the identifier.
    pub pos: usize,
    pub args: Vec<Arg>,
    pub tests: Option<Tests>,
    pub block: Option<Vec<Command>>,
}

/// `identifier arguments` in test position (RFC 5228 §8.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    pub name: String,
    pub pos: usize,
    pub args: Vec<Arg>,
    pub tests: Option<Tests>,
}

/// What follows a command's or test's arguments: one test or a parenthesized list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tests {
    One(Box<Test>),
    List(Vec<Test>),
}

impl Tests {
    /// The tests, whether written alone or as a list.
    pub fn as_slice(&self) -> &[Test] {
        match self {
            Tests::One(t) => std::slice::from_ref(t),
            Tests::List(l) => l,
        }
    }
}

/// One argument with its byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub pos: usize,
    pub value: Value,
}

/// `argument = string-list / number / tag` (RFC 5228 §8.2); a single string is kept
/// apart from a list because some positions take only a single string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `:name`, lower-cased, without the colon.
    Tag(String),
    /// With its K/M/G quantifier applied.
    Number(u64),
    String(String),
    List(Vec<String>),
}

impl Value {
    /// The strings of a string or a string list.
    pub fn strings(&self) -> &[String] {
        match self {
            Value::String(s) => std::slice::from_ref(s),
            Value::List(l) => l,
            Value::Tag(_) | Value::Number(_) => &[],
        }
    }
}
