//! The subset of Temporal's visibility query language that the engine understands:
//! comparisons on `WorkflowId`, `WorkflowType`, `ExecutionStatus` (`=`, `!=`) and on
//! `StartTime`, `CloseTime` (`=`, `!=`, `<`, `<=`, `>`, `>=`, `BETWEEN .. AND ..`, values as
//! quoted RFC 3339 strings), joined by `AND`/`OR` (AND binds tighter) with parentheses,
//! followed by `ORDER BY StartTime [ASC|DESC]` (default `StartTime DESC`) or, for counts,
//! `GROUP BY ExecutionStatus`.

use std::cmp::Ordering;

use temporalio_protos::temporal::api::enums::v1::WorkflowExecutionStatus;

use crate::{
    error::{EngineError, Result},
    store::visibility as store,
};

pub(super) fn invalid(what: impl std::fmt::Display) -> EngineError {
    EngineError::invalid(format!("invalid query: {what}"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Str(String),
    Op(Cmp),
    Open,
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }

    fn holds(self, ord: Ordering) -> bool {
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

fn tokenize(query: &str) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = query.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    WorkflowId,
    WorkflowType,
    ExecutionStatus,
    StartTime,
    CloseTime,
}

impl Field {
    fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "WorkflowId" => Self::WorkflowId,
            "WorkflowType" => Self::WorkflowType,
            "ExecutionStatus" => Self::ExecutionStatus,
            "StartTime" => Self::StartTime,
            "CloseTime" => Self::CloseTime,
            other => {
                return Err(invalid(format!("invalid search attribute: {other}")));
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Text(String),
    Status(i32),
    Time(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Compare(Field, Cmp, Value),
    Between(Field, Value, Value),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// What a filter looks at in a run.
pub(super) trait Visible {
    fn workflow_id(&self) -> &str;
    fn workflow_type(&self) -> &str;
    /// A `WorkflowExecutionStatus` value.
    fn status(&self) -> i32;
    fn start_ms(&self) -> i64;
    /// `None` while the run is open.
    fn close_ms(&self) -> Option<i64>;
}

impl Expr {
    fn matches(&self, exec: &impl Visible) -> bool {
        match self {
            Self::And(a, b) => a.matches(exec) && b.matches(exec),
            Self::Or(a, b) => a.matches(exec) || b.matches(exec),
            Self::Between(field, low, high) => {
                compare(*field, exec, low).is_some_and(Ordering::is_ge)
                    && compare(*field, exec, high).is_some_and(Ordering::is_le)
            }
            Self::Compare(field, cmp, value) => {
                compare(*field, exec, value).is_some_and(|o| cmp.holds(o))
            }
        }
    }
}

/// How a run's `field` compares with `value`; `None` when it has no value (SQL NULL).
fn compare(field: Field, exec: &impl Visible, value: &Value) -> Option<Ordering> {
    match (field, value) {
        (Field::WorkflowId, Value::Text(v)) => Some(exec.workflow_id().cmp(v)),
        (Field::WorkflowType, Value::Text(v)) => Some(exec.workflow_type().cmp(v)),
        (Field::ExecutionStatus, Value::Status(s)) => Some(exec.status().cmp(s)),
        (_, Value::Time(v)) => time_of(field, exec).map(|t| t.cmp(v)),
        _ => None,
    }
}

/// A field's time; `None` (SQL NULL: every comparison is false) for an open run's close.
fn time_of(field: Field, exec: &impl Visible) -> Option<i64> {
    match field {
        Field::StartTime => Some(exec.start_ms()),
        Field::CloseTime => exec.close_ms(),
        _ => None,
    }
}

/// A parsed list filter.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Filter {
    expr: Option<Expr>,
    pub(super) ascending: bool,
    pub(super) group_by_status: bool,
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
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

    fn expect_keyword(&mut self, word: &str) -> Result<()> {
        if self.keyword(word) {
            self.at += 1;
            Ok(())
        } else {
            Err(invalid(format!(
                "expected {word}, found {}",
                describe(self.peek())
            )))
        }
    }

    fn or(&mut self) -> Result<Expr> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr> {
        let mut left = self.primary()?;
        while self.keyword("and") {
            self.at += 1;
            let right = self.primary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Expr> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    other => Err(invalid(format!(
                        "expected ')', found {}",
                        describe(other.as_ref())
                    ))),
                }
            }
            Some(Token::Ident(name)) if !is_reserved(&name) => {
                let field = Field::parse(&name)?;
                if self.keyword("between") {
                    self.at += 1;
                    let low = self.value(field)?;
                    self.expect_keyword("and")?;
                    let high = self.value(field)?;
                    return Ok(Expr::Between(field, low, high));
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
                let value = self.value(field)?;
                Ok(Expr::Compare(field, cmp, value))
            }
            other => Err(invalid(format!(
                "expected a condition, found {}",
                describe(other.as_ref())
            ))),
        }
    }

    fn string_value(&mut self) -> Result<String> {
        match self.next() {
            Some(Token::Str(s)) => Ok(s),
            other => Err(invalid(format!(
                "expected a quoted value, found {}",
                describe(other.as_ref())
            ))),
        }
    }

    /// A quoted value of `field`'s type.
    fn value(&mut self, field: Field) -> Result<Value> {
        let text = self.string_value()?;
        match field {
            Field::StartTime | Field::CloseTime => {
                parse_rfc3339(&text).map(Value::Time).ok_or_else(|| {
                    invalid(format!(
                        "invalid expression: unable to parse datetime '{text}' (want RFC 3339)"
                    ))
                })
            }
            Field::ExecutionStatus => parse_status(&text).map(Value::Status).ok_or_else(|| {
                invalid(format!(
                    "invalid expression: invalid ExecutionStatus value '{text}'"
                ))
            }),
            Field::WorkflowId | Field::WorkflowType => Ok(Value::Text(text)),
        }
    }
}

fn is_reserved(word: &str) -> bool {
    ["and", "or", "between", "order", "group", "by", "not"]
        .iter()
        .any(|r| r.eq_ignore_ascii_case(word))
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "end of query".to_owned(),
        Some(Token::Ident(w)) => format!("'{w}'"),
        Some(Token::Str(s)) => format!("string '{s}'"),
        Some(Token::Op(c)) => format!("'{}'", c.symbol()),
        Some(Token::Open) => "'('".to_owned(),
        Some(Token::Close) => "')'".to_owned(),
    }
}

impl Filter {
    pub(super) fn parse(query: &str) -> Result<Self> {
        let mut parser = Parser {
            tokens: tokenize(query)?,
            at: 0,
        };
        let mut filter = Self::default();
        if parser.peek().is_some() && !parser.keyword("order") && !parser.keyword("group") {
            filter.expr = Some(parser.or()?);
        }
        if parser.keyword("order") {
            parser.at += 1;
            parser.expect_keyword("by")?;
            match parser.next() {
                Some(Token::Ident(f)) if f == "StartTime" => {}
                other => {
                    return Err(invalid(format!(
                        "ORDER BY supports only StartTime, found {}",
                        describe(other.as_ref())
                    )));
                }
            }
            if parser.keyword("asc") {
                parser.at += 1;
                filter.ascending = true;
            } else if parser.keyword("desc") {
                parser.at += 1;
            }
        } else if parser.keyword("group") {
            parser.at += 1;
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

    pub(super) fn matches(&self, exec: &impl Visible) -> bool {
        self.expr.as_ref().is_none_or(|e| e.matches(exec))
    }

    /// The filter as a condition a store can evaluate itself (in SQL): `Ok(None)` when it
    /// filters nothing, `Err(())` when some part has no store column (filter in memory).
    pub(super) fn store_cond(&self) -> std::result::Result<Option<store::Cond>, ()> {
        self.expr.as_ref().map(Expr::store_cond).transpose()
    }
}

impl Expr {
    fn store_cond(&self) -> std::result::Result<store::Cond, ()> {
        let column = |field: Field| match field {
            Field::WorkflowId => Ok(store::Column::WorkflowId),
            Field::WorkflowType => Ok(store::Column::WorkflowType),
            Field::ExecutionStatus => Ok(store::Column::Status),
            Field::StartTime => Ok(store::Column::StartMs),
            Field::CloseTime => Ok(store::Column::CloseMs),
            #[allow(unreachable_patterns)]
            _ => Err(()),
        };
        let value = |value: &Value| match value {
            Value::Text(t) => store::Value::Text(t.clone()),
            Value::Status(s) => store::Value::Int(i64::from(*s)),
            Value::Time(t) => store::Value::Int(*t),
        };
        let cmp = |cmp: Cmp| match cmp {
            Cmp::Eq => store::Cmp::Eq,
            Cmp::Ne => store::Cmp::Ne,
            Cmp::Lt => store::Cmp::Lt,
            Cmp::Le => store::Cmp::Le,
            Cmp::Gt => store::Cmp::Gt,
            Cmp::Ge => store::Cmp::Ge,
        };
        Ok(match self {
            Self::Compare(field, c, v) => store::Cond::Compare(column(*field)?, cmp(*c), value(v)),
            Self::Between(field, low, high) => {
                store::Cond::Between(column(*field)?, value(low), value(high))
            }
            Self::And(a, b) => {
                store::Cond::And(Box::new(a.store_cond()?), Box::new(b.store_cond()?))
            }
            Self::Or(a, b) => store::Cond::Or(Box::new(a.store_cond()?), Box::new(b.store_cond()?)),
        })
    }
}

/// Epoch milliseconds of an RFC 3339 timestamp such as `2024-05-01T10:00:00.5+02:00`.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0;
    if b[at] == b'.' {
        let start = at + 1;
        at = start;
        while at < b.len() && b[at].is_ascii_digit() {
            at += 1;
        }
        if at == start {
            return None;
        }
        let frac = text.get(start..at.min(start + 3))?;
        millis = format!("{frac:0<3}").parse::<i64>().ok()?;
    }
    let offset_minutes = match b.get(at)? {
        b'Z' | b'z' if at + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if at + 6 == b.len() && b[at + 3] == b':' => {
            let minutes = digits(at + 1..at + 3)? * 60 + digits(at + 4..at + 6)?;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
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

pub(super) fn status_name(status: i32) -> &'static str {
    STATUS_NAMES
        .iter()
        .find(|(_, s)| *s as i32 == status)
        .map_or("Unspecified", |(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(query: &str) -> Expr {
        Filter::parse(query)
            .ok()
            .and_then(|f| f.expr)
            .unwrap_or_else(|| panic!("no expression in {query:?}"))
    }

    fn eq(field: Field, value: &str) -> Expr {
        Expr::Compare(field, Cmp::Eq, Value::Text(value.into()))
    }

    fn error(query: &str) -> String {
        match Filter::parse(query) {
            Err(e) => e.to_string(),
            Ok(f) => panic!("{query:?} parsed as {f:?}"),
        }
    }

    #[test]
    fn parses_supported_queries() {
        assert_eq!(Filter::parse("").ok(), Some(Filter::default()));
        let f = Filter::parse(
            "WorkflowId = 'a' and ExecutionStatus=\"Running\" ORDER BY StartTime DESC",
        );
        assert_eq!(
            f.ok(),
            Some(Filter {
                expr: Some(Expr::And(
                    Box::new(eq(Field::WorkflowId, "a")),
                    Box::new(Expr::Compare(
                        Field::ExecutionStatus,
                        Cmp::Eq,
                        Value::Status(WorkflowExecutionStatus::Running as i32)
                    )),
                )),
                ..Filter::default()
            })
        );
        assert!(Filter::parse("GROUP BY ExecutionStatus").is_ok_and(|f| f.group_by_status));
        assert!(Filter::parse("order by StartTime asc").is_ok_and(|f| f.ascending));
        assert!(Filter::parse("ORDER BY StartTime").is_ok_and(|f| !f.ascending));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let (a, b, c) = (
            eq(Field::WorkflowId, "a"),
            eq(Field::WorkflowId, "b"),
            eq(Field::WorkflowType, "c"),
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
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:30:00.25+02:00"),
            Some(1_709_202_600_250)
        );
        assert_eq!(parse_rfc3339("2024-02-29"), None);
        // Like the real server's SQL stores, every field takes every comparison.
        assert_eq!(
            expr("WorkflowId > 'a'"),
            Expr::Compare(Field::WorkflowId, Cmp::Gt, Value::Text("a".into()))
        );
        assert!(Filter::parse("ExecutionStatus BETWEEN 'Running' AND 'Failed'").is_ok());
        assert_eq!(
            expr("StartTime BETWEEN '1970-01-01T00:00:01Z' AND '1970-01-01T00:00:02Z'"),
            Expr::Between(Field::StartTime, Value::Time(1000), Value::Time(2000))
        );
        assert_eq!(
            expr("CloseTime >= \"1970-01-01T00:00:01.5Z\" and WorkflowId != 'x'"),
            Expr::And(
                Box::new(Expr::Compare(Field::CloseTime, Cmp::Ge, Value::Time(1500))),
                Box::new(Expr::Compare(
                    Field::WorkflowId,
                    Cmp::Ne,
                    Value::Text("x".into())
                ))
            )
        );
        assert_eq!(
            expr("StartTime < '1970-01-01T00:00:01Z'"),
            Expr::Compare(Field::StartTime, Cmp::Lt, Value::Time(1000))
        );
    }

    #[test]
    fn rejects_bad_queries() {
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
        assert!(error("StartTime > 'yesterday'").contains("yesterday"));
        assert!(error("(WorkflowId = 'a'").contains("')'"));
    }
}
