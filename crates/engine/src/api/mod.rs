//! Thin gRPC handlers: decode the request, run one operation, encode the answer. One module
//! per RPC family; errors become statuses in one place (`status`). The services' impls at
//! the end of this file are the table of every RPC: one entry each (`served!` or
//! `refused!`), naming its family's function. RPCs not listed here answer `UNIMPLEMENTED`
//! through the generated default stubs.

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

/// Handlers for the RPCs the engine serves, one entry per RPC: its method, request and
/// response, then the body, given the service (`this`) and the request. Written as
/// `async_trait` expands an `async fn`, so that each RPC stays one entry of this table.
macro_rules! served {
    ($($name:ident($request:ty) -> $response:ty = |$this:tt, $req:tt| $body:expr;)*) => {$(
        fn $name<'life0, 'async_trait>(
            &'life0 self,
            $req: Request<$request>,
        ) -> Pin<Box<dyn Future<Output = Rpc<$response>> + Send + 'async_trait>>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            Box::pin(async move {
                // Fixes the block's type, which `?` alone leaves open.
                if let Some(answer) = None::<Rpc<$response>> {
                    return answer;
                }
                let $this = self;
                $body
            })
        }
    )*};
}

/// Handlers for RPCs the engine refuses as the dev server does: each answers its row of
/// `rpcs::RPCS` after checking the namespace.
macro_rules! refused {
    ($($name:ident($request:ty) -> $response:ty = $method:literal;)*) => {
        served! {$(
            $name($request) -> $response = |this, request|
                Err(rpcs::refuse(&this.runtime, $method, &request.get_ref().namespace)?);
        )*}
    };
}

#[tonic::async_trait]
impl WorkflowService for Service {
    served! {
        get_system_info(GetSystemInfoRequest) -> GetSystemInfoResponse = |_, _|
            ok(namespaces::get_system_info());
        describe_namespace(DescribeNamespaceRequest) -> DescribeNamespaceResponse = |this, request|
            ok(namespaces::describe_namespace(&this.runtime, request.get_ref())?);
        list_namespaces(ListNamespacesRequest) -> ListNamespacesResponse = |this, request|
            ok(namespaces::list_namespaces(&this.runtime, request.get_ref()));
        register_namespace(RegisterNamespaceRequest) -> RegisterNamespaceResponse = |this, request| {
            namespaces::register_namespace(&this.runtime, this.min_retention, request.into_inner()).await?;
            ok(RegisterNamespaceResponse::default())
        };
        update_namespace(UpdateNamespaceRequest) -> UpdateNamespaceResponse = |this, request|
            ok(retention::update_namespace(&this.runtime, this.min_retention, request.into_inner()).await?);
        deprecate_namespace(DeprecateNamespaceRequest) -> DeprecateNamespaceResponse = |this, request| {
            namespaces::deprecate_namespace(&this.runtime, request.get_ref()).await?;
            ok(DeprecateNamespaceResponse::default())
        };
        create_schedule(CreateScheduleRequest) -> CreateScheduleResponse = |this, request|
            ok(schedules::create(&this.runtime, request.into_inner()).await?);
        describe_schedule(DescribeScheduleRequest) -> DescribeScheduleResponse = |this, request|
            ok(schedules::describe(&this.runtime, request.get_ref())?);
        update_schedule(UpdateScheduleRequest) -> UpdateScheduleResponse = |this, request| {
            schedules::update(&this.runtime, request.into_inner()).await?;
            ok(UpdateScheduleResponse::default())
        };
        patch_schedule(PatchScheduleRequest) -> PatchScheduleResponse = |this, request| {
            schedules::patch(&this.runtime, request.into_inner()).await?;
            ok(PatchScheduleResponse::default())
        };
        delete_schedule(DeleteScheduleRequest) -> DeleteScheduleResponse = |this, request| {
            schedules::delete(&this.runtime, request.into_inner()).await?;
            ok(DeleteScheduleResponse::default())
        };
        list_schedules(ListSchedulesRequest) -> ListSchedulesResponse = |this, request|
            ok(schedules::list(&this.runtime, request.get_ref())?);
        list_schedule_matching_times(ListScheduleMatchingTimesRequest) -> ListScheduleMatchingTimesResponse = |this, request|
            ok(schedules::matching_times(&this.runtime, request.get_ref())?);
        start_workflow_execution(StartWorkflowExecutionRequest) -> StartWorkflowExecutionResponse = |this, request|
            ok(workflows::start(&this.runtime, request.into_inner()).await?);
        signal_with_start_workflow_execution(SignalWithStartWorkflowExecutionRequest) -> SignalWithStartWorkflowExecutionResponse = |this, request|
            ok(workflows::signal_with_start(&this.runtime, request.into_inner()).await?);
        signal_workflow_execution(SignalWorkflowExecutionRequest) -> SignalWorkflowExecutionResponse = |this, request| {
            workflows::signal(&this.runtime, request.into_inner()).await?;
            ok(SignalWorkflowExecutionResponse::default())
        };
        request_cancel_workflow_execution(RequestCancelWorkflowExecutionRequest) -> RequestCancelWorkflowExecutionResponse = |this, request| {
            workflows::request_cancel(&this.runtime, request.into_inner()).await?;
            ok(RequestCancelWorkflowExecutionResponse::default())
        };
        terminate_workflow_execution(TerminateWorkflowExecutionRequest) -> TerminateWorkflowExecutionResponse = |this, request| {
            workflows::terminate(&this.runtime, request.into_inner()).await?;
            ok(TerminateWorkflowExecutionResponse::default())
        };
        delete_workflow_execution(DeleteWorkflowExecutionRequest) -> DeleteWorkflowExecutionResponse = |this, request| {
            retention::delete_workflow_execution(&this.runtime, request.into_inner()).await?;
            ok(DeleteWorkflowExecutionResponse::default())
        };
        query_workflow(QueryWorkflowRequest) -> QueryWorkflowResponse = |this, request|
            ok(queries::query(this, request.into_inner()).await?);
        update_workflow_execution(UpdateWorkflowExecutionRequest) -> UpdateWorkflowExecutionResponse = |this, request|
            ok(updates::update(this, request.into_inner()).await?);
        execute_multi_operation(ExecuteMultiOperationRequest) -> ExecuteMultiOperationResponse = |this, request|
            ok(multi::execute(this, request.into_inner()).await?);
        poll_workflow_execution_update(PollWorkflowExecutionUpdateRequest) -> PollWorkflowExecutionUpdateResponse = |this, request|
            ok(updates::poll(this, request.into_inner()).await?);
        get_workflow_execution_history(GetWorkflowExecutionHistoryRequest) -> GetWorkflowExecutionHistoryResponse = |this, request|
            ok(history::get_history(this, request.into_inner()).await?);
        describe_workflow_execution(DescribeWorkflowExecutionRequest) -> DescribeWorkflowExecutionResponse = |this, request|
            ok(history::describe(this, request.get_ref())?);
        list_workflow_executions(ListWorkflowExecutionsRequest) -> ListWorkflowExecutionsResponse = |this, request|
            ok(visibility::list(this, request.get_ref()).await?);
        count_workflow_executions(CountWorkflowExecutionsRequest) -> CountWorkflowExecutionsResponse = |this, request|
            ok(visibility::count(this, request.get_ref()).await?);
        poll_workflow_task_queue(PollWorkflowTaskQueueRequest) -> PollWorkflowTaskQueueResponse = |this, request|
            ok(tasks::poll_workflow_task(this, request.into_inner()).await?);
        respond_workflow_task_completed(RespondWorkflowTaskCompletedRequest) -> RespondWorkflowTaskCompletedResponse = |this, request|
            ok(tasks::complete_workflow_task(&this.runtime, request.into_inner()).await?);
        respond_workflow_task_failed(RespondWorkflowTaskFailedRequest) -> RespondWorkflowTaskFailedResponse = |this, request| {
            tasks::fail_workflow_task(&this.runtime, request.into_inner()).await?;
            ok(RespondWorkflowTaskFailedResponse::default())
        };
        respond_query_task_completed(RespondQueryTaskCompletedRequest) -> RespondQueryTaskCompletedResponse = |this, request| {
            tasks::complete_query_task(&this.runtime, request.into_inner())?;
            ok(RespondQueryTaskCompletedResponse::default())
        };
        poll_activity_task_queue(PollActivityTaskQueueRequest) -> PollActivityTaskQueueResponse = |this, request|
            ok(tasks::poll_activity_task(this, request.into_inner()).await?);
        respond_activity_task_completed(RespondActivityTaskCompletedRequest) -> RespondActivityTaskCompletedResponse = |this, request| {
            let answer = ActivityAnswer::Completed(request.into_inner());
            tasks::answer_activity(&this.runtime, answer).await?;
            ok(RespondActivityTaskCompletedResponse::default())
        };
        respond_activity_task_failed(RespondActivityTaskFailedRequest) -> RespondActivityTaskFailedResponse = |this, request| {
            let answer = ActivityAnswer::Failed(Box::new(request.into_inner()));
            tasks::answer_activity(&this.runtime, answer).await?;
            ok(RespondActivityTaskFailedResponse::default())
        };
        respond_activity_task_canceled(RespondActivityTaskCanceledRequest) -> RespondActivityTaskCanceledResponse = |this, request| {
            let answer = ActivityAnswer::Canceled(request.into_inner());
            tasks::answer_activity(&this.runtime, answer).await?;
            ok(RespondActivityTaskCanceledResponse::default())
        };
        pause_activity(PauseActivityRequest) -> PauseActivityResponse = |this, request| {
            activity_control::pause(&this.runtime, request.into_inner()).await?;
            ok(PauseActivityResponse {})
        };
        unpause_activity(UnpauseActivityRequest) -> UnpauseActivityResponse = |this, request| {
            activity_control::unpause(&this.runtime, request.into_inner()).await?;
            ok(UnpauseActivityResponse {})
        };
        reset_activity(ResetActivityRequest) -> ResetActivityResponse = |this, request| {
            activity_control::reset(&this.runtime, request.into_inner()).await?;
            ok(ResetActivityResponse {})
        };
        update_activity_options(UpdateActivityOptionsRequest) -> UpdateActivityOptionsResponse = |this, request|
            ok(activity_control::update_options(&this.runtime, request.into_inner()).await?);
        record_activity_task_heartbeat(RecordActivityTaskHeartbeatRequest) -> RecordActivityTaskHeartbeatResponse = |this, request|
            ok(tasks::heartbeat(&this.runtime, request.into_inner()).await?);
        respond_activity_task_completed_by_id(RespondActivityTaskCompletedByIdRequest) -> RespondActivityTaskCompletedByIdResponse = |this, request| {
            tasks::complete_activity_by_id(&this.runtime, request.into_inner()).await?;
            ok(RespondActivityTaskCompletedByIdResponse::default())
        };
        respond_activity_task_failed_by_id(RespondActivityTaskFailedByIdRequest) -> RespondActivityTaskFailedByIdResponse = |this, request| {
            tasks::fail_activity_by_id(&this.runtime, request.into_inner()).await?;
            ok(RespondActivityTaskFailedByIdResponse::default())
        };
        respond_activity_task_canceled_by_id(RespondActivityTaskCanceledByIdRequest) -> RespondActivityTaskCanceledByIdResponse = |this, request| {
            tasks::cancel_activity_by_id(&this.runtime, request.into_inner()).await?;
            ok(RespondActivityTaskCanceledByIdResponse::default())
        };
        record_activity_task_heartbeat_by_id(RecordActivityTaskHeartbeatByIdRequest) -> RecordActivityTaskHeartbeatByIdResponse = |this, request|
            ok(tasks::heartbeat_by_id(&this.runtime, request.into_inner()).await?);
        record_worker_heartbeat(RecordWorkerHeartbeatRequest) -> RecordWorkerHeartbeatResponse = |this, request| {
            workers::record(&this.runtime, request.into_inner())?;
            ok(RecordWorkerHeartbeatResponse::default())
        };
        list_workers(ListWorkersRequest) -> ListWorkersResponse = |this, request|
            ok(workers::list(&this.runtime, request.get_ref())?);
        count_workers(CountWorkersRequest) -> CountWorkersResponse = |this, request|
            ok(workers::count(&this.runtime, request.get_ref())?);
        describe_worker(DescribeWorkerRequest) -> DescribeWorkerResponse = |this, request|
            ok(workers::describe(&this.runtime, request.get_ref())?);
        shutdown_worker(ShutdownWorkerRequest) -> ShutdownWorkerResponse = |this, request| {
            tasks::shutdown_worker(&this.runtime, request.into_inner()).await?;
            ok(ShutdownWorkerResponse::default())
        };
        update_workflow_execution_options(UpdateWorkflowExecutionOptionsRequest) -> UpdateWorkflowExecutionOptionsResponse = |this, request|
            ok(workflows::update_options(&this.runtime, request.into_inner()).await?);
        describe_worker_deployment(DescribeWorkerDeploymentRequest) -> DescribeWorkerDeploymentResponse = |this, request|
            ok(deployments::describe_deployment(&this.runtime, request.get_ref())?);
        list_worker_deployments(ListWorkerDeploymentsRequest) -> ListWorkerDeploymentsResponse = |this, request|
            ok(deployments::list_deployments(&this.runtime, request.get_ref())?);
        describe_worker_deployment_version(DescribeWorkerDeploymentVersionRequest) -> DescribeWorkerDeploymentVersionResponse = |this, request|
            ok(deployments::describe_version(&this.runtime, request.get_ref())?);
        set_worker_deployment_current_version(SetWorkerDeploymentCurrentVersionRequest) -> SetWorkerDeploymentCurrentVersionResponse = |this, request|
            ok(deployments::set_current(&this.runtime, request.get_ref())?);
        set_worker_deployment_ramping_version(SetWorkerDeploymentRampingVersionRequest) -> SetWorkerDeploymentRampingVersionResponse = |this, request|
            ok(deployments::set_ramping(&this.runtime, request.get_ref())?);
        delete_worker_deployment_version(DeleteWorkerDeploymentVersionRequest) -> DeleteWorkerDeploymentVersionResponse = |this, request| {
            deployments::delete_version(&this.runtime, request.get_ref())?;
            ok(DeleteWorkerDeploymentVersionResponse::default())
        };
        delete_worker_deployment(DeleteWorkerDeploymentRequest) -> DeleteWorkerDeploymentResponse = |this, request| {
            deployments::delete_deployment(&this.runtime, request.get_ref())?;
            ok(DeleteWorkerDeploymentResponse::default())
        };
        create_worker_deployment(CreateWorkerDeploymentRequest) -> CreateWorkerDeploymentResponse = |this, request|
            ok(deployments::create_deployment(&this.runtime, request.get_ref())?);
        create_worker_deployment_version(CreateWorkerDeploymentVersionRequest) -> CreateWorkerDeploymentVersionResponse = |this, request| {
            deployments::create_version(&this.runtime, request.get_ref())?;
            ok(CreateWorkerDeploymentVersionResponse::default())
        };
        update_worker_deployment_version_compute_config(UpdateWorkerDeploymentVersionComputeConfigRequest) -> UpdateWorkerDeploymentVersionComputeConfigResponse = |this, request| {
            deployments::update_compute_config(&this.runtime, request.get_ref())?;
            ok(UpdateWorkerDeploymentVersionComputeConfigResponse::default())
        };
        validate_worker_deployment_version_compute_config(ValidateWorkerDeploymentVersionComputeConfigRequest) -> ValidateWorkerDeploymentVersionComputeConfigResponse = |this, request| {
            deployments::validate_compute_config(&this.runtime, request.get_ref())?;
            ok(ValidateWorkerDeploymentVersionComputeConfigResponse::default())
        };
        update_worker_deployment_version_metadata(UpdateWorkerDeploymentVersionMetadataRequest) -> UpdateWorkerDeploymentVersionMetadataResponse = |this, request|
            ok(deployments::update_metadata(&this.runtime, request.get_ref())?);
        set_worker_deployment_manager(SetWorkerDeploymentManagerRequest) -> SetWorkerDeploymentManagerResponse = |this, request|
            ok(deployments::set_manager(&this.runtime, request.get_ref())?);
        poll_nexus_task_queue(PollNexusTaskQueueRequest) -> PollNexusTaskQueueResponse = |this, request|
            ok(nexus::poll(this, request.into_inner()).await?);
        respond_nexus_task_completed(RespondNexusTaskCompletedRequest) -> RespondNexusTaskCompletedResponse = |this, request| {
            nexus::respond_completed(&this.runtime, request.into_inner()).await?;
            ok(RespondNexusTaskCompletedResponse::default())
        };
        respond_nexus_task_failed(RespondNexusTaskFailedRequest) -> RespondNexusTaskFailedResponse = |this, request| {
            nexus::respond_failed(&this.runtime, request.into_inner()).await?;
            ok(RespondNexusTaskFailedResponse::default())
        };
        reset_workflow_execution(ResetWorkflowExecutionRequest) -> ResetWorkflowExecutionResponse = |this, request|
            ok(workflows::reset(&this.runtime, request.into_inner()).await?);
        reset_sticky_task_queue(ResetStickyTaskQueueRequest) -> ResetStickyTaskQueueResponse = |this, request| {
            tasks::reset_sticky(&this.runtime, request.into_inner()).await?;
            ok(ResetStickyTaskQueueResponse::default())
        };
        get_cluster_info(GetClusterInfoRequest) -> GetClusterInfoResponse = |_, _|
            ok(reads::cluster_info());
        get_search_attributes(GetSearchAttributesRequest) -> GetSearchAttributesResponse = |this, _|
            ok(reads::search_attributes(&this.runtime));
        get_workflow_execution_history_reverse(GetWorkflowExecutionHistoryReverseRequest) -> GetWorkflowExecutionHistoryReverseResponse = |this, request|
            ok(reads::history_reverse(&this.runtime, request.get_ref())?);
        list_open_workflow_executions(ListOpenWorkflowExecutionsRequest) -> ListOpenWorkflowExecutionsResponse = |this, request|
            ok(reads::list_open(this, request.into_inner()).await?);
        list_closed_workflow_executions(ListClosedWorkflowExecutionsRequest) -> ListClosedWorkflowExecutionsResponse = |this, request|
            ok(reads::list_closed(this, request.into_inner()).await?);
        scan_workflow_executions(ScanWorkflowExecutionsRequest) -> ScanWorkflowExecutionsResponse = |this, request|
            ok(reads::scan(this, request.into_inner()).await?);
        count_schedules(CountSchedulesRequest) -> CountSchedulesResponse = |this, request|
            ok(reads::count_schedules(&this.runtime, request.get_ref())?);
        unpause_workflow_execution(UnpauseWorkflowExecutionRequest) -> UnpauseWorkflowExecutionResponse = |this, request| {
            workflows::unpause(&this.runtime, request.get_ref())?;
            ok(UnpauseWorkflowExecutionResponse::default())
        };
        poll_workflow_execution_time_skipping(PollWorkflowExecutionTimeSkippingRequest) -> PollWorkflowExecutionTimeSkippingResponse = |this, request| {
            let r = request.get_ref();
            if r.workflow_execution.is_none() {
                return Err(Status::invalid_argument("Execution is not set on request."));
            }
            Err(rpcs::refuse(&this.runtime, "PollWorkflowExecutionTimeSkipping", &r.namespace)?)
        };
        describe_task_queue(DescribeTaskQueueRequest) -> DescribeTaskQueueResponse = |this, request|
            ok(task_queues::describe(this, request.get_ref())?);
        list_task_queue_partitions(ListTaskQueuePartitionsRequest) -> ListTaskQueuePartitionsResponse = |this, request|
            ok(task_queues::partitions(this, request.get_ref())?);
        update_task_queue_config(UpdateTaskQueueConfigRequest) -> UpdateTaskQueueConfigResponse = |this, request|
            ok(task_queues::update_config(this, request.get_ref()).await?);
        start_batch_operation(StartBatchOperationRequest) -> StartBatchOperationResponse = |this, request| {
            batch::start(this, request.into_inner()).await?;
            ok(StartBatchOperationResponse::default())
        };
        describe_batch_operation(DescribeBatchOperationRequest) -> DescribeBatchOperationResponse = |this, request|
            ok(batch::describe(this, request.get_ref())?);
        list_batch_operations(ListBatchOperationsRequest) -> ListBatchOperationsResponse = |this, request|
            ok(batch::list(this, request.get_ref())?);
        stop_batch_operation(StopBatchOperationRequest) -> StopBatchOperationResponse = |this, request| {
            batch::stop(this, request.get_ref()).await?;
            ok(StopBatchOperationResponse::default())
        };
        start_activity_execution(StartActivityExecutionRequest) -> StartActivityExecutionResponse = |this, request| {
            this.standalone_on()?;
            ok(standalone::start(this, request.into_inner()).await?)
        };
        describe_activity_execution(DescribeActivityExecutionRequest) -> DescribeActivityExecutionResponse = |this, request| {
            this.standalone_on()?;
            ok(standalone::describe(this, request.get_ref()).await?)
        };
        poll_activity_execution(PollActivityExecutionRequest) -> PollActivityExecutionResponse = |this, request| {
            this.standalone_on()?;
            ok(standalone::poll(this, request.get_ref()).await?)
        };
        list_activity_executions(ListActivityExecutionsRequest) -> ListActivityExecutionsResponse = |this, request| {
            this.standalone_on()?;
            ok(standalone::list(this, request.get_ref())?)
        };
        count_activity_executions(CountActivityExecutionsRequest) -> CountActivityExecutionsResponse = |this, request| {
            this.standalone_on()?;
            ok(standalone::count(this, request.get_ref())?)
        };
        request_cancel_activity_execution(RequestCancelActivityExecutionRequest) -> RequestCancelActivityExecutionResponse = |this, request| {
            this.standalone_on()?;
            standalone::request_cancel(this, request.into_inner()).await?;
            ok(RequestCancelActivityExecutionResponse::default())
        };
        terminate_activity_execution(TerminateActivityExecutionRequest) -> TerminateActivityExecutionResponse = |this, request| {
            this.standalone_on()?;
            standalone::terminate(this, request.into_inner()).await?;
            ok(TerminateActivityExecutionResponse::default())
        };
        delete_activity_execution(DeleteActivityExecutionRequest) -> DeleteActivityExecutionResponse = |this, request| {
            this.standalone_on()?;
            standalone::delete(this, request.into_inner()).await?;
            ok(DeleteActivityExecutionResponse::default())
        };
        pause_activity_execution(PauseActivityExecutionRequest) -> PauseActivityExecutionResponse = |this, request| {
            this.standalone_on()?;
            activity_control::pause_execution(&this.runtime, request.into_inner()).await?;
            ok(PauseActivityExecutionResponse {})
        };
        reset_activity_execution(ResetActivityExecutionRequest) -> ResetActivityExecutionResponse = |this, request| {
            this.standalone_on()?;
            activity_control::reset_execution(&this.runtime, request.into_inner()).await?;
            ok(ResetActivityExecutionResponse {})
        };
        unpause_activity_execution(UnpauseActivityExecutionRequest) -> UnpauseActivityExecutionResponse = |this, request| {
            this.standalone_on()?;
            activity_control::unpause_execution(&this.runtime, request.into_inner()).await?;
            ok(UnpauseActivityExecutionResponse {})
        };
        update_activity_execution_options(UpdateActivityExecutionOptionsRequest) -> UpdateActivityExecutionOptionsResponse = |this, request| {
            this.standalone_on()?;
            ok(activity_control::update_execution_options(&this.runtime, request.into_inner()).await?)
        };
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
    served! {
        delete_namespace(DeleteNamespaceRequest) -> DeleteNamespaceResponse = |this, request|
            ok(retention::delete_namespace(&this.runtime, request.into_inner()).await?);
        add_search_attributes(AddSearchAttributesRequest) -> AddSearchAttributesResponse = |this, request| {
            operator::add_search_attributes(&this.runtime, request.into_inner()).await?;
            ok(AddSearchAttributesResponse::default())
        };
        remove_search_attributes(RemoveSearchAttributesRequest) -> RemoveSearchAttributesResponse = |this, request| {
            operator::remove_search_attributes(&this.runtime, request.into_inner()).await?;
            ok(RemoveSearchAttributesResponse::default())
        };
        list_search_attributes(ListSearchAttributesRequest) -> ListSearchAttributesResponse = |this, request|
            ok(operator::list_search_attributes(&this.runtime, request.get_ref())?);
        create_nexus_endpoint(CreateNexusEndpointRequest) -> CreateNexusEndpointResponse = |this, request|
            ok(nexus::create_endpoint(&this.runtime, request.into_inner()).await?);
        update_nexus_endpoint(UpdateNexusEndpointRequest) -> UpdateNexusEndpointResponse = |this, request|
            ok(nexus::update_endpoint(&this.runtime, request.into_inner()).await?);
        delete_nexus_endpoint(DeleteNexusEndpointRequest) -> DeleteNexusEndpointResponse = |this, request| {
            nexus::delete_endpoint(&this.runtime, request.into_inner()).await?;
            ok(DeleteNexusEndpointResponse::default())
        };
        get_nexus_endpoint(GetNexusEndpointRequest) -> GetNexusEndpointResponse = |this, request|
            ok(nexus::get_endpoint(&this.runtime, request.get_ref())?);
        list_nexus_endpoints(ListNexusEndpointsRequest) -> ListNexusEndpointsResponse = |this, request|
            ok(nexus::list_endpoints(&this.runtime, request.get_ref())?);
        list_clusters(ListClustersRequest) -> ListClustersResponse = |this, _|
            ok(reads::list_clusters(this));
        add_or_update_remote_cluster(AddOrUpdateRemoteClusterRequest) -> AddOrUpdateRemoteClusterResponse = |_, _|
            Err(rpcs::refusal("AddOrUpdateRemoteCluster", ""));
        remove_remote_cluster(RemoveRemoteClusterRequest) -> RemoveRemoteClusterResponse = |_, _|
            Err(rpcs::refusal("RemoveRemoteCluster", ""));
    }
}
