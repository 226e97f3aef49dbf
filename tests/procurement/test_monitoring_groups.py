"""Group codes shared by the prescribing rules: combined keys must separate exactly the combinations that occur."""

from __future__ import annotations

import numpy as np
import pandas as pd

from procurement.audit.monitoring_groups import DENSE_LIMIT, category_codes, combine


def _codes(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _same_groups(codes: np.ndarray, expected: list[tuple[int, ...]]) -> bool:
    """Whether two lines share a code exactly when they share the expected combination."""
    return all(
        (codes[i] == codes[j]) == (expected[i] == expected[j])
        for i in range(len(expected))
        for j in range(len(expected))
    )


def test_a_wide_key_keeps_a_part_the_widest_one_does_not_determine():
    # Physician 0 works in departments 0 and 1 of hospital 0; physician 1 in department 0 of hospital 1. The key
    # space (3,000 × 100 × 100) is beyond the dense limit, so parts the physician determines are dropped: the
    # hospital is, the department is not, and must stay in the key.
    physician, hospital, department = _codes(0, 0, 1, 1), _codes(0, 0, 1, 1), _codes(0, 1, 0, 0)
    assert DENSE_LIMIT < 3_000 * 100 * 100
    codes, size = combine((hospital, 100), (department, 100), (physician, 3_000))
    expected = list(zip(hospital.tolist(), department.tolist(), physician.tolist(), strict=True))
    assert _same_groups(codes, expected)
    assert codes[0] != codes[1] and codes[2] == codes[3]
    assert codes.max() < size


def test_a_wide_key_whose_other_parts_are_determined_is_the_widest_part_alone():
    physician, hospital, department = _codes(0, 0, 1, 2), _codes(5, 5, 7, 7), _codes(3, 3, 3, 9)
    codes, size = combine((hospital, 100), (department, 100), (physician, 3_000))
    assert codes.tolist() == physician.tolist() and size == 3_000


def test_narrow_category_codes_combine_without_overflow():
    frame = pd.DataFrame(
        {
            "a": pd.Categorical([f"a{i}" for i in (99, 98, 0, 99)], categories=[f"a{i}" for i in range(100)]),
            "b": pd.Categorical(["b7", None, "b7", "b7"], categories=[f"b{i}" for i in range(120)]),
        }
    )
    (a, n_a), (b, n_b) = category_codes(frame["a"]), category_codes(frame["b"])
    assert a.dtype == np.int8 and n_b == 121 and b.tolist() == [7, 120, 7, 7]  # missing: a group of its own, last
    codes, size = combine((a, n_a), (b, n_b))
    assert size == 101 * 121 and codes.dtype == np.int64
    assert codes.tolist() == [7 * 101 + 99, 120 * 101 + 98, 7 * 101, 7 * 101 + 99]  # the widest part (b) leads
