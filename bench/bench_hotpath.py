"""Time the hot path on both twins: ns per call, as a caller pays it (Python call included).

    python bench/bench_hotpath.py [--number N] [--repeat R]

Each operation runs `number` times in a plain loop, `repeat` times over; the table shows the best
and the median of the repeats, per call. The compiled twin's HMAC is also timed on its portable C
path, which is what a CPU without SHA-NI gets. Results of a run are kept in bench/RESULTS-hotpath.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere, import ./ext

from bench.result import emit
from ext import _reference

SECRET = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
NOW_MS = 1767225601500
# A typical HxTP/3.1 message: UUID ids, 32-hex nonce, a 64-hex payload_hash; its signing string has
# 275 bytes (SIGNING_BYTES), like every vector in hxtp31_hmac_command/*.
ENVELOPE = {
    "version": "HxTP/3.1",
    "message_type": "command",
    "device_id": "a3f9c2e1b4d5867f90a1b2c3d4e5f601",
    "tenant_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "client_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "message_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    "request_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    "sequence_number": 42,
    "timestamp": 1767225600000,
    "nonce": "00112233445566778899aabbccddeeff",
    "action": "light_brightness",
    "params": {"brightness": 80, "transition": 1.5},
    "payload_hash": "ba5a25735e2843800e7e17158364a50d16cf4cbc61bd65e4bc2a7154ff25784f",
}
SCHEMA = {
    "properties": {
        "brightness": {"type": "integer", "minimum": 0, "maximum": 100},
        "transition": {"type": "number", "minimum": 0},
        "mode": {"type": "string", "enum": ["eco", "comfort"]},
    },
    "required": ["brightness"],
}
CLI_PARAMS = {"brightness": "80", "transition": "1.5", "mode": "eco"}
TYPED_PARAMS = {"brightness": 80, "transition": 1.5, "mode": "eco"}
# The same schema as a standalone JSON Schema document, for fastjsonschema (the baseline).
JSON_SCHEMA = {"type": "object", **SCHEMA}
SIGNING_BYTES = len(_reference.signing_string_v31(ENVELOPE).encode())

Case = tuple[str, Callable[[ModuleType], Callable[[], Any]]]


def prepared_cases() -> list[Case]:
    """Each case builds, outside the timing, the zero-argument call it then times."""

    def sign(twin: ModuleType) -> Callable[[], Any]:
        key, message = twin.HmacKey.from_hex(SECRET), twin.signing_string_v31(ENVELOPE)
        return lambda: key.sign(message)

    def verify(twin: ModuleType) -> Callable[[], Any]:
        key, message = twin.HmacKey.from_hex(SECRET), twin.signing_string_v31(ENVELOPE)
        signature = key.sign(message)
        return lambda: key.verify(message, signature)

    def verify_rotated(twin: ModuleType) -> Callable[[], Any]:
        keys = [twin.HmacKey.from_hex("ff" * 32), twin.HmacKey.from_hex(SECRET)]
        message = twin.signing_string_v31(ENVELOPE)
        signature = keys[1].sign(message)
        return lambda: twin.verify_hmac(message, signature, keys)

    def signing_string(twin: ModuleType) -> Callable[[], Any]:
        return lambda: twin.signing_string_v31(ENVELOPE)

    def encode(twin: ModuleType) -> Callable[[], Any]:
        body = wire_body()
        return lambda: twin.encode_frame(2, body)

    def decode(twin: ModuleType) -> Callable[[], Any]:
        frame = twin.encode_frame(2, wire_body())
        return lambda: twin.decode_frame(frame)

    def raw_params(twin: ModuleType) -> Callable[[], Any]:
        body = wire_body()
        return lambda: twin.extract_raw_params(body)

    def payload_hash(twin: ModuleType) -> Callable[[], Any]:
        raw = twin.extract_raw_params(wire_body())
        digest = twin.sha256_hex(raw)
        return lambda: twin.check_payload_hash(digest, raw)

    def validate(twin: ModuleType) -> Callable[[], Any]:
        validator = twin.compile_params_schema(SCHEMA)
        return lambda: validator(CLI_PARAMS)

    def validate_typed(twin: ModuleType) -> Callable[[], Any]:
        validator = twin.compile_params_schema(SCHEMA)
        return lambda: validator(TYPED_PARAMS)

    def nonce(twin: ModuleType) -> Callable[[], Any]:
        cache, counter = twin.NonceCache(), iter(range(10**9))
        return lambda: cache.remember("device", f"n{next(counter)}", 0.0)

    def sequence(twin: ModuleType) -> Callable[[], Any]:
        window, counter = twin.SequenceWindow(), iter(range(10**9))
        return lambda: window.accept("device", "client", next(counter))

    def inbound(twin: ModuleType) -> Callable[[], Any]:
        return inbound_pipeline(twin)

    return [
        (f"HMAC sign ({SIGNING_BYTES}-byte signing string)", sign),
        ("HMAC verify", verify),
        ("verify_hmac, previous key matches", verify_rotated),
        ("signing_string_v31", signing_string),
        ("encode_frame (command)", encode),
        ("decode_frame (command)", decode),
        ("extract_raw_params", raw_params),
        ("check_payload_hash (raw rule)", payload_hash),
        ("params validator (CLI strings)", validate),
        (VALIDATION, validate_typed),
        ("NonceCache.remember", nonce),
        ("SequenceWindow.accept", sequence),
        ("inbound frame to verified (incl. json.loads)", inbound),
    ]


def wire_body() -> bytes:
    signed = {**ENVELOPE, "signature": "0" * 64}
    return json.dumps(signed, separators=(",", ":")).encode()


def inbound_pipeline(twin: ModuleType) -> Callable[[], Any]:
    """One device message through every receive check of spec §11. Twenty signed frames are reused;
    the nonce and sequence fed to the guards are made fresh per call so no call is a replay."""
    key = twin.HmacKey.from_hex(SECRET)
    cache, window, counter = twin.NonceCache(), twin.SequenceWindow(), iter(range(1, 10**9))

    def frame_for(number: int) -> bytes:
        envelope = {**ENVELOPE, "message_type": "state", "sequence_number": number, "nonce": f"n{number}"}
        raw = json.dumps(envelope["params"], separators=(",", ":")).encode()
        envelope["payload_hash"] = twin.sha256_hex(raw)
        envelope["signature"] = key.sign(twin.signing_string_v31(envelope))
        return twin.encode_frame(1, json.dumps(envelope, separators=(",", ":")).encode())

    frames = [frame_for(number) for number in range(20)]

    def receive() -> None:
        number = next(counter)
        _, body = twin.decode_frame(frames[number % 20])
        envelope = json.loads(body)
        raw = twin.extract_raw_params(body)
        twin.check_version(envelope["version"], ("HxTP/3.1",))
        twin.check_timestamp(envelope["timestamp"], NOW_MS)
        cache.remember(envelope["device_id"], f"{envelope['nonce']}-{number}", 0.0)
        twin.check_payload_hash(envelope["payload_hash"], raw)
        window.check(envelope["device_id"], envelope["client_id"], number)
        twin.verify_hmac(twin.signing_string_v31(envelope), envelope["signature"], [key])
        window.record(envelope["device_id"], envelope["client_id"], number)

    return receive


def time_call(call: Callable[[], Any], number: int, repeat: int) -> tuple[float, float, float]:
    """(best, median, worst) ns per call over the repeats."""
    for _ in range(min(number, 1000)):
        call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        for _ in range(number):
            call()
        samples.append((time.perf_counter_ns() - started) / number)
    return min(samples), statistics.median(samples), max(samples)


def compiled_twin() -> ModuleType | None:
    try:
        from ext import _hotpath
    except ImportError:
        return None
    return _hotpath


VALIDATION = "params validation, 3 typed params"
# Figures run_all.py reports: the compiled twin's ns per call for these operations.
REPORTED = {
    "sign_ns": "HMAC sign",
    "verify_ns": "HMAC verify",
    "sequence_ns": "SequenceWindow.accept",
    "nonce_ns": "NonceCache.remember",
    "validation_ns": VALIDATION,
}


def fastjsonschema_case() -> Callable[[], Any]:
    import fastjsonschema

    validator = fastjsonschema.compile(JSON_SCHEMA)
    return lambda: validator(TYPED_PARAMS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100_000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=7, help="repeats; best and median are shown")
    args = parser.parse_args()
    compiled = compiled_twin()
    print(f"Python {platform.python_version()} on {platform.machine()}, {platform.processor() or 'cpu?'}")
    if compiled is None:
        print("ext._hotpath is not built: only the reference twin is timed")
    else:
        print(f"compiled twin SHA-256 backend: {compiled._select_sha256_backend(False)}")
    print(f"{args.number} calls x {args.repeat} repeats; ns per call, best / median / worst\n")
    print("| operation | reference | compiled | speed-up |")
    print("| --- | ---: | ---: | ---: |")
    figures: dict[str, float] = {}
    for label, prepare in prepared_cases():
        ref = time_call(prepare(_reference), args.number, args.repeat)
        row = f"| {label} | {ref[0]:,.0f} / {ref[1]:,.0f} / {ref[2]:,.0f} |"
        if label == VALIDATION:
            figures["validation_reference_ns"] = ref[1]
        if compiled is not None:
            best, median, worst = time_call(prepare(compiled), args.number, args.repeat)
            row += f" {best:,.0f} / {median:,.0f} / {worst:,.0f} | {ref[0] / best:.1f}x |"
            for name, prefix in REPORTED.items():
                if label.startswith(prefix) and name not in figures:
                    figures[name] = median
        print(row)
    baseline = time_call(fastjsonschema_case(), args.number, args.repeat)
    print(
        f"| {VALIDATION}, fastjsonschema (same schema) |"
        f" {baseline[0]:,.0f} / {baseline[1]:,.0f} / {baseline[2]:,.0f} | | |"
    )
    figures["validation_fastjsonschema_ns"] = baseline[1]
    if compiled is not None:
        compiled._select_sha256_backend(True)
        try:
            for label, prepare in prepared_cases()[:2]:
                best, median, worst = time_call(prepare(compiled), args.number, args.repeat)
                print(f"| {label}, portable C SHA-256 | | {best:,.0f} / {median:,.0f} / {worst:,.0f} | |")
        finally:
            compiled._select_sha256_backend(False)
        # How many times faster than fastjsonschema the compiled validation is (> 1 = faster).
        figures["ratio"] = baseline[1] / figures["validation_ns"]
    emit(**figures)


if __name__ == "__main__":
    main()
