"""CognitionService: observations, rule-made proposals, approval, rules (rules: domain.cognition)."""

from __future__ import annotations

from typing import Any

from hxtp.cloud.v1 import cognition_pb2
from server.domain.cognition.proposals import Cognition, ProposalView
from server.rpc import call_context
from server.rpc.convert import dict_to_struct, struct_to_dict, tenant, when


def _proposal(view: ProposalView) -> cognition_pb2.Proposal:
    return cognition_pb2.Proposal(
        id=view.id,
        device_id=view.device_id,
        context=view.context,
        observation=dict_to_struct(view.observation),
        action=view.action,
        params=dict_to_struct(view.params),
        status=view.status,
        rationale=view.rationale,
        created_at=when(view.created_at),
        decided_at=when(view.decided_at),
        command_id=view.command_id,
        target_device_ids=view.targets,
    )


class CognitionServicer:
    def __init__(self, cognition: Cognition) -> None:
        self._cognition = cognition

    async def SubmitObservation(
        self, request: cognition_pb2.SubmitObservationRequest, context: Any
    ) -> cognition_pb2.SubmitObservationResponse:
        data = struct_to_dict(request.data) if request.HasField("data") else {}
        proposal_id = await self._cognition.observe(tenant(), request.device_id, data, request.context)
        return cognition_pb2.SubmitObservationResponse(status="OBSERVATION_RECEIVED", proposal_id=proposal_id)

    async def ListProposals(
        self, request: cognition_pb2.ListProposalsRequest, context: Any
    ) -> cognition_pb2.ListProposalsResponse:
        status = request.status if request.HasField("status") else None
        device_id = request.device_id if request.HasField("device_id") else None
        views = await self._cognition.proposals(tenant(), status, device_id, request.limit)
        return cognition_pb2.ListProposalsResponse(proposals=[_proposal(v) for v in views])

    async def ApproveProposal(
        self, request: cognition_pb2.ApproveProposalRequest, context: Any
    ) -> cognition_pb2.ApproveProposalResponse:
        view, results = await self._cognition.approve(
            tenant(), call_context.principal().user_id, request.proposal_id
        )
        first = next((r for r in results if r.success), None)
        return cognition_pb2.ApproveProposalResponse(
            status="executed" if first is not None else "rejected",
            proposal_id=view.id,
            command_id=first.command_id if first else None,
            message_id=first.message_id if first else None,
        )

    async def GetRules(
        self, request: cognition_pb2.GetRulesRequest, context: Any
    ) -> cognition_pb2.GetRulesResponse:
        rules, defaults = await self._cognition.rules(tenant())
        return cognition_pb2.GetRulesResponse(rules=[dict_to_struct(r) for r in rules], defaults=defaults)

    async def SetRules(
        self, request: cognition_pb2.SetRulesRequest, context: Any
    ) -> cognition_pb2.SetRulesResponse:
        count = await self._cognition.set_rules(tenant(), [struct_to_dict(r) for r in request.rules])
        return cognition_pb2.SetRulesResponse(status="updated", count=count)
