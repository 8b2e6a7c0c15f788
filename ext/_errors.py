"""The one definition of what the hot path can reject, shared by both twins.

Both `ext._reference` and the compiled `ext._hotpath` raise these exact classes, so a caller's
`except HxtpRejection` works whichever twin the selector picked, and the twin-agreement tests can
compare rejections by class, reason and text.
"""

from __future__ import annotations


class Reason:
    """Machine reason strings. Where the wire spec names a failure, its own word is used."""

    # Frame header (spec §2.3, firmware Frame.cpp).
    FRAME_TOO_SHORT = "FRAME_TOO_SHORT"
    FRAME_MAGIC_INVALID = "FRAME_MAGIC_INVALID"
    FRAME_VERSION_INVALID = "FRAME_VERSION_INVALID"
    FRAME_TYPE_INVALID = "FRAME_TYPE_INVALID"
    FRAME_LENGTH_INVALID = "FRAME_LENGTH_INVALID"
    # Envelope text and fields.
    JSON_INVALID = "JSON_INVALID"
    ENCODING_INVALID = "ENCODING_INVALID"
    FIELD_MISSING = "FIELD_MISSING"
    FIELD_INVALID = "FIELD_INVALID"
    TOPIC_INVALID = "TOPIC_INVALID"
    # Signing strings and canonical JSON.
    CANONICAL_BUILD_FAILED = "CANONICAL_BUILD_FAILED"
    CANONICAL_ERROR = "CANONICAL_ERROR"
    # Validation pipeline (spec §8), same words as the firmware and hxtp-py.
    VERSION_MISMATCH = "VERSION_MISMATCH"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    TIMESTAMP_EXPIRED = "TIMESTAMP_EXPIRED"
    TIMESTAMP_FUTURE = "TIMESTAMP_FUTURE"
    NONCE_MISSING = "NONCE_MISSING"
    NONCE_REUSED = "NONCE_REUSED"
    HASH_MISMATCH = "HASH_MISMATCH"
    SEQUENCE_VIOLATION = "SEQUENCE_VIOLATION"
    SIGNATURE_MISSING = "SIGNATURE_MISSING"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    SECRET_INVALID = "SECRET_INVALID"
    # Manifest parameters (REST contract §4.2).
    PARAMS_INVALID = "PARAMS_INVALID"


ALL_REASONS: frozenset[str] = frozenset(
    value for name, value in vars(Reason).items() if name.isupper()
)


class HxtpRejection(Exception):
    """Input the protocol does not accept. `reason` is for machines, `detail` for people."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


class ParamsInvalid(HxtpRejection):
    """Command params that break the action's manifest schema: names the parameter and the rule."""

    def __init__(self, param: str, rule: str) -> None:
        super().__init__(Reason.PARAMS_INVALID, f"{param}: {rule}")
        self.args = (param, rule)
        self.param = param
        self.rule = rule

    def __str__(self) -> str:
        # The REST layer shows this text to the caller as is, e.g. "brightness: maximum 100".
        return self.detail


class SchemaInvalid(ValueError):
    """A manifest schema the validator cannot compile. A configuration error, not a rejection of input."""

    def __init__(self, keyword: str, location: str, problem: str) -> None:
        super().__init__(keyword, location, problem)
        self.keyword = keyword
        self.location = location
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.problem} {self.keyword!r} at {self.location}"
