"""A DCGM-exporter stand-in on 127.0.0.1 with a known power profile, and a real Prometheus server scraping it.

``FakeDcgmExporter`` serves ``/metrics`` in the DCGM exporter's format for two GPUs of one host:
``DCGM_FI_DEV_POWER_USAGE`` (W, the power at the moment of the scrape) and
``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`` (mJ, the exact integral of that power since the exporter
started). GPU 0 draws ``250 + 50 sin(2 pi t / 4)`` W, GPU 1 a constant 400 W, so the energy of any window
is known in closed form (``energy_j``).

``PrometheusServer`` runs Debian's ``prometheus`` binary on a free loopback port with a temporary config
and storage, scraping the exporter every ``scrape_s``.
"""
from __future__ import annotations

import math
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOST = "h20-node-1"


def power_w(gpu: int, t: float) -> float:
    return 250.0 + 50.0 * math.sin(2 * math.pi * t / 4.0) if gpu == 0 else 400.0


def energy_j(gpu: int, t: float) -> float:
    """The integral of ``power_w`` from 0 to ``t``."""
    if gpu == 0:
        return 250.0 * t + 50.0 * (4.0 / (2 * math.pi)) * (1 - math.cos(2 * math.pi * t / 4.0))
    return 400.0 * t


class FakeDcgmExporter:
    def __init__(self):
        self.t_start = time.time()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                t = time.time() - fake.t_start
                lines = ["# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).", "# TYPE DCGM_FI_DEV_POWER_USAGE gauge"]
                for g in (0, 1):
                    lines.append(f'DCGM_FI_DEV_POWER_USAGE{{gpu="{g}",UUID="GPU-{g:04d}",Hostname="{HOST}",'
                                 f'modelName="NVIDIA H20"}} {power_w(g, t):.6f}')
                lines += ["# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).",
                          "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter"]
                for g in (0, 1):
                    lines.append(f'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{gpu="{g}",UUID="GPU-{g:04d}",'
                                 f'Hostname="{HOST}",modelName="NVIDIA H20"}} {energy_j(g, t) * 1000:.3f}')
                data = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def window_j(self, t0: float, t1: float) -> dict[int, float]:
        """Each GPU's joules between two wall-clock times."""
        return {g: energy_j(g, t1 - self.t_start) - energy_j(g, t0 - self.t_start) for g in (0, 1)}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusServer:
    def __init__(self, target_port: int, scrape_s: float = 0.25):
        self.binary = shutil.which("prometheus")
        self.dir = Path(tempfile.mkdtemp(prefix="bench-prom-"))
        self.port = free_port()
        ms = int(scrape_s * 1000)
        (self.dir / "prometheus.yml").write_text(
            f"global:\n  scrape_interval: {ms}ms\n  scrape_timeout: {ms}ms\n"
            f"scrape_configs:\n  - job_name: dcgm\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.proc.stderr.read().decode()[-500:]}")
            try:
                q = f"{self.url}/api/v1/query?query=DCGM_FI_DEV_POWER_USAGE"
                with urllib.request.urlopen(q, timeout=2) as r:
                    if b'"result":[{' in r.read():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("prometheus did not scrape the exporter in time")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
