//! The subset of Temporal's visibility query language that the engine understands, parsed
//! against a namespace's search attributes (system and custom): comparisons (`=`, `!=`,
//! `<`, `<=`, `>`, `>=`), `BETWEEN .. AND ..`, `[NOT] IN (..)`, `[NOT] STARTS_WITH`,
//! `IS [NOT] NULL`, joined by `AND`/`OR` (AND binds tighter) with parentheses, followed by
//! `ORDER BY StartTime [ASC|DESC]` (default `StartTime DESC`) or, for counts,
//! `GROUP BY ExecutionStatus`. Values are typed by the attribute: quoted strings for
//! Keyword, Text and KeywordList, quoted RFC 3339 times for Datetime, bare numbers for Int
//! and Double, `true`/`false` for Bool. Evaluation is in `eval`.

use temporalio_protos::temporal::api::enums::v1::{IndexedValueType, WorkflowExecutionStatus};

use super::{
    invalid,
    lexer::{Cmp, Token, describe, is_reserved, tokenize},
};
use crate::{
    error::{EngineError, Result},
    history::rules::search_attributes::{Custom, type_name, type_of},
    time::parse_rfc3339,
};

/// An attribute a condition reads, with its type in the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attr {
    pub(crate) name: String,
    pub(crate) ty: IndexedValueType,
}

/// A value written in a query, converted to its attribute's type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// Epoch milliseconds.
    Time(i64),
    /// A `WorkflowExecutionStatus` value.
    Status(i32),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Compare(Attr, Cmp, Value),
    Between(Attr, Value, Value),
    In(Attr, Vec<Value>, bool),
    StartsWith(Attr, String, bool),
    IsNull(Attr, bool),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// A parsed list filter.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Filter {
    pub(crate) expr: Option<Expr>,
    /// An `ORDER BY` was given.
    pub(crate) ordered: bool,
    pub(crate) ascending: bool,
    pub(crate) group_by_status: bool,
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    custom: &'a Custom,
    /// Over standalone activities: `ActivityId` and `ActivityType` are attributes too.
    activities: bool,
}

fn unsupported(op: &str, attr: &Attr) -> EngineError {
    invalid(format!(
        "operation is not supported: operator '{op}' not supported for {} type search attribute '{}'",
        type_name(attr.ty),
        attr.name
    ))
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    /// Consumes `word` if it comes next.
    fn eat(&mut self, word: &str) -> bool {
        let found = self.keyword(word);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect_keyword(&mut self, word: &str) -> Result<()> {
        if self.eat(word) {
            Ok(())
        } else {
            Err(invalid(format!(
                "expected {word}, found {}",
                describe(self.peek())
            )))
        }
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<()> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            other => Err(invalid(format!(
                "expected {what}, found {}",
                describe(other.as_ref())
            ))),
        }
    }

    fn or(&mut self) -> Result<Expr> {
        let mut left = self.and()?;
        while self.eat("or") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr> {
        let mut left = self.primary()?;
        while self.eat("and") {
            let right = self.primary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn attr(&self, name: &str) -> Result<Attr> {
        let activity_attr = self.activities && matches!(name, "ActivityId" | "ActivityType");
        let ty = activity_attr
            .then_some(IndexedValueType::Keyword)
            .or_else(|| type_of(name, self.custom))
            .ok_or_else(|| invalid(format!("invalid search attribute: {name}")))?;
        Ok(Attr {
            name: name.to_owned(),
            ty,
        })
    }

    fn primary(&mut self) -> Result<Expr> {
        let name = match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                self.expect(Token::Close, "')'")?;
                return Ok(inner);
            }
            Some(Token::Ident(name)) if !is_reserved(&name) => name,
            other => {
                return Err(invalid(format!(
                    "expected a condition, found {}",
                    describe(other.as_ref())
                )));
            }
        };
        let attr = self.attr(&name)?;
        let list_or_text = matches!(
            attr.ty,
            IndexedValueType::Text | IndexedValueType::KeywordList
        );
        if self.eat("is") {
            let negated = self.eat("not");
            self.expect_keyword("null")?;
            return Ok(Expr::IsNull(attr, negated));
        }
        let negated = self.eat("not");
        if self.eat("in") {
            self.expect(Token::Open, "'(' after IN")?;
            let mut values = vec![self.value(&attr)?];
            while self.peek() == Some(&Token::Comma) {
                self.at += 1;
                values.push(self.value(&attr)?);
            }
            self.expect(Token::Close, "')' after the IN list")?;
            return Ok(Expr::In(attr, values, negated));
        }
        if self.eat("starts_with") {
            let prefix = self.value(&attr)?;
            if attr.ty != IndexedValueType::Keyword {
                return Err(unsupported("STARTS_WITH", &attr));
            }
            let Value::Str(prefix) = prefix else {
                return Err(unsupported("STARTS_WITH", &attr));
            };
            return Ok(Expr::StartsWith(attr, prefix, negated));
        }
        if negated {
            return Err(invalid(format!(
                "expected IN or STARTS_WITH after NOT, found {}",
                describe(self.peek())
            )));
        }
        if self.eat("between") {
            if list_or_text {
                return Err(unsupported("BETWEEN", &attr));
            }
            let low = self.value(&attr)?;
            self.expect_keyword("and")?;
            let high = self.value(&attr)?;
            return Ok(Expr::Between(attr, low, high));
        }
        let cmp = match self.next() {
            Some(Token::Op(cmp)) => cmp,
            other => {
                return Err(invalid(format!(
                    "expected a comparison operator after {name}, found {}",
                    describe(other.as_ref())
                )));
            }
        };
        if list_or_text && !matches!(cmp, Cmp::Eq | Cmp::Ne) {
            return Err(unsupported(cmp.symbol(), &attr));
        }
        let value = self.value(&attr)?;
        Ok(Expr::Compare(attr, cmp, value))
    }

    /// A value of `attr`'s type.
    fn value(&mut self, attr: &Attr) -> Result<Value> {
        let wrong = |shown: String, kind: &str| {
            invalid(format!(
                "invalid expression: invalid value type for search attribute {} of type {}: {shown} (type: {kind})",
                attr.name,
                type_name(attr.ty)
            ))
        };
        let literal = match self.next() {
            Some(Token::Str(s)) => Literal::Str(s),
            Some(Token::Ident(word)) => Literal::bare(&word)
                .ok_or_else(|| invalid(format!("expected a value, found '{word}'")))?,
            other => {
                return Err(invalid(format!(
                    "expected a value, found {}",
                    describe(other.as_ref())
                )));
            }
        };
        use IndexedValueType as T;
        Ok(match (attr.ty, literal) {
            (T::Datetime, Literal::Str(text)) => {
                parse_rfc3339(&text).map(Value::Time).ok_or_else(|| {
                    invalid(format!(
                        "invalid expression: unable to parse datetime '{text}' (want RFC 3339)"
                    ))
                })?
            }
            (T::Keyword, Literal::Str(text)) if attr.name == "ExecutionStatus" => {
                parse_status(&text).map(Value::Status).ok_or_else(|| {
                    invalid(format!(
                        "invalid expression: invalid ExecutionStatus value '{text}'"
                    ))
                })?
            }
            (T::Keyword | T::Text | T::KeywordList, Literal::Str(text)) => Value::Str(text),
            (T::Int, Literal::Int(i)) => Value::Int(i),
            (T::Int, Literal::Double(d)) if d.fract() == 0.0 => Value::Double(d),
            (T::Double, Literal::Int(i)) => Value::Double(i as f64),
            (T::Double, Literal::Double(d)) => Value::Double(d),
            (T::Bool, Literal::Bool(b)) => Value::Bool(b),
            (_, literal) => {
                let (shown, kind) = literal.shown();
                return Err(wrong(shown, kind));
            }
        })
    }
}

/// A value as written: quoted, or a bare number or boolean.
enum Literal {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
}

impl Literal {
    fn bare(word: &str) -> Option<Self> {
        if word.eq_ignore_ascii_case("true") {
            return Some(Self::Bool(true));
        }
        if word.eq_ignore_ascii_case("false") {
            return Some(Self::Bool(false));
        }
        if let Ok(i) = word.parse() {
            return Some(Self::Int(i));
        }
        word.parse()
            .ok()
            .filter(|d: &f64| d.is_finite())
            .map(Self::Double)
    }

    /// The value and its kind, as the real server's message names them.
    fn shown(&self) -> (String, &'static str) {
        match self {
            Self::Str(s) => (format!("{s:?}"), "string"),
            Self::Int(i) => (i.to_string(), "int64"),
            Self::Double(d) => (d.to_string(), "float64"),
            Self::Bool(b) => (b.to_string(), "bool"),
        }
    }
}

impl Filter {
    /// Parses `query` against a namespace's `custom` search attributes.
    pub(crate) fn parse(query: &str, custom: &Custom) -> Result<Self> {
        Self::parse_over(query, custom, false)
    }

    /// Parses a query over standalone activities (`ListActivityExecutions`): it may name
    /// `ActivityId` and `ActivityType`, and has no `ORDER BY`, as on the real server.
    pub(crate) fn parse_activities(query: &str, custom: &Custom) -> Result<Self> {
        Self::parse_over(query, custom, true)
    }

    fn parse_over(query: &str, custom: &Custom, activities: bool) -> Result<Self> {
        let mut parser = Parser {
            tokens: tokenize(query)?,
            at: 0,
            custom,
            activities,
        };
        let mut filter = Self::default();
        if parser.peek().is_some() && !parser.keyword("order") && !parser.keyword("group") {
            filter.expr = Some(parser.or()?);
        }
        if activities && parser.keyword("order") {
            return Err(invalid("operation is not supported: 'ORDER BY' clause"));
        }
        if parser.eat("order") {
            parser.expect_keyword("by")?;
            filter.ordered = true;
            match parser.next() {
                Some(Token::Ident(f)) if f == "StartTime" => {}
                other => {
                    return Err(invalid(format!(
                        "ORDER BY supports only StartTime, found {}",
                        describe(other.as_ref())
                    )));
                }
            }
            if parser.eat("asc") {
                filter.ascending = true;
            } else {
                parser.eat("desc");
            }
        } else if parser.eat("group") {
            parser.expect_keyword("by")?;
            match parser.next() {
                Some(Token::Ident(f)) if f == "ExecutionStatus" => filter.group_by_status = true,
                other => {
                    return Err(invalid(format!(
                        "GROUP BY supports only ExecutionStatus, found {}",
                        describe(other.as_ref())
                    )));
                }
            }
        }
        if let Some(extra) = parser.peek() {
            return Err(invalid(format!(
                "unexpected {} at the end of the query",
                describe(Some(extra))
            )));
        }
        Ok(filter)
    }
}

const STATUS_NAMES: [(&str, WorkflowExecutionStatus); 7] = [
    ("Running", WorkflowExecutionStatus::Running),
    ("Completed", WorkflowExecutionStatus::Completed),
    ("Failed", WorkflowExecutionStatus::Failed),
    ("Canceled", WorkflowExecutionStatus::Canceled),
    ("Terminated", WorkflowExecutionStatus::Terminated),
    ("ContinuedAsNew", WorkflowExecutionStatus::ContinuedAsNew),
    ("TimedOut", WorkflowExecutionStatus::TimedOut),
];

fn parse_status(name: &str) -> Option<i32> {
    STATUS_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, s)| *s as i32)
}

pub(crate) fn status_name(status: i32) -> &'static str {
    STATUS_NAMES
        .iter()
        .find(|(_, s)| *s as i32 == status)
        .map_or("Unspecified", |(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom() -> Custom {
        [
            ("CustomInt".to_owned(), IndexedValueType::Int as i32),
            ("CustomText".to_owned(), IndexedValueType::Text as i32),
            (
                "CustomList".to_owned(),
                IndexedValueType::KeywordList as i32,
            ),
            ("CustomBool".to_owned(), IndexedValueType::Bool as i32),
        ]
        .into()
    }

    fn parse(query: &str) -> Result<Filter> {
        Filter::parse(query, &custom())
    }

    fn expr(query: &str) -> Expr {
        parse(query)
            .ok()
            .and_then(|f| f.expr)
            .unwrap_or_else(|| panic!("no expression in {query:?}"))
    }

    fn attr(name: &str) -> Attr {
        Attr {
            name: name.to_owned(),
            ty: type_of(name, &custom()).unwrap_or(IndexedValueType::Unspecified),
        }
    }

    fn eq(name: &str, value: &str) -> Expr {
        Expr::Compare(attr(name), Cmp::Eq, Value::Str(value.into()))
    }

    fn error(query: &str) -> String {
        match parse(query) {
            Err(e) => e.to_string(),
            Ok(f) => panic!("{query:?} parsed as {f:?}"),
        }
    }

    #[test]
    fn parses_supported_queries() {
        assert_eq!(parse("").ok(), Some(Filter::default()));
        let f = parse("WorkflowId = 'a' and ExecutionStatus=\"Running\" ORDER BY StartTime DESC");
        assert_eq!(
            f.ok(),
            Some(Filter {
                expr: Some(Expr::And(
                    Box::new(eq("WorkflowId", "a")),
                    Box::new(Expr::Compare(
                        attr("ExecutionStatus"),
                        Cmp::Eq,
                        Value::Status(WorkflowExecutionStatus::Running as i32)
                    )),
                )),
                ordered: true,
                ..Filter::default()
            })
        );
        assert!(parse("GROUP BY ExecutionStatus").is_ok_and(|f| f.group_by_status));
        assert!(parse("order by StartTime asc").is_ok_and(|f| f.ascending));
        assert!(parse("ORDER BY StartTime").is_ok_and(|f| !f.ascending));
        assert_eq!(
            expr("TaskQueue IN ('a', 'b')"),
            Expr::In(
                attr("TaskQueue"),
                vec![Value::Str("a".into()), Value::Str("b".into())],
                false
            )
        );
        assert_eq!(
            expr("WorkflowId not starts_with 'x'"),
            Expr::StartsWith(attr("WorkflowId"), "x".into(), true)
        );
        assert_eq!(
            expr("CustomInt IS NOT NULL"),
            Expr::IsNull(attr("CustomInt"), true)
        );
        assert_eq!(
            expr("CustomInt >= 5 AND CustomBool = TRUE"),
            Expr::And(
                Box::new(Expr::Compare(attr("CustomInt"), Cmp::Ge, Value::Int(5))),
                Box::new(Expr::Compare(
                    attr("CustomBool"),
                    Cmp::Eq,
                    Value::Bool(true)
                ))
            )
        );
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let (a, b, c) = (
            eq("WorkflowId", "a"),
            eq("WorkflowId", "b"),
            eq("WorkflowType", "c"),
        );
        assert_eq!(
            expr("WorkflowId = 'a' OR WorkflowId = 'b' AND WorkflowType = 'c'"),
            Expr::Or(
                Box::new(a.clone()),
                Box::new(Expr::And(Box::new(b.clone()), Box::new(c.clone())))
            )
        );
        assert_eq!(
            expr("(WorkflowId = 'a' OR WorkflowId = 'b') AND WorkflowType = 'c'"),
            Expr::And(Box::new(Expr::Or(Box::new(a), Box::new(b))), Box::new(c))
        );
    }

    #[test]
    fn parses_times_and_between() {
        // Like the real server's SQL stores, every field takes every comparison.
        assert_eq!(
            expr("WorkflowId > 'a'"),
            Expr::Compare(attr("WorkflowId"), Cmp::Gt, Value::Str("a".into()))
        );
        assert!(parse("ExecutionStatus BETWEEN 'Running' AND 'Failed'").is_ok());
        assert_eq!(
            expr("StartTime BETWEEN '1970-01-01T00:00:01Z' AND '1970-01-01T00:00:02Z'"),
            Expr::Between(attr("StartTime"), Value::Time(1000), Value::Time(2000))
        );
        assert_eq!(
            expr("CloseTime >= \"1970-01-01T00:00:01.5Z\" and WorkflowId != 'x'"),
            Expr::And(
                Box::new(Expr::Compare(attr("CloseTime"), Cmp::Ge, Value::Time(1500))),
                Box::new(Expr::Compare(
                    attr("WorkflowId"),
                    Cmp::Ne,
                    Value::Str("x".into())
                ))
            )
        );
    }

    #[test]
    fn rejects_bad_queries_with_the_real_servers_messages() {
        for query in [
            "CustomField = 'x'",
            "WorkflowId = a",
            "WorkflowId = 'a' AND",
            "(WorkflowId = 'a'",
            "WorkflowId = 'a')",
            "StartTime > 'yesterday'",
            "StartTime BETWEEN '2024-01-01T00:00:00Z'",
            "WorkflowId BETWEEN 'a'",
            "ExecutionStatus = 'Sleeping'",
            "ORDER BY CloseTime",
            "WorkflowId = 'unterminated",
            "WorkflowId 'a'",
            "WorkflowId IN ()",
            "WorkflowId NOT = 'a'",
        ] {
            let message = error(query);
            assert!(
                message.starts_with("invalid query: "),
                "{query:?}: {message}"
            );
        }
        assert_eq!(
            error("CustomField = 'x'"),
            "invalid query: invalid search attribute: CustomField"
        );
        assert_eq!(
            error("CustomInt = '5'"),
            "invalid query: invalid expression: invalid value type for search attribute CustomInt of type Int: \"5\" (type: string)"
        );
        assert_eq!(
            error("WorkflowId = 5"),
            "invalid query: invalid expression: invalid value type for search attribute WorkflowId of type Keyword: 5 (type: int64)"
        );
        assert_eq!(
            error("CustomText > 'a'"),
            "invalid query: operation is not supported: operator '>' not supported for Text type search attribute 'CustomText'"
        );
        assert_eq!(
            error("CustomList STARTS_WITH 'a'"),
            "invalid query: operation is not supported: operator 'STARTS_WITH' not supported for KeywordList type search attribute 'CustomList'"
        );
        assert!(error("StartTime > 'yesterday'").contains("yesterday"));
        assert!(error("(WorkflowId = 'a'").contains("')'"));
    }
}
