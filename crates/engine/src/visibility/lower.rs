//! Lowering a parsed filter to a condition a store evaluates itself (in SQL over its
//! indexed columns); what has no column is filtered in memory instead.

use super::parser::{Attr, Expr, Filter, Value};
use crate::store::visibility as store;

impl Filter {
    /// The filter as a condition a store can evaluate itself (in SQL): `Ok(None)` when it
    /// filters nothing, `Err(())` when some part has no store column (filter in memory).
    pub(crate) fn store_cond(&self) -> std::result::Result<Option<store::Cond>, ()> {
        self.expr.as_ref().map(Expr::store_cond).transpose()
    }
}

impl Expr {
    /// Only comparisons on the columns a store indexes go to the store; everything else
    /// (custom attributes, IN, STARTS_WITH, IS NULL) is filtered in memory.
    fn store_cond(&self) -> std::result::Result<store::Cond, ()> {
        let column = |attr: &Attr| match attr.name.as_str() {
            "WorkflowId" => Ok(store::Column::WorkflowId),
            "WorkflowType" => Ok(store::Column::WorkflowType),
            "ExecutionStatus" => Ok(store::Column::Status),
            "StartTime" => Ok(store::Column::StartMs),
            "CloseTime" => Ok(store::Column::CloseMs),
            _ => Err(()),
        };
        let value = |value: &Value| match value {
            Value::Str(t) => Ok(store::Value::Text(t.clone())),
            Value::Status(s) => Ok(store::Value::Int(i64::from(*s))),
            Value::Time(t) => Ok(store::Value::Int(*t)),
            _ => Err(()),
        };
        Ok(match self {
            Self::Compare(attr, c, v) => store::Cond::Compare(column(attr)?, *c, value(v)?),
            Self::Between(attr, low, high) => {
                store::Cond::Between(column(attr)?, value(low)?, value(high)?)
            }
            Self::And(a, b) => {
                store::Cond::And(Box::new(a.store_cond()?), Box::new(b.store_cond()?))
            }
            Self::Or(a, b) => store::Cond::Or(Box::new(a.store_cond()?), Box::new(b.store_cond()?)),
            Self::In(..) | Self::StartsWith(..) | Self::IsNull(..) => return Err(()),
        })
    }
}
