"""The personal-data filter and the context's bounds: pure rules, no database."""

from __future__ import annotations

import re
from importlib import import_module
from typing import Any

import pytest

from ensemble.apps.casino.actions.domain import (
    ACTION_TYPE_PATTERN,
    CONTEXT_MAX_BYTES,
    REDACTED,
    SEEDED_ACTION_TYPES,
    context_problem,
    depth,
    is_personal_key,
    luhn_valid,
    redact_text,
    strip_personal,
)

PERSONAL_KEYS = [
    "email", "e_mail", "userEmail", "EMAIL_ADDRESS", "phone", "phoneNumber", "tel", "mobile",
    "name", "first_name", "lastName", "FullName", "firstname", "address", "home-address",
    "card", "cardNumber", "card_no", "cvv", "password", "newPassword", "pwd", "token",
    "accessToken", "refresh_token", "secret", "ssn", "birthdate", "ip", "client_ip", "iban",
    "zip", "postcode", "passport",
]  # fmt: skip
KEPT_KEYS = [
    "nickname", "user_id", "screen", "button", "bet", "banner_id", "count", "spin_count",
    "pinned", "tokens_left_ratio", "game_type", "source", "items",
]  # fmt: skip
"""`tokens_left_ratio` is kept: `tokens` is not the word `token`."""


@pytest.mark.parametrize("key", PERSONAL_KEYS)
def test_a_key_naming_personal_data_is_personal(key: str) -> None:
    assert is_personal_key(key)


@pytest.mark.parametrize("key", KEPT_KEYS)
def test_other_keys_are_not(key: str) -> None:
    assert not is_personal_key(key)


REDACTED_TEXTS = [
    ("ace@example.com", REDACTED),
    ("write to first.last+tag@mail.co.kr please", f"write to {REDACTED} please"),
    ("010-1234-5678", REDACTED),
    ("+82 10 1234 5678", REDACTED),
    ("call 01012345678 now", f"call {REDACTED} now"),
    ("(02) 555-1234-99", REDACTED),
    ("4111 1111 1111 1111", REDACTED),
    ("4111-1111-1111-1111", REDACTED),
    ("card 5500005555555559 ok", f"card {REDACTED} ok"),
    ("900101-1234567", REDACTED),
    (
        "hand 01a24dab-9924-7419-8346-282afa230a30 by 010-1234-5678",
        f"hand 01a24dab-9924-7419-8346-282afa230a30 by {REDACTED}",
    ),
]
KEPT_TEXTS = [
    "2026-12-07",
    "2026-12-07T10:00:00+09:00",
    "192.168.1.1",  # too few digits for a phone, too many separators for a card
    "bet 1000000",
    "level 42 cleared",
    "0193a6b2-7c1d-7e8f-9a0b-1c2d3e4f5a6b",
    "01a24dab-9924-7419-8346-282afa230a30",  # its digit groups look like a phone number
    "session 01A24DAB-9924-7419-8346-282AFA230A30 ended",
    "banner:standard-2026",
    "4111 1111 1111 1112",  # 16 digits failing Luhn: not a card; 16 digits: not a phone
]


@pytest.mark.parametrize(("text", "expected"), REDACTED_TEXTS)
def test_personal_data_inside_text_is_redacted(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", KEPT_TEXTS)
def test_other_text_is_kept(text: str) -> None:
    assert redact_text(text) == text


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112")


def test_strip_personal_walks_objects_and_arrays_and_leaves_the_input_alone() -> None:
    context: dict[str, Any] = {
        "screen": "shop",
        "email": "ace@example.com",
        "form": {"fullName": "Kim", "note": "mail me: ace@example.com", "qty": 2},
        "history": [{"phone": "x"}, "010-1234-5678", 4111111111111111, 7, True, None],
        "card_last4": "1111",
    }
    original = repr(context)
    assert strip_personal(context) == {
        "screen": "shop",
        "form": {"note": f"mail me: {REDACTED}", "qty": 2},
        "history": [{}, REDACTED, REDACTED, 7, True, None],
    }
    assert repr(context) == original


def test_the_context_is_bounded_in_size_and_depth() -> None:
    assert context_problem({}) is None
    assert context_problem({"a": "x" * (CONTEXT_MAX_BYTES - 10)}) is None
    assert context_problem({"a": "x" * CONTEXT_MAX_BYTES}) is not None
    assert context_problem({"a": "한" * (CONTEXT_MAX_BYTES // 3)}) is not None  # UTF-8 bytes
    nested: dict[str, Any] = {"a": {"b": {"c": {"d": {"e": 1}}}}}
    assert depth(nested) == 5
    assert context_problem(nested) is None
    assert context_problem({"a": nested}) is not None
    assert depth([[[]]]) == 3


def test_the_migration_seeds_the_domains_action_types() -> None:
    seeded = import_module("ensemble.migrations.versions.0025_casino_activity")
    assert seeded.SEEDED_ACTION_TYPES == SEEDED_ACTION_TYPES
    assert {"LOGIN", "SLOT_SPIN", "GACHA_SPIN", "SHOP_PURCHASE", "REWARD_CLAIM"} <= set(
        SEEDED_ACTION_TYPES
    )
    assert all(re.fullmatch(ACTION_TYPE_PATTERN, code) for code in SEEDED_ACTION_TYPES)
