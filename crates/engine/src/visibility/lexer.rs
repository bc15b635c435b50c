//! The visibility query language's tokens: identifiers, quoted strings, comparison
//! operators, parentheses and commas, with the reserved words and how a token is named in
//! an error message.

use super::invalid;
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Ident(String),
    Str(String),
    Op(Cmp),
    Open,
    Close,
    Comma,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub(super) fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }

    pub(crate) fn holds(self, ord: std::cmp::Ordering) -> bool {
        match self {
            Self::Eq => ord.is_eq(),
            Self::Ne => ord.is_ne(),
            Self::Lt => ord.is_lt(),
            Self::Le => ord.is_le(),
            Self::Gt => ord.is_gt(),
            Self::Ge => ord.is_ge(),
        }
    }
}

pub(super) fn tokenize(query: &str) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = query.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            ',' => tokens.push(Token::Comma),
            '\'' | '"' | '`' => {
                let mut value = String::new();
                let mut closed = false;
                while let Some((_, d)) = chars.next() {
                    if d == c {
                        // A doubled quote stands for itself, as in SQL.
                        if chars.peek().is_some_and(|(_, e)| *e == c) {
                            chars.next();
                            value.push(c);
                            continue;
                        }
                        closed = true;
                        break;
                    }
                    value.push(d);
                }
                if !closed {
                    return Err(invalid(format!("unterminated string starting at {at}")));
                }
                if c == '`' {
                    tokens.push(Token::Ident(value));
                } else {
                    tokens.push(Token::Str(value));
                }
            }
            '=' => tokens.push(Token::Op(Cmp::Eq)),
            '!' | '<' | '>' => {
                let eq = chars.peek().is_some_and(|(_, d)| *d == '=');
                let ne = c == '<' && chars.peek().is_some_and(|(_, d)| *d == '>');
                if eq || ne {
                    chars.next();
                }
                tokens.push(Token::Op(match (c, eq, ne) {
                    ('!', true, _) | ('<', _, true) => Cmp::Ne,
                    ('<', true, _) => Cmp::Le,
                    ('<', false, _) => Cmp::Lt,
                    ('>', true, _) => Cmp::Ge,
                    ('>', false, _) => Cmp::Gt,
                    _ => return Err(invalid(format!("unexpected '!' at {at}"))),
                }));
            }
            c if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' || c == ':' => {
                let mut word = String::from(c);
                while let Some((_, d)) = chars.peek() {
                    if d.is_alphanumeric() || matches!(d, '_' | '-' | '.' | ':') {
                        word.push(*d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Ident(word));
            }
            other => return Err(invalid(format!("unexpected character {other:?} at {at}"))),
        }
    }
    Ok(tokens)
}

pub(super) fn is_reserved(word: &str) -> bool {
    [
        "and", "or", "between", "order", "group", "by", "not", "in", "is", "null",
    ]
    .iter()
    .any(|r| r.eq_ignore_ascii_case(word))
}

pub(super) fn describe(token: Option<&Token>) -> String {
    match token {
        None => "end of query".to_owned(),
        Some(Token::Ident(w)) => format!("'{w}'"),
        Some(Token::Str(s)) => format!("string '{s}'"),
        Some(Token::Op(c)) => format!("'{}'", c.symbol()),
        Some(Token::Open) => "'('".to_owned(),
        Some(Token::Close) => "')'".to_owned(),
        Some(Token::Comma) => "','".to_owned(),
    }
}
