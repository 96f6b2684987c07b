"""The peer libraries, each driven through bench/peer_worker.py in its own virtualenv."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from txi2p.testing import TEST_SESSION_OPTIONS

HERE = Path(__file__).resolve().parent
PEERS_PYTHON = HERE / ".peers" / "bin" / "python"
PEERS = ("txi2p-tahoe", "i2plib", "i2psam")


class PeerWorker:
    """One peer library, driven through bench/peer_worker.py in its own virtualenv."""

    def __init__(self, name: str, sam_client: str, sam_server: str) -> None:
        self.name = name
        self.error: str | None = None
        self.process: subprocess.Popen[str] | None = None
        if not PEERS_PYTHON.exists():
            self.error = f"not installed ({PEERS_PYTHON} missing: scripts/bench.sh makes it)"
            return
        self.process = subprocess.Popen(
            [str(PEERS_PYTHON), str(HERE / "peer_worker.py"), name, sam_client, sam_server,
             json.dumps(dict(TEST_SESSION_OPTIONS))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            cwd=tempfile.gettempdir())

    def _reply(self) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            return {"error": f"worker exited with code {self.process.wait()}"}
        reply: dict[str, Any] = json.loads(line)
        return reply

    def wait_ready(self) -> bool:
        if self.process is None:
            return False
        reply = self._reply()
        if "error" in reply:
            self.error = reply["error"]
            self.close()
            return False
        return True

    def transfer(self, size: int) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps({"size": size}) + "\n")
        self.process.stdin.flush()
        return self._reply()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
