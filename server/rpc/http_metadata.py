"""Metadata names shared with the gateway (gateway/http_metadata.py holds the same names).

Servicers speak gRPC; when an answer needs an HTTP detail gRPC has no word for (503 with a health
body, 202 "pending", Retry-After, Set-Cookie) they set these in trailing metadata.
"""

HTTP_STATUS = "hxtp-http-status"
HTTP_HEADER_PREFIX = "hxtp-http-header-"
HTTP_METHOD = "hxtp-http-method"
REQUEST_ID = "x-request-id"
