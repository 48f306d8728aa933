"""One JSON object per log line, carrying the request context, with secrets in URLs'
query strings (`?token=…`, `&signature=…`) redacted from every line."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from ensemble.kernel.observability.context import current_request_context

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
SECRET_PARAMETERS = (
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "code",
    "signature",
    "sig",
    "key",
    "api_key",
    "apikey",
    "password",
    "secret",
    "client_secret",
)
_QUERY_SECRET = re.compile(rf"([?&](?:{'|'.join(SECRET_PARAMETERS)})=)[^&#\s\"'\\]*", re.IGNORECASE)
REDACTED = "[REDACTED]"


def redact(text: str) -> str:
    """`text` with the value of every secret query parameter replaced by `[REDACTED]`."""
    return _QUERY_SECRET.sub(rf"\1{REDACTED}", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ctx = current_request_context()
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": ctx.trace_id,
            "span_id": ctx.span_id,
            "request_id": ctx.request_id,
            "app": ctx.app,
        }
        if ctx.user_id:
            line["user_id"] = ctx.user_id
        line.update({key: value for key, value in record.__dict__.items() if key not in _RESERVED})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, default=str, ensure_ascii=False))


def configure_logging(level: str = "INFO") -> None:
    """Route every logger (ours, uvicorn's, SQLAlchemy's) through the JSON formatter."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs each request
