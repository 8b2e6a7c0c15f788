"""The README's configuration table lists exactly the variables server/config.py reads."""

from __future__ import annotations

import re
from pathlib import Path

from server.config import SETTINGS_DOC, Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_documented_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `(HXTP_[A-Z_]+)` \| ([^|]+) \|", README, flags=re.MULTILINE))
    assert set(rows) == set(SETTINGS_DOC)
    for name, (default, _) in SETTINGS_DOC.items():
        shown = rows[name].strip()
        assert shown == (f"`{default}`" if default else "(empty)"), name


def test_defaults_parse() -> None:
    settings = Settings.from_env({})
    assert settings.http_port == 8080 and settings.uses_embedded_database and settings.uses_embedded_broker


def test_plain_postgres_urls_get_the_async_driver() -> None:
    settings = Settings.from_env({"HXTP_DATABASE_URL": "postgresql://u@h:5432/d"})
    assert settings.database_url == "postgresql+asyncpg://u@h:5432/d"
