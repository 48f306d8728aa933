"""E-mail out: an SMTP adapter, and one that only logs (the default).

The SMTP password is a `SecretStr`: it is read once, to log in, and never logged; addresses
are logged masked."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr

if TYPE_CHECKING:
    from ensemble.apps.focus.settings import FocusSettings

logger = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(self, to: str, subject: str, text: str) -> None: ...


def masked(address: str) -> str:
    """`a***@example.com`: enough to tell addresses apart in a log, not to read one."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


class LogMailer:
    """Writes one log line per e-mail instead of sending it."""

    async def send(self, to: str, subject: str, text: str) -> None:
        logger.info("email to %s: %s", masked(to), subject)


@dataclass(frozen=True)
class SmtpMailer:
    """Sends over SMTP (STARTTLS unless turned off, login when a username is set), one
    connection per e-mail, in a worker thread."""

    host: str
    port: int
    sender: str
    username: str | None
    password: SecretStr | None
    starttls: bool
    timeout: float

    async def send(self, to: str, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(text)
        await asyncio.to_thread(self._deliver, message)
        logger.info("email sent to %s over SMTP", masked(to))

    def _deliver(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                secret = self.password.get_secret_value() if self.password else ""
                smtp.login(self.username, secret)
            smtp.send_message(message)


def mailer(settings: FocusSettings) -> Mailer:
    if settings.email_adapter == "smtp":
        return SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.email_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    return LogMailer()
