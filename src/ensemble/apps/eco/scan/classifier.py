"""Classifying a photo of waste: a port with two adapters, chosen by `ECO_CLASSIFIER`.

- `lexicon` (default): offline and deterministic, from the image's address (its file name)
  and the user's text, through the Korean/English category lexicon of `domain`.
- `vision`: an OpenAI-compatible chat-completions endpoint with image input
  (`ECO_VISION_URL`, `ECO_VISION_API_KEY`, `ECO_VISION_MODEL`); the user's text rides along.
  A network failure is transient (the `scan.classify` job retries it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

import httpx

from ensemble.apps.eco.domain import FALLBACK_CATEGORY, Classification, categories, classify_text

if TYPE_CHECKING:
    from ensemble.apps.eco.settings import EcoSettings


@dataclass(frozen=True)
class ScanInput:
    text: str | None
    image_url: str | None
    content_type: str | None = None


class Classifier(Protocol):
    async def classify(self, item: ScanInput) -> Classification: ...


class ClassifierUnavailable(Exception):
    """The classification service failed; worth retrying."""


def url_words(url: str | None) -> str | None:
    """The words of an image address that may name its content (path, not host)."""
    if not url:
        return None
    return unquote(urlsplit(url).path if "://" in url else url)


class LexiconClassifier:
    async def classify(self, item: ScanInput) -> Classification:
        return classify_text(item.text, url_words(item.image_url))


PROMPT = (
    "You sort household waste for recycling in Korea. Look at the photo (and the user's note) "
    'and answer with JSON only: {"category": one of %s, "confidence": 0..1}.'
)


class VisionClassifier:
    def __init__(self, base_url: str, api_key: str | None, model: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.model = model
        self.timeout = timeout

    def request_body(self, item: ScanInput) -> dict[str, Any]:
        content: list[dict[str, Any]] = [
            {"type": "text", "text": PROMPT % sorted(categories())},
        ]
        if item.text:
            content.append({"type": "text", "text": f"User's note: {item.text}"})
        if item.image_url:
            content.append({"type": "image_url", "image_url": {"url": item.image_url}})
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
            "response_format": {"type": "json_object"},
            "temperature": 0,
        }

    async def classify(self, item: ScanInput) -> Classification:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(
                    f"{self.base_url}/chat/completions",
                    json=self.request_body(item),
                    headers=headers,
                )
                response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ClassifierUnavailable(f"vision endpoint failed: {exc}") from exc
        try:
            body = response.json()
        except ValueError:  # not JSON: as garbage as a wrong answer
            body = None
        return parse_answer(body)


def parse_answer(body: Any) -> Classification:
    """The category and confidence in a chat-completions answer; anything unexpected reads as
    general waste with no confidence (never rewarded)."""
    try:
        answer = json.loads(body["choices"][0]["message"]["content"])
        category = str(answer["category"]).strip().lower()
        confidence = min(1.0, max(0.0, float(answer.get("confidence", 0.0))))
    except (KeyError, IndexError, TypeError, ValueError):
        return Classification(FALLBACK_CATEGORY, 0.0)
    if category not in categories():
        return Classification(FALLBACK_CATEGORY, 0.0)
    return Classification(category, round(confidence, 3))


def classifier_for(settings: EcoSettings) -> Classifier:
    if settings.classifier == "vision":
        if not settings.vision_url:
            raise RuntimeError("ECO_CLASSIFIER=vision needs ECO_VISION_URL")
        key = settings.vision_api_key.get_secret_value() if settings.vision_api_key else None
        return VisionClassifier(
            settings.vision_url,
            key,
            settings.vision_model,
            settings.vision_timeout_seconds,
        )
    return LexiconClassifier()
