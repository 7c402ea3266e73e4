"""A real WHIP server for the WHIP suites: Debian's Janus (VideoRoom plugin,
recording on) behind Debian's simple-whip-server, in network namespaces the
test bed makes and removes itself.

libnice gathers no ICE candidates on ``lo``, so the media path needs a real
link. The topology, per test bed (namespace names are unique per run)::

    netns onair-wj-PID-N-srv                    netns onair-wj-PID-N-pub
      lo: Janus WebSocket API 127.0.0.1:8188      lo
      veth wjsrv 10.77.0.1/24  <-------------->   veth wjpub 10.77.0.2/24
      Janus ICE/RTP, WHIP HTTP :7080              the publisher (onair, aiortc)

Only the publisher's namespace reaches the server, and neither namespace
reaches anything else (no default route), so a test cannot leak traffic and
two test beds never share a port. Run the publisher through ``wrap``::

    def test_publishes(janus):                 # the conftest fixture
        run = onair.run(["live", janus.url, "--key-stdin", "--duration", "30", "--json"],
                        stdin=janus.token + "\n", wrap=janus.netns_prefix)
        # or janus.wrap([...]) for any other command; the environment passes through
        assert [d["status"] for d in janus.deletes()] == [200]
        (rec,) = janus.recordings()
        analysed = report.analyse_file(rec.convert().muxed)

What crosses into the publisher's namespace: files and path-based unix
sockets (Debian's D-Bus session bus is unix:path=/tmp/dbus-..., checked to
work from inside; PulseAudio; X11's /tmp/.X11-unix). What does not: anything
listening on the root namespace's 127.0.0.1, and abstract unix sockets.

The endpoint requires ``Authorization: Bearer <token>``. Every answered
request lands in ``requests()`` (a preloaded logger, whip_request_log.js), so a
test can assert that Stop sent DELETE. Janus records each publish to .mjr
files; ``recordings()`` groups them per publish and ``Recording.convert()``
turns them into files ffprobe and media.py read.

What simple-whip-server (Debian 0.0~git20230201) and Janus 1.1.2 do, as seen here:

* POST answers 201, ``Location: /whip/resource/onair`` (relative: resolve it
  against the endpoint URL), ``ETag``, ``Accept-Patch:
  application/trickle-ice-sdpfrag``; no Link headers (no ICE servers set).
* A wrong or missing token: 403 ``Unauthorized`` (never 401). Unknown
  endpoint: 404. Janus down: 503. ``Content-Type`` must be exactly
  ``application/sdp`` (a ``; charset=`` parameter gets 406).
* The offer needs CRLF line ends and an ``a=ice-ufrag``/``a=ice-pwd``: an
  LF-only offer gets 500 *and leaves the endpoint busy*, so every later POST
  gets 403 ``Endpoint ID already in use`` until a DELETE of the resource or
  ``reset_endpoint()``. Likewise a second POST while a session is up is 403.
* PATCH trickle (204) and ICE restart (new ufrag/pwd, ``If-Match: "*"``: 200
  with the server's new ufrag/pwd) work; ETags are not enforced. DELETE of
  the resource answers 200.
* Janus answers H.264 with whatever profile-level-id and packetization-mode
  the first offered H.264 format has (42001f, 42e01f, 4d001f, 640c1f all
  accepted; send packetization-mode=1 if you fragment with FU-A). Simulcast
  offered with ``a=rid:* send`` + ``a=simulcast:send`` and the rtp-stream-id
  extension is accepted (answer: ``a=rid:* recv``, ``a=simulcast:recv``);
  Janus writes one .mjr per m-line, so at most one layer is recorded.
* Janus kills: simple-whip-server forgets the session and retries Janus every
  2 s; a publisher's DELETE for the dead session gets 404.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import json
import os
import re
import secrets as pysecrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from . import process, secrets

CACHE = Path(os.environ.get("ONAIR_CACHE", Path.home() / ".cache" / "onair"))
WHIP_SERVER_DIR = CACHE / "whip-server"
REQUEST_LOG_JS = Path(__file__).with_name("whip_request_log.js")
# Debian's multiarch folder (x86_64-linux-gnu, aarch64-linux-gnu, ...).
JANUS_LIB = next(iter(sorted(Path("/usr/lib").glob("*/janus"))), Path("/usr/lib/x86_64-linux-gnu/janus"))
SETUP_HINT = "run scripts/setup (it installs janus, janus-tools and simple-whip-server)"

SERVER_IP = "10.77.0.1"
PUBLISHER_IP = "10.77.0.2"
PREFIX_LEN = 24
SERVER_IF = "wjsrv"
PUBLISHER_IF = "wjpub"
WHIP_PORT = 7080
JANUS_WS_PORT = 8188
ROOM = 1234
ENDPOINT_ID = "onair"
#: Janus's media ports; private to the namespace, so any range will do.
RTP_PORTS = "20000-20999"

_NS_PREFIX = "onair-wj-"
_counter = itertools.count()


class JanusError(RuntimeError):
    """The test bed could not be set up, or a tool it needs failed."""


def missing_tools() -> list[str]:
    """What scripts/setup has not installed yet (empty when all is there)."""
    missing = [t for t in ("janus", "janus-pp-rec", "ip", "node", "curl", "ffmpeg") if shutil.which(t) is None]
    if not (WHIP_SERVER_DIR / "src" / "server.js").is_file() or not (WHIP_SERVER_DIR / "node_modules").is_dir():
        missing.append(f"simple-whip-server in {WHIP_SERVER_DIR}")
    if not (JANUS_LIB / "plugins" / "libjanus_videoroom.so").is_file():
        missing.append("Janus's VideoRoom plugin")
    return missing


def _run(args: Sequence[str], input: Optional[str] = None, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    done = subprocess.run(list(args), input=input, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise JanusError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent() -> None:
    """preexec_fn: the server dies with the test process, even a SIGKILLed
    one (PR_SET_PDEATHSIG survives the exec of ip netns exec and Janus)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def _kill_netns_processes(ns: str) -> None:
    """Whatever still runs in a namespace this module made (our Janus, our
    WHIP server, a publisher a test left behind)."""
    pids = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _delete_netns(ns: str) -> None:
    _kill_netns_processes(ns)
    # Deleting the namespace also destroys the veth pair.
    _run(["ip", "netns", "delete", ns], check=False)


def sweep_stale_namespaces() -> None:
    """Removes namespaces left by test runs that were killed before their
    clean-up ran (their PID is in the name and no longer alive)."""
    listed = _run(["ip", "netns", "list"], check=False).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        found = re.fullmatch(re.escape(_NS_PREFIX) + r"(\d+)-\d+-(srv|pub)", name)
        if found and not _pid_alive(int(found.group(1))):
            _delete_netns(name)


# ---------------------------------------------------------------------------
# Janus's configuration: only what the WHIP path uses.

JANUS_JCFG = """\
general: {{
  configs_folder = "{conf}"
  plugins_folder = "{plugins}"
  transports_folder = "{transports}"
  events_folder = "{empty}"
  loggers_folder = "{empty}"
  debug_level = 4
  server_name = "OnairTestJanus"
  # The address Janus puts in its SDP; it does not find it alone on a veth.
  interface = "{ip}"
  # No admin API: the WHIP server's request log and the recordings are what tests read.
  session_timeout = 60
}}
certificates: {{
  # Janus makes a throwaway DTLS certificate at start.
}}
media: {{
  rtp_port_range = "{rtp_ports}"
}}
nat: {{
  nice_debug = false
  # Gather only on the veth: the one link the publisher can reach.
  ice_enforce_list = "{iface}"
}}
plugins: {{
}}
transports: {{
}}
loggers: {{
}}
events: {{
}}
"""

WEBSOCKETS_JCFG = """\
general: {{
  json = "plain"
  ws = true
  ws_port = {port}
  ws_ip = "127.0.0.1"
  wss = false
}}
admin: {{
  admin_ws = false
  admin_wss = false
}}
"""

VIDEOROOM_JCFG = """\
general: {{
}}
room-{room}: {{
  description = "Onair WHIP tests"
  publishers = 4
  audiocodec = "opus"
  # H.264 only: a publisher that cannot send it is refused, not downgraded.
  videocodec = "h264"
  record = true
  rec_dir = "{rec}"
  # A keyframe request every 5 s keeps a mid-stream recording decodable.
  fir_freq = 5
  transport_wide_cc_ext = true
}}
"""

WHIP_CONFIG = {
    "janus": {"address": f"ws://127.0.0.1:{JANUS_WS_PORT}"},
    "port": WHIP_PORT,
    "rest": "/whip",
    "allowTrickle": True,
    "strictETags": False,
    "iceServers": [],
}


# ---------------------------------------------------------------------------
# Recordings


@dataclass
class Converted:
    """A recording turned into files ffprobe reads."""

    #: H.264 in MP4 (janus-pp-rec), timeline starting at the first video packet.
    video: Optional[Path]
    #: Opus in Ogg (janus-pp-rec), timeline starting at the first audio packet.
    audio: Optional[Path]
    #: Both in one Matroska file, the later-starting track delayed by the gap
    #: between the first packets Janus received, so A/V can be compared.
    muxed: Optional[Path]


@dataclass
class Recording:
    """The .mjr files Janus wrote for one publish (one WebRTC session)."""

    #: The common part of the file names: videoroom-ROOM-user-FEED.
    prefix: str
    #: Janus's wall clock (microseconds) when it opened the recording.
    started_us: int
    video_mjr: Optional[Path] = None
    audio_mjr: Optional[Path] = None
    others: list[Path] = field(default_factory=list)

    def header(self, kind: str) -> dict:
        """The .mjr's JSON header ("c": codec, "s": created, "u": first
        packet, both wall-clock microseconds), as janus-pp-rec prints it."""
        mjr = self.video_mjr if kind == "video" else self.audio_mjr
        if mjr is None:
            raise JanusError(f"{self.prefix} has no {kind} recording")
        done = _run(["janus-pp-rec", "-j", "-o", "-d", "0", str(mjr)])
        found = re.search(r"\{.*\}", done.stdout, re.S)
        if not found:
            raise JanusError(f"janus-pp-rec printed no header for {mjr}: {done.stdout[-500:]}")
        return json.loads(found.group(0))

    def convert(self, out_dir: Optional[Path] = None) -> Converted:
        """janus-pp-rec for each track (H.264 -> .mp4, Opus -> .opus), then
        one .mkv with both, aligned on Janus's first-packet times."""
        out_dir = Path(out_dir) if out_dir else (self.video_mjr or self.audio_mjr).parent / "converted"
        out_dir.mkdir(parents=True, exist_ok=True)
        video = audio = muxed = None
        if self.video_mjr is not None:
            video = out_dir / f"{self.prefix}-video.mp4"
            _run(["janus-pp-rec", "-o", "-d", "3", str(self.video_mjr), str(video)], timeout=120)
        if self.audio_mjr is not None:
            audio = out_dir / f"{self.prefix}-audio.opus"
            _run(["janus-pp-rec", "-o", "-d", "3", str(self.audio_mjr), str(audio)], timeout=120)
        if video is not None and audio is not None:
            muxed = out_dir / f"{self.prefix}.mkv"
            lead = (self.header("audio")["u"] - self.header("video")["u"]) / 1e6
            # -itsoffset delays the input after it: the track whose first packet came later.
            inputs = (["-i", str(video), "-itsoffset", f"{lead:.6f}", "-i", str(audio)] if lead >= 0
                      else ["-itsoffset", f"{-lead:.6f}", "-i", str(video), "-i", str(audio)])
            _run(["ffmpeg", "-v", "error", "-nostdin", "-y", *inputs,
                  "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", str(muxed)], timeout=120)
        return Converted(video=video, audio=audio, muxed=muxed)


# Janus names each track's file videoroom-ROOM-user-FEED-OPENED_US-KIND-MINDEX.mjr;
# every WHIP POST joins as a new feed, so the feed id tells publishes apart.
_MJR = re.compile(r"(?P<prefix>videoroom-\d+-user-\d+)-(?P<ts>\d+)-(?P<kind>audio|video|data)(?:-\d+)?\.mjr$")


def group_recordings(rec_dir: Path) -> list[Recording]:
    """The .mjr files in ``rec_dir``, one Recording per publish, oldest first."""
    groups: dict[str, Recording] = {}
    for path in sorted(Path(rec_dir).glob("*.mjr")):
        found = _MJR.match(path.name)
        if not found:
            continue
        rec = groups.setdefault(found["prefix"], Recording(found["prefix"], int(found["ts"])))
        rec.started_us = min(rec.started_us, int(found["ts"]))
        kind = found["kind"]
        if kind == "video" and rec.video_mjr is None:
            rec.video_mjr = path
        elif kind == "audio" and rec.audio_mjr is None:
            rec.audio_mjr = path
        else:
            rec.others.append(path)
    return sorted(groups.values(), key=lambda r: r.started_us)


# ---------------------------------------------------------------------------
# The test bed


class JanusWhip:
    """Janus + simple-whip-server in their own namespace, and an empty
    namespace for the publisher, joined by a veth pair.

    ``url`` is the WHIP endpoint, ``token`` the bearer token it requires
    (registered with the session's secret scan: onair must never print it).
    """

    def __init__(self, directory: Path, token: Optional[str] = None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.token = token or f"whip_{pysecrets.token_urlsafe(18)}"
        secrets.SESSION.register(self.token)
        base = f"{_NS_PREFIX}{os.getpid()}-{next(_counter)}"
        self.server_netns = base + "-srv"
        self.publisher_netns = base + "-pub"
        # Janus refuses to record into "protected" folders and runs as us:
        # a private temp dir is fine.
        self.rec_dir = self.dir / "rec"
        self.conf_dir = self.dir / "janus-conf"
        self.janus_log = self.dir / "janus.log"
        self.whip_log = self.dir / "whip-server.log"
        self.request_log = self.dir / "whip-requests.jsonl"
        self.janus_proc: Optional[subprocess.Popen] = None
        self.whip_proc: Optional[subprocess.Popen] = None
        self._janus_starts = 0
        self._namespaces_made = False
        self._closed = False

    # --- addresses -----------------------------------------------------------

    @property
    def url(self) -> str:
        """The WHIP endpoint a publisher POSTs its offer to."""
        return f"http://{SERVER_IP}:{WHIP_PORT}/whip/endpoint/{ENDPOINT_ID}"

    def url_for(self, endpoint_id: str) -> str:
        """An endpoint URL with another id (no such endpoint: 404)."""
        return f"http://{SERVER_IP}:{WHIP_PORT}/whip/endpoint/{endpoint_id}"

    @property
    def resource_path(self) -> str:
        """The Location simple-whip-server answers (relative to the server)."""
        return f"/whip/resource/{ENDPOINT_ID}"

    @property
    def netns_prefix(self) -> list[str]:
        """What runs a command in the publisher's namespace, for ``wrap=``
        of onair.run and onair.Session. The WHIP server is plain http on a
        private address, so Onair is told to accept sending the bearer there
        in clear (ONAIR_CLEARTEXT_HOSTS); without it only loopback or TLS
        would do."""
        return ["ip", "netns", "exec", self.publisher_netns, "env", f"ONAIR_CLEARTEXT_HOSTS={SERVER_IP}"]

    def wrap(self, cmd: Sequence[str]) -> list[str]:
        """``cmd`` run inside the publisher's namespace, environment unchanged."""
        return [*self.netns_prefix, *[str(c) for c in cmd]]

    def in_server(self, cmd: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.server_netns, *[str(c) for c in cmd]]

    # --- life cycle ----------------------------------------------------------

    def start(self, timeout: float = 20) -> "JanusWhip":
        missing = missing_tools()
        if missing:
            raise JanusError(f"missing {', '.join(missing)}; {SETUP_HINT}")
        if os.geteuid() != 0:
            raise JanusError("network namespaces need root (the test machines run the suites as root)")
        sweep_stale_namespaces()
        # Clean-up even if the test process ends without running fixtures' teardown.
        atexit.register(self.close)
        try:
            self._make_namespaces()
            self._write_config()
            self._start_janus(timeout)
            self._start_whip_server(timeout)
        except BaseException:
            self.close()
            raise
        return self

    def _make_namespaces(self) -> None:
        for ns in (self.server_netns, self.publisher_netns):
            _run(["ip", "netns", "add", ns])
        self._namespaces_made = True
        # Made inside the server namespace with its peer moved straight into
        # the publisher's: the interface names never appear in the root namespace.
        _run(["ip", "-n", self.server_netns, "link", "add", SERVER_IF, "type", "veth",
              "peer", "name", PUBLISHER_IF, "netns", self.publisher_netns])
        for ns, iface, ip in ((self.server_netns, SERVER_IF, SERVER_IP), (self.publisher_netns, PUBLISHER_IF, PUBLISHER_IP)):
            _run(["ip", "-n", ns, "addr", "add", f"{ip}/{PREFIX_LEN}", "dev", iface])
            _run(["ip", "-n", ns, "link", "set", iface, "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def _write_config(self) -> None:
        self.rec_dir.mkdir(exist_ok=True)
        self.conf_dir.mkdir(exist_ok=True)
        # Folders holding only the modules we want: Janus loads every module it finds.
        plugins, transports, empty = (self.dir / "janus-plugins", self.dir / "janus-transports", self.dir / "janus-none")
        for folder, module in ((plugins, JANUS_LIB / "plugins" / "libjanus_videoroom.so"),
                               (transports, JANUS_LIB / "transports" / "libjanus_websockets.so"),
                               (empty, None)):
            folder.mkdir(exist_ok=True)
            if module is not None and not (folder / module.name).exists():
                (folder / module.name).symlink_to(module)
        (self.conf_dir / "janus.jcfg").write_text(JANUS_JCFG.format(
            conf=self.conf_dir, plugins=plugins, transports=transports, empty=empty,
            rtp_ports=RTP_PORTS, iface=SERVER_IF, ip=SERVER_IP))
        (self.conf_dir / "janus.transport.websockets.jcfg").write_text(WEBSOCKETS_JCFG.format(port=JANUS_WS_PORT))
        (self.conf_dir / "janus.plugin.videoroom.jcfg").write_text(VIDEOROOM_JCFG.format(room=ROOM, rec=self.rec_dir))
        (self.dir / "whip-config.json").write_text(json.dumps(WHIP_CONFIG, indent=1))

    def _start_janus(self, timeout: float) -> None:
        self._janus_starts += 1
        ready_marker = "Websockets server started"
        already = self._count_in(self.janus_log, ready_marker)
        with self.janus_log.open("a") as log:
            log.write(f"\n===== onair test bed: Janus start #{self._janus_starts} =====\n")
            log.flush()
            self.janus_proc = subprocess.Popen(
                self.in_server(["janus", "-F", self.conf_dir, "-C", self.conf_dir / "janus.jcfg",
                                "-o", "-D"]),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
            )
        self._wait(lambda: self._count_in(self.janus_log, ready_marker) > already,
                   timeout, "Janus to start its WebSocket API", self.janus_proc, self.janus_log)

    def _start_whip_server(self, timeout: float) -> None:
        env = dict(os.environ)
        env.update(
            ONAIR_WHIP_CONFIG=str(self.dir / "whip-config.json"),
            ONAIR_WHIP_REQUEST_LOG=str(self.request_log),
            # whip:debug would log every SDP; info and up is what a failure report needs.
            DEBUG="whip:info,whip:warn,whip:error,janus:info,janus:warn,janus:error",
            DEBUG_COLORS="no",
            NODE_ENV="production",
        )
        ready = self._count_in(self.whip_log, "WHIP REST API listening")
        with self.whip_log.open("a") as log:
            self.whip_proc = subprocess.Popen(
                self.in_server(["node", "-r", REQUEST_LOG_JS, "src/server.js"]),
                cwd=WHIP_SERVER_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        self._wait(lambda: self._count_in(self.whip_log, "WHIP REST API listening") > ready,
                   timeout, "simple-whip-server to listen", self.whip_proc, self.whip_log)
        self._create_endpoint()

    def _create_endpoint(self) -> None:
        body = json.dumps({"id": ENDPOINT_ID, "room": ROOM, "token": self.token, "label": "onair-test"})
        # The token goes in on stdin: never on a command line a process list shows.
        done = _run(self.in_server(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                    "-H", "Content-Type: application/json", "--data-binary", "@-",
                                    f"http://127.0.0.1:{WHIP_PORT}/whip/create"]), input=body)
        if done.stdout.strip() != "200":
            raise JanusError(f"creating the WHIP endpoint answered {done.stdout.strip()}: {self.whip_log_text()[-2000:]}")

    def reset_endpoint(self) -> None:
        """Destroys and re-creates the WHIP endpoint: frees it when a failed
        publish left it "already in use" (see the module docstring)."""
        done = _run(self.in_server(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE",
                                    "-H", "@-", f"http://127.0.0.1:{WHIP_PORT}/whip/endpoint/{ENDPOINT_ID}"]),
                    input=f"Authorization: Bearer {self.token}\n")
        if done.stdout.strip() not in ("200", "404"):
            raise JanusError(f"destroying the WHIP endpoint answered {done.stdout.strip()}")
        self._create_endpoint()

    def _connected_count(self) -> int:
        return self._count_in(self.whip_log, "Connected to Janus:")

    def kill(self, whip_server: bool = False) -> None:
        """Kills Janus at once (SIGKILL), as a crash would, mid-stream or not.
        With ``whip_server``, the HTTP side dies too (connections refused)."""
        for proc in ([self.janus_proc] + ([self.whip_proc] if whip_server else [])):
            if proc is not None and proc.poll() is None:
                # ip netns exec execs the program: the pid is Janus's (node's) own.
                proc.kill()
                proc.wait()

    def restart(self, timeout: float = 20) -> float:
        """Starts whatever is not running and waits until a publish can work
        again; returns the seconds that took."""
        started = time.monotonic()
        connected_before = self._connected_count()
        whip_down = self.whip_proc is None or self.whip_proc.poll() is not None
        if self.janus_proc is None or self.janus_proc.poll() is not None:
            self._start_janus(timeout)
        if whip_down:
            self._start_whip_server(timeout)
        # simple-whip-server retries Janus every 2 s; a publish before it is back gets 503.
        self._wait(lambda: self._connected_count() > connected_before, timeout,
                   "simple-whip-server to reconnect to Janus", self.whip_proc, self.whip_log)
        return time.monotonic() - started

    def stop(self) -> None:
        """Ends Janus gracefully (it closes its recordings) and the WHIP server."""
        for proc in (self.whip_proc, self.janus_proc):
            process.end(proc, timeout=10)

    def close(self) -> None:
        """Stops everything and removes the namespaces; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        finally:
            if self._namespaces_made:
                for ns in (self.publisher_netns, self.server_netns):
                    _delete_netns(ns)
            atexit.unregister(self.close)

    def __enter__(self) -> "JanusWhip":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- what the server saw --------------------------------------------------

    def requests(self, method: Optional[str] = None, path: Optional[str] = None) -> list[dict]:
        """The WHIP server's answered requests, oldest first: dicts with
        method, path, status, auth (the scheme only), content_type, if_match,
        location, at_ms (epoch ms) and ms (time to answer)."""
        if not self.request_log.exists():
            return []
        found = []
        for line in self.request_log.read_text().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            if method and entry["method"] != method:
                continue
            if path and not entry["path"].startswith(path):
                continue
            found.append(entry)
        return found

    def publishes(self) -> list[dict]:
        """POSTs of an offer to our endpoint (any status)."""
        return self.requests("POST", f"/whip/endpoint/{ENDPOINT_ID}")

    def deletes(self) -> list[dict]:
        """DELETEs of the WHIP resource (any status; 200 means torn down)."""
        return self.requests("DELETE", self.resource_path)

    def wait_for_request(self, method: str, path: Optional[str] = None, count: int = 1, timeout: float = 5) -> list[dict]:
        """Waits until at least ``count`` such requests were answered."""
        self._wait(lambda: len(self.requests(method, path)) >= count, timeout, f"{count} {method} request(s)")
        return self.requests(method, path)

    def recordings(self) -> list[Recording]:
        """One Recording per publish so far, oldest first."""
        return group_recordings(self.rec_dir)

    def wait_for_recording(self, index: int = 0, min_bytes: int = 4_000, timeout: float = 15) -> Recording:
        """Waits until publish number ``index`` (0 = the first) has video and
        audio files of at least ``min_bytes`` each: media is arriving."""
        def big_enough() -> bool:
            recs = self.recordings()
            if len(recs) <= index:
                return False
            r = recs[index]
            return all(p is not None and p.exists() and p.stat().st_size >= min_bytes for p in (r.video_mjr, r.audio_mjr))
        self._wait(big_enough, timeout, f"recording #{index} to grow past {min_bytes} bytes")
        return self.recordings()[index]

    def wait_recordings_idle(self, quiet: float = 1.0, timeout: float = 10) -> None:
        """Waits until no .mjr file has grown for ``quiet`` seconds."""
        def sizes():
            return {p: p.stat().st_size for p in self.rec_dir.glob("*.mjr")}
        last, since = sizes(), time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = sizes()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
        raise JanusError(f"recordings still growing after {timeout} s")

    def janus_log_text(self) -> str:
        return self.janus_log.read_text(errors="replace") if self.janus_log.exists() else ""

    def whip_log_text(self) -> str:
        return self.whip_log.read_text(errors="replace") if self.whip_log.exists() else ""

    def describe(self) -> str:
        """Logs for an assertion message."""
        reqs = "\n".join(json.dumps(r) for r in self.requests()[-20:])
        return (f"--- test bed in {self.dir} ---\n--- WHIP requests ---\n{reqs}\n--- simple-whip-server ---\n{self.whip_log_text()[-3000:]}\n"
                f"--- Janus ---\n{self.janus_log_text()[-4000:]}")

    # --- helpers --------------------------------------------------------------

    @staticmethod
    def _count_in(path: Path, text: str) -> int:
        try:
            return path.read_text(errors="replace").count(text)
        except FileNotFoundError:
            return 0

    def _wait(self, ready, timeout: float, what: str, proc: Optional[subprocess.Popen] = None,
              log: Optional[Path] = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if proc is not None and proc.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
                raise JanusError(f"exited ({proc.returncode}) while waiting for {what}:\n{tail}")
            time.sleep(0.05)
        raise JanusError(f"timed out after {timeout} s waiting for {what}\n{self.describe()}")



# ---------------------------------------------------------------------------
# The independent publisher (aiortc), for the test bed's own checks

WHIP_PUBLISH = Path(__file__).with_name("whip_publish.py")


class ReferencePublisher:
    """whip_publish.py (aiortc) run in the publisher's namespace::

        pub = ReferencePublisher(janus, seconds=5).start()
        pub.wait(timeout=30)
        pub.answer["status"]  # 201

    ``token`` defaults to the bed's; ``no_token`` sends no Authorization header."""

    def __init__(self, janus: JanusWhip, seconds: float = 5.0, token: Optional[str] = None,
                 url: Optional[str] = None, delete: bool = True, no_token: bool = False,
                 extra: Sequence[str] = ()):
        self.janus = janus
        self.token = janus.token if token is None else token
        args = ["--url", url or janus.url, "--seconds", str(seconds), *extra]
        if not delete:
            args.append("--no-delete")
        if no_token:
            args.append("--no-token")
        self.cmd = janus.wrap([sys.executable, WHIP_PUBLISH, *args])
        self.proc: Optional[subprocess.Popen] = None
        self.stdout = self.stderr = ""
        self.events: list[dict] = []

    def start(self) -> "ReferencePublisher":
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write((self.token or "") + "\n")
        self.proc.stdin.close()
        self.proc.stdin = None  # already closed: communicate() must not flush it
        return self

    def wait(self, timeout: float = 60) -> int:
        try:
            self.stdout, self.stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.stdout, self.stderr = self.proc.communicate()
            raise
        self.events = [json.loads(l) for l in self.stdout.splitlines() if l.startswith("{")]
        return self.proc.returncode

    def run(self, timeout: float = 60) -> "ReferencePublisher":
        self.start()
        self.wait(timeout)
        return self

    def event(self, name: str) -> Optional[dict]:
        return next((e for e in self.events if e.get("event") == name), None)

    @property
    def answer(self) -> dict:
        return self.event("answer") or {}

    @property
    def returncode(self) -> Optional[int]:
        return self.proc.returncode if self.proc else None

    def describe(self) -> str:
        return f"{' '.join(map(str, self.cmd))} -> {self.returncode}\n{self.stdout[-3000:]}\n{self.stderr[-3000:]}"
