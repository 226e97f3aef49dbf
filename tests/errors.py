"""Assertions shared by the service tests."""

from __future__ import annotations

import pytest

from core.errors import DomainError


def domain_error(call, code: str) -> DomainError:
    """Call ``call``, expect a DomainError with ``code``, and return it for further checks."""
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, (caught.value.code, caught.value.message, caught.value.errors)
    return caught.value
