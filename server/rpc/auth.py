"""AuthService: thin mapping of /auth/* onto the identity, API-key, session and handshake modules."""

from __future__ import annotations

import secrets
from typing import Any

from google.api import httpbody_pb2

from contract.metadata import HTTP_HEADER_PREFIX, HTTP_METHOD, HTTP_STATUS
from hxtp.cloud.v1 import auth_pb2
from server.domain.identity.api_keys import ApiKeys, IssuedKey, KeyView
from server.domain.identity.cli_handshake import PENDING, CliHandshakes, check_code
from server.domain.identity.onboarding import Onboarding
from server.domain.identity.principal import Credential
from server.domain.identity.sessions import Sessions
from server.domain.identity.users import Identity
from server.errors import Code, HxtpError
from server.rpc import call_context, cli_page
from server.rpc.chain import metadata_dict

SET_COOKIE = HTTP_HEADER_PREFIX + "set-cookie"
CONTENT_SECURITY_POLICY = HTTP_HEADER_PREFIX + "content-security-policy"


class AuthServicer:
    def __init__(
        self,
        identity: Identity,
        api_keys: ApiKeys,
        sessions: Sessions,
        handshakes: CliHandshakes,
        onboarding: Onboarding,
    ) -> None:
        self._identity = identity
        self._onboarding = onboarding
        self._keys = api_keys
        self._sessions = sessions
        self._handshakes = handshakes

    async def GetMe(self, request: auth_pb2.GetMeRequest, context: Any) -> auth_pb2.GetMeResponse:
        me = await self._identity.me(call_context.principal())
        user = auth_pb2.CurrentUser(id=me.user_id, email=me.email, role=me.role.label)
        if me.external_subject is not None:
            user.neon_id = user.supabase_id = me.external_subject
        if me.tenant_id is not None:
            user.tenant_id = me.tenant_id
        if me.tenant_slug is not None:
            user.tenant_slug = me.tenant_slug
        return auth_pb2.GetMeResponse(
            authenticated=True,
            has_tenant=me.tenant_id is not None,
            user=user,
            onboarding=await self._onboarding.path_for(call_context.principal()),
        )

    async def GetCsrfToken(
        self, request: auth_pb2.GetCsrfTokenRequest, context: Any
    ) -> auth_pb2.GetCsrfTokenResponse:
        principal = call_context.optional_principal()
        if principal is None:  # nothing to protect yet: a token the dashboard may echo harmlessly
            return auth_pb2.GetCsrfTokenResponse(csrf_token=secrets.token_urlsafe(32))
        if principal.credential == Credential.SESSION:
            return auth_pb2.GetCsrfTokenResponse(csrf_token=principal.csrf_token)
        started = await self._sessions.start(principal)  # a Bearer credential signs the browser in
        context.set_trailing_metadata(((SET_COOKIE, self._sessions.set_cookie(started.session_id)),))
        return auth_pb2.GetCsrfTokenResponse(csrf_token=started.csrf_token)

    async def Logout(self, request: auth_pb2.LogoutRequest, context: Any) -> auth_pb2.LogoutResponse:
        await self._sessions.end(metadata_dict(context).get("cookie", ""))
        context.set_trailing_metadata(((SET_COOKIE, self._sessions.clear_cookie()),))
        return auth_pb2.LogoutResponse(status="logged_out")

    async def GetCliApprovalPage(
        self, request: auth_pb2.GetCliApprovalPageRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        try:
            code = check_code(request.code)
        except HxtpError as error:
            if HTTP_METHOD not in metadata_dict(context):
                raise  # a native gRPC caller reads the error, not a page
            # A person followed a broken link: a page that says so, not a JSON body.
            context.set_trailing_metadata(
                (
                    (HTTP_STATUS, str(error.spec.http_status)),
                    (CONTENT_SECURITY_POLICY, cli_page.CONTENT_SECURITY_POLICY),
                )
            )
            return _html(cli_page.render_error(error.reason))
        status = await self._handshakes.open(code)
        html = cli_page.render(code, status, call_context.optional_principal())
        context.set_trailing_metadata(((CONTENT_SECURITY_POLICY, cli_page.CONTENT_SECURITY_POLICY),))
        return _html(html)

    async def ApproveCliLogin(
        self, request: auth_pb2.ApproveCliLoginRequest, context: Any
    ) -> auth_pb2.ApproveCliLoginResponse:
        decision = request.decision.strip().lower() or "approve"
        if decision not in ("approve", "deny"):
            raise HxtpError(Code.BAD_REQUEST, 'decision must be "approve" or "deny"')
        status = await self._handshakes.decide(request.code, call_context.principal(), decision == "approve")
        return auth_pb2.ApproveCliLoginResponse(status=status)

    async def PollCliHandshake(
        self, request: auth_pb2.PollCliHandshakeRequest, context: Any
    ) -> auth_pb2.PollCliHandshakeResponse:
        result = await self._handshakes.poll(request.code)
        if result.status == PENDING:
            context.set_trailing_metadata(((HTTP_STATUS, "202"),))
            return auth_pb2.PollCliHandshakeResponse(status=PENDING)
        return auth_pb2.PollCliHandshakeResponse(status=result.status, token=result.token)

    async def ListApiKeys(
        self, request: auth_pb2.ListApiKeysRequest, context: Any
    ) -> auth_pb2.ListApiKeysResponse:
        keys = await self._keys.list(call_context.principal())
        return auth_pb2.ListApiKeysResponse(keys=[_key_message(k) for k in keys])

    async def CreateApiKey(
        self, request: auth_pb2.CreateApiKeyRequest, context: Any
    ) -> auth_pb2.CreateApiKeyResponse:
        issued = await self._keys.create(call_context.principal(), request.name, list(request.scopes))
        return auth_pb2.CreateApiKeyResponse(**_created(issued))

    async def RevokeApiKey(
        self, request: auth_pb2.RevokeApiKeyRequest, context: Any
    ) -> auth_pb2.RevokeApiKeyResponse:
        prefix = request.prefix if request.HasField("prefix") else None
        record = await self._keys.revoke(call_context.principal(), request.id, prefix)
        return auth_pb2.RevokeApiKeyResponse(status="revoked", id=record.id)

    async def RotateApiKey(
        self, request: auth_pb2.RotateApiKeyRequest, context: Any
    ) -> auth_pb2.RotateApiKeyResponse:
        prefix = request.prefix if request.HasField("prefix") else None
        issued, revoked_id = await self._keys.rotate(call_context.principal(), request.id, prefix)
        return auth_pb2.RotateApiKeyResponse(**_created(issued), revoked_id=revoked_id)


def _html(page: bytes) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type="text/html; charset=utf-8", data=page)


def _created(issued: IssuedKey) -> dict[str, Any]:
    view = issued.view
    return {
        "status": "created",
        "key": issued.key,
        "prefix": view.prefix,
        "name": view.name,
        "id": view.id,
        "scopes": list(view.scopes),
        "created_at": view.created_at,
    }


def _key_message(view: KeyView) -> auth_pb2.ApiKey:
    message = auth_pb2.ApiKey(
        id=view.id,
        name=view.name,
        prefix=view.prefix,
        scopes=list(view.scopes),
        created_at=view.created_at,
        active=view.active,
    )
    if view.last_used is not None:
        message.last_used = view.last_used
    return message
