"""What the system says about itself: name, version, protocol and changelog."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_NAME = "HXTP Cloud"
VERSION = "1.0.0"
PROTOCOL = "HxTP/3.0"  # the API reference's value; devices speak their own profile versions
BETA = True
OPERATIONAL = "operational"

_RELEASE = re.compile(r"^##\s+\[?(?P<version>[^\]\s]+)\]?(?:\s+-\s+(?P<date>\S+))?")


@dataclass
class Release:
    version: str
    date: str
    changes: list[str] = field(default_factory=list)


def parse_changelog(markdown: str) -> list[Release]:
    """Keep-a-Changelog style: `## [1.0.0] - 2026-11-25` headings with `- item` lines below."""
    releases: list[Release] = []
    for line in markdown.splitlines():
        heading = _RELEASE.match(line)
        if heading:
            releases.append(Release(heading["version"], heading["date"] or ""))
        elif releases and line.lstrip().startswith(("- ", "* ")):
            releases[-1].changes.append(line.lstrip()[2:].strip())
        elif releases and releases[-1].changes and line.startswith("  ") and line.strip():
            releases[-1].changes[-1] += " " + line.strip()  # a wrapped item continues
    return releases


def read_changelog(path: Path) -> tuple[str, list[Release]]:
    markdown = path.read_text(encoding="utf-8") if path.exists() else ""
    return markdown, parse_changelog(markdown)
