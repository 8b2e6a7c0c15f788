"""The rule language of cognition: matching, operators, and the one validation of a rule list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.domain.cognition.rules import DEFAULT_RULES, first_match, parse_rules
from server.errors import HxtpError


def test_default_rule_proposes_room_lights_on_occupancy_in_the_dark() -> None:
    rules = parse_rules(DEFAULT_RULES)
    rule = first_match(rules, {"occupancy": True, "lux": 12}, "room_entry")
    assert rule is not None and (rule.action, rule.target, rule.category) == ("light_on", "room", "light")
    assert first_match(rules, {"occupancy": False, "lux": 12}, "room_entry") is None
    assert first_match(rules, {"occupancy": True, "lux": 300}, "room_entry") is None
    assert first_match(rules, {"occupancy": True, "lux": 12}, "") is None  # other contexts
    assert first_match(rules, {"temperature": 30}, "") is None


def test_the_readme_shows_the_default_rule_itself() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Intents and cognition rules") :]
    shown = json.loads(section[section.index("```json") + len("```json") : section.index("```\n", 10)])
    assert [shown] == DEFAULT_RULES


def test_operators_context_and_order() -> None:
    rules = parse_rules(
        [
            {
                "name": "hot",
                "when": {"temperature": {"gt": 25}},
                "then": {"action": "temp_set", "params": {"t": 21}},
            },
            {
                "name": "dark",
                "context": "evening",
                "when": {"lux": {"lt": 40, "gte": 0}},
                "then": {"action": "light_on"},
            },
        ]
    )
    assert first_match(rules, {"temperature": 30, "lux": 10}, "evening").name == "hot"  # type: ignore[union-attr]
    assert first_match(rules, {"temperature": 20, "lux": 10}, "evening").name == "dark"  # type: ignore[union-attr]
    assert first_match(rules, {"temperature": 20, "lux": 10}, "morning") is None
    assert first_match(rules, {"temperature": "warm"}, "") is None  # unlike types never match


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([{"then": {"action": "x"}}], "rules[0].when"),
        ([{"when": {"a": 1}}], "rules[0].then.action"),
        ([{"when": {"a": {"between": [1, 2]}}, "then": {"action": "x"}}], "rules[0].when.a"),
        ([{"when": {"a": 1}, "then": {"action": "x", "target": "house"}}], "rules[0].then.target"),
        ([{"when": {"a": 1}, "then": {"action": "x"}}, "nope"], "rules[1]."),
    ],
)
def test_bad_rules_are_400_naming_the_part(rules: list[object], field: str) -> None:
    with pytest.raises(HxtpError) as refused:
        parse_rules(rules)
    assert refused.value.spec.http_status == 400
    assert refused.value.fields["field"] == field
