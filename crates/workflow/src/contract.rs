//! Contracts: the names and payload types that the API layer and the workflow logic share.
//!
//! A contract crate declares marker types with [`contract!`](crate::contract!) and holds no
//! logic, so the API fleet can depend on it without carrying workflow code. The markers
//! implement the SDK's own `WorkflowDefinition`, `SignalDefinition`, `QueryDefinition` and
//! `UpdateDefinition`, so they work with the typed client directly. [`WorkflowSpec`] records
//! the same facts as data, which lets a test prove that what a worker registers agrees with
//! the contract (see [`WorkflowSpec::assert_implemented_by`] and
//! [`WorkflowSpec::assert_registered`]).

use std::any::TypeId;
use std::fmt;

use temporalio_common::{QueryDefinition, SignalDefinition, UpdateDefinition, WorkflowDefinition};
use temporalio_sdk::WorkflowDefinitions;

/// A Rust type, compared by identity and shown by name.
#[derive(Clone, Copy, Eq)]
pub struct PayloadType {
    id: TypeId,
    name: &'static str,
}

impl PayloadType {
    /// The payload type `T`.
    pub fn of<T: 'static>() -> Self {
        Self {
            id: TypeId::of::<T>(),
            name: std::any::type_name::<T>(),
        }
    }
}

impl PartialEq for PayloadType {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl fmt::Debug for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// One signal, query or update handler: its name and payload types.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerSpec {
    /// The name on the wire.
    pub name: String,
    /// The argument type.
    pub input: PayloadType,
    /// The result type (none for signals).
    pub output: Option<PayloadType>,
}

/// A workflow type with its handlers, as data.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowSpec {
    /// The workflow type name.
    pub name: String,
    /// The workflow's argument type.
    pub input: PayloadType,
    /// The workflow's result type.
    pub output: PayloadType,
    /// Signals, in declaration order.
    pub signals: Vec<HandlerSpec>,
    /// Queries, in declaration order.
    pub queries: Vec<HandlerSpec>,
    /// Updates, in declaration order.
    pub updates: Vec<HandlerSpec>,
}

impl WorkflowSpec {
    /// Starts a spec from a workflow definition (a contract marker or the SDK macro's `run`
    /// marker of an implementation).
    pub fn of<W: WorkflowDefinition>(workflow: &W) -> Self {
        Self {
            name: workflow.name().to_owned(),
            input: PayloadType::of::<W::Input>(),
            output: PayloadType::of::<W::Output>(),
            signals: Vec::new(),
            queries: Vec::new(),
            updates: Vec::new(),
        }
    }

    /// Adds a signal.
    pub fn signal<S: SignalDefinition>(mut self, signal: &S) -> Self {
        self.signals.push(HandlerSpec {
            name: signal.name().to_owned(),
            input: PayloadType::of::<S::Input>(),
            output: None,
        });
        self
    }

    /// Adds a query.
    pub fn query<Q: QueryDefinition>(mut self, query: &Q) -> Self {
        self.queries.push(HandlerSpec {
            name: query.name().to_owned(),
            input: PayloadType::of::<Q::Input>(),
            output: Some(PayloadType::of::<Q::Output>()),
        });
        self
    }

    /// Adds an update.
    pub fn update<U: UpdateDefinition>(mut self, update: &U) -> Self {
        self.updates.push(HandlerSpec {
            name: update.name().to_owned(),
            input: PayloadType::of::<U::Input>(),
            output: Some(PayloadType::of::<U::Output>()),
        });
        self
    }

    /// Checks that an implementation's spec has the same names and payload types as this
    /// contract (handler order does not matter). The error lists every difference.
    pub fn assert_implemented_by(&self, implementation: &WorkflowSpec) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.name != implementation.name {
            problems.push(format!(
                "workflow name: contract {:?}, implementation {:?}",
                self.name, implementation.name
            ));
        }
        if self.input != implementation.input {
            problems.push(format!(
                "workflow {} input: contract {:?}, implementation {:?}",
                self.name, self.input, implementation.input
            ));
        }
        if self.output != implementation.output {
            problems.push(format!(
                "workflow {} output: contract {:?}, implementation {:?}",
                self.name, self.output, implementation.output
            ));
        }
        for (kind, wanted, found) in [
            ("signal", &self.signals, &implementation.signals),
            ("query", &self.queries, &implementation.queries),
            ("update", &self.updates, &implementation.updates),
        ] {
            compare_handlers(&self.name, kind, wanted, found, &mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Checks that a worker's registrations serve this contract: the workflow type is
    /// registered and has every signal, query and update by name.
    pub fn assert_registered(&self, registered: &WorkflowDefinitions) -> Result<(), String> {
        let Some(found) = registered
            .workflow_definitions()
            .find(|d| d.workflow_type == self.name)
        else {
            return Err(format!(
                "workflow {:?} is not registered on the worker",
                self.name
            ));
        };
        let mut missing = Vec::new();
        for s in &self.signals {
            if !found.signals.contains(&s.name) {
                missing.push(format!("signal {:?}", s.name));
            }
        }
        for q in &self.queries {
            if !found.queries.contains(&q.name) {
                missing.push(format!("query {:?}", q.name));
            }
        }
        for u in &self.updates {
            if !found.updates.iter().any(|d| d.name == u.name) {
                missing.push(format!("update {:?}", u.name));
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "workflow {:?} is registered without {}",
                self.name,
                missing.join(", ")
            ))
        }
    }
}

fn compare_handlers(
    workflow: &str,
    kind: &str,
    wanted: &[HandlerSpec],
    found: &[HandlerSpec],
    problems: &mut Vec<String>,
) {
    for w in wanted {
        match found.iter().find(|f| f.name == w.name) {
            None => problems.push(format!("workflow {workflow}: {kind} {:?} is not implemented", w.name)),
            Some(f) if f != w => problems.push(format!(
                "workflow {workflow}: {kind} {:?} types differ: contract {:?} -> {:?}, implementation {:?} -> {:?}",
                w.name, w.input, w.output, f.input, f.output
            )),
            Some(_) => {}
        }
    }
    for f in found {
        if !wanted.iter().any(|w| w.name == f.name) {
            problems.push(format!(
                "workflow {workflow}: {kind} {:?} is implemented but not in the contract",
                f.name
            ));
        }
    }
}

/// Declares contract marker types: a workflow with its signals, queries and updates.
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub struct Greeting { pub name: String }
///
/// workflow::contract! {
///     /// Greets someone.
///     pub workflow Greet = "Greet" (Greeting) -> String {
///         signals { Rename = "rename" (String); }
///         queries { Current = "current" (()) -> String; }
///         updates { SetPunctuation = "set_punctuation" (char) -> String; }
///     }
/// }
///
/// let spec = Greet::spec();
/// assert_eq!(spec.name, "Greet");
/// assert_eq!(spec.signals[0].name, "rename");
/// ```
#[macro_export]
macro_rules! contract {
    ($(
        $(#[$meta:meta])*
        $vis:vis workflow $wf:ident = $wf_name:literal ($wf_in:ty) -> $wf_out:ty {
            signals { $( $(#[$s_meta:meta])* $sig:ident = $sig_name:literal ($sig_in:ty); )* }
            queries { $( $(#[$q_meta:meta])* $query:ident = $query_name:literal ($query_in:ty) -> $query_out:ty; )* }
            updates { $( $(#[$u_meta:meta])* $upd:ident = $upd_name:literal ($upd_in:ty) -> $upd_out:ty; )* }
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        $vis struct $wf;

        impl $wf {
            /// The workflow type name on the wire.
            pub const NAME: &'static str = $wf_name;

            /// This workflow's contract as data, for agreement tests.
            pub fn spec() -> $crate::contract::WorkflowSpec {
                $crate::contract::WorkflowSpec::of(&$wf)
                    $( .signal(&$sig) )*
                    $( .query(&$query) )*
                    $( .update(&$upd) )*
            }
        }

        impl $crate::__private::WorkflowDefinition for $wf {
            type Input = $wf_in;
            type Output = $wf_out;
            fn name(&self) -> &str { $wf_name }
        }

        impl $crate::__private::HasWorkflowDefinition for $wf {
            type Run = $wf;
        }

        $(
            $(#[$s_meta])*
            #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
            $vis struct $sig;
            impl $sig {
                /// The signal name on the wire.
                pub const NAME: &'static str = $sig_name;
            }
            impl $crate::__private::SignalDefinition for $sig {
                type Workflow = $wf;
                type Input = $sig_in;
                fn name(&self) -> &str { $sig_name }
            }
        )*

        $(
            $(#[$q_meta])*
            #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
            $vis struct $query;
            impl $query {
                /// The query name on the wire.
                pub const NAME: &'static str = $query_name;
            }
            impl $crate::__private::QueryDefinition for $query {
                type Workflow = $wf;
                type Input = $query_in;
                type Output = $query_out;
                fn name(&self) -> &str { $query_name }
            }
        )*

        $(
            $(#[$u_meta])*
            #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
            $vis struct $upd;
            impl $upd {
                /// The update name on the wire.
                pub const NAME: &'static str = $upd_name;
            }
            impl $crate::__private::UpdateDefinition for $upd {
                type Workflow = $wf;
                type Input = $upd_in;
                type Output = $upd_out;
                fn name(&self) -> &str { $upd_name }
            }
        )*
    )*};
}
