import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import uscc as uscc_std

from core.accounts import validate_uscc
from core.errors import DomainError
from core.pseudonym import pseudonymise

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def test_a_published_credit_code_is_valid():
    assert validate_uscc("91110000600037341L") == "91110000600037341L"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91110000600037341", "must be 18 characters"),
        ("91110000600037341M", "check character does not match"),
        ("9111000060003734IL", "characters outside"),
    ],
)
def test_bad_credit_codes_say_what_is_wrong(code, reason):
    with pytest.raises(DomainError) as err:
        validate_uscc(code)
    assert err.value.code == "invalid_uscc"
    assert reason in err.value.message
    assert "uscc" in err.value.errors


@given(st.text(alphabet=ALPHABET, min_size=8, max_size=8), st.sampled_from(["350200", "350400", "350100"]))
def test_any_single_character_change_is_caught(tail, region):
    body = f"91{region}0{tail}"
    code = body + uscc_std.calc_check_digit(body)
    assert validate_uscc(code) == code
    # Weights are non-zero modulo the prime 31, so every single substitution changes the check character.
    for i in range(18):
        for other in ALPHABET[:4]:
            if other != code[i]:
                with pytest.raises(DomainError):
                    validate_uscc(code[:i] + other + code[i + 1 :])


def test_pseudonyms_are_keyed_normalised_and_never_the_identifier():
    key = b"k" * 32
    a = pseudonymise(key, " 35020019800101123x ")
    assert a == pseudonymise(key, "35020019800101123X")
    assert "350200" not in a and len(a) == 64
    assert a != pseudonymise(b"j" * 32, "35020019800101123X")
    with pytest.raises(ValueError):
        pseudonymise(b"short", "x")
    with pytest.raises(ValueError):
        pseudonymise(key, "   ")
