"""The desktop app's everyday flow in the real window (Xvfb + WebKitGTK,
driven through WebKitWebDriver), against real parts: a gnome-keyring on a
private session bus, nginx-rtmp, and the reference platform backend whose
status endpoint says whether the stream is live and to how many.

A creator adds an RTMP destination in the Destinations view (the key goes
to the keychain and never into the page unless revealed), reveals it
(saying yes in the shell's own dialog) and watches it hide again, goes live to it, sees LIVE, the platform's live flag
and its viewer count, and stops (after confirming). A wrong key shows the
actionable key_rejected banner. Several destinations ticked go live in one
session, each with its own row: one refused, one whose server dies and comes
back, while the big tally stays LIVE. Screenshots of each screen land in
tests/artifacts/."""

from __future__ import annotations

import json
import secrets as stdlib_secrets
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from onair_testkit import media, secrets, uplink
from onair_testkit.nginx import Nginx, wait_closed
from onair_testkit.platform_backend import PlatformBackend
from onair_testkit.studio import ARTIFACTS, answer_reveal, app_on_keyring, pick_destinations, tally, wait_for_state
from onair_testkit.x11 import X11

REVEAL_SECONDS = 5  # ui/src/mask.ts REVEAL_MS


@pytest.fixture(scope="module")
def platform_rtmp(tmp_path_factory):
    """The platform (status readable without its bearer) and the nginx-rtmp
    that asks it about every publish to application ``platform``."""
    if shutil.which("nginx") is None:
        pytest.fail("nginx is not installed; scripts/setup installs it", pytrace=False)
    bearer = secrets.SESSION.register("plat_" + stdlib_secrets.token_urlsafe(24))
    with PlatformBackend(bearer, on_secret=secrets.SESSION.register, public_status=True) as platform:
        with Nginx(tmp_path_factory.mktemp("nginx"), notify_url=platform.url) as nginx:
            platform.rtmp_url = nginx.url("platform")
            yield platform, nginx


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app on a session bus with an unlocked gnome-keyring."""
    with app_on_keyring(tmp_path_factory.mktemp("desktop-keyring")) as (wd, env, _):
        yield wd, env


def ingest_key(platform: PlatformBackend) -> str:
    """Asks the platform for a stream key, as its dashboard would show one."""
    req = urllib.request.Request(platform.url + "/api/stream/ingress", data=b"{}", method="POST",
                                 headers={"Authorization": f"Bearer {platform.bearer}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)["streamKey"]


def add_rtmp(wd, name: str, url: str, key: str, status_url: str = "") -> None:
    wd.click("#tab-destinations")
    wd.choose("#d-kind", "rtmp")
    wd.type("#d-name", name)
    wd.type("#d-url", url)
    wd.type("#d-key", key)
    wd.type("#d-status-url", status_url)
    wd.click("#d-save")
    wd.wait_for(f"{name} in the list", lambda: wd.script(
        "return !!document.querySelector(`#destinations-body tr[data-name='${arguments[0]}']`)", name))
    assert wd.script("return document.getElementById('d-key').value") == "", "the key field is cleared"


def key_cell(wd, name: str) -> str:
    return wd.script("return document.querySelector(`tr[data-name='${arguments[0]}'] td.key`).textContent", name)


def go_live_to(wd, *names: str, record: bool = False) -> None:
    wd.click("#tab-studio")
    pick_destinations(wd, list(names), record=record)
    # After a confirmed Stop, the confirm overlay and a busy button can
    # still be there for a moment: a click then would land on neither.
    wd.wait_for(
        "Go Live to be ready",
        lambda: not wd.visible("#confirm") and wd.script("return !document.getElementById('golive').disabled"),
    )
    wd.click("#golive")


def stop_with_confirm(wd) -> None:
    wd.click("#golive")
    wd.wait_for("the stop confirmation", lambda: wd.visible("#confirm"))
    assert tally(wd) in ("live", "reconnecting"), "nothing stops before the creator confirms"
    assert "End the live stream" in wd.text("#confirm-text")
    wd.screenshot(ARTIFACTS / "stop-confirm.png")
    wd.click("#confirm-yes")


def test_add_reveal_go_live_with_platform_viewers_and_stop(app, platform_rtmp, measurements):
    wd, env = app
    platform, nginx = platform_rtmp
    key = ingest_key(platform)
    platform.set_viewers(3)

    add_rtmp(wd, "studio", nginx.url("platform"), key, platform.url + "/api/stream/status")
    assert env.lookup("studio") == key, "the key is in the system keychain"
    assert key not in wd.page(), "a saved key is not rendered"
    masked = key_cell(wd, "studio")
    assert masked.startswith("••••") and masked.endswith(key[-2:]), masked
    config = (env.config / "onair" / "destinations.json").read_text()
    assert key not in config and "/api/stream/status" in config
    wd.screenshot(ARTIFACTS / "destinations.png")

    wd.click("tr[data-name='studio'] button[data-action='reveal']")
    time.sleep(1)
    assert key_cell(wd, "studio") == masked, "nothing is shown before the creator says yes"
    x11 = X11((env.home / "display").read_text())
    try:
        answer_reveal(x11, show=True)
    finally:
        x11.close()
    wd.wait_for("the revealed key", lambda: key_cell(wd, "studio") == key, timeout=5)
    revealed_at = time.monotonic()
    wd.wait_for("the key to hide again", lambda: key_cell(wd, "studio") == masked, timeout=REVEAL_SECONDS + 3)
    assert time.monotonic() - revealed_at >= REVEAL_SECONDS - 1.5, "stays long enough to read"
    assert key not in wd.page(), "hidden again means gone from the page"

    go_live_to(wd, "studio", record=True)  # and record locally while live
    wait_for_state(wd, "live")
    assert wd.text("#tally-label") == "LIVE"
    wd.wait_for("the platform's viewer count", lambda: wd.text("#stat-viewers") == "3", timeout=15)
    wd.wait_for("the platform's live flag", lambda: wd.text("#stat-platform") == "live", timeout=15)
    wd.wait_for("stats", lambda: wd.text("#stat-fps") not in ("", "–"))
    wd.wait_for("the elapsed timer", lambda: wd.text("#elapsed") not in ("", "00:00"), timeout=5)
    assert key not in wd.page()
    secrets.SESSION.snapshot_processes("the desktop app, live")
    wd.screenshot(ARTIFACTS / "studio-live.png")

    stop_with_confirm(wd)
    wait_for_state(wd, "ended")
    assert wd.text("#stat-viewers") == "–"
    local = Path(wd.wait_for("the saved notice", lambda: wd.text("#saved")).removeprefix("Recording saved: "))
    assert local.is_file() and str(local).startswith(str(env.home)), local
    assert sorted(s["codec_name"] for s in media.probe(local)["streams"]) == ["aac", "h264"], "recorded while live"
    recording = nginx.recording(key)
    assert recording.is_file() and sorted(s["codec_name"] for s in media.probe(recording)["streams"]) == ["aac", "h264"], \
        "nginx received the stream"
    assert platform.calls("ingress.status") >= 1
    settings = json.loads((env.config / "onair" / "settings.json").read_text())
    assert (settings["destinations"], settings["record"]) == (["studio"], True), "what was ticked is remembered"
    measurements.record(f"desktop RTMP via the UI: {recording.stat().st_size} bytes at nginx, viewers 3 from the platform")


def test_a_wrong_key_shows_the_key_rejected_banner(app, platform_rtmp):
    wd, env = app
    _, nginx = platform_rtmp
    wrong = secrets.SESSION.register("sk_wrong_" + stdlib_secrets.token_urlsafe(12))
    add_rtmp(wd, "wrong key", nginx.url("secure"), wrong)
    go_live_to(wd, "wrong key")
    wait_for_state(wd, "failed")
    wd.wait_for("the banner", lambda: wd.visible("#banner"))
    assert wd.text("#banner-code") == "[key_rejected]"
    message = wd.text("#banner-message")
    assert "key" in message.lower() and ("check" in message.lower() or "regenerate" in message.lower()), message
    assert wrong not in wd.page()
    assert wd.text("#golive") == "Go Live", "one button, ready to try again"
    wd.screenshot(ARTIFACTS / "studio-key-rejected.png")


def row(wd, name: str) -> dict:
    """One destination's line in the studio: its state, tally, bitrate, viewers and message."""
    return wd.script(
        "const li = document.querySelector(`#destination-rows li[data-name='${arguments[0]}']`);"
        "if (!li) return null;"
        "const text = c => li.querySelector(c).textContent;"
        "return {state: li.dataset.state, tally: text('.row-tally'), kbps: text('.row-kbps'),"
        " viewers: text('.row-viewers'), message: li.querySelector('.row-message').hidden ? null : text('.row-message')}",
        name)


def wait_for_row(wd, name: str, state: str, timeout: float = 20) -> dict:
    wd.wait_for(f"{name} to show {state}", lambda: (row(wd, name) or {}).get("state") == state, timeout)
    return row(wd, name)


def test_several_destinations_in_one_go_live_each_with_its_own_row(app, platform_rtmp, tmp_path, measurements):
    wd, env = app
    _, nginx = platform_rtmp
    main_key = secrets.SESSION.register("sk_main_" + stdlib_secrets.token_urlsafe(12))
    backup_key = secrets.SESSION.register("sk_backup_" + stdlib_secrets.token_urlsafe(12))
    wrong = secrets.SESSION.register("sk_wrong_" + stdlib_secrets.token_urlsafe(12))
    with Nginx(tmp_path / "nginx-backup") as backup:
        add_rtmp(wd, "main", nginx.url("live"), main_key)
        add_rtmp(wd, "backup", backup.url("live"), backup_key)
        add_rtmp(wd, "refused", nginx.url("secure"), wrong)
        go_live_to(wd, "main", "backup", "refused")
        wait_for_state(wd, "live")
        wait_for_row(wd, "main", "live")
        wait_for_row(wd, "backup", "live")
        refused = wait_for_row(wd, "refused", "failed", timeout=10)
        assert refused["tally"] == "FAILED" and refused["message"].startswith("[key_rejected]"), refused
        assert "key" in refused["message"].lower(), "says what to do"
        assert tally(wd) == "live" and wd.text("#tally-label") == "LIVE", "one refusal does not take the others down"
        assert not wd.visible("#banner"), "the session did not fail"
        wd.wait_for("each row's bitrate", lambda: all(row(wd, n)["kbps"].endswith("kbps") for n in ("main", "backup")))
        wd.screenshot(ARTIFACTS / "studio-several-destinations.png")

        backup.kill()
        dropped = wait_for_row(wd, "backup", "reconnecting", timeout=15)
        assert dropped["tally"] == "RECONNECTING", dropped
        wd.wait_for("the countdown to the next try", lambda: "try" in (row(wd, "backup")["message"] or "").lower())
        assert row(wd, "main")["state"] == "live" and tally(wd) == "live", "the others never notice"
        wd.screenshot(ARTIFACTS / "studio-one-destination-reconnecting.png")
        backup.start()
        wait_for_row(wd, "backup", "live", timeout=30)
        assert row(wd, "main")["state"] == "live"

        # The tray and the global shortcut act on the whole session: the
        # window's Ctrl+Shift+L is the same call; Stop asks once, ends all.
        stop_with_confirm(wd)
        wait_for_state(wd, "ended")
        assert [row(wd, n)["tally"] for n in ("main", "backup")] == ["ENDED", "ENDED"]
        for key, server in ((main_key, nginx), (backup_key, backup)):
            recording = server.recording(key)
            wait_closed(recording)
            codecs = sorted(st["codec_name"] for st in media.probe(recording)["streams"])
            assert codecs == ["aac", "h264"], f"{server.url()} received the stream (after the restart for backup)"
        settings = json.loads((env.config / "onair" / "settings.json").read_text())
        assert settings["destinations"] == ["main", "backup", "refused"], "the set ticked is remembered"
        for key in (main_key, backup_key, wrong):
            assert key not in wd.page()
    measurements.record(f"desktop, three destinations in one Go Live: main {nginx.recording(main_key).stat().st_size} bytes")


def link_check(wd) -> dict:
    return wd.script(
        "const box = document.getElementById('link-check');"
        "return {hidden: box.hidden, state: box.dataset.state, name: box.dataset.name,"
        " text: document.getElementById('link-check-text').textContent,"
        " use: document.getElementById('link-check-use').hidden ? null : document.getElementById('link-check-use').textContent}")


def test_a_destination_from_a_preset_is_checked_before_its_first_go_live(app, tmp_path, measurements):
    """Live in a minute: pick the platform, fill in the host it leaves open,
    paste the key, save; the link is checked at once (nothing published),
    and its proposal is one press away. The server sits behind a 3 Mbit/s
    tbf cap on the host's way into its network namespace."""
    wd, env = app
    key = secrets.SESSION.register("sk_preset_" + stdlib_secrets.token_urlsafe(12))
    with uplink.Uplink() as link, Nginx(tmp_path / "nginx", wrap=link.wrap([]), ip=link.publisher_ip) as nginx:
        link.cap_inbound(3000)
        host = f"{link.publisher_ip}:{nginx.rtmp_port}"
        wd.click("#tab-destinations")
        wd.choose("#d-preset", "owncast")
        wd.wait_for("the host field", lambda: wd.visible("#d-host-field"))
        assert wd.text("#d-limits") == "Fill in your server host.", wd.text("#d-limits")
        wd.type("#d-host", host)
        wd.wait_for("the URL from the preset",
                    lambda: wd.script("return document.getElementById('d-url').value") == f"rtmp://{host}/live")
        assert wd.script("return document.getElementById('d-status-url').value") == f"https://{host}/api/status"
        assert "takes at most 50000 kbit/s" in wd.text("#d-limits") and wd.visible("#d-key-page")
        assert wd.script("return document.getElementById('d-name').value") == "Owncast"
        wd.type("#d-name", "owncast")
        wd.type("#d-key", key)
        wd.screenshot(ARTIFACTS / "destination-from-preset.png")
        saved_at = time.monotonic()
        wd.click("#d-save")
        wd.wait_for("the link check", lambda: link_check(wd)["name"] == "owncast"
                    and link_check(wd)["state"] in ("done", "failed", "too_slow"), timeout=30)
        checked_in = time.monotonic() - saved_at
        first = link_check(wd)
        assert first["state"] == "done" and first["name"] == "owncast", first
        # The CLI's tests hold the reading to the cap; here, the window's
        # part: a proposal (TCP behind tbf on the host's side once read
        # 1.8 Mbit/s of 3 in CI, a retransmission stall: see the note).
        assert "kbit/s of video at" in first["text"], first
        wd.screenshot(ARTIFACTS / "destination-link-check.png")
        saved = json.loads((env.config / "onair" / "destinations.json").read_text())
        (made,) = [d for d in saved["destinations"] if d["name"] == "owncast"]
        assert made["options"]["preset"] == "owncast" and made["url"] == f"rtmp://{host}/live", made
        assert env.lookup("owncast") == key

        # 3 Mbit/s with a fifth spare is under the settings' bitrate: one
        # press takes the proposal.
        assert first["use"], first
        proposed = int(first["use"].split()[1])
        assert 1000 <= proposed <= 2400 - 128, first
        wd.click("#link-check-use")
        settings = env.config / "onair" / "settings.json"
        wd.wait_for("the bitrate saved",
                    lambda: settings.exists() and json.loads(settings.read_text())["video_kbps"] == proposed)

        # On demand, with the cap lifted: at least all the check offered.
        link.uncap_inbound()
        wd.click("tr[data-name='owncast'] button[data-action='check']")
        wd.wait_for("the second check", lambda: link_check(wd)["state"] == "checking", timeout=5)
        wd.wait_for("its answer", lambda: link_check(wd)["state"] == "done", timeout=30)
        assert "at least" in link_check(wd)["text"], link_check(wd)
        recordings = sorted(p.name for p in nginx.rec.iterdir())
        log = nginx.error_log()
    assert recordings == [] and key not in log, "nothing was published, the key never sent"
    assert key not in wd.page()
    measurements.record(f"desktop, a destination from a preset: link checked {checked_in:.1f} s after Save: "
                        f"{first['text']}")


def test_a_new_user_goes_live_in_a_minute(tmp_path, measurements):
    """The README's path for a first stream, timed: the app starts with
    nothing saved; pick the platform (a self-hosted Owncast, which asks for
    its host), paste the key, Save (the link is checked at once), tick it,
    Go Live. The machine's part is measured; the creator's is counted in
    actions (finding the key on the platform's page is theirs)."""
    key = secrets.SESSION.register("sk_first_" + stdlib_secrets.token_urlsafe(12))
    with Nginx(tmp_path / "nginx") as nginx, app_on_keyring(tmp_path / "env") as (wd, _, _):
        started = time.monotonic()
        actions = [
            lambda: wd.click("#tab-destinations"),
            lambda: wd.choose("#d-preset", "owncast"),
            lambda: wd.type("#d-host", f"127.0.0.1:{nginx.rtmp_port}"),
            lambda: wd.type("#d-key", key),
            lambda: wd.click("#d-save"),
            lambda: wd.click("#tab-studio"),
            lambda: pick_destinations(wd, ["Owncast"]),
            lambda: wd.click("#golive"),
        ]
        for act in actions:
            act()
        wait_for_state(wd, "live", timeout=30)
        to_live = time.monotonic() - started
        wd.wait_for("the link check's answer", lambda: link_check(wd)["state"] == "done", timeout=30)
        wd.screenshot(ARTIFACTS / "first-stream-live.png")
        stop_with_confirm(wd)
        wait_for_state(wd, "ended")
        recording = nginx.recording(key)
        wait_closed(recording)
        codecs = sorted(st["codec_name"] for st in media.probe(recording)["streams"])
        launched = wd.loaded_in_s
    assert codecs == ["aac", "h264"], codecs
    measurements.record(
        f"desktop, a new user's first stream: window usable {launched:.1f} s after launch; "
        f"{len(actions)} actions (tab, platform, host, key, Save, tab, tick, Go Live) driven in "
        f"{to_live:.1f} s to LIVE, the link checked meanwhile"
    )


def chip(wd, name: str) -> dict:
    return wd.script(
        "const li = document.querySelector(`#destination-rows li[data-name='${arguments[0]}']`);"
        "if (!li) return {};"
        "const h = li.querySelector('.row-health'); const m = li.querySelector('.row-message');"
        "return {grade: h.hidden ? null : h.dataset.grade, label: h.textContent, message: m.hidden ? null : m.textContent}",
        name)


def test_the_health_chip_turns_struggling_under_a_cap_and_good_after_it(app, tmp_path, measurements):
    wd, _ = app
    key = secrets.SESSION.register("sk_chip_" + stdlib_secrets.token_urlsafe(12))
    with uplink.Uplink() as link, Nginx(tmp_path / "nginx", wrap=link.wrap([]), ip=link.publisher_ip) as nginx:
        add_rtmp(wd, "capped", nginx.url("live"), key)
        wd.wait_for("the link check on save",
                    lambda: link_check(wd)["name"] == "capped" and link_check(wd)["state"] == "done", timeout=30)
        go_live_to(wd, "capped")
        wait_for_state(wd, "live")
        wd.wait_for("a good chip", lambda: chip(wd, "capped").get("grade") == "good", timeout=15)
        wd.wait_for("the graph", lambda: wd.visible("#graph"), timeout=10)
        # Under what the stream really sends (the plain test pattern needs
        # far less than the bitrate asked), sound included.
        sending = float(wd.text("#stat-kbps").split()[0].replace(",", "")) + 128
        cap = max(100, int(sending * 0.5))
        link.cap_inbound(cap)
        capped_at = time.monotonic()
        wd.wait_for("a struggling chip", lambda: chip(wd, "capped").get("grade") == "struggling", timeout=20)
        to_struggling = time.monotonic() - capped_at
        struggling = chip(wd, "capped")
        assert struggling["label"] == "Struggling" and "Lower the bitrate" in (struggling["message"] or ""), struggling
        wd.screenshot(ARTIFACTS / "studio-health-struggling.png")
        link.uncap_inbound()
        lifted_at = time.monotonic()
        wd.wait_for("a good chip again", lambda: chip(wd, "capped").get("grade") == "good", timeout=90)
        to_good = time.monotonic() - lifted_at
        assert chip(wd, "capped")["message"] is None, "nothing to do once good"
        wd.screenshot(ARTIFACTS / "studio-health-good.png")
        stop_with_confirm(wd)
        wait_for_state(wd, "ended")
    # Quick to warn: the queue passes the grader's 400 ms within about a
    # second, the grade needs two bad one-second readings, and a reading can
    # wait a second for its tick; the window's event path and the driver's
    # polling come on top (4 s on a quiet machine, just over 5 s under CI's
    # load). Anything slower means the policy itself waits too long.
    assert to_struggling <= 7, to_struggling
    measurements.record(f"desktop health chip, {sending:.0f} kbit/s sent into a {cap} kbit/s cap: struggling {to_struggling:.1f} s after the cap, "
                        f"good {to_good:.1f} s after it was lifted")


def test_show_log_says_where_the_log_is_and_it_holds_the_sessions_without_keys(app):
    wd, env = app
    wd.click("#tab-settings")
    wd.click("#s-show-log")
    wd.wait_for("where the log is", lambda: wd.visible("#s-log-path"))
    folder = env.state / "onair" / "logs"
    assert str(folder) in wd.text("#s-log-path"), wd.text("#s-log-path")
    (daily,) = folder.iterdir()
    log = daily.read_text()
    # The earlier tests' sessions are there, each destination by name.
    assert '"destination":"main"' in log and '"state":"live"' in log, log[-2000:]
    for secret in secrets.SESSION.secrets:
        assert secret not in log


def test_settings_are_saved_with_the_config_and_start_on_login_is_off(app):
    wd, env = app
    wd.click("#tab-settings")
    assert wd.script("return document.getElementById('s-login').checked") is False
    wd.type("#s-bitrate", "3000")
    wd.type("#s-status-url", "ftp://nope")
    wd.click("#s-save")
    wd.wait_for("the refusal", lambda: wd.visible("#banner") and wd.text("#banner-code") == "[invalid_settings]")
    wd.type("#s-status-url", "")
    wd.click("#s-save")
    wd.wait_for("saved", lambda: wd.visible("#s-saved"))
    settings = json.loads((env.config / "onair" / "settings.json").read_text())
    assert settings["video_kbps"] == 3000 and settings["start_on_login"] is False
    autostart = env.config / "autostart" / "onair.desktop"
    assert not autostart.exists()
    wd.screenshot(ARTIFACTS / "settings.png")

    wd.click("#s-login")
    wd.click("#s-save")
    wd.wait_for("start on login", lambda: autostart.is_file())
    assert "Exec=" in autostart.read_text() and "onair-desktop" in autostart.read_text()
    wd.click("#s-login")
    wd.click("#s-save")
    wd.wait_for("no start on login", lambda: not autostart.exists())
