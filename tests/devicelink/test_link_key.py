"""The server's Ed25519 link public key is published: a public route, the registration and
bootstrap answers, and `link_signing_key.pub` beside the seed; all the same key, the one the
server's messages to hxtp-3.1-ed25519 devices verify under."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.devicelink.conftest import Link


async def test_the_link_key_is_published_everywhere_a_device_setup_looks(embedded_link: Link) -> None:
    app = embedded_link.app
    public = await embedded_link.http.get("/api/v1/device/link-key")  # no credential
    assert public.status_code == 200
    key = public.json()["public_key"]
    assert public.json()["algorithm"] == "Ed25519" and public.json()["protocol"] == "hxtp-3.1-ed25519"
    pub_file = app.settings.data_dir / "link_signing_key.pub"
    assert pub_file.read_text().strip() == key
    registered = await embedded_link.register()
    assert registered["server_public_key"] == key
    # It is the key the server signs with.
    signature = bytes.fromhex(app.link_signer.sign("probe"))
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(key)).verify(signature, b"probe")
