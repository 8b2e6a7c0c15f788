"""Semantic versions as firmware uses them: MAJOR.MINOR.PATCH[-prerelease][+build].

A leading "v" is accepted and missing minor/patch parts count as 0 ("1.2" == "1.2.0"), because
firmware version strings in the wild are written that way. Ordering follows semver 2.0 §11: build
metadata is ignored and a prerelease sorts below its release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from server.domain import fields

_VERSION = re.compile(
    r"^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...]

    def key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release (no prerelease) sorts above every prerelease of the same numbers; numeric
        # identifiers sort below alphanumeric ones and compare as numbers.
        parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, parts)

    def __lt__(self, other: Version) -> bool:
        return self.key() < other.key()


def parse(field: str, text: str) -> Version:
    match = _VERSION.match(text.strip())
    if match is None or len(text) > 64:
        raise fields.bad(field, f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    major, minor, patch, pre = match.groups()
    return Version(int(major), int(minor or 0), int(patch or 0), tuple(pre.split(".")) if pre else ())
