"""A real nginx-rtmp ingest on 127.0.0.1 for the RTMP suites.

``Nginx(dir)`` writes the TESTBED configuration into ``dir`` with free ports:
application ``live`` (records every stream to ``rec/KEY.flv``), application
``secure`` (an ``on_publish`` check that accepts only ``GOODKEY``) and an
RTMPS port where nginx's stream module terminates TLS with a leaf certificate
signed by a throwaway CA (``ca.pem``; point ``SSL_CERT_FILE`` at it so rustls
trusts it). A second, self-signed certificate on another port (``bad_tls_port``)
is trusted by nobody.

    with Nginx(tmp_path) as server:
        url = f"rtmp://127.0.0.1:{server.rtmp_port}/live"

With ``notify_url`` (an HTTP base URL, e.g. a ``PlatformBackend``'s), nginx
also serves application ``platform``, whose ``on_publish`` and
``on_publish_done`` go to ``NOTIFY_URL/nginx/on_publish`` and
``NOTIFY_URL/nginx/on_publish_done`` (POST form, the stream key in
``name``) and which records like ``live``. Publishes to it are refused
unless that URL answers 2xx. Without ``notify_url`` the configuration is
exactly the one above.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

GOOD_KEY = "GOODKEY"
MODULES = Path("/usr/lib/nginx/modules")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> None:
    """ca.pem/ca.key, cert.pem/key.pem (leaf for localhost and 127.0.0.1,
    signed by the CA; rustls refuses a CA used as the leaf), and a self-signed
    bad.pem/bad.key nobody trusts."""
    d = directory
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Onair Test CA",
             "-keyout", "ca.key", "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "key.pem", "-out", "leaf.csr", cwd=d)
    (d / "leaf.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "leaf.ext", "-out", "cert.pem", cwd=d)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", "bad.key", "-out", "bad.pem", cwd=d)


CONFIG = """
load_module {modules}/ngx_rtmp_module.so;
load_module {modules}/ngx_stream_module.so;
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
rtmp {{
  server {{
    listen {ip}:{rtmp_port};
    chunk_size 4096;
    application live {{ live on; record all; record_path {rec}; record_unique off; }}
    application secure {{
      live on; notify_method get;
      on_publish http://127.0.0.1:{http_port}/on_publish;
      record all; record_path {rec};
    }}{platform_app}
  }}
}}
http {{
  access_log {dir}/access.log;
  client_body_temp_path {dir}/tmp/body;
  proxy_temp_path {dir}/tmp/proxy;
  fastcgi_temp_path {dir}/tmp/fastcgi;
  uwsgi_temp_path {dir}/tmp/uwsgi;
  scgi_temp_path {dir}/tmp/scgi;
  server {{
    listen 127.0.0.1:{http_port};
    location = /on_publish {{ if ($arg_name = "{good_key}") {{ return 200; }} return 403; }}
  }}
}}
stream {{
  server {{
    listen 127.0.0.1:{tls_port} ssl;
    ssl_certificate {dir}/cert.pem; ssl_certificate_key {dir}/key.pem;
    proxy_pass {ip}:{rtmp_port};
  }}
  server {{
    listen 127.0.0.1:{bad_tls_port} ssl;
    ssl_certificate {dir}/bad.pem; ssl_certificate_key {dir}/bad.key;
    proxy_pass {ip}:{rtmp_port};
  }}
}}
"""


PLATFORM_APP = """
    application platform {{
      live on;
      on_publish {notify_url}/nginx/on_publish;
      on_publish_done {notify_url}/nginx/on_publish_done;
      record all; record_path {rec}; record_unique off;
    }}"""


class Nginx:
    def __init__(self, directory: Path, wrap: Sequence[str] = (), notify_url: Optional[str] = None,
                 ip: str = "127.0.0.1"):
        """``wrap`` prefixes the nginx command (e.g. ``ip netns exec NS``).
        ``ip``: the address RTMP listens on, e.g. an ``Uplink``'s host side
        for a publisher in another namespace (RTMPS and HTTP stay on 127.0.0.1).
        ``notify_url`` adds application ``platform``, whose publish callbacks
        go to that HTTP base URL (it must be reachable from nginx's network
        namespace)."""
        self.dir = Path(directory)
        self.wrap = list(wrap)
        self.notify_url = notify_url.rstrip("/") if notify_url else None
        self.ip = ip
        self.rtmp_port = free_port()
        self.http_port = free_port()
        self.tls_port = free_port()
        self.bad_tls_port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.dir.mkdir(parents=True, exist_ok=True)
        # The worker runs as nobody, who cannot enter a private temp dir
        # (pytest's are 0700): recordings go to a world-writable one in /tmp.
        self.rec = Path(tempfile.mkdtemp(prefix="onair-rec-"))
        os.chmod(self.rec, 0o1777)
        (self.dir / "tmp").mkdir(exist_ok=True)
        make_certificates(self.dir)
        platform_app = PLATFORM_APP.format(notify_url=self.notify_url, rec=self.rec) if self.notify_url else ""
        (self.dir / "nginx.conf").write_text(
            CONFIG.format(
                modules=MODULES,
                ip=self.ip,
                dir=self.dir,
                rec=self.rec,
                rtmp_port=self.rtmp_port,
                http_port=self.http_port,
                tls_port=self.tls_port,
                bad_tls_port=self.bad_tls_port,
                good_key=GOOD_KEY,
                platform_app=platform_app,
            )
        )

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    def url(self, app: str = "live", tls: bool = False, host: Optional[str] = None) -> str:
        if tls:
            return f"rtmps://{host or '127.0.0.1'}:{self.tls_port}/{app}"
        return f"rtmp://{host or self.ip}:{self.rtmp_port}/{app}"

    def recording(self, key: str) -> Path:
        return self.rec / f"{key}.flv"

    def start(self, timeout: float = 10) -> "Nginx":
        if shutil.which("nginx") is None:
            raise RuntimeError("nginx is not installed")
        self.proc = subprocess.Popen(
            [*self.wrap, "nginx", "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode(errors='replace')}")
            if self._listening():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen within {timeout} s: {self.error_log()[-2000:]}")

    def _listening(self) -> bool:
        if self.wrap:
            # Inside another network namespace: trust the pid file.
            return (self.dir / "nginx.pid").exists()
        try:
            with socket.create_connection((self.ip, self.rtmp_port), timeout=0.2):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """Dies at once, as a crashed server would (master and worker)."""
        if self.proc and self.proc.poll() is None:
            pid_file = self.dir / "nginx.pid"
            workers = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
            self.proc.send_signal(signal.SIGKILL)
            for w in workers:
                try:
                    os.kill(int(w), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            self.proc.wait()
            pid_file.unlink(missing_ok=True)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finishes recordings
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> "Nginx":
        return self.start()

    def cleanup(self) -> None:
        shutil.rmtree(self.rec, ignore_errors=True)

    def __exit__(self, *exc) -> None:
        self.stop()
        self.cleanup()


def wait_closed(path: Path, timeout: float = 10) -> None:
    """nginx finishes a recording when the publisher leaves; wait for that."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else -1
        if size > 0 and size == last:
            return
        last = size
        time.sleep(0.5)
