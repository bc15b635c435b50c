//! The workflow console: see, search and steer workflows over HTTP and in a browser, in
//! every mode, on its own listener (`[console]`, on by default in demo mode at
//! `127.0.0.1:8233`).
//!
//! - `/api/...`: a JSON management API (list with the visibility query and paging, count,
//!   describe, history with decoded payloads, query, signal, cancel, terminate), described
//!   by `/api/openapi.json`; errors are `{"error": code, "message": text}`.
//! - `/` and `/workflows/{id}`: server-rendered pages (minijinja templates, a little vanilla
//!   script, assets compiled into the binary): the list with filters, and a workflow's input,
//!   result or failure, pending work, timeline and events, with signal, cancel and terminate.
//!
//! The console talks to Temporal through the library's own SDK client (raw
//! `WorkflowService` calls), so the embedded engine, the dev server and a cluster look the
//! same. Auth ([`auth`]): API keys and/or basic auth, required off loopback; `read_only`
//! turns the write actions into 403.

mod api;
mod auth;
mod config;
mod error;
mod pages;
mod payload;
mod service;
mod timeline;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use api::API_ROUTES;
pub use config::{ConsoleConfig, DEFAULT_CONSOLE_LISTEN};
pub use error::ConsoleError;

use crate::client::WorkflowClient;
use crate::config::Config;
use crate::error::StartError;
use service::{History, Service};
use view::Detail;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct ConsoleState {
    service: Service,
    read_only: bool,
    pages: Arc<pages::Pages>,
}

impl ConsoleState {
    fn check_writable(&self, action: &str) -> Result<(), ConsoleError> {
        if self.read_only {
            return Err(ConsoleError::Forbidden(format!(
                "the console is read-only (console.read_only = true): {action} is turned off"
            )));
        }
        Ok(())
    }

    async fn detail_and_history(
        &self,
        workflow_id: &str,
        run_id: &str,
    ) -> Result<(Detail, History), ConsoleError> {
        // Describe first, then the history: read in that order, the history holds every
        // event behind the status that describe reports (read together, a run could show as
        // completed beside a history that ends before its completion).
        let describe = self.service.describe(workflow_id, run_id).await?;
        let history = self.service.history(workflow_id, run_id).await?;
        let detail = Detail::build(&describe, &history.events, history.truncated);
        Ok((detail, history))
    }

    async fn detail(&self, workflow_id: &str, run_id: &str) -> Result<Detail, ConsoleError> {
        Ok(self.detail_and_history(workflow_id, run_id).await?.0)
    }
}

/// The console's routes (API, pages, assets) behind its auth.
pub fn router(client: &WorkflowClient, config: &Config) -> Router {
    let state = ConsoleState {
        service: Service::new(
            client.sdk_client().clone(),
            config.temporal.address.clone(),
            config.temporal.request_timeout,
        ),
        read_only: config.console.read_only,
        pages: Arc::new(pages::Pages::new()),
    };
    let auth = Arc::new(auth::Auth::from_config(&config.console));
    Router::new()
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/workflows", get(api::list))
        .route("/api/count", get(api::count))
        .route("/api/workflows/{id}", get(api::describe))
        .route("/api/workflows/{id}/history", get(api::history))
        .route("/api/workflows/{id}/query", post(api::query))
        .route("/api/workflows/{id}/signal", post(api::signal))
        .route("/api/workflows/{id}/cancel", post(api::cancel))
        .route("/api/workflows/{id}/terminate", post(api::terminate))
        .route("/api/{*rest}", get(api::not_found).post(api::not_found))
        .route("/", get(pages::list))
        .route("/workflows/{id}", get(pages::workflow))
        .route("/assets/{name}", get(pages::asset))
        .fallback(pages::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(auth, auth::require))
}

/// A console being served.
pub(crate) struct Console {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Console {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn stop(self) {
        self.task.abort();
    }
}

/// Binds and serves the console when the configuration turns it on.
pub(crate) async fn start(
    config: &Config,
    client: &WorkflowClient,
) -> Result<Option<Console>, StartError> {
    let Some(listen) = config.console.effective_listen(config.engine) else {
        return Ok(None);
    };
    let bind_error = |source| StartError::ConsoleListen {
        address: listen.to_string(),
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let routes = router(client, config);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, routes).await {
            tracing::error!(error = %e, "console stopped");
        }
    });
    tracing::info!(
        url = %format!("http://{addr}/"),
        read_only = config.console.read_only,
        auth = config.console.has_auth(),
        "workflow console serving"
    );
    Ok(Some(Console { addr, task }))
}
