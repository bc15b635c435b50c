//! Thin gRPC handlers: decode the request, run one operation, encode the answer. One module
//! per RPC family; errors become statuses in one place (`status`). RPCs not listed here
//! answer `UNIMPLEMENTED` through the generated default stubs.

mod activity_control;
mod batch;
mod deployments;
mod history;
mod in_process;
mod multi;
mod namespaces;
mod nexus;
mod operator;
mod queries;
mod reads;
mod retention;
mod rpcs;
mod schedules;
mod standalone;
mod status;
mod task_queues;
mod tasks;
mod test_service;
mod updates;
mod visibility;
mod workers;
mod workflows;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use temporalio_protos::temporal::api::{
    operatorservice::v1::{
        AddOrUpdateRemoteClusterRequest, AddOrUpdateRemoteClusterResponse,
        AddSearchAttributesRequest, AddSearchAttributesResponse, CreateNexusEndpointRequest,
        CreateNexusEndpointResponse, DeleteNamespaceRequest, DeleteNamespaceResponse,
        DeleteNexusEndpointRequest, DeleteNexusEndpointResponse, GetNexusEndpointRequest,
        GetNexusEndpointResponse, ListClustersRequest, ListClustersResponse,
        ListNexusEndpointsRequest, ListNexusEndpointsResponse, ListSearchAttributesRequest,
        ListSearchAttributesResponse, RemoveRemoteClusterRequest, RemoveRemoteClusterResponse,
        RemoveSearchAttributesRequest, RemoveSearchAttributesResponse, UpdateNexusEndpointRequest,
        UpdateNexusEndpointResponse,
    },
    workflowservice::v1::*,
};
use tonic::{Request, Response, Status};

use crate::{
    generated::{
        operatorservice::operator_service_server::OperatorService,
        workflowservice::workflow_service_server::WorkflowService,
    },
    runtime::EngineRuntime,
};
use tasks::ActivityAnswer;

pub(crate) use in_process::MAX_RESPONSE_BYTES;
pub use in_process::{InProcess, InProcessReply};

/// The `WorkflowService`, `OperatorService` and `TestService` implementation.
#[derive(Clone)]
pub(crate) struct Service {
    pub(crate) runtime: Arc<EngineRuntime>,
    /// How long a long poll waits before answering empty.
    pub(crate) long_poll: Duration,
    /// How long a history long poll waits before answering an empty page.
    pub(crate) history_long_poll: Duration,
    /// The address the engine listens on, as `ListClusters` reports it.
    pub(crate) address: String,
    /// Batch operations, running and done.
    batches: Arc<batch::Batches>,
    /// The shortest retention a namespace may be given.
    min_retention: Duration,
    /// Whether standalone activity executions are served (`activity.enableStandalone`).
    standalone_activities: bool,
}

impl Service {
    pub(crate) fn new(runtime: Arc<EngineRuntime>, long_poll: Duration, address: String) -> Self {
        Self {
            runtime,
            long_poll,
            history_long_poll: long_poll,
            address,
            batches: Arc::default(),
            min_retention: crate::engine::MIN_RETENTION,
            standalone_activities: true,
        }
    }

    /// History long polls wait `timeout` (the real server's
    /// `history.longPollExpirationInterval`).
    pub(crate) fn with_history_long_poll(mut self, timeout: Duration) -> Self {
        self.history_long_poll = timeout;
        self
    }

    /// Serves standalone activity executions or refuses them as a server with
    /// `activity.enableStandalone` off does.
    pub(crate) fn with_standalone_activities(mut self, on: bool) -> Self {
        self.standalone_activities = on;
        self
    }

    fn standalone_on(&self) -> Result<(), Status> {
        if self.standalone_activities {
            Ok(())
        } else {
            Err(Status::unimplemented("Standalone activity is disabled"))
        }
    }

    /// Carries on with the batch jobs that were running when the engine last stopped.
    /// Called once, when the engine starts serving.
    pub(crate) fn resume_batches(&self) {
        batch::resume(self);
    }

    /// Namespaces may be given a retention down to `min` (the real server's
    /// `system.namespaceMinRetentionLocal`).
    pub(crate) fn with_min_retention(mut self, min: Duration) -> Self {
        self.min_retention = min;
        self
    }
}

type Rpc<T> = Result<Response<T>, Status>;

fn ok<T>(value: T) -> Rpc<T> {
    Ok(Response::new(value))
}

/// Handlers for RPCs the engine refuses as the dev server does: each answers its row of
/// `rpcs::RPCS` after checking the namespace. Written as `async_trait` expands an
/// `async fn`, so that one line per RPC stays a line of this table.
macro_rules! refused {
    ($($name:ident($request:ty) -> $response:ty = $method:literal;)*) => {$(
        fn $name<'life0, 'async_trait>(
            &'life0 self,
            request: Request<$request>,
        ) -> Pin<Box<dyn Future<Output = Rpc<$response>> + Send + 'async_trait>>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            Box::pin(async move {
                Err(rpcs::refuse(&self.runtime, $method, &request.get_ref().namespace)?)
            })
        }
    )*};
}

#[tonic::async_trait]
impl WorkflowService for Service {
    async fn get_system_info(
        &self,
        _: Request<GetSystemInfoRequest>,
    ) -> Rpc<GetSystemInfoResponse> {
        ok(namespaces::get_system_info())
    }

    async fn describe_namespace(
        &self,
        request: Request<DescribeNamespaceRequest>,
    ) -> Rpc<DescribeNamespaceResponse> {
        ok(namespaces::describe_namespace(
            &self.runtime,
            request.get_ref(),
        )?)
    }

    async fn list_namespaces(
        &self,
        request: Request<ListNamespacesRequest>,
    ) -> Rpc<ListNamespacesResponse> {
        ok(namespaces::list_namespaces(
            &self.runtime,
            request.get_ref(),
        ))
    }

    async fn register_namespace(
        &self,
        request: Request<RegisterNamespaceRequest>,
    ) -> Rpc<RegisterNamespaceResponse> {
        namespaces::register_namespace(&self.runtime, self.min_retention, request.into_inner())
            .await?;
        ok(RegisterNamespaceResponse::default())
    }

    async fn update_namespace(
        &self,
        request: Request<UpdateNamespaceRequest>,
    ) -> Rpc<UpdateNamespaceResponse> {
        ok(
            retention::update_namespace(&self.runtime, self.min_retention, request.into_inner())
                .await?,
        )
    }

    async fn deprecate_namespace(
        &self,
        request: Request<DeprecateNamespaceRequest>,
    ) -> Rpc<DeprecateNamespaceResponse> {
        namespaces::deprecate_namespace(&self.runtime, request.get_ref()).await?;
        ok(DeprecateNamespaceResponse::default())
    }

    async fn create_schedule(
        &self,
        request: Request<CreateScheduleRequest>,
    ) -> Rpc<CreateScheduleResponse> {
        ok(schedules::create(&self.runtime, request.into_inner()).await?)
    }

    async fn describe_schedule(
        &self,
        request: Request<DescribeScheduleRequest>,
    ) -> Rpc<DescribeScheduleResponse> {
        ok(schedules::describe(&self.runtime, request.get_ref())?)
    }

    async fn update_schedule(
        &self,
        request: Request<UpdateScheduleRequest>,
    ) -> Rpc<UpdateScheduleResponse> {
        schedules::update(&self.runtime, request.into_inner()).await?;
        ok(UpdateScheduleResponse::default())
    }

    async fn patch_schedule(
        &self,
        request: Request<PatchScheduleRequest>,
    ) -> Rpc<PatchScheduleResponse> {
        schedules::patch(&self.runtime, request.into_inner()).await?;
        ok(PatchScheduleResponse::default())
    }

    async fn delete_schedule(
        &self,
        request: Request<DeleteScheduleRequest>,
    ) -> Rpc<DeleteScheduleResponse> {
        schedules::delete(&self.runtime, request.into_inner()).await?;
        ok(DeleteScheduleResponse::default())
    }

    async fn list_schedules(
        &self,
        request: Request<ListSchedulesRequest>,
    ) -> Rpc<ListSchedulesResponse> {
        ok(schedules::list(&self.runtime, request.get_ref())?)
    }

    async fn list_schedule_matching_times(
        &self,
        request: Request<ListScheduleMatchingTimesRequest>,
    ) -> Rpc<ListScheduleMatchingTimesResponse> {
        ok(schedules::matching_times(&self.runtime, request.get_ref())?)
    }

    async fn start_workflow_execution(
        &self,
        request: Request<StartWorkflowExecutionRequest>,
    ) -> Rpc<StartWorkflowExecutionResponse> {
        ok(workflows::start(&self.runtime, request.into_inner()).await?)
    }

    async fn signal_with_start_workflow_execution(
        &self,
        request: Request<SignalWithStartWorkflowExecutionRequest>,
    ) -> Rpc<SignalWithStartWorkflowExecutionResponse> {
        ok(workflows::signal_with_start(&self.runtime, request.into_inner()).await?)
    }

    async fn signal_workflow_execution(
        &self,
        request: Request<SignalWorkflowExecutionRequest>,
    ) -> Rpc<SignalWorkflowExecutionResponse> {
        workflows::signal(&self.runtime, request.into_inner()).await?;
        ok(SignalWorkflowExecutionResponse::default())
    }

    async fn request_cancel_workflow_execution(
        &self,
        request: Request<RequestCancelWorkflowExecutionRequest>,
    ) -> Rpc<RequestCancelWorkflowExecutionResponse> {
        workflows::request_cancel(&self.runtime, request.into_inner()).await?;
        ok(RequestCancelWorkflowExecutionResponse::default())
    }

    async fn terminate_workflow_execution(
        &self,
        request: Request<TerminateWorkflowExecutionRequest>,
    ) -> Rpc<TerminateWorkflowExecutionResponse> {
        workflows::terminate(&self.runtime, request.into_inner()).await?;
        ok(TerminateWorkflowExecutionResponse::default())
    }

    async fn delete_workflow_execution(
        &self,
        request: Request<DeleteWorkflowExecutionRequest>,
    ) -> Rpc<DeleteWorkflowExecutionResponse> {
        retention::delete_workflow_execution(&self.runtime, request.into_inner()).await?;
        ok(DeleteWorkflowExecutionResponse::default())
    }

    async fn query_workflow(
        &self,
        request: Request<QueryWorkflowRequest>,
    ) -> Rpc<QueryWorkflowResponse> {
        ok(queries::query(self, request.into_inner()).await?)
    }

    async fn update_workflow_execution(
        &self,
        request: Request<UpdateWorkflowExecutionRequest>,
    ) -> Rpc<UpdateWorkflowExecutionResponse> {
        ok(updates::update(self, request.into_inner()).await?)
    }

    async fn execute_multi_operation(
        &self,
        request: Request<ExecuteMultiOperationRequest>,
    ) -> Rpc<ExecuteMultiOperationResponse> {
        ok(multi::execute(self, request.into_inner()).await?)
    }

    async fn poll_workflow_execution_update(
        &self,
        request: Request<PollWorkflowExecutionUpdateRequest>,
    ) -> Rpc<PollWorkflowExecutionUpdateResponse> {
        ok(updates::poll(self, request.into_inner()).await?)
    }

    async fn get_workflow_execution_history(
        &self,
        request: Request<GetWorkflowExecutionHistoryRequest>,
    ) -> Rpc<GetWorkflowExecutionHistoryResponse> {
        ok(history::get_history(self, request.into_inner()).await?)
    }

    async fn describe_workflow_execution(
        &self,
        request: Request<DescribeWorkflowExecutionRequest>,
    ) -> Rpc<DescribeWorkflowExecutionResponse> {
        ok(history::describe(self, request.get_ref())?)
    }

    async fn list_workflow_executions(
        &self,
        request: Request<ListWorkflowExecutionsRequest>,
    ) -> Rpc<ListWorkflowExecutionsResponse> {
        ok(visibility::list(self, request.get_ref()).await?)
    }

    async fn count_workflow_executions(
        &self,
        request: Request<CountWorkflowExecutionsRequest>,
    ) -> Rpc<CountWorkflowExecutionsResponse> {
        ok(visibility::count(self, request.get_ref()).await?)
    }

    async fn poll_workflow_task_queue(
        &self,
        request: Request<PollWorkflowTaskQueueRequest>,
    ) -> Rpc<PollWorkflowTaskQueueResponse> {
        ok(tasks::poll_workflow_task(self, request.into_inner()).await?)
    }

    async fn respond_workflow_task_completed(
        &self,
        request: Request<RespondWorkflowTaskCompletedRequest>,
    ) -> Rpc<RespondWorkflowTaskCompletedResponse> {
        ok(tasks::complete_workflow_task(&self.runtime, request.into_inner()).await?)
    }

    async fn respond_workflow_task_failed(
        &self,
        request: Request<RespondWorkflowTaskFailedRequest>,
    ) -> Rpc<RespondWorkflowTaskFailedResponse> {
        tasks::fail_workflow_task(&self.runtime, request.into_inner()).await?;
        ok(RespondWorkflowTaskFailedResponse::default())
    }

    async fn respond_query_task_completed(
        &self,
        request: Request<RespondQueryTaskCompletedRequest>,
    ) -> Rpc<RespondQueryTaskCompletedResponse> {
        tasks::complete_query_task(&self.runtime, request.into_inner())?;
        ok(RespondQueryTaskCompletedResponse::default())
    }

    async fn poll_activity_task_queue(
        &self,
        request: Request<PollActivityTaskQueueRequest>,
    ) -> Rpc<PollActivityTaskQueueResponse> {
        ok(tasks::poll_activity_task(self, request.into_inner()).await?)
    }

    async fn respond_activity_task_completed(
        &self,
        request: Request<RespondActivityTaskCompletedRequest>,
    ) -> Rpc<RespondActivityTaskCompletedResponse> {
        let answer = ActivityAnswer::Completed(request.into_inner());
        tasks::answer_activity(&self.runtime, answer).await?;
        ok(RespondActivityTaskCompletedResponse::default())
    }

    async fn respond_activity_task_failed(
        &self,
        request: Request<RespondActivityTaskFailedRequest>,
    ) -> Rpc<RespondActivityTaskFailedResponse> {
        let answer = ActivityAnswer::Failed(Box::new(request.into_inner()));
        tasks::answer_activity(&self.runtime, answer).await?;
        ok(RespondActivityTaskFailedResponse::default())
    }

    async fn respond_activity_task_canceled(
        &self,
        request: Request<RespondActivityTaskCanceledRequest>,
    ) -> Rpc<RespondActivityTaskCanceledResponse> {
        let answer = ActivityAnswer::Canceled(request.into_inner());
        tasks::answer_activity(&self.runtime, answer).await?;
        ok(RespondActivityTaskCanceledResponse::default())
    }

    async fn pause_activity(
        &self,
        request: Request<PauseActivityRequest>,
    ) -> Rpc<PauseActivityResponse> {
        activity_control::pause(&self.runtime, request.into_inner()).await?;
        ok(PauseActivityResponse {})
    }

    async fn unpause_activity(
        &self,
        request: Request<UnpauseActivityRequest>,
    ) -> Rpc<UnpauseActivityResponse> {
        activity_control::unpause(&self.runtime, request.into_inner()).await?;
        ok(UnpauseActivityResponse {})
    }

    async fn reset_activity(
        &self,
        request: Request<ResetActivityRequest>,
    ) -> Rpc<ResetActivityResponse> {
        activity_control::reset(&self.runtime, request.into_inner()).await?;
        ok(ResetActivityResponse {})
    }

    async fn update_activity_options(
        &self,
        request: Request<UpdateActivityOptionsRequest>,
    ) -> Rpc<UpdateActivityOptionsResponse> {
        ok(activity_control::update_options(&self.runtime, request.into_inner()).await?)
    }

    async fn record_activity_task_heartbeat(
        &self,
        request: Request<RecordActivityTaskHeartbeatRequest>,
    ) -> Rpc<RecordActivityTaskHeartbeatResponse> {
        ok(tasks::heartbeat(&self.runtime, request.into_inner()).await?)
    }

    async fn respond_activity_task_completed_by_id(
        &self,
        request: Request<RespondActivityTaskCompletedByIdRequest>,
    ) -> Rpc<RespondActivityTaskCompletedByIdResponse> {
        tasks::complete_activity_by_id(&self.runtime, request.into_inner()).await?;
        ok(RespondActivityTaskCompletedByIdResponse::default())
    }

    async fn respond_activity_task_failed_by_id(
        &self,
        request: Request<RespondActivityTaskFailedByIdRequest>,
    ) -> Rpc<RespondActivityTaskFailedByIdResponse> {
        tasks::fail_activity_by_id(&self.runtime, request.into_inner()).await?;
        ok(RespondActivityTaskFailedByIdResponse::default())
    }

    async fn respond_activity_task_canceled_by_id(
        &self,
        request: Request<RespondActivityTaskCanceledByIdRequest>,
    ) -> Rpc<RespondActivityTaskCanceledByIdResponse> {
        tasks::cancel_activity_by_id(&self.runtime, request.into_inner()).await?;
        ok(RespondActivityTaskCanceledByIdResponse::default())
    }

    async fn record_activity_task_heartbeat_by_id(
        &self,
        request: Request<RecordActivityTaskHeartbeatByIdRequest>,
    ) -> Rpc<RecordActivityTaskHeartbeatByIdResponse> {
        ok(tasks::heartbeat_by_id(&self.runtime, request.into_inner()).await?)
    }

    async fn record_worker_heartbeat(
        &self,
        request: Request<RecordWorkerHeartbeatRequest>,
    ) -> Rpc<RecordWorkerHeartbeatResponse> {
        workers::record(&self.runtime, request.into_inner())?;
        ok(RecordWorkerHeartbeatResponse::default())
    }

    async fn list_workers(&self, request: Request<ListWorkersRequest>) -> Rpc<ListWorkersResponse> {
        ok(workers::list(&self.runtime, request.get_ref())?)
    }

    async fn count_workers(
        &self,
        request: Request<CountWorkersRequest>,
    ) -> Rpc<CountWorkersResponse> {
        ok(workers::count(&self.runtime, request.get_ref())?)
    }

    async fn describe_worker(
        &self,
        request: Request<DescribeWorkerRequest>,
    ) -> Rpc<DescribeWorkerResponse> {
        ok(workers::describe(&self.runtime, request.get_ref())?)
    }

    async fn shutdown_worker(
        &self,
        request: Request<ShutdownWorkerRequest>,
    ) -> Rpc<ShutdownWorkerResponse> {
        tasks::shutdown_worker(&self.runtime, request.into_inner()).await?;
        ok(ShutdownWorkerResponse::default())
    }

    async fn update_workflow_execution_options(
        &self,
        request: Request<UpdateWorkflowExecutionOptionsRequest>,
    ) -> Rpc<UpdateWorkflowExecutionOptionsResponse> {
        ok(workflows::update_options(&self.runtime, request.into_inner()).await?)
    }

    async fn describe_worker_deployment(
        &self,
        request: Request<DescribeWorkerDeploymentRequest>,
    ) -> Rpc<DescribeWorkerDeploymentResponse> {
        ok(deployments::describe_deployment(
            &self.runtime,
            request.get_ref(),
        )?)
    }

    async fn list_worker_deployments(
        &self,
        request: Request<ListWorkerDeploymentsRequest>,
    ) -> Rpc<ListWorkerDeploymentsResponse> {
        ok(deployments::list_deployments(
            &self.runtime,
            request.get_ref(),
        )?)
    }

    async fn describe_worker_deployment_version(
        &self,
        request: Request<DescribeWorkerDeploymentVersionRequest>,
    ) -> Rpc<DescribeWorkerDeploymentVersionResponse> {
        ok(deployments::describe_version(
            &self.runtime,
            request.get_ref(),
        )?)
    }

    async fn set_worker_deployment_current_version(
        &self,
        request: Request<SetWorkerDeploymentCurrentVersionRequest>,
    ) -> Rpc<SetWorkerDeploymentCurrentVersionResponse> {
        ok(deployments::set_current(&self.runtime, request.get_ref())?)
    }

    async fn set_worker_deployment_ramping_version(
        &self,
        request: Request<SetWorkerDeploymentRampingVersionRequest>,
    ) -> Rpc<SetWorkerDeploymentRampingVersionResponse> {
        ok(deployments::set_ramping(&self.runtime, request.get_ref())?)
    }

    async fn delete_worker_deployment_version(
        &self,
        request: Request<DeleteWorkerDeploymentVersionRequest>,
    ) -> Rpc<DeleteWorkerDeploymentVersionResponse> {
        deployments::delete_version(&self.runtime, request.get_ref())?;
        ok(DeleteWorkerDeploymentVersionResponse::default())
    }

    async fn delete_worker_deployment(
        &self,
        request: Request<DeleteWorkerDeploymentRequest>,
    ) -> Rpc<DeleteWorkerDeploymentResponse> {
        deployments::delete_deployment(&self.runtime, request.get_ref())?;
        ok(DeleteWorkerDeploymentResponse::default())
    }

    async fn create_worker_deployment(
        &self,
        request: Request<CreateWorkerDeploymentRequest>,
    ) -> Rpc<CreateWorkerDeploymentResponse> {
        ok(deployments::create_deployment(
            &self.runtime,
            request.get_ref(),
        )?)
    }

    async fn create_worker_deployment_version(
        &self,
        request: Request<CreateWorkerDeploymentVersionRequest>,
    ) -> Rpc<CreateWorkerDeploymentVersionResponse> {
        deployments::create_version(&self.runtime, request.get_ref())?;
        ok(CreateWorkerDeploymentVersionResponse::default())
    }

    async fn update_worker_deployment_version_compute_config(
        &self,
        request: Request<UpdateWorkerDeploymentVersionComputeConfigRequest>,
    ) -> Rpc<UpdateWorkerDeploymentVersionComputeConfigResponse> {
        deployments::update_compute_config(&self.runtime, request.get_ref())?;
        ok(UpdateWorkerDeploymentVersionComputeConfigResponse::default())
    }

    async fn validate_worker_deployment_version_compute_config(
        &self,
        request: Request<ValidateWorkerDeploymentVersionComputeConfigRequest>,
    ) -> Rpc<ValidateWorkerDeploymentVersionComputeConfigResponse> {
        deployments::validate_compute_config(&self.runtime, request.get_ref())?;
        ok(ValidateWorkerDeploymentVersionComputeConfigResponse::default())
    }

    async fn update_worker_deployment_version_metadata(
        &self,
        request: Request<UpdateWorkerDeploymentVersionMetadataRequest>,
    ) -> Rpc<UpdateWorkerDeploymentVersionMetadataResponse> {
        ok(deployments::update_metadata(
            &self.runtime,
            request.get_ref(),
        )?)
    }

    async fn set_worker_deployment_manager(
        &self,
        request: Request<SetWorkerDeploymentManagerRequest>,
    ) -> Rpc<SetWorkerDeploymentManagerResponse> {
        ok(deployments::set_manager(&self.runtime, request.get_ref())?)
    }

    async fn poll_nexus_task_queue(
        &self,
        request: Request<PollNexusTaskQueueRequest>,
    ) -> Rpc<PollNexusTaskQueueResponse> {
        ok(nexus::poll(self, request.into_inner()).await?)
    }

    async fn respond_nexus_task_completed(
        &self,
        request: Request<RespondNexusTaskCompletedRequest>,
    ) -> Rpc<RespondNexusTaskCompletedResponse> {
        nexus::respond_completed(&self.runtime, request.into_inner()).await?;
        ok(RespondNexusTaskCompletedResponse::default())
    }

    async fn respond_nexus_task_failed(
        &self,
        request: Request<RespondNexusTaskFailedRequest>,
    ) -> Rpc<RespondNexusTaskFailedResponse> {
        nexus::respond_failed(&self.runtime, request.into_inner()).await?;
        ok(RespondNexusTaskFailedResponse::default())
    }

    async fn reset_workflow_execution(
        &self,
        request: Request<ResetWorkflowExecutionRequest>,
    ) -> Rpc<ResetWorkflowExecutionResponse> {
        ok(workflows::reset(&self.runtime, request.into_inner()).await?)
    }

    async fn reset_sticky_task_queue(
        &self,
        request: Request<ResetStickyTaskQueueRequest>,
    ) -> Rpc<ResetStickyTaskQueueResponse> {
        tasks::reset_sticky(&self.runtime, request.into_inner()).await?;
        ok(ResetStickyTaskQueueResponse::default())
    }

    async fn get_cluster_info(
        &self,
        _: Request<GetClusterInfoRequest>,
    ) -> Rpc<GetClusterInfoResponse> {
        ok(reads::cluster_info())
    }

    async fn get_search_attributes(
        &self,
        _: Request<GetSearchAttributesRequest>,
    ) -> Rpc<GetSearchAttributesResponse> {
        ok(reads::search_attributes(&self.runtime))
    }

    async fn get_workflow_execution_history_reverse(
        &self,
        request: Request<GetWorkflowExecutionHistoryReverseRequest>,
    ) -> Rpc<GetWorkflowExecutionHistoryReverseResponse> {
        ok(reads::history_reverse(&self.runtime, request.get_ref())?)
    }

    async fn list_open_workflow_executions(
        &self,
        request: Request<ListOpenWorkflowExecutionsRequest>,
    ) -> Rpc<ListOpenWorkflowExecutionsResponse> {
        ok(reads::list_open(self, request.into_inner()).await?)
    }

    async fn list_closed_workflow_executions(
        &self,
        request: Request<ListClosedWorkflowExecutionsRequest>,
    ) -> Rpc<ListClosedWorkflowExecutionsResponse> {
        ok(reads::list_closed(self, request.into_inner()).await?)
    }

    async fn scan_workflow_executions(
        &self,
        request: Request<ScanWorkflowExecutionsRequest>,
    ) -> Rpc<ScanWorkflowExecutionsResponse> {
        ok(reads::scan(self, request.into_inner()).await?)
    }

    async fn count_schedules(
        &self,
        request: Request<CountSchedulesRequest>,
    ) -> Rpc<CountSchedulesResponse> {
        ok(reads::count_schedules(&self.runtime, request.get_ref())?)
    }

    async fn unpause_workflow_execution(
        &self,
        request: Request<UnpauseWorkflowExecutionRequest>,
    ) -> Rpc<UnpauseWorkflowExecutionResponse> {
        workflows::unpause(&self.runtime, request.get_ref())?;
        ok(UnpauseWorkflowExecutionResponse::default())
    }

    async fn poll_workflow_execution_time_skipping(
        &self,
        request: Request<PollWorkflowExecutionTimeSkippingRequest>,
    ) -> Rpc<PollWorkflowExecutionTimeSkippingResponse> {
        let r = request.get_ref();
        if r.workflow_execution.is_none() {
            return Err(Status::invalid_argument("Execution is not set on request."));
        }
        Err(rpcs::refuse(
            &self.runtime,
            "PollWorkflowExecutionTimeSkipping",
            &r.namespace,
        )?)
    }

    async fn describe_task_queue(
        &self,
        request: Request<DescribeTaskQueueRequest>,
    ) -> Rpc<DescribeTaskQueueResponse> {
        ok(task_queues::describe(self, request.get_ref())?)
    }

    async fn list_task_queue_partitions(
        &self,
        request: Request<ListTaskQueuePartitionsRequest>,
    ) -> Rpc<ListTaskQueuePartitionsResponse> {
        ok(task_queues::partitions(self, request.get_ref())?)
    }

    async fn update_task_queue_config(
        &self,
        request: Request<UpdateTaskQueueConfigRequest>,
    ) -> Rpc<UpdateTaskQueueConfigResponse> {
        ok(task_queues::update_config(self, request.get_ref()).await?)
    }

    async fn start_batch_operation(
        &self,
        request: Request<StartBatchOperationRequest>,
    ) -> Rpc<StartBatchOperationResponse> {
        batch::start(self, request.into_inner()).await?;
        ok(StartBatchOperationResponse::default())
    }

    async fn describe_batch_operation(
        &self,
        request: Request<DescribeBatchOperationRequest>,
    ) -> Rpc<DescribeBatchOperationResponse> {
        ok(batch::describe(self, request.get_ref())?)
    }

    async fn list_batch_operations(
        &self,
        request: Request<ListBatchOperationsRequest>,
    ) -> Rpc<ListBatchOperationsResponse> {
        ok(batch::list(self, request.get_ref())?)
    }

    async fn stop_batch_operation(
        &self,
        request: Request<StopBatchOperationRequest>,
    ) -> Rpc<StopBatchOperationResponse> {
        batch::stop(self, request.get_ref()).await?;
        ok(StopBatchOperationResponse::default())
    }

    async fn start_activity_execution(
        &self,
        request: Request<StartActivityExecutionRequest>,
    ) -> Rpc<StartActivityExecutionResponse> {
        self.standalone_on()?;
        ok(standalone::start(self, request.into_inner()).await?)
    }

    async fn describe_activity_execution(
        &self,
        request: Request<DescribeActivityExecutionRequest>,
    ) -> Rpc<DescribeActivityExecutionResponse> {
        self.standalone_on()?;
        ok(standalone::describe(self, request.get_ref()).await?)
    }

    async fn poll_activity_execution(
        &self,
        request: Request<PollActivityExecutionRequest>,
    ) -> Rpc<PollActivityExecutionResponse> {
        self.standalone_on()?;
        ok(standalone::poll(self, request.get_ref()).await?)
    }

    async fn list_activity_executions(
        &self,
        request: Request<ListActivityExecutionsRequest>,
    ) -> Rpc<ListActivityExecutionsResponse> {
        self.standalone_on()?;
        ok(standalone::list(self, request.get_ref())?)
    }

    async fn count_activity_executions(
        &self,
        request: Request<CountActivityExecutionsRequest>,
    ) -> Rpc<CountActivityExecutionsResponse> {
        self.standalone_on()?;
        ok(standalone::count(self, request.get_ref())?)
    }

    async fn request_cancel_activity_execution(
        &self,
        request: Request<RequestCancelActivityExecutionRequest>,
    ) -> Rpc<RequestCancelActivityExecutionResponse> {
        self.standalone_on()?;
        standalone::request_cancel(self, request.into_inner()).await?;
        ok(RequestCancelActivityExecutionResponse::default())
    }

    async fn terminate_activity_execution(
        &self,
        request: Request<TerminateActivityExecutionRequest>,
    ) -> Rpc<TerminateActivityExecutionResponse> {
        self.standalone_on()?;
        standalone::terminate(self, request.into_inner()).await?;
        ok(TerminateActivityExecutionResponse::default())
    }

    async fn delete_activity_execution(
        &self,
        request: Request<DeleteActivityExecutionRequest>,
    ) -> Rpc<DeleteActivityExecutionResponse> {
        self.standalone_on()?;
        standalone::delete(self, request.into_inner()).await?;
        ok(DeleteActivityExecutionResponse::default())
    }

    async fn pause_activity_execution(
        &self,
        request: Request<PauseActivityExecutionRequest>,
    ) -> Rpc<PauseActivityExecutionResponse> {
        self.standalone_on()?;
        activity_control::pause_execution(&self.runtime, request.into_inner()).await?;
        ok(PauseActivityExecutionResponse {})
    }

    async fn reset_activity_execution(
        &self,
        request: Request<ResetActivityExecutionRequest>,
    ) -> Rpc<ResetActivityExecutionResponse> {
        self.standalone_on()?;
        activity_control::reset_execution(&self.runtime, request.into_inner()).await?;
        ok(ResetActivityExecutionResponse {})
    }

    async fn unpause_activity_execution(
        &self,
        request: Request<UnpauseActivityExecutionRequest>,
    ) -> Rpc<UnpauseActivityExecutionResponse> {
        self.standalone_on()?;
        activity_control::unpause_execution(&self.runtime, request.into_inner()).await?;
        ok(UnpauseActivityExecutionResponse {})
    }

    async fn update_activity_execution_options(
        &self,
        request: Request<UpdateActivityExecutionOptionsRequest>,
    ) -> Rpc<UpdateActivityExecutionOptionsResponse> {
        self.standalone_on()?;
        ok(activity_control::update_execution_options(&self.runtime, request.into_inner()).await?)
    }

    refused! {
        update_worker_build_id_compatibility(UpdateWorkerBuildIdCompatibilityRequest) -> UpdateWorkerBuildIdCompatibilityResponse = "UpdateWorkerBuildIdCompatibility";
        get_worker_build_id_compatibility(GetWorkerBuildIdCompatibilityRequest) -> GetWorkerBuildIdCompatibilityResponse = "GetWorkerBuildIdCompatibility";
        update_worker_versioning_rules(UpdateWorkerVersioningRulesRequest) -> UpdateWorkerVersioningRulesResponse = "UpdateWorkerVersioningRules";
        get_worker_versioning_rules(GetWorkerVersioningRulesRequest) -> GetWorkerVersioningRulesResponse = "GetWorkerVersioningRules";
        get_worker_task_reachability(GetWorkerTaskReachabilityRequest) -> GetWorkerTaskReachabilityResponse = "GetWorkerTaskReachability";
        describe_deployment(DescribeDeploymentRequest) -> DescribeDeploymentResponse = "DescribeDeployment";
        list_deployments(ListDeploymentsRequest) -> ListDeploymentsResponse = "ListDeployments";
        get_deployment_reachability(GetDeploymentReachabilityRequest) -> GetDeploymentReachabilityResponse = "GetDeploymentReachability";
        get_current_deployment(GetCurrentDeploymentRequest) -> GetCurrentDeploymentResponse = "GetCurrentDeployment";
        set_current_deployment(SetCurrentDeploymentRequest) -> SetCurrentDeploymentResponse = "SetCurrentDeployment";
        fetch_worker_config(FetchWorkerConfigRequest) -> FetchWorkerConfigResponse = "FetchWorkerConfig";
        update_worker_config(UpdateWorkerConfigRequest) -> UpdateWorkerConfigResponse = "UpdateWorkerConfig";
        pause_workflow_execution(PauseWorkflowExecutionRequest) -> PauseWorkflowExecutionResponse = "PauseWorkflowExecution";
        list_archived_workflow_executions(ListArchivedWorkflowExecutionsRequest) -> ListArchivedWorkflowExecutionsResponse = "ListArchivedWorkflowExecutions";
        create_workflow_rule(CreateWorkflowRuleRequest) -> CreateWorkflowRuleResponse = "CreateWorkflowRule";
        describe_workflow_rule(DescribeWorkflowRuleRequest) -> DescribeWorkflowRuleResponse = "DescribeWorkflowRule";
        delete_workflow_rule(DeleteWorkflowRuleRequest) -> DeleteWorkflowRuleResponse = "DeleteWorkflowRule";
        list_workflow_rules(ListWorkflowRulesRequest) -> ListWorkflowRulesResponse = "ListWorkflowRules";
        trigger_workflow_rule(TriggerWorkflowRuleRequest) -> TriggerWorkflowRuleResponse = "TriggerWorkflowRule";
        start_nexus_operation_execution(StartNexusOperationExecutionRequest) -> StartNexusOperationExecutionResponse = "StartNexusOperationExecution";
        describe_nexus_operation_execution(DescribeNexusOperationExecutionRequest) -> DescribeNexusOperationExecutionResponse = "DescribeNexusOperationExecution";
        poll_nexus_operation_execution(PollNexusOperationExecutionRequest) -> PollNexusOperationExecutionResponse = "PollNexusOperationExecution";
        list_nexus_operation_executions(ListNexusOperationExecutionsRequest) -> ListNexusOperationExecutionsResponse = "ListNexusOperationExecutions";
        count_nexus_operation_executions(CountNexusOperationExecutionsRequest) -> CountNexusOperationExecutionsResponse = "CountNexusOperationExecutions";
        request_cancel_nexus_operation_execution(RequestCancelNexusOperationExecutionRequest) -> RequestCancelNexusOperationExecutionResponse = "RequestCancelNexusOperationExecution";
        terminate_nexus_operation_execution(TerminateNexusOperationExecutionRequest) -> TerminateNexusOperationExecutionResponse = "TerminateNexusOperationExecution";
        delete_nexus_operation_execution(DeleteNexusOperationExecutionRequest) -> DeleteNexusOperationExecutionResponse = "DeleteNexusOperationExecution";
    }
}

#[tonic::async_trait]
impl OperatorService for Service {
    async fn delete_namespace(
        &self,
        request: Request<DeleteNamespaceRequest>,
    ) -> Rpc<DeleteNamespaceResponse> {
        ok(retention::delete_namespace(&self.runtime, request.into_inner()).await?)
    }

    async fn add_search_attributes(
        &self,
        request: Request<AddSearchAttributesRequest>,
    ) -> Rpc<AddSearchAttributesResponse> {
        operator::add_search_attributes(&self.runtime, request.into_inner()).await?;
        ok(AddSearchAttributesResponse::default())
    }

    async fn remove_search_attributes(
        &self,
        request: Request<RemoveSearchAttributesRequest>,
    ) -> Rpc<RemoveSearchAttributesResponse> {
        operator::remove_search_attributes(&self.runtime, request.into_inner()).await?;
        ok(RemoveSearchAttributesResponse::default())
    }

    async fn list_search_attributes(
        &self,
        request: Request<ListSearchAttributesRequest>,
    ) -> Rpc<ListSearchAttributesResponse> {
        ok(operator::list_search_attributes(
            &self.runtime,
            request.get_ref(),
        )?)
    }

    async fn create_nexus_endpoint(
        &self,
        request: Request<CreateNexusEndpointRequest>,
    ) -> Rpc<CreateNexusEndpointResponse> {
        ok(nexus::create_endpoint(&self.runtime, request.into_inner()).await?)
    }

    async fn update_nexus_endpoint(
        &self,
        request: Request<UpdateNexusEndpointRequest>,
    ) -> Rpc<UpdateNexusEndpointResponse> {
        ok(nexus::update_endpoint(&self.runtime, request.into_inner()).await?)
    }

    async fn delete_nexus_endpoint(
        &self,
        request: Request<DeleteNexusEndpointRequest>,
    ) -> Rpc<DeleteNexusEndpointResponse> {
        nexus::delete_endpoint(&self.runtime, request.into_inner()).await?;
        ok(DeleteNexusEndpointResponse::default())
    }

    async fn get_nexus_endpoint(
        &self,
        request: Request<GetNexusEndpointRequest>,
    ) -> Rpc<GetNexusEndpointResponse> {
        ok(nexus::get_endpoint(&self.runtime, request.get_ref())?)
    }

    async fn list_nexus_endpoints(
        &self,
        request: Request<ListNexusEndpointsRequest>,
    ) -> Rpc<ListNexusEndpointsResponse> {
        ok(nexus::list_endpoints(&self.runtime, request.get_ref())?)
    }

    async fn list_clusters(&self, _: Request<ListClustersRequest>) -> Rpc<ListClustersResponse> {
        ok(reads::list_clusters(self))
    }

    async fn add_or_update_remote_cluster(
        &self,
        _: Request<AddOrUpdateRemoteClusterRequest>,
    ) -> Rpc<AddOrUpdateRemoteClusterResponse> {
        Err(rpcs::refusal("AddOrUpdateRemoteCluster", ""))
    }

    async fn remove_remote_cluster(
        &self,
        _: Request<RemoveRemoteClusterRequest>,
    ) -> Rpc<RemoveRemoteClusterResponse> {
        Err(rpcs::refusal("RemoveRemoteCluster", ""))
    }
}
