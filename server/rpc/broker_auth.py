"""BrokerAuthService: the broker plug-ins' questions, answered by server.domain.link.broker_access.

Mosquitto go-auth reads the HTTP status (200 allows, 403 denies); EMQX reads `result` from a 200.
"""

from __future__ import annotations

from typing import Any

from hxtp.cloud.v1 import broker_pb2
from server.domain.link.broker_access import PUBLISH, SUBSCRIBE, BrokerAccess
from server.errors import Code, HxtpError

# go-auth `acc`: what each value asks to do (3 = read and write needs both).
_MOSQUITTO_ACC = {1: (SUBSCRIBE,), 2: (PUBLISH,), 3: (SUBSCRIBE, PUBLISH), 4: (SUBSCRIBE,)}


def _allowed() -> broker_pb2.BrokerAllowed:
    return broker_pb2.BrokerAllowed(ok=True)


def _denied() -> HxtpError:
    return HxtpError(Code.FORBIDDEN, "Denied")


def _result(allowed: bool) -> str:
    return "allow" if allowed else "deny"


class BrokerAuthServicer:
    def __init__(self, access: BrokerAccess) -> None:
        self._access = access

    async def MosquittoAuthenticate(
        self, request: broker_pb2.MosquittoAuthenticateRequest, context: Any
    ) -> broker_pb2.BrokerAllowed:
        if not await self._access.authenticate(request.username, request.password):
            raise _denied()
        return _allowed()

    async def MosquittoSuperuser(
        self, request: broker_pb2.MosquittoSuperuserRequest, context: Any
    ) -> broker_pb2.BrokerAllowed:
        if not self._access.is_server(request.username):
            raise _denied()
        return _allowed()

    async def MosquittoAclCheck(
        self, request: broker_pb2.MosquittoAclCheckRequest, context: Any
    ) -> broker_pb2.BrokerAllowed:
        actions = _MOSQUITTO_ACC.get(request.acc, ())
        for action in actions:
            if not await self._access.authorize(request.username, request.topic, action):
                raise _denied()
        if not actions:
            raise _denied()
        return _allowed()

    async def EmqxAuthenticate(
        self, request: broker_pb2.EmqxAuthenticateRequest, context: Any
    ) -> broker_pb2.EmqxAuthnResponse:
        allowed = await self._access.authenticate(request.username, request.password)
        return broker_pb2.EmqxAuthnResponse(
            result=_result(allowed), is_superuser=allowed and self._access.is_server(request.username)
        )

    async def EmqxAuthorize(
        self, request: broker_pb2.EmqxAuthorizeRequest, context: Any
    ) -> broker_pb2.EmqxAuthzResponse:
        allowed = request.action in (PUBLISH, SUBSCRIBE) and await self._access.authorize(
            request.username, request.topic, request.action
        )
        return broker_pb2.EmqxAuthzResponse(result=_result(allowed))
