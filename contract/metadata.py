"""gRPC metadata names the gateway and the servicers exchange.

Servicers speak gRPC only; when an answer needs an HTTP detail gRPC has no word for (a 503 health
body, a 202 "pending" poll, Retry-After, Set-Cookie), they set trailing metadata with these names
and the gateway applies it. Native gRPC callers simply see the metadata.
"""

HTTP_STATUS = "hxtp-http-status"
HTTP_HEADER_PREFIX = "hxtp-http-header-"
HTTP_METHOD = "hxtp-http-method"  # lets the chain apply CSRF rules to cookie-authenticated mutations
REQUEST_ID = "x-request-id"

# Request headers the gateway forwards to the servicers as gRPC metadata.
FORWARDED_HEADERS = frozenset(
    {"authorization", "cookie", "x-api-key", "x-csrf-token", REQUEST_ID, "x-hxtp-admin-key", "user-agent"}
)
FORWARDED_PREFIX = "x-hxtp-"  # device bootstrap headers X-HXTP-Version, -Timestamp, -Nonce, ...
