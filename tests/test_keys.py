"""Stream keys and destinations, against a real gnome-keyring Secret Service
on a private session bus (see onair_testkit.keyring).

Every key used here is registered with the secret scan, which fails the
session if one shows up in any output, process list, config or log file —
except the stdout of ``keys show --reveal``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from onair_testkit import secrets
from onair_testkit.keyring import KeyringEnv, missing_tools

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason=f"missing {missing_tools()}")

USAGE, FAILURE = 2, 1


@pytest.fixture
def k(tmp_path, onair_bin):
    """A fresh, unlocked keychain and empty config for each test."""
    with KeyringEnv(tmp_path / "env") as env:
        env.start_bus()
        env.start_keyring(unlock=True)
        yield env


def add(k: KeyringEnv, name: str, url: str, key: str, *extra: str):
    run = k.onair("keys", "add", name, "--url", url, *extra, stdin=key + "\n")
    assert run.returncode == 0, run.describe()
    return run


def error_line(run) -> str:
    lines = [l for l in run.stderr.splitlines() if l.startswith("error: ")]
    assert lines, run.describe()
    return lines[-1]


def config_text(k: KeyringEnv) -> str:
    return k.destinations_file.read_text()


# --- the happy paths -------------------------------------------------------------


def test_add_puts_the_key_in_the_keychain_and_not_in_the_config(k):
    key = k.secret("live_0123456789_abcdefghijXY")
    run = add(k, "main", "rtmp://127.0.0.1/live", key)
    assert "••••••••XY" in run.stdout, run.describe()
    assert k.lookup("main") == key
    assert "onair" in k.search()
    text = config_text(k)
    assert key not in text
    saved = json.loads(text)["destinations"]
    assert saved == [{"name": "main", "kind": "rtmp", "url": "rtmp://127.0.0.1/live"}]


def test_kinds_are_inferred_from_the_url(k):
    add(k, "lk", "wss://lk.example", k.secret("lk_api_secret_000000001"), "--token-url", "https://api.example/token")
    add(k, "whip", "https://whip.example/whip", k.secret("whip_bearer_000000002"),
        "--status-url", "https://api.example/status")
    run = k.onair("keys", "add", "rec", "--url", "file:/tmp/onair-rec.flv")
    assert run.returncode == 0, run.describe()
    kinds = {d["name"]: d["kind"] for d in json.loads(config_text(k))["destinations"]}
    assert kinds == {"lk": "livekit", "whip": "whip", "rec": "file"}
    assert k.lookup("rec") is None  # a recording has no key


def test_list_masks_keys_in_text_and_json(k):
    key_a = k.secret("sk_live_aaaaaaaaaaaaaaaaAA")
    key_b = k.secret("sk_live_bbbbbbbbbbbbbbbbBB")
    add(k, "a", "rtmp://127.0.0.1/live", key_a)
    add(k, "b b", "rtmps://127.0.0.1:443/app", key_b)
    listing = k.onair("keys", "list")
    assert listing.returncode == 0, listing.describe()
    assert "••••••••AA" in listing.stdout and "••••••••BB" in listing.stdout
    as_json = k.onair("keys", "list", "--json")
    assert as_json.returncode == 0, as_json.describe()
    listed = json.loads(as_json.stdout)["destinations"]
    assert [d["name"] for d in listed] == ["a", "b b"]
    assert listed[0]["key"] == {"state": "stored", "masked": "••••••••AA"}
    assert listed[1]["url"] == "rtmps://127.0.0.1:443/app"


def test_show_masks_and_only_reveal_prints_the_key(k):
    key = k.secret("sk_show_0123456789abcdQZ")
    add(k, "main", "rtmp://127.0.0.1/live", key)
    shown = k.onair("keys", "show", "main")
    assert shown.returncode == 0 and "••••••••QZ" in shown.stdout, shown.describe()
    as_json = json.loads(k.onair("keys", "show", "main", "--json").stdout)
    assert as_json["key"] == {"state": "stored", "masked": "••••••••QZ"}
    revealed = k.onair("keys", "show", "main", "--reveal", reveals=[key])
    assert revealed.returncode == 0, revealed.describe()
    assert key in revealed.stdout
    assert key not in revealed.stderr


def test_rename_moves_the_key(k):
    key = k.secret("sk_rename_0123456789abcd")
    add(k, "old", "rtmp://127.0.0.1/live", key)
    run = k.onair("keys", "rename", "old", "new")
    assert run.returncode == 0, run.describe()
    assert k.lookup("old") is None
    assert k.lookup("new") == key
    assert [d["name"] for d in json.loads(config_text(k))["destinations"]] == ["new"]


def plant(k: KeyringEnv, account: str, value: str) -> None:
    """A keychain item as Onair writes one (service onair, username ACCOUNT)."""
    done = subprocess.run(
        ["secret-tool", "store", "--label", f"onair {account}", "service", "onair", "username", account],
        input=value, capture_output=True, text=True, env=k.env, timeout=10,
    )
    assert done.returncode == 0, done.stderr


def journal_entries(k: KeyringEnv) -> list[tuple[Path, dict]]:
    sessions = k.destinations_file.parent / "sessions"
    return [(p, json.loads(p.read_text())) for p in sorted(sessions.rglob("*.json"))] if sessions.exists() else []


def test_rename_moves_the_ingest_key_and_the_journal(k):
    """Everything kept under a destination's name moves with it: no orphan
    secret in the keychain, no crash journal left under the old name. "my
    show" and "my_show" once shared one journal file."""
    token = k.secret("platform_api_token_0123456789")
    ingest = k.secret("ingest_key_kept_0123456789ab")
    add(k, "my show", "rtmp://127.0.0.1/live", token)
    plant(k, "my show#ingest-key", ingest)
    sessions = k.destinations_file.parent / "sessions"
    sessions.mkdir(mode=0o700)
    entry = {"destination": "my show", "pid": 2**31 - 2, "started_unix_s": 0, "captures": {"session": "s_1"}}
    (sessions / "my%20show.json").write_text(json.dumps(entry))

    run = k.onair("keys", "rename", "my show", "my_show")
    assert run.returncode == 0, run.describe()
    assert k.lookup("my show") is None
    assert k.lookup("my show#ingest-key") is None, "the ingest key was left behind under the old name"
    assert k.lookup("my_show") == token
    assert k.lookup("my_show#ingest-key") == ingest
    entries = journal_entries(k)
    assert [e["destination"] for _, e in entries] == ["my_show"], entries
    assert entries[0][1]["captures"] == {"session": "s_1"}
    assert entries[0][0].stat().st_mode & 0o077 == 0

    # And rm takes them all.
    run = k.onair("keys", "rm", "my_show")
    assert run.returncode == 0, run.describe()
    assert ingest not in k.search() and token not in k.search()
    assert journal_entries(k) == []


def test_rotate_replaces_the_key(k):
    old = k.secret("sk_before_rotation_0001")
    new = k.secret("sk_after_rotation_00002")
    add(k, "main", "rtmp://127.0.0.1/live", old)
    run = k.onair("keys", "rotate", "main", stdin=new + "\n")
    assert run.returncode == 0, run.describe()
    assert k.lookup("main") == new
    assert old not in k.search()


def test_rm_removes_the_key_and_the_metadata(k):
    add(k, "main", "rtmp://127.0.0.1/live", k.secret("sk_remove_me_0123456789"))
    add(k, "keep", "rtmp://127.0.0.1/live", k.secret("sk_keep_me_0123456789a"))
    run = k.onair("keys", "rm", "main")
    assert run.returncode == 0, run.describe()
    assert k.lookup("main") is None
    assert k.lookup("keep") is not None
    assert [d["name"] for d in json.loads(config_text(k))["destinations"]] == ["keep"]


def test_a_key_pasted_inside_the_url_is_split_off(k):
    # Deliberately on the command line: exempt from the process-list scan only.
    key = k.secret("sk_pasted_0123456789abcd", on_command_line=True)
    run = k.onair("keys", "add", "pasted", "--url", f"rtmp://127.0.0.1/live/{key}")
    assert run.returncode == 0, run.describe()
    assert "command line" in run.stderr  # the creator is told why that was risky
    assert k.lookup("pasted") == key
    assert json.loads(config_text(k))["destinations"][0]["url"] == "rtmp://127.0.0.1/live"


def test_a_pasted_key_keeps_everything_after_the_application(k):
    # Facebook hands out keys with a query; some URLs carry doubled slashes.
    # The keys store saves by the same rule the RTMP client sends by.
    key = k.secret("FB-0123456789-0-AbCdEf?s_bl=1&a=XyZ0123", on_command_line=True)
    run = k.onair("keys", "add", "fb", "--url", f"rtmps://127.0.0.1:443/rtmp//{key}")
    assert run.returncode == 0, run.describe()
    assert k.lookup("fb") == key
    assert json.loads(config_text(k))["destinations"][0]["url"] == "rtmps://127.0.0.1:443/rtmp"


def test_options_are_typed_and_checked_when_saved(k):
    key = k.secret("sk_options_0123456789abcd")
    wrong_kind = k.onair("keys", "add", "tw", "--url", "rtmp://127.0.0.1/live", "--room", "show", stdin=key + "\n")
    assert wrong_kind.returncode == USAGE, wrong_kind.describe()
    assert "only applies to LiveKit" in error_line(wrong_kind) and "[invalid_destination]" in error_line(wrong_kind)
    not_pointer = k.onair("keys", "add", "tw", "--url", "rtmp://127.0.0.1/live", "--status-url",
                          "http://127.0.0.1:9/status", "--viewers-pointer", "viewers", stdin=key + "\n")
    assert not_pointer.returncode == USAGE and "JSON pointer" in error_line(not_pointer), not_pointer.describe()
    assert not k.destinations_file.exists()
    add(k, "tw", "rtmp://127.0.0.1/live", key, "--status-url", "http://127.0.0.1:9/status",
        "--viewers-pointer", "/data/n")
    shown = k.onair("keys", "show", "tw", "--json")
    assert shown.returncode == 0, shown.describe()
    assert json.loads(shown.stdout)["options"] == {"viewers_pointer": "/data/n"}
    assert json.loads(config_text(k))["destinations"][0]["options"] == {"viewers_pointer": "/data/n"}


def test_a_whole_url_pasted_at_the_key_prompt_gives_its_key(k):
    key = k.secret("sk_whole_url_0123456789ab")
    add(k, "main", "rtmp://127.0.0.1/live", f"rtmp://127.0.0.1/live/{key}")
    assert k.lookup("main") == key
    other = k.onair("keys", "rotate", "main", stdin=f"rtmp://elsewhere.example/live/{key}")
    assert other.returncode == USAGE and "another server" in error_line(other), other.describe()
    assert k.lookup("main") == key


def test_two_concurrent_adds_both_land(k):
    names = [f"dest{i}" for i in range(6)]
    keys = {n: k.secret(f"sk_concurrent_{n}_0123456789") for n in names}
    runs = {}

    def add_one(name):
        runs[name] = k.onair("keys", "add", name, "--url", "rtmp://127.0.0.1/live", stdin=keys[name])

    threads = [threading.Thread(target=add_one, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, run in runs.items():
        assert run.returncode == 0, run.describe()
    saved = sorted(d["name"] for d in json.loads(config_text(k))["destinations"])
    assert saved == names
    for name in names:
        assert k.lookup(name) == keys[name]


# --- OBS import --------------------------------------------------------------------


def write_profile(root: Path, name: str, service: dict) -> Path:
    profile = root / "basic" / "profiles" / name
    profile.mkdir(parents=True)
    (profile / "service.json").write_text(json.dumps(service))
    return profile


def test_import_obs_custom_server(k, tmp_path):
    key = k.secret("obs_custom_key_0123456789")
    obs = tmp_path / "obs-fixture"  # outside the scanned folders: it is the plaintext input
    profile = write_profile(obs, "Untitled", {
        "type": "rtmp_custom",
        "settings": {"server": "rtmp://127.0.0.1:1935/live", "key": key, "use_auth": False},
    })
    run = k.onair("keys", "import-obs", str(profile), "--name", "obs-main")
    assert run.returncode == 0, run.describe()
    assert "obs-main" in run.stdout and "Untitled" in run.stdout
    assert k.lookup("obs-main") == key
    saved = json.loads(config_text(k))["destinations"][0]
    assert saved["url"] == "rtmp://127.0.0.1:1935/live"


def test_import_obs_listed_service_from_the_default_folder(k):
    key = k.secret("live_123456789_obsTwitchKey")
    # Default DIR: OBS's settings folder under the config dir, current profile from user.ini.
    obs = k.config / "obs-studio"
    k.scan.ignore_folder(obs)  # the plaintext input itself
    write_profile(obs, "Other", {"type": "rtmp_custom", "settings": {"server": "rtmp://x/app", "key": "unused_key_1"}})
    k.secret("unused_key_1")
    write_profile(obs, "Streaming", {
        "type": "rtmp_common",
        "settings": {"service": "Twitch", "server": "auto", "key": key},
    })
    (obs / "user.ini").write_text("[Basic]\nProfile=Streaming\nProfileDir=Streaming\n")
    run = k.onair("keys", "import-obs", "--json")
    assert run.returncode == 0, run.describe()
    imported = json.loads(run.stdout)
    assert imported["service"] == "Twitch" and imported["profile"] == "Streaming"
    assert imported["destination"]["name"] == "twitch"
    assert imported["destination"]["url"] == "rtmp://live.twitch.tv/app"
    assert k.lookup("twitch") == key
    # The key's scanned for everywhere, including this JSON: masked only.
    assert imported["destination"]["key"]["state"] == "stored"


def test_import_obs_unknown_auto_server_fails_clearly(k, tmp_path):
    key = k.secret("obs_unknown_service_key_01")
    profile = write_profile(tmp_path / "obs", "P", {
        "type": "rtmp_common", "settings": {"service": "NicheTube", "server": "auto", "key": key},
    })
    run = k.onair("keys", "import-obs", str(profile))
    assert run.returncode == FAILURE, run.describe()
    assert "NicheTube" in error_line(run) and "[invalid_destination]" in error_line(run)
    assert not k.destinations_file.exists()


# --- usage errors ----------------------------------------------------------------


def test_duplicate_and_unknown_names_are_usage_errors(k):
    add(k, "main", "rtmp://127.0.0.1/live", k.secret("sk_first_0123456789abc"))
    again = k.onair("keys", "add", "main", "--url", "rtmp://127.0.0.1/live",
                    stdin=k.secret("sk_second_0123456789ab"))
    assert again.returncode == USAGE, again.describe()
    assert "already exists" in error_line(again)
    assert k.lookup("main") == "sk_first_0123456789abc"
    for args in (["show", "nope"], ["rm", "nope"], ["rename", "nope", "x"], ["rotate", "nope"]):
        run = k.onair("keys", *args, stdin="unused")
        assert run.returncode == USAGE, run.describe()
        assert error_line(run).endswith("[invalid_destination]")
        assert "Saved destinations: main." in error_line(run)


def test_empty_stdin_and_bad_urls_are_usage_errors(k):
    empty = k.onair("keys", "add", "main", "--url", "rtmp://127.0.0.1/live", stdin="")
    assert empty.returncode == USAGE and "key is empty" in error_line(empty), empty.describe()
    bad = k.onair("keys", "add", "x", "--url", "ftp://host/x", stdin="k")
    assert bad.returncode == USAGE, bad.describe()
    # Deliberately on the command line: exempt from the process-list scan only.
    token = k.secret("eyJhbGciOiJIUzI1NiJ9.tokentoken", on_command_line=True)
    leaky = k.onair("keys", "add", "lk", "--url", "wss://lk.example/rtc?access_token=" + token, stdin="k")
    assert leaky.returncode == USAGE and "carries a password or token" in error_line(leaky), leaky.describe()
    assert not k.destinations_file.exists()
    clap = k.onair("keys", "add", "x")  # --url missing
    assert clap.returncode == USAGE


def test_errors_are_json_with_json(k):
    run = k.onair("keys", "list", "--json")
    assert run.returncode == 0 and json.loads(run.stdout) == {"destinations": []}
    bad = k.onair("keys", "show", "nope", "--json")
    assert bad.returncode == USAGE
    assert json.loads(bad.stdout)["error"]["code"] == "invalid_destination"


# --- keychain failures -------------------------------------------------------------


def test_no_session_bus_is_keychain_unavailable(tmp_path, onair_bin):
    with KeyringEnv(tmp_path / "env") as env:
        key = env.secret("sk_no_bus_0123456789abcd")
        # No DBUS_SESSION_BUS_ADDRESS and an empty XDG_RUNTIME_DIR: no bus at all.
        run = env.onair("keys", "add", "main", "--url", "rtmp://127.0.0.1/live", stdin=key)
        assert run.returncode == FAILURE, run.describe()
        line = error_line(run)
        assert line.endswith("[keychain_unavailable]") and "DBUS_SESSION_BUS_ADDRESS" in line, line
        assert not env.destinations_file.exists()
        # An address that points nowhere is the same.
        nowhere = dict(env.env, DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path}/no-such-socket")
        run = env.onair("keys", "add", "main", "--url", "rtmp://127.0.0.1/live", stdin=key, env=nowhere)
        assert run.returncode == FAILURE and error_line(run).endswith("[keychain_unavailable]"), run.describe()


def test_a_bus_without_secret_service_is_keychain_unavailable(tmp_path, onair_bin):
    with KeyringEnv(tmp_path / "env") as env:
        env.start_bus()
        run = env.onair("keys", "add", "main", "--url", "rtmp://127.0.0.1/live",
                        stdin=env.secret("sk_no_service_0123456789"))
        assert run.returncode == FAILURE, run.describe()
        assert error_line(run).endswith("[keychain_unavailable]")
        assert not env.destinations_file.exists()


def test_a_locked_keychain_is_keychain_unavailable_and_says_unlock(k):
    key = k.secret("sk_locked_0123456789abcd")
    add(k, "main", "rtmp://127.0.0.1/live", key)
    before = config_text(k)
    k.lock()
    for args, stdin in ((["show", "main", "--reveal"], None),
                        (["add", "other", "--url", "rtmp://127.0.0.1/live"], k.secret("sk_while_locked_01234")),
                        (["rm", "main"], None)):
        run = k.onair("keys", *args, stdin=stdin, timeout=40)
        assert run.returncode == FAILURE, run.describe()
        line = error_line(run)
        assert line.endswith("[keychain_unavailable]") and "nlock" in line, line
        assert key not in run.stdout
    assert config_text(k) == before  # no plaintext fallback, nothing half-done


def test_a_keyring_daemon_that_was_never_unlocked_is_keychain_unavailable(tmp_path, onair_bin):
    with KeyringEnv(tmp_path / "env") as env:
        env.start_bus()
        env.start_keyring(unlock=False)
        run = env.onair("keys", "add", "main", "--url", "rtmp://127.0.0.1/live",
                        stdin=env.secret("sk_never_unlocked_012345"), timeout=40)
        assert run.returncode == FAILURE, run.describe()
        assert error_line(run).endswith("[keychain_unavailable]")
        assert not env.destinations_file.exists()


def test_a_missing_keychain_entry_is_key_missing(k):
    add(k, "main", "rtmp://127.0.0.1/live", k.secret("sk_deleted_behind_back_01"))
    k.delete_item("main")
    shown = k.onair("keys", "show", "main")
    assert shown.returncode == 0 and "MISSING" in shown.stdout, shown.describe()
    revealed = k.onair("keys", "show", "main", "--reveal")
    assert revealed.returncode == FAILURE and error_line(revealed).endswith("[key_missing]"), revealed.describe()
    live = k.onair("live", "main", "--duration", "1", "--json")
    assert live.returncode == FAILURE, live.describe()
    assert live.error["code"] == "key_missing" and "keys rotate" in live.error["message"]
    # Rotating stores the missing key again.
    key = k.secret("sk_restored_0123456789ab")
    assert k.onair("keys", "rotate", "main", stdin=key).returncode == 0
    assert k.lookup("main") == key


def test_a_corrupt_config_is_kept_aside(k):
    add(k, "main", "rtmp://127.0.0.1/live", k.secret("sk_corrupt_0123456789abc"))
    k.destinations_file.write_text('{"version": 1, "destinations": [ {"name": ')
    run = k.onair("keys", "list")
    assert run.returncode == FAILURE, run.describe()
    line = error_line(run)
    assert line.endswith("[invalid_destination]") and "kept as" in line, line
    kept = list(k.destinations_file.parent.glob("destinations.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text().startswith('{"version": 1')
    # The next command starts from an empty list; the kept copy stays.
    assert k.onair("keys", "list").returncode == 0
    assert kept[0].exists()


# --- going live with a saved destination ----------------------------------------------


def test_live_resolves_saved_names(k, tmp_path, ffmpeg):
    out = tmp_path / "by-name.flv"
    assert k.onair("keys", "add", "rec", "--url", f"file:{out}").returncode == 0
    run = k.onair("live", "rec", "--duration", "1", "--json", timeout=60)
    assert run.returncode == 0, run.describe()
    assert out.stat().st_size > 0
    unknown = k.onair("live", "nope", "--json")
    assert unknown.returncode == FAILURE
    assert unknown.error["code"] == "invalid_destination" and "rec" in unknown.error["message"]


def test_live_key_stdin_is_for_urls_only(k):
    add(k, "main", "rtmp://127.0.0.1/live", k.secret("sk_live_name_0123456789"))
    run = k.onair("live", "main", "--key-stdin", stdin=k.secret("sk_adhoc_0123456789abcd"))
    assert run.returncode == USAGE and "--key-stdin is for URLs" in error_line(run), run.describe()
    empty = k.onair("live", "rtmp://127.0.0.1/live", "--key-stdin", stdin="")
    assert empty.returncode == USAGE, empty.describe()


def test_live_with_a_key_in_the_url_warns_like_keys_add(k):
    """A key typed into a URL on the command line has been seen by every
    local user's `ps`: `onair live` says so, as `keys add` does, and never
    repeats the key."""
    key = k.secret("sk_typed_in_argv_0123456789", on_command_line=True)
    # Nothing listens on port 9: the session fails fast, after the warning.
    run = k.onair("live", f"rtmp://127.0.0.1:9/live/{key}", "--audio", "none", "--duration", "1", "--json",
                  timeout=60)
    assert run.returncode == FAILURE, run.describe()
    notes = [l for l in run.stderr.splitlines() if l.startswith("note: ")]
    assert any("visible to every user of this computer" in l for l in notes), run.describe()
    assert key not in run.stderr and key not in run.stdout
    added = k.onair("keys", "add", "pasted", "--url", f"rtmp://127.0.0.1/live/{key}")
    assert added.returncode == 0, added.describe()
    shared = "Keys on a command line are visible to every user of this computer (in the process list) and kept in shell history"
    assert shared in run.stderr and shared in added.stderr, (run.stderr, added.stderr)
    # A token in any URL's query is one too.
    token = k.secret("tok_typed_in_argv_0123456789", on_command_line=True)
    run = k.onair("live", f"ws://127.0.0.1:9?access_token={token}", "--audio", "none", "--duration", "1", "--json",
                  timeout=60)
    assert shared in run.stderr, run.describe()
    assert token not in run.stderr and token not in run.stdout
    # A key that did not come from the command line gets no such note.
    quiet = k.onair("live", "rtmp://127.0.0.1:9/live", "--key-stdin", "--audio", "none", "--duration", "1",
                    "--json", stdin=k.secret("sk_from_stdin_0123456789ab"), timeout=60)
    assert "visible to every user" not in quiet.stderr, quiet.describe()


# --- the scan itself ----------------------------------------------------------------------


def test_the_secret_scan_finds_a_leak(tmp_path):
    scan = secrets.SecretScan()
    leaked = scan.register("sk_leaky_0123456789abcd")
    scan.register("sk_revealed_0123456789ab")
    scan.record_output("clean", "key ••••••••cd")
    scan.record_output("show --reveal", "key: sk_revealed_0123456789ab", allowed={"sk_revealed_0123456789ab"})
    assert scan.leaks() == []
    scan.record_output("leaky run", f"error: bad key {leaked}")
    # A real process with the secret in its arguments, caught by a snapshot.
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)", leaked])
    try:
        scan.snapshot_processes(f"onair keys add x --url rtmp://h/app/{leaked}", proc.pid)
    finally:
        proc.kill()
        proc.wait()
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "destinations.json").write_text(f'{{"url": "rtmp://h/app/{leaked}"}}')
    scan.watch_folder(tmp_path / "cfg")
    found = scan.leaks()
    # Output, the child's own command line, ps, and the file.
    assert len(found) == 4, found
    assert all(leaked not in f for f in found)  # the report does not repeat it
    # A reveal is allowed only where it was asked for.
    scan.record_output("other run", "sk_revealed_0123456789ab")
    assert len(scan.leaks()) == 5
