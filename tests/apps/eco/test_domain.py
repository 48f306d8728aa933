"""ECO²'s pure rules: the offline lexicon classifier, reward eligibility, the event-sourced
`CharacterOwnership`, ISO week keys, and the vision adapter against a real local HTTP server
speaking the OpenAI chat-completions shape."""

from __future__ import annotations

import csv
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ensemble.apps.eco import events
from ensemble.apps.eco.domain import (
    CatalogueEntry,
    CharacterOwnership,
    Classification,
    Grant,
    Refusal,
    categories,
    classify_text,
    disposal_guide,
    week_key,
)
from ensemble.apps.eco.scan.classifier import (
    ClassifierUnavailable,
    LexiconClassifier,
    ScanInput,
    VisionClassifier,
    classifier_for,
)
from ensemble.apps.eco.settings import EcoSettings
from ensemble.kernel.events import Envelope, EventPayload
from tests.apicheck import free_port

# (category, Korean with a particle attached, English, a photo's file name)
EXAMPLES = [
    ("plastic", "다 마신 페트병을 버려요", "an empty plastic bottle", "IMG_2024_pet-bottle.png"),
    ("paper", "종이를 모았어요", "a cardboard box", "newspaper_stack.jpg"),
    ("can", "다 마신 캔을", "a soda can", "aluminum-can.jpeg"),
    ("glass", "유리병은 어디에", "a glass jar", "IMG_glass_jar.jpg"),
    ("vinyl", "비닐봉지를 버려요", "a plastic bag", "vinyl_wrapper.webp"),
    ("styrofoam", "스티로폼은 어떻게", "styrofoam packing", "styrofoam_eps.jpg"),
    ("food", "음식물은 어디에", "leftovers from dinner", "food_leftover.jpg"),
    ("general", "휴지를 버려요", "a used tissue", "trash_receipt.jpg"),
    ("battery", "다 쓴 배터리를", "dead batteries", "IMG_battery.jpg"),
    ("lamp", "형광등은 어디에", "a fluorescent tube", "fluorescent_lamp.jpg"),
    ("medicine", "유통기한 지난 약은", "expired medicine", "old_pills.png"),
    ("large", "소파를 버리려면", "an old mattress", "sofa.jpg"),
    ("clothes", "안 입는 옷을", "old clothes", "jeans_and_shirts.jpg"),
]
CODES = [example[0] for example in EXAMPLES]
RECYCLABLE = ["plastic", "paper", "can", "glass", "vinyl", "styrofoam"]
"""The categories that earn a character (the catalogue has characters for exactly these)."""
LABELS = Path(__file__).with_name("classifier_labels.csv")


# The lexicon classifier


def test_the_lexicon_knows_the_categories_korea_collects() -> None:
    assert sorted(categories()) == sorted(CODES)
    assert sorted(code for code, c in categories().items() if c.recyclable) == sorted(RECYCLABLE)


def test_the_labelled_phrases_are_classified_right_at_least_95_percent() -> None:
    with LABELS.open(encoding="utf-8") as labels:
        rows = list(csv.DictReader(labels))
    assert len(rows) >= 150
    assert {row["category"] for row in rows} == set(CODES)
    wrong = [
        (row["text"], row["category"], found.category)
        for row in rows
        if (found := classify_text(row["text"])).category != row["category"]
    ]
    accuracy = 1 - len(wrong) / len(rows)
    print(f"\nlexicon accuracy on {len(rows)} labelled phrases: {accuracy:.1%}; wrong: {wrong}")
    assert accuracy >= 0.95, wrong


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("glass bottle", "glass"),
        ("empty glass soju bottle", "glass"),
        ("유리 음료수 병", "glass"),
        ("plastic bag", "vinyl"),
        ("paper bag", "paper"),
        ("스티로폼 상자", "styrofoam"),
        ("broken glass", "general"),
        ("배터리", "battery"),
        ("폐건전지", "battery"),
    ],
)
def test_materials_beat_containers_and_longer_words_beat_their_parts(
    text: str, category: str
) -> None:
    assert classify_text(text).category == category


def test_batteries_get_the_battery_guide_not_general_waste() -> None:
    found = classify_text("폐건전지")
    guide = disposal_guide(found.category)
    assert (found.category, guide["label_en"]) == ("battery", "Batteries")
    assert "폐건전지 수거함" in guide["bin"]
    assert not found.reward_eligible, "no character to give: recorded, not compensated"


@pytest.mark.parametrize(
    ("category", "where"),
    [
        ("lamp", "폐형광등 수거함"),
        ("medicine", "폐의약품 수거함"),
        ("large", "대형폐기물 신고"),
        ("clothes", "의류수거함"),
    ],
)
def test_separately_collected_waste_is_sent_where_korea_collects_it(
    category: str, where: str
) -> None:
    assert where in disposal_guide(category)["bin"]
    assert not Classification(category, 1.0).reward_eligible


@pytest.mark.parametrize(("category", "korean", "english", "filename"), EXAMPLES, ids=CODES)
def test_each_category_is_recognised_in_korean_english_and_file_names(
    category: str, korean: str, english: str, filename: str
) -> None:
    for text in (korean, english, filename):
        found = classify_text(text)
        assert found.category == category, (text, found)
        assert found.confidence >= 0.5, (text, found)
        assert found.reward_eligible == (category in RECYCLABLE), (text, found)


async def test_the_lexicon_adapter_reads_the_text_and_the_image_address() -> None:
    lexicon = LexiconClassifier()
    encoded = "https://cdn.example.com/photos/%ED%8E%98%ED%8A%B8%EB%B3%91.jpg"  # 페트병.jpg
    by_address = await lexicon.classify(ScanInput(text=None, image_url=encoded))
    assert by_address.category == "plastic"
    host_only = await lexicon.classify(ScanInput(text=None, image_url="https://glass.example/1"))
    assert host_only.category == "general"  # the host names no content
    both = await lexicon.classify(ScanInput(text="유리병", image_url="https://x.example/jar.jpg"))
    assert both.category == "glass"


def test_classification_is_deterministic() -> None:
    texts = ["페트병 그리고 캔", "glass jar with a plastic lid", "종이 박스 아이스박스", "?"]
    for text in texts:
        answers = {classify_text(text) for _ in range(20)}
        assert len(answers) == 1, (text, answers)


@pytest.mark.parametrize("text", ["", "hello world", "scanner", "canned tinned", "1234.jpg"])
def test_unknown_text_is_general_waste_with_low_confidence(text: str) -> None:
    found = classify_text(text)
    assert found == Classification("general", found.confidence)
    assert found.confidence < 0.5
    assert not found.reward_eligible


def test_food_and_general_are_never_rewarded() -> None:
    for category in ("food", "general"):
        assert not Classification(category, 1.0).reward_eligible
    assert Classification("plastic", 0.5).reward_eligible
    assert not Classification("plastic", 0.49).reward_eligible


# CharacterOwnership


def entry(code: str, category: str) -> CatalogueEntry:
    return CatalogueEntry(str(uuid.uuid4()), code, code.title(), category, "common")


CATALOGUE = [
    entry("petty", "plastic"),
    entry("capsy", "plastic"),
    entry("labelon", "plastic"),
    entry("boxie", "paper"),
    entry("newsy", "paper"),
]


def acquired(owner: uuid.UUID, character: CatalogueEntry) -> Envelope:
    payload = events.CharacterAcquired(
        user_id=owner,
        character_id=uuid.UUID(character.id),
        character_code=character.code,
        character_name=character.name,
        category=character.category,
        scan_id=uuid.uuid4(),
    )
    return envelope(owner, payload)


def refused(owner: uuid.UUID, scan_id: uuid.UUID, reason: str) -> Envelope:
    payload = events.CharacterAcquireFailed(user_id=owner, scan_id=scan_id, reason=reason)
    return envelope(owner, payload)


def envelope(owner: uuid.UUID, payload: EventPayload) -> Envelope:
    return Envelope.of(payload, aggregate_type=events.CHARACTER, aggregate_id=str(owner))


def owning(*codes: str) -> CharacterOwnership:
    ownership, owner = CharacterOwnership(), uuid.uuid4()
    by_code = {each.code: each for each in CATALOGUE}
    for code in codes:
        ownership.apply(acquired(owner, by_code[code]))
    return ownership


def test_the_first_unowned_character_of_the_category_is_granted() -> None:
    assert owning().decide("plastic", CATALOGUE, 10) == Grant(CATALOGUE[0])
    assert owning("petty").decide("plastic", CATALOGUE, 10) == Grant(CATALOGUE[1])
    assert owning("petty", "labelon").decide("plastic", CATALOGUE, 10) == Grant(CATALOGUE[1])
    assert owning("petty").decide("paper", CATALOGUE, 10) == Grant(CATALOGUE[3])


def test_refusals() -> None:
    all_plastic = owning("petty", "capsy", "labelon")
    names = tuple(entry.name for entry in CATALOGUE if entry.category == "plastic")
    assert all_plastic.decide("plastic", CATALOGUE, 10) == Refusal("already_owned", names)
    assert owning("petty", "boxie").decide("plastic", CATALOGUE, 2) == Refusal(
        "max_characters_reached"
    )
    assert owning().decide("food", CATALOGUE, 10) == Refusal("no_character_for_category")
    assert owning().decide("can", CATALOGUE, 10) == Refusal("no_character_for_category")


def test_decided_scans_are_remembered_whatever_the_answer() -> None:
    ownership, owner = CharacterOwnership(), uuid.uuid4()
    granted = acquired(owner, CATALOGUE[0])
    denied = uuid.uuid4()
    ownership.apply(granted)
    ownership.apply(refused(owner, denied, "already_owned"))
    assert ownership.has_decided(str(granted.payload["scan_id"]))
    assert ownership.has_decided(str(denied))
    assert not ownership.has_decided(str(uuid.uuid4()))


def test_snapshot_and_restore_round_trip() -> None:
    ownership, owner = owning("petty", "boxie"), uuid.uuid4()
    ownership.apply(refused(owner, uuid.uuid4(), "max_characters_reached"))
    state = json.loads(json.dumps(ownership.snapshot()))  # as the store keeps it (JSONB)
    restored = CharacterOwnership()
    restored.restore(state)
    assert restored.owned == ownership.owned
    assert restored.decided_scans == ownership.decided_scans
    assert restored.snapshot() == ownership.snapshot()
    for category in ("plastic", "paper", "food"):
        assert restored.decide(category, CATALOGUE, 10) == ownership.decide(category, CATALOGUE, 10)


# Weekly ranking keys


@pytest.mark.parametrize(
    ("moment", "key"),
    [
        (datetime(2024, 12, 29, 23, 59, tzinfo=UTC), "2024-W52"),  # a Sunday
        (datetime(2024, 12, 30, 0, 0, tzinfo=UTC), "2025-W01"),  # Monday, still December
        (datetime(2026, 1, 1, 12, 0, tzinfo=UTC), "2026-W01"),
        (datetime(2027, 1, 1, 12, 0, tzinfo=UTC), "2026-W53"),  # Friday of a 53-week year
        (datetime(2027, 1, 4, 0, 0, tzinfo=UTC), "2027-W01"),
        # Monday 00:30 in Seoul is still Sunday in UTC: the key is the UTC week
        (datetime(2025, 12, 29, 0, 30, tzinfo=timezone(timedelta(hours=9))), "2025-W52"),
    ],
)
def test_week_key_across_year_boundaries(moment: datetime, key: str) -> None:
    assert week_key(moment) == key


# The vision adapter against a real HTTP server


@dataclass
class VisionEndpoint:
    """A local chat-completions endpoint answering `status` with `body`; it records what
    it was sent."""

    url: str
    status: int = 200
    body: bytes = b""
    requests: list[tuple[str, dict[str, str], dict[str, Any]]] = field(default_factory=list)

    def answer_with(self, content: Any) -> None:
        """A well-formed completion whose message content is `content` (JSON if not text)."""
        text = content if isinstance(content, str) else json.dumps(content)
        self.body = json.dumps({"choices": [{"message": {"content": text}}]}).encode()


@contextmanager
def vision_endpoint() -> Iterator[VisionEndpoint]:
    endpoint = VisionEndpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            endpoint.requests.append((self.path, dict(self.headers), sent))
            self.send_response(endpoint.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(endpoint.body)))
            self.end_headers()
            self.wfile.write(endpoint.body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def endpoint() -> Iterator[VisionEndpoint]:
    with vision_endpoint() as running:
        yield running


def vision(url: str) -> VisionClassifier:
    return VisionClassifier(url, "sk-test", "vision-model", timeout=5.0)


PHOTO = ScanInput(text="마트에서 산 잼 병", image_url="https://cdn.example.com/p/1.jpg")


async def test_the_vision_adapter_sends_the_photo_and_the_note(endpoint: VisionEndpoint) -> None:
    endpoint.answer_with({"category": "Glass", "confidence": 0.87})
    assert await vision(endpoint.url).classify(PHOTO) == Classification("glass", 0.87)
    [(path, headers, sent)] = endpoint.requests
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sk-test"
    assert sent["model"] == "vision-model"
    [message] = sent["messages"]
    parts = message["content"]
    assert {"type": "image_url", "image_url": {"url": PHOTO.image_url}} in parts
    assert any(p["type"] == "text" and PHOTO.text in p["text"] for p in parts)


@pytest.mark.parametrize(
    "content",
    [
        "not json at all",
        {"category": "banana", "confidence": 0.99},
        {"confidence": 0.9},
        {"category": "glass", "confidence": "very"},
        ["glass"],
    ],
    ids=["text", "unknown-category", "no-category", "bad-confidence", "list"],
)
async def test_a_garbage_answer_is_general_with_no_confidence(
    endpoint: VisionEndpoint, content: Any
) -> None:
    endpoint.answer_with(content)
    found = await vision(endpoint.url).classify(PHOTO)
    assert found == Classification("general", 0.0)
    assert not found.reward_eligible


@pytest.mark.parametrize(
    "body", [b"<html>oops</html>", b'{"choices": []}', b"{}"], ids=["html", "no-choice", "empty"]
)
async def test_a_garbage_body_is_general_with_no_confidence(
    endpoint: VisionEndpoint, body: bytes
) -> None:
    endpoint.body = body
    assert await vision(endpoint.url).classify(PHOTO) == Classification("general", 0.0)


async def test_a_server_error_is_unavailable(endpoint: VisionEndpoint) -> None:
    endpoint.status, endpoint.body = 500, b'{"error": "overloaded"}'
    with pytest.raises(ClassifierUnavailable):
        await vision(endpoint.url).classify(PHOTO)
    assert len(endpoint.requests) == 1


async def test_a_refused_connection_is_unavailable() -> None:
    with pytest.raises(ClassifierUnavailable):
        await vision(f"http://127.0.0.1:{free_port()}/v1").classify(PHOTO)


def test_the_settings_choose_the_adapter() -> None:
    assert isinstance(classifier_for(EcoSettings()), LexiconClassifier)
    chosen = classifier_for(EcoSettings(classifier="vision", vision_url="http://vision.test/v1/"))
    assert isinstance(chosen, VisionClassifier)
    assert chosen.base_url == "http://vision.test/v1"
    with pytest.raises(RuntimeError, match="ECO_VISION_URL"):
        classifier_for(EcoSettings(classifier="vision"))
