"""The demo's ERPNext: the loopback emulator (``clients/erpnext``) serving in the demo's own process.

With ``ERPNEXT_URL`` unset, ``fireflow demo`` points the outbox at this emulator, so a newcomer sees each
settled invoice arrive as a Sales Invoice (and each refund as a return) without an ERPNext of their own:
``/_emulator/docs`` on it lists what it holds. A restaurant's real site, set with ``ERPNEXT_URL``, wins.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass

from fireflow.clients.erpnext.emulator import ErpNextEmulator
from fireflow.hub.run.config import Settings

__all__ = ["DEMO_KEY", "PORT", "DemoErpNext"]

DEMO_KEY = "demo"
PORT = 8010  # where it serves when that port is free; another free one otherwise
HOST = "127.0.0.1"


def _free(port: int) -> int:
    """``port`` if nothing listens there, else one the system picks."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class DemoErpNext:
    port: int
    secret: str
    emulator: ErpNextEmulator | None = None

    @classmethod
    def reserve(cls) -> DemoErpNext:
        return cls(_free(PORT), secrets.token_hex(16))

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def configure(self, settings: Settings) -> Settings:
        """``settings`` with the outbox pointed at this emulator, with its key and secret."""
        return settings.with_(erpnext_url=self.url, erpnext_api_key=DEMO_KEY, erpnext_api_secret=self.secret)

    async def start(self) -> None:
        self.emulator = await ErpNextEmulator.start(DEMO_KEY, self.secret, host=HOST, port=self.port)

    async def stop(self) -> None:
        if self.emulator is not None:
            await self.emulator.stop()
            self.emulator = None
