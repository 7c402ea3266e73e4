"""Each destination's health at a glance (issue 25, item 4): good,
struggling or failing, with a sentence saying what to do, as JSON events
from the CLI. Against a real nginx-rtmp across an uplink that a tc tbf cap
squeezes under the stream's bitrate, then frees."""

from __future__ import annotations

import secrets as stdlib_secrets
import time

from onair_testkit import onair, uplink
from onair_testkit.nginx import Nginx

STREAM = ["--video", "test:busy", "--bitrate", "2500", "--json"]


def grade_event(grade: str):
    return lambda e: e.get("type") == "destination_health" and e.get("grade") == grade


def test_a_capped_link_turns_struggling_within_five_seconds_and_good_after_it_is_lifted(tmp_path, measurements):
    key = f"sk_health_{stdlib_secrets.token_hex(6)}"
    with uplink.Uplink() as link, Nginx(tmp_path / "nginx", ip=link.host_ip) as nginx:
        with onair.Session(["live", nginx.url("live"), "--key-stdin", *STREAM], stdin=key + "\n",
                           wrap=link.netns_prefix) as session:
            session.wait_for_state("live", timeout=30)
            time.sleep(4)
            assert not [e for e in session.events if e.get("type") == "destination_health"], \
                "an open link is good from the start: nothing to say"
            open_rtt = last_rtt(session)
            link.cap(1200)
            capped_at = time.monotonic()
            struggling = session.wait_for(grade_event("struggling"), timeout=20)
            to_struggling = time.monotonic() - capped_at
            time.sleep(1.5)
            capped_rtt = last_rtt(session)
            link.uncap()
            lifted_at = time.monotonic()
            # Congestion control climbs back a step every few seconds: good
            # once the vote is near the asked bitrate again (42-80 s here).
            good = session.wait_for(grade_event("good"), timeout=150)
            to_good = time.monotonic() - lifted_at
            stats = session.wait_for(lambda e: e.get("type") == "stats", timeout=5)
            session.stop()

    assert session.returncode == 0, session.describe()
    assert to_struggling <= 5, (to_struggling, session.describe())
    assert "kbit/s asked" in struggling["message"] and "Lower the bitrate" in struggling["message"], struggling
    assert struggling["destination"] == good["destination"] == nginx.url("live")
    assert stats["destinations"][0]["grade"] == "good", stats
    # The round trip each second, from TCP: the cap's queue shows in it.
    assert open_rtt is not None and open_rtt < 50, open_rtt
    assert capped_rtt is not None and capped_rtt > open_rtt + 50, (open_rtt, capped_rtt)
    measurements.record(
        f"health chip, RTMP behind a 1200 kbit/s cap under a 2500 kbit/s stream: struggling {to_struggling:.1f} s "
        f"after the cap (\"{struggling['message']}\"), good {to_good:.1f} s after it was lifted; "
        f"round trip {open_rtt} ms open, {capped_rtt} ms capped"
    )


def last_rtt(session) -> int | None:
    """The round trip in the latest stats event."""
    stats = [e for e in session.events if e.get("type") == "stats" and e.get("destinations")]
    return stats[-1]["destinations"][0].get("rtt_ms") if stats else None
