"""Views of the perfscale surface (/api/v1): thin, scoped to the token's tenant, writing through services.

Machines are agents, tests are standalone test definitions, tasks are runs
(DESIGN.md). Every lookup goes through the caller's tenant, so another
tenant's id is a 404 like an id that does not exist.
"""

from __future__ import annotations

import uuid

from django.db.models import prefetch_related_objects
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from perfmon.api.common.fields import reject_unknown_fields, reject_wrong_json_types
from perfmon.api.common.pagination import parse_window, window_parameters
from perfmon.api.common.views import PrincipalView
from perfmon.api.perfscale import serializers as s
from perfmon.api.perfscale.authentication import BearerAuthentication
from perfmon.api.perfscale.casing import snake_keys
from perfmon.api.perfscale.permissions import HasTenantAndRole, IsBearerAuthenticated
from perfmon.core.errors import Conflict, NotFound
from perfmon.definitions import selectors as tests
from perfmon.definitions import services as test_services
from perfmon.definitions.models import TestStatus
from perfmon.fleet import services as fleet
from perfmon.fleet.models import Agent
from perfmon.monitors.services import check_distribution_targets
from perfmon.runs import services as runs
from perfmon.runs.agents import delete_machine
from perfmon.runs.models import Run, RunStatus, RunTrigger
from perfmon.tenants.models import Role

PERFMON_ROLES = frozenset(Role.values)
TASK_LIST_DEFAULT_LIMIT = 1000
TASK_LIST_MAX_LIMIT = 1000
# A task row needs none of the run's large columns (script, histogram, parameters).
TASK_COLUMNS = (
    "id", "test_id", "agent_id", "status", "status_reason", "error", "metrics", "breaches", "thresholds",
    "started_at", "completed_at", "created_at", "distribution",
)


class PerfscaleView(PrincipalView):
    """Base of every /api/v1 view: OIDC Bearer only, a known tenant, realm roles."""

    authentication_classes = [BearerAuthentication]
    permission_classes = [HasTenantAndRole]
    parser_classes = [JSONParser]

    def body(self, serializer_class, *, partial: bool = False) -> dict:
        """The request body in snake_case, validated; unknown fields are a 400."""
        data = snake_keys(self.request.data)
        serializer = serializer_class(data=data, partial=partial)
        reject_unknown_fields(data, serializer.fields)
        reject_wrong_json_types(serializer.fields, data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


# --- auth -------------------------------------------------------------------------


class AuthMeView(PerfscaleView):
    permission_classes = [IsBearerAuthenticated]

    @extend_schema(tags=["Auth"], responses=s.MeSerializer, summary="The caller, decoded from the JWT")
    def get(self, request: Request) -> Response:
        token = request.auth.token
        return Response(
            {
                "sub": token.sub,
                "email": token.email,
                "name": token.name,
                "preferred_username": token.preferred_username,
                # The realm roles perfmon knows; Keycloak's own (offline_access, default-roles-…) are left out.
                "roles": [role for role in token.realm_roles if role in PERFMON_ROLES],
            }
        )


# --- machines ---------------------------------------------------------------------


def _machines(tenant):
    # The tenant's own agents; shared agents serve every tenant and belong to none.
    return Agent.objects.for_tenant(tenant, include_shared=False)


def _machine(tenant, machine_id: str) -> Agent:
    agent = _machines(tenant).filter(pk=machine_id).first()
    if agent is None:
        raise NotFound(f"Machine {machine_id} does not exist")
    return agent


class MachineListView(PerfscaleView):
    @extend_schema(tags=["Machines"], responses=s.MachineSerializer(many=True), summary="The tenant's machines")
    def get(self, request: Request) -> Response:
        machines = _machines(self.tenant).order_by("name", "id")
        return Response(s.MachineSerializer(machines, many=True).data)

    @extend_schema(
        tags=["Machines"],
        request=s.MachineCreateSerializer,
        responses={201: s.RegisteredMachineSerializer, 409: OpenApiResponse(description="hostname already registered")},
        summary="Register a machine (answers its agent's one-time enrollment token)",
    )
    def post(self, request: Request) -> Response:
        data = self.body(s.MachineCreateSerializer)
        new = fleet.register_machine(tenant=self.tenant, **data)
        body = s.MachineSerializer(new.agent).data
        body["enrollment_token"] = new.enrollment_token
        return Response(body, status=status.HTTP_201_CREATED)


class MachineDetailView(PerfscaleView):
    @extend_schema(tags=["Machines"], responses=s.MachineSerializer, summary="One machine")
    def get(self, request: Request, machine_id: str) -> Response:
        return Response(s.MachineSerializer(_machine(self.tenant, machine_id)).data)

    @extend_schema(
        tags=["Machines"],
        responses={204: None},
        summary="Remove a machine (one with pending or running tasks is drained first)",
    )
    def delete(self, request: Request, machine_id: str) -> Response:
        delete_machine(tenant=self.tenant, agent_id=machine_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- tests ------------------------------------------------------------------------


class TestListView(PerfscaleView):
    __test__ = False

    @extend_schema(tags=["Tests"], responses=s.TestSerializer(many=True), summary="The tenant's test definitions")
    def get(self, request: Request) -> Response:
        return Response(s.TestSerializer(tests.standalone_tests(self.tenant), many=True).data)

    @extend_schema(tags=["Tests"], request=s.TestCreateSerializer, responses={201: s.TestSerializer})
    def post(self, request: Request) -> Response:
        data = self.body(s.TestCreateSerializer)
        check_distribution_targets(self.tenant, data.get("distribution"))
        test = test_services.create_test(tenant=self.tenant, **data)
        return Response(s.TestSerializer(test).data, status=status.HTTP_201_CREATED)


class TestDetailView(PerfscaleView):
    __test__ = False

    @extend_schema(tags=["Tests"], responses=s.TestSerializer, summary="One test definition")
    def get(self, request: Request, test_id: str) -> Response:
        return Response(s.TestSerializer(tests.standalone_test(self.tenant, test_id)).data)

    @extend_schema(tags=["Tests"], request=s.TestUpdateSerializer, responses=s.TestSerializer,
                   summary="Change a test's name, script or status")
    def patch(self, request: Request, test_id: str) -> Response:
        test = tests.standalone_test(self.tenant, test_id)
        changes = self.body(s.TestUpdateSerializer, partial=True)
        check_distribution_targets(self.tenant, changes.get("distribution"))
        test = test_services.update_test(tenant=self.tenant, test=test, **changes)
        return Response(s.TestSerializer(test).data)

    @extend_schema(tags=["Tests"], responses={204: None},
                   summary="Delete a test (tasks already started are not affected)")
    def delete(self, request: Request, test_id: str) -> Response:
        test = tests.standalone_test(self.tenant, test_id)
        test_services.delete_test(tenant=self.tenant, test=test)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- tasks ------------------------------------------------------------------------


def _tasks(tenant):
    # Skipped ticks of a monitor never executed anything: they are no task.
    return (
        Run.objects.for_tenant(tenant)
        .exclude(status=RunStatus.SKIPPED)
        .only(*TASK_COLUMNS)
        .order_by("-created_at", "-id")
    )


def _task(tenant, task_id: str) -> Run:
    try:
        pk = uuid.UUID(str(task_id))
    except ValueError:  # a malformed id is a 404, never a 500
        pk = None
    run = _tasks(tenant).filter(pk=pk).first() if pk else None
    if run is None:
        raise NotFound(f"Task {task_id} does not exist")
    return run


class TaskListView(PerfscaleView):
    @extend_schema(
        tags=["Tasks"],
        parameters=[
            *window_parameters(default_limit=TASK_LIST_DEFAULT_LIMIT, max_limit=TASK_LIST_MAX_LIMIT),
        ],
        responses=s.TaskSerializer(many=True),
        summary="The tenant's tasks, newest first",
    )
    def get(self, request: Request) -> Response:
        window = parse_window(
            request.query_params, default_limit=TASK_LIST_DEFAULT_LIMIT, max_limit=TASK_LIST_MAX_LIMIT
        )
        tasks = list(window.slice(_tasks(self.tenant)))
        # Only split runs have parts: one more query when the page holds any.
        prefetch_related_objects([task for task in tasks if task.is_split], "parts")
        return Response(s.TaskSerializer(tasks, many=True).data)

    @extend_schema(
        tags=["Tasks"],
        request=s.TaskCreateSerializer,
        responses={202: s.TaskAcceptedSerializer, 404: OpenApiResponse(description="no such test")},
        summary="Run a test (body {\"testId\": …}; test_id accepted too)",
    )
    def post(self, request: Request) -> Response:
        data = self.body(s.TaskCreateSerializer)
        test = tests.standalone_test(self.tenant, data["test_id"])
        if test.status == TestStatus.ARCHIVED:
            raise Conflict(f"Test {test.pk} is archived; set its status to draft or active to run it")
        run = runs.request_run(tenant=self.tenant, test=test, trigger=RunTrigger.API, actor=self.actor)
        return Response({"id": str(run.pk), "status": s.task_status(run.status)}, status=status.HTTP_202_ACCEPTED)


class TaskDetailView(PerfscaleView):
    @extend_schema(tags=["Tasks"], responses=s.TaskSerializer, summary="One task")
    def get(self, request: Request, task_id: str) -> Response:
        return Response(s.TaskSerializer(_task(self.tenant, task_id)).data)

    @extend_schema(tags=["Tasks"], responses={204: None, 409: OpenApiResponse(description="already finished")},
                   summary="Cancel a pending or running task")
    def delete(self, request: Request, task_id: str) -> Response:
        run = _task(self.tenant, task_id)
        runs.cancel_run(tenant=self.tenant, run_id=run.pk, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
