"""Actions' pure rules: action type codes, the context's size cap and the personal-data
filter every context goes through before it is stored or published."""

from __future__ import annotations

import json
import re
from typing import Any

ACTION_TYPE_PATTERN = r"^[A-Z][A-Z0-9_]{1,63}$"
"""An action type's code: upper-case words joined by `_` (`SLOT_SPIN`)."""

SEEDED_ACTION_TYPES = {
    "LOGIN": "The member logged in (or opened the app logged in).",
    "LOGOUT": "The member logged out.",
    "SLOT_SPIN": "A slot spin.",
    "GACHA_SPIN": "A gacha pull or 10-pull.",
    "SHOP_PURCHASE": "A shop purchase.",
    "REWARD_CLAIM": "A reward claimed.",
    "PAGE_VIEW": "A screen the client showed.",
    "BUTTON_CLICK": "A button the member pressed.",
    "SESSION_START": "A game session started.",
    "SESSION_END": "A game session ended.",
    "ACHIEVEMENT_VIEW": "The member opened the achievements screen.",
    "LEADERBOARD_VIEW": "The member opened a leaderboard.",
}
"""The action types the migration seeds (admins add more: `POST /api/admin/action-types`)."""

CONTEXT_MAX_BYTES = 4096
"""The largest context accepted, as compact JSON in UTF-8."""
CONTEXT_MAX_DEPTH = 5
"""Objects and arrays nested at most this deep (the top object is depth 1)."""

REDACTED = "[redacted]"
"""What replaces personal data found inside a string value."""

PERSONAL_KEY_WORDS = frozenset(
    {
        "email", "mail", "phone", "tel", "mobile", "name", "firstname", "lastname", "fullname",
        "surname", "address", "addr", "street", "zip", "postcode", "card", "pan", "cvv", "cvc",
        "iban", "bank", "password", "passwd", "pwd", "pin", "token", "secret", "ssn",
        "birthday", "birthdate", "dob", "ip", "rrn", "passport", "license",
    }
)  # fmt: skip
"""A key holding any of these words (`user_email`, `cardNumber`, `first-name`) is dropped
with its value, whatever the value. Deliberately broad: a stripped `page_name` costs an
analyst a field; a kept `full_name` is a leak. `nickname` and `user_id` are not personal
here (public in-app identifiers)."""

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CARD = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d{2,4}\)?(?:[ .-]?\d{2,4}){2,4}(?!\w)")
_RESIDENT_NUMBER = re.compile(r"(?<!\d)\d{6}-?[1-8]\d{6}(?!\d)")
"""A Korean resident registration number (주민등록번호): birth date, then 7 digits."""
_PHONE_DIGITS = (9, 15)
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
"""An identifier, not personal data, though its digit groups may look like a phone number
(`…-9924-7419-8346-…`) or a card number: never redacted."""


def key_words(key: str) -> set[str]:
    """The lower-case words of a key in any casing (`cardNumber`, `card_number`, `CARD-NO`),
    and the key itself without separators (`firstname`)."""
    words = {word.lower() for word in _WORD.findall(key)}
    return words | {re.sub(r"[^a-z0-9]", "", key.lower())}


def is_personal_key(key: str) -> bool:
    return not PERSONAL_KEY_WORDS.isdisjoint(key_words(key))


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (every payment card number does)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _redact_card(match: re.Match[str]) -> str:
    return REDACTED if luhn_valid(_digits(match.group())) else match.group()


def _redact_phone(match: re.Match[str]) -> str:
    low, high = _PHONE_DIGITS
    return REDACTED if low <= len(_digits(match.group())) <= high else match.group()


def redact_text(text: str) -> str:
    """`text` with every e-mail address, payment card number (Luhn-checked), resident
    registration number and phone number (9 to 15 digits) replaced by `REDACTED`; UUIDs in
    it are kept as they are."""
    kept = _UUID.findall(text)
    parts = [_redact_part(part) for part in _UUID.split(text)]
    return "".join(part + uuid for part, uuid in zip(parts, [*kept, ""], strict=True))


def _redact_part(text: str) -> str:
    text = _EMAIL.sub(REDACTED, text)
    text = _CARD.sub(_redact_card, text)
    text = _RESIDENT_NUMBER.sub(REDACTED, text)
    return _PHONE.sub(_redact_phone, text)


def strip_personal(value: Any) -> Any:
    """A JSON value without personal data: keys naming personal data dropped (see
    `PERSONAL_KEY_WORDS`), personal data inside strings redacted, and an integer that is a
    card number (13 to 19 digits, Luhn-valid) redacted. Pure: the input is not changed."""
    if isinstance(value, dict):
        return {
            key: strip_personal(item)
            for key, item in value.items()
            if not is_personal_key(str(key))
        }
    if isinstance(value, list):
        return [strip_personal(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        digits = str(abs(value))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return REDACTED
    return value


def depth(value: Any) -> int:
    """How deep objects and arrays nest in a JSON value (a scalar is 0)."""
    if isinstance(value, dict):
        return 1 + max((depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(item) for item in value), default=0)
    return 0


def encoded_size(value: Any) -> int:
    """The size of a JSON value as compact UTF-8 JSON."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def context_problem(context: dict[str, Any]) -> str | None:
    """Why a context is refused (too big, too deep), or None."""
    if encoded_size(context) > CONTEXT_MAX_BYTES:
        return f"the context is larger than {CONTEXT_MAX_BYTES} bytes of JSON"
    if depth(context) > CONTEXT_MAX_DEPTH:
        return f"the context nests deeper than {CONTEXT_MAX_DEPTH} levels"
    return None
