"""scripts/cluster: HAProxy in front of two onestopd nodes takes a node killed with SIGKILL
out of service by its /readyz health check, and requests keep working through the other; the
script stops everything it started."""
import csv
import io
import os
import re
import signal
import subprocess
import urllib.request

import pytest

from onestop_env import ROOT, free_port, request, wait_until

CLUSTER = os.path.join(ROOT, "scripts", "cluster")


def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/;csv", timeout=5) as r:
        text = r.read().decode().lstrip("# ")
    return {(row["pxname"], row["svname"]): row["status"] for row in csv.DictReader(io.StringIO(text))}


@pytest.mark.slow
def test_a_killed_node_is_taken_out_and_the_other_serves(tmp_path):
    port, stats_port, n1, n2, sim, smtp = (free_port() for _ in range(6))
    proc = subprocess.Popen([CLUSTER, "--no-build", "--for", "600", "--port", str(port),
                             "--node-ports", str(n1), str(n2), "--stats-port", str(stats_port),
                             "--sim-port", str(sim), "--smtp-port", str(smtp),
                             "--run-dir", str(tmp_path / "cluster")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids, lines = {}, []
    try:
        for line in proc.stdout:
            lines.append(line)
            m = re.match(r"== (\w+) started \(pid (\d+)\)", line)
            if m:
                pids[m.group(1)] = int(m.group(2))
            if "onestop cluster is running" in line:
                break
        assert "node1" in pids and "node2" in pids and "haproxy" in pids, "".join(lines)
        wait_until(lambda: stats(stats_port)[("nodes", "node1")] == "UP" and
                   stats(stats_port)[("nodes", "node2")] == "UP", what="both nodes UP")

        os.kill(pids["node1"], signal.SIGKILL)
        wait_until(lambda: stats(stats_port)[("nodes", "node1")].startswith("DOWN"),
                   timeout=10, what="HAProxy to mark node1 DOWN")
        assert stats(stats_port)[("nodes", "node2")] == "UP"
        answers = [request(port, "GET", "/readyz").status for _ in range(30)]
        assert answers == [200] * 30
        signed_in = request(port, "POST", "/api/v1/sessions",
                            {"username": "assistant", "password": "onestop-demo",
                             "counter": "SD-01"})
        assert signed_in.status == 201, signed_in
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[0]
    assert "the cluster has stopped" in rest
    for name, pid in pids.items():
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z", name
