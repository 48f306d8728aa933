"""What the embedded servers share: a data directory of ours, started on demand, joined
when a server already runs on it, and stopped only by the object that started it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


@dataclass
class EmbeddedServer(ABC):
    label: ClassVar[str]
    """The server's name in logs (`embedded <label> ready at …`)."""

    data_dir: Path
    started_here: bool = False

    @property
    def _dir(self) -> Path:
        return self.data_dir.resolve()

    def start(self) -> str:
        """Start (or join) the server and return the URL to connect to."""
        self._dir.mkdir(parents=True, exist_ok=True)
        port = self.running_port()
        if port is None:
            port = self._start_server()
            self.started_here = True
        return self._url(port)

    @abstractmethod
    def running_port(self) -> int | None:
        """The port of the server running on the data directory, if one is."""

    @abstractmethod
    def _start_server(self) -> int:
        """Start a server on the data directory and return its port."""

    @abstractmethod
    def _url(self, port: int) -> str:
        """The URL to connect to the server on `port` (preparing what it needs first)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the server if this object started it (a joined server is left running)."""
