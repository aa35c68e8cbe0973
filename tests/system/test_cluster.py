"""scripts/cluster: two onestopd nodes on one PostgreSQL behind HAProxy.

HAProxy takes a node killed with SIGKILL out of service by its /readyz health check and
requests keep working through the other; the script stops everything it started.

The kill test (issue 15 part 4): a burst of sales through HAProxy from several client
threads, one node killed with `kill -9` in the middle, the clients carrying on through the
other and retrying every unacknowledged sale with its Idempotency-Key. Then every sale
acknowledged is stored exactly once (by reference and by idempotency key), delivered exactly
once (the simulator's log holds one request per idempotency key; a request whose outcome the
dead node had not recorded is sent again by the other once its lease runs out, and answered
from the back-end's idempotency store), its receipt printed once (a raw socket printer: one
job per reference, but for the one the dead node had at the printer, see below), and the
audit chain verifies. HAProxy sends one client address to one node (`balance source`), so the
node killed is the one the burst goes to. Before the burst: one vehicle sold through both nodes
at once gets exactly one permit."""
import csv
import io
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
import uuid

import pytest

from onestop_env import DEMO_PASSWORD, ROOT, free_port, request, wait_until
from postgres import bindir, lock_sessions_sql
from printenv import RawPrinter
from txn_helpers import IN_ZONE, parking, today

CLUSTER = os.path.join(ROOT, "scripts", "cluster")
ONESTOP = os.path.join(os.environ.get("ONESTOP_BUILD_DIR", os.path.join(ROOT, "build")),
                       "gateway", "onestop")
TOTAL = int(os.environ.get("ONESTOP_CLUSTER_TOTAL", "1000"))
CLIENTS = 8
BURST_DEADLINE_S = 90
SETTLE_TIMEOUT_S = 60  # deliveries and receipts after the burst (a dead node's leases expire)
FLOAT_PENCE = 5000


def stats(port, column="status"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/;csv", timeout=5) as r:
        text = r.read().decode().lstrip("# ")
    return {(row["pxname"], row["svname"]): row[column] for row in csv.DictReader(io.StringIO(text))}


class Cluster:
    def __init__(self, tmp_path, printer_uri=None, env=None):
        self.port, self.stats_port, n1, n2, self.sim_port, smtp = (free_port() for _ in range(6))
        self.node_ports = (n1, n2)
        self.run_dir = str(tmp_path / "cluster")
        argv = [CLUSTER, "--no-build", "--for", "600", "--port", str(self.port),
                "--node-ports", str(n1), str(n2), "--stats-port", str(self.stats_port),
                "--sim-port", str(self.sim_port), "--smtp-port", str(smtp),
                "--run-dir", self.run_dir]
        if printer_uri:
            argv += ["--printer-uri", printer_uri, "--printer-format", "escpos"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=dict(os.environ, **(env or {})))
        self.pids, self.lines = {}, []
        for line in self.proc.stdout:
            self.lines.append(line)
            m = re.match(r"== (\w+) started \(pid (\d+)\)", line)
            if m:
                self.pids[m.group(1)] = int(m.group(2))
            if "onestop cluster is running" in line:
                break
        assert "node1" in self.pids and "node2" in self.pids and "haproxy" in self.pids, \
            "".join(self.lines)
        wait_until(lambda: stats(self.stats_port)[("nodes", "node1")] == "UP" and
                   stats(self.stats_port)[("nodes", "node2")] == "UP", what="both nodes UP")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rest = self.proc.communicate(timeout=60)[0]
        assert "the cluster has stopped" in rest
        for name, pid in self.pids.items():
            assert not os.path.exists(f"/proc/{pid}") or \
                open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z", name

    def sql(self, query):
        """Rows of query on the cluster's database, as lists of strings."""
        with open(os.path.join(self.run_dir, "postgresql.conninfo")) as f:
            conninfo = f.read().strip()
        out = subprocess.run([os.path.join(bindir(), "psql"), "-X", "-q", "-A", "-t",
                              "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", query],
                             capture_output=True, text=True, check=True, timeout=30)
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def sign_in(self, port=None, counter="SD-01"):
        r = request(port or self.port, "POST", "/api/v1/sessions",
                    {"username": "assistant", "password": DEMO_PASSWORD, "counter": counter})
        assert r.status == 201, r
        token = r.json["token"]
        r = request(port or self.port, "POST", "/api/v1/till/open",
                    {"float_pence": FLOAT_PENCE}, token=token)
        assert r.status in (201, 409), r
        return token

    def serving(self):
        """The node HAProxy sends this client to (`balance source`: one node per client
        address while it lives) and the other one, as (1, 2) or (2, 1)."""
        request(self.port, "GET", "/readyz")
        sessions = stats(self.stats_port, "stot")
        one = int(sessions[("nodes", "node1")]) > int(sessions[("nodes", "node2")])
        return (1, 2) if one else (2, 1)

    def node_log(self, i):
        with open(os.path.join(self.run_dir, f"node{i}.log"), errors="replace") as f:
            return f.read()


@pytest.mark.slow
def test_a_killed_node_is_taken_out_and_the_other_serves(tmp_path):
    c = Cluster(tmp_path)
    try:
        served, other = c.serving()
        os.kill(c.pids[f"node{served}"], signal.SIGKILL)
        wait_until(lambda: stats(c.stats_port)[("nodes", f"node{served}")].startswith("DOWN"),
                   timeout=10, what="HAProxy to mark the serving node DOWN")
        assert stats(c.stats_port)[("nodes", f"node{other}")] == "UP"
        answers = [request(c.port, "GET", "/readyz").status for _ in range(30)]
        assert answers == [200] * 30
        signed_in = request(c.port, "POST", "/api/v1/sessions",
                            {"username": "assistant", "password": DEMO_PASSWORD,
                             "counter": "SD-01"})
        assert signed_in.status == 201, signed_in
    finally:
        c.stop()


def visitor_permit():
    return {"uprn": "100011429101", "permit_type": "visitor", "start_date": today(),
            "blue_badge": False, "leisure_key_band": "none"}


def one_vehicle_through_both_nodes(c, token, trial):
    """The same vehicle sold through node1 and node2 at the same moment."""
    fields = parking(uprn=IN_ZONE[trial % len(IN_ZONE)], vrm=f"CL{51 + trial}NOD")
    body = {"service": "residents-parking-permit", "fields": fields,
            "payment": {"method": "card", "auth_code": "LIMIT1"}}
    start = threading.Barrier(2)
    statuses = [None, None]

    def sell(i):
        start.wait(timeout=10)
        r = request(c.node_ports[i], "POST", "/api/v1/transactions", body, token=token,
                    headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=30)
        statuses[i] = (r.status, r.body[:200])

    threads = [threading.Thread(target=sell, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    return sorted(s for s, _ in statuses), statuses


@pytest.mark.slow
def test_kill9_of_a_node_during_a_burst_through_haproxy(tmp_path):
    printer = RawPrinter()
    c = Cluster(tmp_path, printer_uri=printer.uri)
    began = time.monotonic()
    try:
        token = c.sign_in()
        served, other = c.serving()  # the node the burst goes to, killed in the middle

        # a limit held by the database: one live permit per vehicle across both nodes
        for trial in range(5):
            got, statuses = one_vehicle_through_both_nodes(c, token, trial)
            assert got[0] == 201 and got[1] in (409, 422), statuses

        keys = [str(uuid.uuid4()) for _ in range(TOTAL)]
        acked, errors, lock = {}, [], threading.Lock()
        deadline = time.monotonic() + BURST_DEADLINE_S

        def client(mine):
            body = {"service": "residents-parking-permit", "fields": visitor_permit(),
                    "payment": {"method": "card", "auth_code": "BURST1"}}
            for key in mine:
                while time.monotonic() < deadline:
                    try:
                        r = request(c.port, "POST", "/api/v1/transactions", body, token=token,
                                    headers={"Idempotency-Key": key}, timeout=15)
                    except OSError:
                        time.sleep(0.05)  # no answer: retried with the same key
                        continue
                    if r.status in (200, 201):
                        with lock:
                            ref = r.json["reference"]
                            if key in acked and acked[key] != ref:
                                errors.append(f"{key}: {acked[key]} then {ref}")
                            acked[key] = ref
                        break
                    if r.status in (502, 503, 504):
                        time.sleep(0.05)  # the node went away under HAProxy: retried
                        continue
                    errors.append(f"{key}: {r.status} {r.body[:200]!r}")
                    break

        threads = [threading.Thread(target=client, args=(keys[i::CLIENTS],))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        wait_until(lambda: len(acked) >= TOTAL // 3, timeout=60, interval=0.01,
                   what="a third acknowledged")
        os.kill(c.pids[f"node{served}"], signal.SIGKILL)
        killed_at = len(acked)
        for t in threads:
            t.join(BURST_DEADLINE_S)
        burst_s = time.monotonic() - began
        assert not errors, errors[:5]
        assert len(acked) == TOTAL, f"{len(acked)} of {TOTAL} acknowledged"
        assert 0 < killed_at < TOTAL
        wait_until(lambda: stats(c.stats_port)[("nodes", f"node{served}")].startswith("DOWN"),
                   timeout=10, what="HAProxy to mark the serving node DOWN")

        # stored exactly once, by reference and by idempotency key
        refs = set(acked.values())
        burst = "SELECT t.reference FROM transactions t JOIN idempotency i" \
                " ON i.transaction_id = t.id WHERE t.service = 'residents-parking-permit'" \
                " AND t.reference IN (%s)" % ",".join(f"'{r}'" for r in refs)
        stored = [r for (r,) in c.sql(burst)]
        assert len(stored) == TOTAL and set(stored) == refs
        per_key = c.sql("SELECT key, COUNT(*) FROM idempotency GROUP BY key")
        counts = {k: int(n) for k, n in per_key}
        assert all(counts.get(k) == 1 for k in acked), "a key stored twice or not at all"
        assert len(refs) == TOTAL

        # delivered exactly once: one request per idempotency key at the back-end
        def delivered():
            got = request(c.sim_port, "GET", "/_sim/received?backend=parking").json
            seen = [g["reference"] for g in got["requests"] if g["reference"] in refs]
            return len(seen) >= TOTAL and (seen, got["attempts"])

        seen, attempts = wait_until(delivered, timeout=SETTLE_TIMEOUT_S, interval=0.5,
                                    what="every sale delivered")
        assert len(seen) == len(set(seen)) == TOTAL
        wait_until(lambda: c.sql("SELECT COUNT(*) FROM deliveries WHERE state='delivered'"
                                 " AND lease_owner IS NULL")[0][0] == str(TOTAL + 5),
                   timeout=SETTLE_TIMEOUT_S, interval=0.5, what="every delivery recorded")

        # printed once: one job at the printer per reference. A raw socket printer gives no
        # job id, so the one receipt that was at the dead node's printer (`printing`, no job
        # id) cannot be re-checked and is sent again by the node that takes the printer over
        # (spooler.c resume_job: a missing receipt is worse than a duplicate); at most one
        # per printer, and logged as print_resubmit.
        wait_until(lambda: c.sql("SELECT COUNT(*) FROM print_jobs WHERE state='printed'")[0][0]
                   == str(TOTAL + 5), timeout=SETTLE_TIMEOUT_S, interval=0.5,
                   what="every receipt printed")
        wait_until(lambda: len(printer.jobs()) >= TOTAL + 5, timeout=10,
                   what="every receipt at the printer")
        jobs = printer.jobs()
        printed = {ref: sum(1 for j in jobs if ref.encode() in j) for ref in refs}
        assert all(n >= 1 for n in printed.values()), "a receipt never printed"
        twice = [r for r, n in printed.items() if n > 1]
        assert len(twice) <= 1 and all(printed[r] == 2 for r in twice), twice
        resent = c.node_log(other)
        assert all(f"{r}: sending print job" in resent for r in twice), twice

        # the audit chain never forked with two nodes writing it
        verify = subprocess.run([ONESTOP, "--config", os.path.join(c.run_dir, f"node{other}.json"),
                                 "audit", "verify"], capture_output=True, text=True, timeout=60)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        print(f"\ncluster kill test: {TOTAL} acknowledged ({killed_at} before the kill), "
              f"{len(stored)} stored, {len(seen)} delivered ({attempts} requests at the "
              f"back-end), {len(jobs)} printed ({len(twice)} sent again after the kill); "
              f"burst {burst_s:.1f} s, "
              f"all settled {time.monotonic() - began:.1f} s")
    finally:
        printer.stop()
        c.stop()


PRINTER = "sd01-receipt"  # config/onestop.json's one printer


PRINTER_LOCK_SESSIONS = lock_sessions_sql("printer", PRINTER)  # the session holding it
LOCK_KILLS = 3
SALES_BETWEEN_KILLS = 12


@pytest.mark.slow
def test_a_node_that_loses_its_printer_lock_stops_and_takes_it_again(tmp_path):
    """A printer's lock goes with its database session. The session is ended under the node
    (pg_terminate_backend, as a server restart or a network cut would) while sales keep
    coming: the node notices before its next job (printer_lost), stops printing, and a node
    takes the lock again (printer_held) only when it is free. Every receipt comes out once:
    two nodes never work the queue together, and a job in flight at the node that lost the
    lock is not sent again by the next holder."""
    printer = RawPrinter()
    c = Cluster(tmp_path, printer_uri=printer.uri)

    def logged(event):
        return sum(c.node_log(i).count(f'"{event}"') for i in (1, 2))

    try:
        token = c.sign_in()
        wait_until(lambda: logged("printer_held") == 1, what="one node holding the printer")
        refs, errors, lock, stop = [], [], threading.Lock(), threading.Event()

        def seller():
            body = {"service": "residents-parking-permit", "fields": visitor_permit(),
                    "payment": {"method": "card", "auth_code": "LOCK01"}}
            while not stop.is_set():
                r = request(c.port, "POST", "/api/v1/transactions", body, token=token,
                            headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=15)
                with lock:
                    if r.status == 201:
                        refs.append(r.json["reference"])
                    else:
                        errors.append(f"{r.status} {r.body[:200]!r}")

        threads = [threading.Thread(target=seller) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            for kill in range(LOCK_KILLS):
                wait_until(lambda: len(refs) >= (kill + 1) * SALES_BETWEEN_KILLS, timeout=60,
                           what="sales between the kills")
                pids = wait_until(lambda: c.sql(PRINTER_LOCK_SESSIONS), timeout=10,
                                  what="the printer lock's session")
                assert len(pids) == 1, pids
                assert c.sql(f"SELECT pg_terminate_backend({int(pids[0][0])})") == [["t"]]
                wait_until(lambda: logged("printer_lost") == kill + 1, timeout=15,
                           what="the node to notice it lost the printer")
                wait_until(lambda: logged("printer_held") == kill + 2, timeout=15,
                           what="a node to take the printer again")
            wait_until(lambda: len(refs) >= (LOCK_KILLS + 1) * SALES_BETWEEN_KILLS, timeout=60,
                       what="sales after the last kill")
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        assert not errors, errors[:5]

        # every receipt printed, and printed once
        total = len(refs)
        wait_until(lambda: c.sql("SELECT COUNT(*) FROM print_jobs WHERE state='printed'"
                                 " AND transaction_id IS NOT NULL")[0][0] == str(total),
                   timeout=SETTLE_TIMEOUT_S, interval=0.5, what="every receipt printed")
        wait_until(lambda: len(printer.jobs()) >= total, timeout=10,
                   what="every receipt at the printer")
        jobs = printer.jobs()
        printed = {ref: sum(1 for j in jobs if ref.encode() in j) for ref in refs}
        assert [r for r, n in printed.items() if n != 1] == [], printed
        assert len(jobs) == total
        assert logged("printer_lost") == LOCK_KILLS
        assert logged("printer_held") == LOCK_KILLS + 1
    finally:
        printer.stop()
        c.stop()


# Longer than the 40 s the other node used to wait before sending a job again (the longest a
# socket send could take), so that a bound on time, not a check on the sender, prints twice.
SEND_STALL_MS = 45000


@pytest.mark.slow
def test_a_job_still_held_by_a_stalled_sender_is_not_sent_again_until_it_is_gone(tmp_path):
    """A node sending a receipt to a raw socket printer (which gives no job id to ask about)
    stalls in the middle of the send (a failpoint holds each job's first send) and loses the
    printer's lock meanwhile. The node that takes the printer over must leave that job alone
    while its sender is alive, however long it stalls: the receipt comes out once, from the
    sender. Then the same with the sender killed (kill -9) while it stalls: the other node
    sends the job again at once, and it comes out once."""
    printer = RawPrinter()
    c = Cluster(tmp_path, printer_uri=printer.uri,
                env={"ONESTOP_FAILPOINTS": f"print_first_attempt_sending={SEND_STALL_MS}"})

    def holder():
        pids = wait_until(lambda: c.sql(PRINTER_LOCK_SESSIONS), timeout=15,
                          what="the printer lock's session")
        assert len(pids) == 1, pids
        return int(pids[0][0])

    def held_by(i, times):
        return c.node_log(i).count('"printer_held"') == times

    def sell_one(token):
        body = {"service": "residents-parking-permit", "fields": visitor_permit(),
                "payment": {"method": "card", "auth_code": "STALL1"}}
        r = request(c.port, "POST", "/api/v1/transactions", body, token=token,
                    headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=15)
        assert r.status == 201, r
        return r.json["reference"]

    def at_printer(ref):
        return sum(1 for j in printer.jobs() if ref.encode() in j)

    def busy(i, ref):
        """Node i logged that it leaves ref's job to the node still sending it."""
        return any('"print_attempt_busy"' in line and ref in line
                   for line in c.node_log(i).splitlines())

    def stalled(i, ref):
        return '"failpoint_reached"' in c.node_log(i) and c.sql(
            "SELECT j.state, j.job_id IS NULL FROM print_jobs j JOIN transactions t"
            f" ON t.id = j.transaction_id WHERE t.reference = '{ref}'") == [["printing", "t"]]

    try:
        token = c.sign_in()
        wait_until(lambda: held_by(1, 1) or held_by(2, 1), what="one node holding the printer")
        sender = 1 if held_by(1, 1) else 2
        other = 3 - sender

        # 1. the sender stalls longer than the old bound, alive: the other node waits for it
        ref = sell_one(token)
        wait_until(lambda: stalled(sender, ref), timeout=15, what="the first send stalled")
        assert c.sql(f"SELECT pg_terminate_backend({holder()})") == [["t"]]
        wait_until(lambda: held_by(other, 1), timeout=15, what="the other node taking the printer")
        wait_until(lambda: c.sql("SELECT state FROM print_jobs j JOIN transactions t ON"
                                 f" t.id = j.transaction_id WHERE t.reference = '{ref}'")
                   == [["printed"]], timeout=SEND_STALL_MS / 1000 + 30, interval=0.5,
                   what="the receipt printed")
        wait_until(lambda: f"{ref} printed on" in c.node_log(sender) or
                   "print_move_refused" in c.node_log(sender), timeout=SEND_STALL_MS / 1000,
                   interval=0.2, what="the stalled sender done")
        assert at_printer(ref) == 1, printer.jobs()
        assert f"{ref} printed on" in c.node_log(sender)
        assert f"{ref}: sending print job" not in c.node_log(other)
        assert busy(other, ref)

        # 2. the new holder's first send stalls and it loses the printer; killed while it
        # stalls, its job is sent again at once by the first node
        ref2 = sell_one(token)
        wait_until(lambda: stalled(other, ref2), timeout=15, what="the second send stalled")
        assert c.sql(f"SELECT pg_terminate_backend({holder()})") == [["t"]]
        wait_until(lambda: held_by(sender, 2), timeout=15,
                   what="the first node taking the printer again")
        wait_until(lambda: busy(sender, ref2), timeout=15,
                   what="the first node leaving the held job alone")
        assert at_printer(ref2) == 0
        os.kill(c.pids[f"node{other}"], signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: at_printer(ref2) >= 1, timeout=30, interval=0.2,
                   what="the job sent again once its sender is gone")
        resent_s = time.monotonic() - killed
        wait_until(lambda: c.sql("SELECT state FROM print_jobs j JOIN transactions t ON"
                                 f" t.id = j.transaction_id WHERE t.reference = '{ref2}'")
                   == [["printed"]], timeout=10, what="the second receipt printed")
        assert at_printer(ref2) == 1
        assert f"{ref2}: sending print job" in c.node_log(sender)
        assert resent_s < 10, resent_s  # not after a bound on time (40 s from the attempt)
    finally:
        printer.stop()
        c.stop()


@pytest.mark.slow
def test_failed_sign_ins_through_both_nodes_count_together(tmp_path):
    """auth.max_failures_per_user (5 in config/onestop.json) failures of one name from one
    address, made through both nodes in turn, lock that name out at both: the failures are
    counted in the database, not in each node's memory (which gave a guesser 5 per node).
    The records hold blind indexes, never the username or the address."""
    c = Cluster(tmp_path)
    try:
        bad = {"username": "assistant", "password": "not the password", "counter": "SD-01"}
        for i in range(5):
            r = request(c.node_ports[i % 2], "POST", "/api/v1/sessions", bad)
            assert r.status == 401, (i, r)
        good = dict(bad, password=DEMO_PASSWORD)
        for port in c.node_ports:
            r = request(port, "POST", "/api/v1/sessions", good)
            assert r.status == 429, r
            assert 0 < int(r.headers["retry-after"]) <= 30
        # another name from the same address is not slowed (5 of the address's 20)
        r = request(c.node_ports[0], "POST", "/api/v1/sessions",
                    dict(bad, username="someone-else"))
        assert r.status == 401, r
        keys = [k for (k,) in c.sql("SELECT key FROM signin_failures")]
        assert len(keys) == 3 and all(k.startswith("bi:v1:") for k in keys), keys
        assert not any("assistant" in k or "127.0.0.1" in k for k in keys)
    finally:
        c.stop()


STATUS_PER_MINUTE = 60  # status_page.rate_per_minute's default (config/onestop.json sets none)


@pytest.mark.slow
def test_the_status_page_limit_holds_through_haproxy(tmp_path):
    """Each node keeps the status page's per-address limit in its own memory; HAProxy sends
    one client address to one node (`balance source`, no cookie to choose another), so one
    address gets rate_per_minute look-ups through the cluster, not that many per node."""
    c = Cluster(tmp_path)
    try:
        token = c.sign_in()
        body = {"service": "residents-parking-permit", "fields": visitor_permit(),
                "payment": {"method": "card", "auth_code": "STAT01"}}
        r = request(c.port, "POST", "/api/v1/transactions", body, token=token,
                    headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status == 201, r
        path = "/" + r.json["status_url"].split("/", 3)[3]
        # The limit counts per clock minute: the look-ups must all fall in one, unused so far
        # (the first try starts in the current one unless it is nearly over; a try that ran
        # over into the next minute is made again from the start of the one after).
        for tries in range(3):
            if tries or time.time() % 60 > 45:
                time.sleep(60.5 - time.time() % 60)
            minute = int(time.time() // 60)
            statuses = [request(c.port, "GET", path).status
                        for _ in range(STATUS_PER_MINUTE + 2)]
            if int(time.time() // 60) == minute:
                break
        assert statuses == [200] * STATUS_PER_MINUTE + [429, 429], statuses
    finally:
        c.stop()
