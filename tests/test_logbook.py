"""The log a creator can hand to someone who helps (issue 25, item 5): every
run of onair writes its events and diagnostics to a daily file in the state
folder (or to --log FILE), with every secret masked, and what libraries print
while audio devices are probed goes there instead of the terminal."""

from __future__ import annotations

import datetime
import json
import os
import secrets as stdlib_secrets
import stat

from onair_testkit import onair, secrets
from onair_testkit.nginx import GOOD_KEY, Nginx

# What ALSA and JACK print when they probe a machine without a sound card
# or a JACK server (this one): it must not reach the creator's terminal.
LIBRARY_CHATTER = ("ALSA lib", "jack server", "JackShm", "Cannot connect to server")


def events_in(log: str) -> list[dict]:
    return [json.loads(line.split("onair::event: ", 1)[1]) for line in log.splitlines() if "onair::event: " in line]


def test_devices_keeps_the_libraries_probing_off_the_terminal(tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    listed = onair.run(["devices"], env=env, timeout=30)
    assert listed.returncode == 0, listed.describe()
    printed = [line for line in listed.stderr.splitlines() if any(c in line for c in LIBRARY_CHATTER)]
    assert printed == [], f"library chatter on the terminal: {printed[:5]}"
    folder = tmp_path / "onair" / "logs"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700, "only the creator reads the log"
    (daily,) = folder.iterdir()
    assert daily.name == f"onair.{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}.log", daily.name
    log = daily.read_text()
    assert "log started" in log
    # What the libraries said is kept, where someone helping can read it.
    chatter = [line for line in log.splitlines() if "onair::library" in line]
    assert all(line.split("onair::library: ", 1)[1].strip() for line in chatter), "no empty lines"


def test_a_session_is_in_the_named_log_with_its_key_masked(tmp_path):
    key = secrets.SESSION.register("sk_log_" + stdlib_secrets.token_urlsafe(16))
    wrong = secrets.SESSION.register("sk_wrong_" + stdlib_secrets.token_urlsafe(16))
    log = tmp_path / "show.log"
    with Nginx(tmp_path / "nginx") as server:
        good = onair.run(["live", server.url("live"), "--key-stdin", "--duration", "2", "--json", "--log", str(log)],
                         stdin=key + "\n")
        refused = onair.run(["live", server.url("secure"), "--key-stdin", "--duration", "2", "--json", "--log", str(log)],
                            stdin=wrong + "\n")
    assert good.returncode == 0, good.describe()
    assert refused.returncode == 1, refused.describe()
    assert "OpenH264" not in good.stderr, "the encoder's start-up notes stay off the terminal"
    text = log.read_text()
    assert key not in text and wrong not in text, "the log never holds a key"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    states = [e["state"] for e in events_in(text) if e["type"] == "state"]
    # Both runs, appended: the good one went live and ended, the other failed.
    assert states.count("live") == 1 and states.count("ended") == 1 and states[-1] == "failed", states
    failure = [e for e in events_in(text) if e["type"] == "state" and e["state"] == "failed"][-1]
    assert failure["error"]["code"] == "key_rejected", failure
    assert not [e for e in events_in(text) if e["type"] == "levels"], "the meter stays out of the log"


def test_a_log_file_that_cannot_be_written_is_a_usage_error(tmp_path):
    done = onair.run(["devices", "--log", str(tmp_path / "no" / "such" / "folder" / "x.log")])
    assert done.returncode == 2, done.describe()
    assert "cannot write its log" in done.stderr and "name a file it can write" in done.stderr, done.stderr
