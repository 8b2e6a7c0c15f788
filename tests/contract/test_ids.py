import os
import re
import uuid

from contract.ids import random_hex, random_uuid

_CANONICAL = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_random_uuid_is_a_canonical_version_4_uuid() -> None:
    for _ in range(2000):  # crosses several block refills
        text = random_uuid()
        assert _CANONICAL.match(text), text
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text


def test_ids_do_not_repeat() -> None:
    ids = {random_uuid() for _ in range(100_000)}
    assert len(ids) == 100_000


def test_random_hex_has_the_asked_length_at_any_size() -> None:
    for size in (1, 16, 31, 4095, 4096, 5000):
        text = random_hex(size)
        assert len(text) == 2 * size
        assert re.fullmatch("[0-9a-f]+", text)
    assert len({random_hex(16) for _ in range(1000)}) == 1000


def test_a_forked_child_does_not_repeat_its_parent() -> None:
    random_uuid()  # the parent holds a partly used block
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, "".join(random_uuid() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        theirs = pipe.read()
    ours = "".join(random_uuid() for _ in range(50))
    theirs_ids = {theirs[i : i + 36] for i in range(0, len(theirs), 36)}
    assert len(theirs_ids) == 50
    assert not theirs_ids & {ours[i : i + 36] for i in range(0, len(ours), 36)}
