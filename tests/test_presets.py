"""Platform presets (issue 25, items 1 and 2): `onair presets` lists the
platforms Onair knows from its own data file; `keys add --preset` makes a
destination from one (its ingest URL, where the key is, its status page)
and the session holds to the platform's maximum bitrate."""

from __future__ import annotations

import json
import subprocess
import secrets as stdlib_secrets

import pytest

from onair_testkit import onair, secrets
from onair_testkit.keyring import KeyringEnv
from onair_testkit.nginx import Nginx


@pytest.fixture
def k(tmp_path, onair_bin):
    with KeyringEnv(tmp_path / "env") as env:
        env.start_bus()
        env.start_keyring(unlock=True)
        yield env


def test_presets_lists_every_platform_with_its_limits():
    listed = onair.run(["presets", "--json"])
    assert listed.returncode == 0, listed.describe()
    presets = {p["id"]: p for p in json.loads(listed.stdout)}
    for wanted in ("twitch", "youtube", "kick", "facebook", "linkedin", "x", "owncast", "cloudflare",
                   "cloudflare-whip", "mux", "livekit-cloud", "livekit", "custom"):
        assert wanted in presets, sorted(presets)
    twitch = presets["twitch"]
    assert twitch["video"]["max_kbps"] == 6000 and twitch["video"]["keyframe_seconds"] == 2
    assert twitch["key_page"].startswith("https://dashboard.twitch.tv/")
    table = onair.run(["presets"])
    assert table.returncode == 0 and "twitch" in table.stdout and "keys add NAME --preset" in table.stdout


def test_a_destination_from_a_preset_takes_its_url_and_says_where_the_key_is(k):
    key = secrets.SESSION.register("live_" + stdlib_secrets.token_urlsafe(16))
    added = k.onair("keys", "add", "tw", "--preset", "twitch", "--json", stdin=key + "\n")
    assert added.returncode == 0, added.describe()
    saved = json.loads(added.stdout)
    assert saved["url"] == "rtmps://live.twitch.tv:443/app" and saved["options"]["preset"] == "twitch", saved
    assert "dashboard.twitch.tv/settings/stream" in added.stderr and "6000 kbit/s" in added.stderr
    assert k.lookup("tw") == key, "the key is in the keychain"

    # A self-hosted one fills in the host, and brings its status page.
    own = k.onair("keys", "add", "own", "--preset", "owncast", "--host", "stream.example.org", "--json",
                  stdin=key + "\n")
    assert own.returncode == 0, own.describe()
    saved = json.loads(own.stdout)
    assert saved["url"] == "rtmp://stream.example.org/live", saved
    assert saved["status_url"] == "https://stream.example.org/api/status", saved
    assert saved["options"]["live_pointer"] == "/online" and saved["options"]["viewers_pointer"] == "/viewerCount"


@pytest.mark.parametrize("args, says", [
    (["--preset", "kick"], "needs {host}"),
    (["--preset", "nope"], "no preset"),
    (["--preset", "twitch", "--region", "7"], "choose a region"),
    (["--preset", "custom", "--host", "ftp://x/y"], "ftp"),
])
def test_a_preset_that_cannot_be_used_says_why_and_saves_nothing(k, args, says):
    done = k.onair("keys", "add", "bad", *args, stdin="sk_x\n")
    assert done.returncode != 0, done.describe()
    assert says in done.stderr, done.stderr
    assert not k.destinations_file.exists() or "bad" not in k.destinations_file.read_text()


def test_the_session_holds_to_the_platforms_maximum_bitrate(k, tmp_path):
    key = secrets.SESSION.register("live_" + stdlib_secrets.token_urlsafe(16))
    assert k.onair("keys", "add", "tw", "--preset", "twitch", stdin=key + "\n").returncode == 0
    # Twitch is not reachable from here: the plan is made (and said) before
    # the connection fails.
    ran = k.onair("live", "tw", "--bitrate", "8000", "--json", "--duration", "3", "--reconnect-attempts", "0",
                  timeout=60)
    capped = [e for e in ran.events if e.get("type") == "health" and e.get("code") == "preset_limit"]
    assert capped and "at most 6000 kbit/s" in capped[0]["message"], ran.describe()
    within = k.onair("live", "tw", "--bitrate", "6000", "--json", "--duration", "3", "--reconnect-attempts", "0",
                     timeout=60)
    assert not [e for e in within.events if e.get("code") == "preset_limit"], "6000 asked of a 6000 cap stays"


def keyframe_times(path) -> list[float]:
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time,flags",
         "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )
    rows = [line.split(",") for line in probe.stdout.splitlines() if line]
    return [float(t) for t, flags, *_ in rows if "K" in flags]


@pytest.mark.parametrize("presets, every", [(["x"], 3.0), (["x", "twitch"], 2.0)])
def test_the_keyframe_interval_follows_the_preset(k, tmp_path, presets, every):
    # X asks for a keyframe every 3 s; with Twitch beside it, the one encode
    # keeps Twitch's 2 s, which X accepts too. Their ingests are not
    # reachable from here, so each destination is pointed at a local
    # nginx-rtmp and keeps its preset; the local recording shows what was
    # encoded.
    for name in presets:
        key = secrets.SESSION.register("live_" + stdlib_secrets.token_urlsafe(16))
        assert k.onair("keys", "add", name, "--preset", name, stdin=key + "\n").returncode == 0
    with Nginx(tmp_path / "nginx") as nginx:
        saved = json.loads(k.destinations_file.read_text())
        for destination in saved["destinations"]:
            destination["url"] = nginx.url()
        k.destinations_file.write_text(json.dumps(saved))
        out = tmp_path / "kept.flv"
        ran = k.onair("live", *presets, "--record", str(out), "--duration", "7.5", "--json", timeout=60)
    assert ran.returncode == 0, ran.describe()
    times = keyframe_times(out)
    gaps = [round(b - a, 1) for a, b in zip(times, times[1:])]
    assert len(gaps) >= 2 and all(abs(g - every) < 0.1 for g in gaps), (times, ran.describe())
