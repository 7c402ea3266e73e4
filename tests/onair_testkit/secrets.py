"""The secret scan: every secret a test hands to onair is registered here,
and so is every place a secret could leak to — each onair run's stdout and
stderr, ``ps -eo args`` snapshots taken while onair runs, and folders
(config, logs) that onair or the keychain daemons wrote. After the session,
``leaks()`` must be empty.

The one allowed place is the stdout of a run that was asked to reveal a key
(``onair keys show NAME --reveal``); its runner passes ``allowed=``.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

MAX_FILE_BYTES = 16 * 1024 * 1024


def mask(secret: str) -> str:
    """How a leak report names a secret without repeating it."""
    return f"secret of {len(secret)} chars ending {secret[-2:]!r}" if len(secret) > 6 else "short secret"


@dataclass
class SecretScan:
    secrets: set[str] = field(default_factory=set)
    #: Secrets a test deliberately put on a command line (to check that onair
    #: splits a key out of a pasted URL): exempt from the process-list scan only.
    on_command_line: set[str] = field(default_factory=set)
    outputs: list[tuple[str, str, frozenset[str]]] = field(default_factory=list)
    process_lists: list[tuple[str, str]] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    #: Test inputs that hold a plaintext key on purpose (an OBS profile).
    ignored: list[Path] = field(default_factory=list)

    def register(self, secret: str, on_command_line: bool = False) -> str:
        if not secret:
            raise ValueError("an empty secret cannot be scanned for")
        self.secrets.add(secret)
        if on_command_line:
            self.on_command_line.add(secret)
        return secret

    def record_output(self, label: str, text: str, allowed: Iterable[str] = ()) -> None:
        self.outputs.append((label, text or "", frozenset(allowed)))

    def allow_printed(self, label: str, secret: str) -> None:
        """``secret`` was printed by design on the output ``label`` (a token
        `onair token` minted, learnt only once it ran)."""
        self.outputs = [
            (lbl, text, allowed | {secret} if lbl == label else allowed)
            for lbl, text, allowed in self.outputs
        ]

    def record_process_list(self, label: str, text: str) -> None:
        self.process_lists.append((label, text))

    def snapshot_processes(self, label: str, pid: Optional[int] = None) -> None:
        """What other users' programs could see: PID's own command line read
        at once (a quick command may be gone before ``ps`` starts), then
        ``ps -eww -o args`` for every process."""
        if pid is not None:
            cmdline = _command_line(pid)
            if cmdline:
                self.record_process_list(label, cmdline)
        # "ww": full width; without it ps cuts lines to 80 columns when not on a terminal.
        done = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=False)
        self.record_process_list(label, done.stdout)

    def watch_folder(self, path: Path) -> None:
        self.folders.append(Path(path))

    def _scrub(self, text: str) -> str:
        """A label (an onair command line) fit to print in a report."""
        for secret in self.secrets:
            text = text.replace(secret, "<secret>")
        return text

    def ignore_folder(self, path: Path) -> None:
        self.ignored.append(Path(path))

    def leaks(self) -> list[str]:
        """Where a registered secret was found, one line each (without the secret)."""
        found = []
        for label, text, allowed in self.outputs:
            for secret in self.secrets - allowed:
                if secret in text:
                    found.append(f"{mask(secret)} in the output of {self._scrub(label)}")
        for label, text in self.process_lists:
            for secret in self.secrets - self.on_command_line:
                if secret in text:
                    found.append(f"{mask(secret)} in the process list while running {self._scrub(label)}")
        for folder in self.folders:
            for path in _files(folder):
                if any(path.is_relative_to(i) for i in self.ignored):
                    continue
                try:
                    if path.stat().st_size > MAX_FILE_BYTES:
                        continue
                    data = path.read_bytes()
                except OSError:
                    continue
                for secret in self.secrets:
                    if secret.encode() in data:
                        found.append(f"{mask(secret)} in the file {path}")
        return found


def _command_line(pid: int) -> str:
    """PID's arguments; empty for a moment right after fork, so retried briefly."""
    for _ in range(50):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return ""
        if raw:
            return raw.replace(b"\0", b" ").decode(errors="replace")
        time.sleep(0.001)
    return ""


def _files(folder: Path) -> Iterable[Path]:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                yield path


#: The session's scan; conftest checks it when the session ends.
SESSION = SecretScan()
