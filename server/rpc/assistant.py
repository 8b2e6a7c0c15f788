"""AssistantService: plans, agent memories and state verification (rules in server/domain/assistant)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from hxtp.cloud.v1 import assistant_pb2
from server.domain.assistant.memories import AgentMemories
from server.domain.assistant.plans import Plans
from server.domain.assistant.verification import StateVerifier
from server.rpc import call_context
from server.rpc.convert import dict_to_struct, plain, struct_to_dict, tenant, when


class AssistantServicer:
    def __init__(self, plans: Plans, memories: AgentMemories, verifier: StateVerifier) -> None:
        self._plans = plans
        self._memories = memories
        self._verifier = verifier

    async def ExecutePlan(
        self, request: assistant_pb2.ExecutePlanRequest, context: Any
    ) -> assistant_pb2.ExecutePlanResponse:
        steps = [plain(json_format.MessageToDict(step)) for step in request.steps]
        plan_id = await self._plans.start(
            tenant(),
            call_context.principal().user_id,
            request.name,
            steps,
            request.execution_mode,
            request.on_failure,
        )
        return assistant_pb2.ExecutePlanResponse(status="accepted", plan_id=plan_id)

    async def GetPlan(
        self, request: assistant_pb2.GetPlanRequest, context: Any
    ) -> assistant_pb2.GetPlanResponse:
        plan = await self._plans.get(tenant(), request.plan_id)
        return assistant_pb2.GetPlanResponse(
            plan_id=plan.id,
            name=plan.name,
            status=plan.status,
            execution_mode=plan.execution_mode,
            on_failure=plan.on_failure,
            steps=[dict_to_struct(step) for step in plan.steps],
            created_at=when(plan.created_at),
        )

    async def ListAgentMemories(
        self, request: assistant_pb2.ListAgentMemoriesRequest, context: Any
    ) -> assistant_pb2.ListAgentMemoriesResponse:
        memories = await self._memories.recall(
            tenant(),
            request.agent_id,
            request.memory_type if request.HasField("memory_type") else None,
            request.subject if request.HasField("subject") else None,
        )
        return assistant_pb2.ListAgentMemoriesResponse(
            memories=[
                assistant_pb2.AgentMemory(
                    id=m.id,
                    agent_id=m.agent_id,
                    memory_type=m.memory_type,
                    subject=m.subject,
                    content=dict_to_struct(m.content),
                    created_at=when(m.created_at),
                )
                for m in memories
            ]
        )

    async def CreateAgentMemory(
        self, request: assistant_pb2.CreateAgentMemoryRequest, context: Any
    ) -> assistant_pb2.CreateAgentMemoryResponse:
        memory_id = await self._memories.store(
            tenant(),
            request.agent_id,
            request.memory_type,
            struct_to_dict(request.content) if request.HasField("content") else {},
            request.subject if request.HasField("subject") else None,
        )
        return assistant_pb2.CreateAgentMemoryResponse(status="created", id=memory_id)

    async def GetStateVerification(
        self, request: assistant_pb2.GetStateVerificationRequest, context: Any
    ) -> assistant_pb2.GetStateVerificationResponse:
        found = await self._verifier.verify(tenant(), request.command_id)
        return assistant_pb2.GetStateVerificationResponse(
            command_id=found.command_id,
            device_id=found.device_id,
            status=found.status,
            verified=found.status == "verified",
            expected_state=dict_to_struct(found.expected),
            observed_state=dict_to_struct(found.observed),
            checked_at=when(found.checked_at),
        )
