//! The rules runs are held to: `limits` (the real server's size and count limits),
//! `search_attributes` (their types and checks) and `namespace` (namespaces and the custom
//! search attributes registered in each).

pub(crate) mod limits;
pub(in crate::history) mod namespace;
pub(crate) mod search_attributes;
