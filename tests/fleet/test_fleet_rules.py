"""The fleet's pure rules: versions, categories, sealed secrets, manifest validation."""

from __future__ import annotations

import pytest

from server.domain.catalog import capabilities as capability_catalog
from server.domain.catalog.manifests import ManifestEntry, validate_manifest
from server.domain.firmware import semver
from server.domain.fleet.secrets import SecretBox, SecretUnreadable, new_device_secret
from server.errors import HxtpError


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.0.9", "1.0.10"),
        ("1.0.0-alpha", "1.0.0"),
        ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
        ("1.0.0-beta.2", "1.0.0-beta.11"),
        ("1.0.0-rc.1", "1.0.0"),
        ("0.9", "v1"),
    ],
)
def test_semantic_version_order(older: str, newer: str) -> None:
    assert semver.parse("v", older) < semver.parse("v", newer)
    assert not semver.parse("v", newer) < semver.parse("v", older)


def test_build_metadata_does_not_order_and_garbage_is_refused() -> None:
    assert semver.parse("v", "1.0.0+a").key() == semver.parse("v", "1.0.0+b").key()
    for text in ("", "1.0.0.0", "01.0.0", "1.0.0-", "latest"):
        with pytest.raises(HxtpError) as refused:
            semver.parse("current_version", text)
        assert refused.value.fields == {"field": "current_version"}


@pytest.mark.parametrize(
    ("device_type", "category"),
    [
        ("light", "light"),
        ("helix_lock", "lock"),
        ("smart_switch", "switch"),
        ("Thermostat", "climate"),
        ("sensor", "sensor"),
        ("esp32", None),
        ("gateway", None),
        ("helix_node", None),
    ],
)
def test_device_types_map_to_categories(device_type: str, category: str | None) -> None:
    assert capability_catalog.category_for_type(device_type) == category
    actions = [c.action for c in capability_catalog.default_capabilities(device_type)]
    assert actions[-2:] == ["ping", "status"]


def test_sealed_secrets_open_only_under_their_key_and_row() -> None:
    secret = new_device_secret()
    assert len(secret) == 64 and secret == secret.lower()
    box = SecretBox("master")
    sealed = box.seal(secret, "device-a", 1)
    assert box.open(sealed, "device-a", 1) == bytes.fromhex(secret)
    assert bytes.fromhex(secret) not in sealed
    for other_box, device, version in [
        (SecretBox("other"), "device-a", 1),
        (box, "device-b", 1),
        (box, "device-a", 2),
    ]:
        with pytest.raises(SecretUnreadable):
            other_box.open(sealed, device, version)


def test_manifest_validation_normalises_and_names_the_problem() -> None:
    stored = validate_manifest(
        [ManifestEntry(0, "light_on", safety_class="Standard"), ManifestEntry(0, "custom")]
    )
    assert [(e.id, e.action, e.safety_class, e.description) for e in stored] == [
        (1, "light_on", "normal", "Turn light on"),
        (2, "custom", "normal", ""),
    ]
    with pytest.raises(HxtpError) as unsupported:
        validate_manifest([ManifestEntry(1, "x", param_schema={"properties": {"a": {"format": "email"}}})])
    assert "format" in unsupported.value.reason
    assert unsupported.value.fields == {"field": "capabilities[0].paramSchema"}
