"""The fast path for flat ledger entries writes exactly the bytes of the general canonical encoder."""

from __future__ import annotations

import random
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from trace.canonical import canonical_bytes, flat_canonical_bytes

KEYS = ["at", "batch", "idx", "item", "org", "prev", "qty", "to", "type", "v", "via", "ä", "Z", "a b", '"', "\\", ""]
SCALARS = st.one_of(
    st.text(),
    st.text(alphabet=string.printable + '"\\\x00\x1f\x7f\u2028\u00e9\u4e2d\U0001f600'),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.none(),
)
ODD = st.one_of(
    st.booleans(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), SCALARS, min_size=1, max_size=12))
def test_flat_objects_encode_as_the_canonical_encoder(value):
    assert flat_canonical_bytes(value) == canonical_bytes(value, checked=False)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), st.one_of(SCALARS, ODD), max_size=12))
def test_other_values_fall_back_to_the_canonical_encoder(value):
    assert flat_canonical_bytes(value) == canonical_bytes(value, checked=False)


def test_ledger_shaped_entries_in_every_key_order_match():
    rng = random.Random(20261123)
    alphabet = string.ascii_letters + string.digits + "!\"%&'()*+,-./:;<=>?_" + "批号中文"
    for _ in range(10_000):
        entry = {
            "item": "".join(rng.choices(alphabet, k=rng.randint(1, 34))),
            "type": rng.choice(["receive", "ship", "dispense", "commission"]),
            "org": "".join(rng.choices(string.digits + "ABCDEFGHJKLMNPQRTUWXY", k=18)),
            "at": f"2026-11-{rng.randint(1, 30):02d}T01:02:03.{rng.randint(0, 999999):06d}Z",
            "batch": "".join(rng.choices(alphabet, k=rng.randint(0, 40))),
            "v": 1,
            "idx": rng.randint(0, 2**40),
            "prev": rng.choice([None, rng.randbytes(32).hex()]),
        }
        for optional, make in (("to", lambda: "9" * 18), ("qty", lambda: rng.randint(0, 500)), ("via", lambda: "X")):
            if rng.random() < 0.3:
                entry[optional] = make()
        items = list(entry.items())
        rng.shuffle(items)
        shuffled = dict(items)
        assert flat_canonical_bytes(shuffled) == canonical_bytes(shuffled, checked=False)
