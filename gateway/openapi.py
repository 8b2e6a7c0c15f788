"""An OpenAPI 3 document built from the same route table and descriptors the gateway serves."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gateway.codec import INTEGER_RANGES, codec_for
from gateway.routes import Route, Router

F = FieldDescriptor
_INTEGER = {F.TYPE_INT32, F.TYPE_UINT32, F.TYPE_SINT32, F.TYPE_FIXED32, F.TYPE_SFIXED32}
_INTEGER64 = {F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_SINT64, F.TYPE_FIXED64, F.TYPE_SFIXED64}
_ERROR_STATUSES = {
    "400": "Bad request (the reason names the field)",
    "401": "Missing or invalid credential",
    "403": "Role, scope or tenant does not allow this",
    "404": "Unknown route or resource",
    "405": "Method not allowed on this path",
    "409": "Conflict",
    "429": "Rate limit exceeded",
    "500": "Internal error",
    "501": "Not implemented yet",
    "503": "A dependency is unavailable",
}
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "code"],
    "properties": {"error": {"type": "string"}, "code": {"type": "string"}, "reason": {"type": "string"}},
    "additionalProperties": True,
}
_FREE_FORM: dict[str, dict[str, Any]] = {
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
}


def _ref(descriptor: Descriptor) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{descriptor.full_name}"}


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Error": _ERROR_SCHEMA}

    def message(self, descriptor: Descriptor) -> dict[str, Any]:
        free_form: dict[str, Any] | None = _FREE_FORM.get(descriptor.full_name)
        if free_form is not None:
            return dict(free_form)
        if descriptor.full_name not in self.components:
            self.components[descriptor.full_name] = {}  # placeholder: recursion stops here
            codec = codec_for(descriptor)
            properties = {codec.json_names[f.name]: self.field(f) for f in descriptor.fields}
            self.components[descriptor.full_name] = {"type": "object", "properties": properties}
        return _ref(descriptor)

    def scalar(self, field: FieldDescriptor) -> dict[str, Any]:
        kind = field.type
        if kind == F.TYPE_MESSAGE:
            return self.message(field.message_type)
        if kind in _INTEGER or kind in _INTEGER64:
            low, high = INTEGER_RANGES[kind]
            return {
                "type": "integer",
                "format": "int32" if kind in _INTEGER else "int64",
                "minimum": low,
                "maximum": high,
            }
        if kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            return {"type": "number"}
        if kind == F.TYPE_BOOL:
            return {"type": "boolean"}
        if kind == F.TYPE_BYTES:
            return {"type": "string", "format": "byte"}
        if kind == F.TYPE_ENUM:
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        return {"type": "string"}

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.scalar(value)}
        if field.is_repeated:
            return {"type": "array", "items": self.scalar(field)}
        schema = self.scalar(field)
        if field.has_presence:
            schema = (
                {"nullable": True, "allOf": [schema]} if "$ref" in schema else {**schema, "nullable": True}
            )
        return schema


def _parameters(route: Route, schemas: _Schemas) -> list[dict[str, Any]]:
    descriptor = route.method.input_type.DESCRIPTOR
    parameters = []
    for name in route.path_fields:
        field = descriptor.fields_by_name[name]
        parameters.append({"name": name, "in": "path", "required": True, "schema": schemas.scalar(field)})
    if route.body != "*":
        for field in descriptor.fields:
            if field.name in route.path_fields or field.name == route.body or field.type == F.TYPE_MESSAGE:
                continue
            schema = schemas.field(field)
            if field.is_repeated:
                parameters.append({"name": field.name, "in": "query", "schema": schema, "explode": True})
            else:
                parameters.append({"name": field.name, "in": "query", "schema": schema})
    return parameters


def _request_body(route: Route, schemas: _Schemas) -> dict[str, Any] | None:
    if not route.body:
        return None
    descriptor = route.method.input_type.DESCRIPTOR
    if route.body != "*":
        descriptor = descriptor.fields_by_name[route.body].message_type
    content: dict[str, Any] = {"application/json": {"schema": schemas.message(descriptor)}}
    if any(f.type == F.TYPE_BYTES for f in descriptor.fields):
        content = {"multipart/form-data": {"schema": schemas.message(descriptor)}}
    return {"required": False, "content": content}


def _responses(route: Route, schemas: _Schemas) -> dict[str, Any]:
    method = route.method
    if method.raw_response:
        success: dict[str, Any] = {"description": "Raw content", "content": {"*/*": {"schema": {}}}}
    else:
        schema = schemas.message(method.output_type.DESCRIPTOR)
        success = {"description": "Success", "content": {"application/json": {"schema": schema}}}
    responses = {str(method.success_status): success}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for status, description in _ERROR_STATUSES.items():
        responses[status] = {"description": description, **error}
    return responses


def build_openapi(router: Router) -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(router.routes, key=lambda r: (r.template, r.http_method)):
        method = route.method
        operation: dict[str, Any] = {
            "operationId": f"{method.name}_{route.http_method}_{len(paths.get(route.template, {}))}"
            + route.template.replace("/", "_").replace("{", "").replace("}", ""),
            "tags": [method.service.rsplit(".", 1)[-1]],
            "summary": f"{method.service}.{method.name}",
            "parameters": _parameters(route, schemas),
            "responses": _responses(route, schemas),
        }
        if route.websocket:
            operation["description"] = "WebSocket: send an upgrade request; each event is a JSON text frame."
        body = _request_body(route, schemas)
        if body is not None:
            operation["requestBody"] = body
        if method.policy.auth == 0:
            operation["security"] = [{"bearer": []}]
        paths.setdefault(route.template, {})[route.http_method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "HxTP Cloud API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
