"""System tests of onestop-sim, the back-end simulator (sim/).

Starts the built binary (<root>/$ONESTOP_BUILD_DIR/sim/onestop-sim, default build dir
"build") on a free loopback port with temporary key files, and a small HTTP server in a
thread standing in for onestopd's callback endpoint. Standard library only.

The contract under test is docs/backends.md.
"""

import hashlib
import hmac
import http.client
import http.server
import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / os.environ.get("ONESTOP_BUILD_DIR", "build")
SIM_BINARY = BUILD_DIR / "sim" / "onestop-sim"

PARKING_KEY = b"parking-test-key-0123456789"
BULKY_KEY = b"bulky-test-key-abcdef"
OPEN311_API_KEY = "open311 test key"  # has a space: proves '+' decoding of api_key
WINDOW_S = 300


# --- signing (docs/backends.md); the same snippet onestopd's tests can reuse -----------

def sign(key: bytes, body: bytes, idempotency_key: str, timestamp: int | None = None) -> dict:
    """Headers for a request signed as onestopd signs it."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(key, ts.encode() + b"\n" + idempotency_key.encode() + b"\n" + body,
                   hashlib.sha256).hexdigest()
    return {"Idempotency-Key": idempotency_key, "X-Onestop-Timestamp": ts,
            "X-Onestop-Signature": "v1=" + mac}


def signature_valid(key: bytes, headers, body: bytes) -> bool:
    """Checks the three signing headers of a received request (e.g. a callback)."""
    ts = headers.get("X-Onestop-Timestamp") or ""
    idem = headers.get("Idempotency-Key") or ""
    sig = headers.get("X-Onestop-Signature") or ""
    expected = "v1=" + hmac.new(key, ts.encode() + b"\n" + idem.encode() + b"\n" + body,
                                hashlib.sha256).hexdigest()
    return (hmac.compare_digest(sig, expected) and ts.isdigit()
            and abs(int(ts) - time.time()) <= WINDOW_S)


# --- a stand-in for onestopd's callback endpoint ------------------------------------------

class CallbackReceiver:
    def __init__(self):
        self.requests = []
        self.reply_status = 204
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body})
                    status = receiver.reply_status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- the simulator process -----------------------------------------------------------------

def start_sim(tmp_path: Path, callback_url: str):
    if not SIM_BINARY.exists():
        pytest.fail(f"{SIM_BINARY} not built (set ONESTOP_BUILD_DIR or build target onestop-sim)")
    (tmp_path / "parking.key").write_bytes(PARKING_KEY + b"\n")
    (tmp_path / "bulky.key").write_bytes(BULKY_KEY + b"\r\n")
    (tmp_path / "open311.key").write_text(OPEN311_API_KEY + "\n")
    proc = subprocess.Popen(
        [str(SIM_BINARY), "--listen", "127.0.0.1:0", "--data", str(ROOT / "sim" / "data"),
         "--key", "parking=" + str(tmp_path / "parking.key"),
         "--key", "bulky=" + str(tmp_path / "bulky.key"),
         "--open311-api-key", str(tmp_path / "open311.key"),
         "--callback-url", callback_url],
        stdout=subprocess.PIPE, stderr=open(tmp_path / "sim.log", "wb"), text=True)
    line = proc.stdout.readline()
    assert line.startswith("onestop-sim listening on http://127.0.0.1:"), line
    port = int(line.strip().rsplit(":", 1)[1])
    return proc, port


class Sim:
    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=b"", headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body if body or method != "GET" else None,
                         headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp, data
        finally:
            conn.close()

    def json(self, method, path, payload=None, headers=None):
        body = json.dumps(payload).encode() if payload is not None else b""
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        status, resp, data = self.request(method, path, body, hdrs)
        return status, (json.loads(data) if data else None), resp

    def control(self, path, payload=None):
        status, body, _ = self.json("POST", "/_sim/" + path, payload if payload is not None else {})
        return status, body

    def received(self, backend, include_reads=False):
        q = "?backend=" + backend + ("&include_reads=1" if include_reads else "")
        status, body, _ = self.json("GET", "/_sim/received" + q)
        assert status == 200
        return body

    def faults(self, backend, mode, **extra):
        status, body = self.control("faults", {"backend": backend, "mode": mode, **extra})
        assert status == 200, body
        return body

    # parking

    def post_permit(self, reference, idem, timestamp=None, key=PARKING_KEY, extra=None):
        payload = {"reference": reference, "uprn": "100011429001", "vrm": "AB12CDE",
                   "permit_type": "resident", **(extra or {})}
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **sign(key, body, idem, timestamp)}
        status, resp, data = self.request("POST", "/parking/permits", body, headers)
        return status, (json.loads(data) if data else None), resp

    # bulky

    def signed_get(self, path, key=BULKY_KEY, idem=""):
        headers = sign(key, b"", idem) if key else {}
        if not idem:
            headers.pop("Idempotency-Key", None)
        status, resp, data = self.request("GET", path, b"", headers)
        return status, (json.loads(data) if data else None), resp

    def slots(self, uprn="100011429001"):
        status, body, _ = self.signed_get("/bulky/slots?uprn=" + uprn)
        assert status == 200, body
        return body["slots"]

    def book(self, fields, idem, raw=None, content_type="application/x-www-form-urlencoded",
             timestamp=None):
        body = raw if raw is not None else urllib.parse.urlencode(fields).encode()
        headers = {"Content-Type": content_type, **sign(BULKY_KEY, body, idem, timestamp)}
        status, resp, data = self.request("POST", "/bulky/requests.json", body, headers)
        return status, (json.loads(data) if data else None)


def booking_fields(slot, reference="BR-0001", uprn="100011429001", **overrides):
    fields = {"api_key": OPEN311_API_KEY, "service_code": "bulky-collection",
              "address_id": uprn, "attribute[reference]": reference, "attribute[slot]": slot,
              "attribute[items]": "sofa:1,fridge:1", "attribute[location]": "Front garden",
              "attribute[phone]": "0161 474 4444"}
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


@pytest.fixture(scope="module")
def receiver():
    r = CallbackReceiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def sim_process(tmp_path_factory, receiver):
    proc, port = start_sim(tmp_path_factory.mktemp("sim"), receiver.url)
    yield proc, port
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


@pytest.fixture
def sim(sim_process, receiver):
    s = Sim(sim_process[1])
    status, _ = s.control("reset")
    assert status == 200
    receiver.requests.clear()
    receiver.reply_status = 204
    return s


# --- signatures --------------------------------------------------------------------------

def test_good_signature_is_accepted_and_recorded(sim):
    status, body, _ = sim.post_permit("RP-AAAA1", "key-1")
    assert status == 201
    assert body == {"id": "PP-000001", "status": "issued"}

    got = sim.received("parking")
    assert got["backend"] == "parking"
    assert got["attempts"] == 1
    [entry] = got["requests"]
    assert entry["method"] == "POST"
    assert entry["path"] == "/parking/permits"
    assert entry["idempotency_key"] == "key-1"
    assert json.loads(entry["body"])["reference"] == "RP-AAAA1"
    assert entry["signature_ok"] is True
    assert entry["reference"] == "RP-AAAA1"
    assert entry["received_at"].endswith("Z")


def test_ids_count_up(sim):
    ids = [sim.post_permit("RP-%d" % i, "k-%d" % i)[1]["id"] for i in range(3)]
    assert ids == ["PP-000001", "PP-000002", "PP-000003"]


@pytest.mark.parametrize("case", ["missing", "wrong_key", "other_body", "stale", "future",
                                  "upper_hex", "no_prefix", "bad_timestamp"])
def test_bad_signature_is_401(sim, case):
    body = json.dumps({"reference": "RP-BAD"}).encode()
    now = int(time.time())
    headers = sign(PARKING_KEY, body, "bad-1")
    if case == "missing":
        headers = {"Idempotency-Key": "bad-1"}
    elif case == "wrong_key":
        headers = sign(b"not-the-key", body, "bad-1")
    elif case == "other_body":
        headers = sign(PARKING_KEY, b'{"reference":"RP-OTHER"}', "bad-1")
    elif case == "stale":
        headers = sign(PARKING_KEY, body, "bad-1", now - WINDOW_S - 5)
    elif case == "future":
        headers = sign(PARKING_KEY, body, "bad-1", now + WINDOW_S + 5)
    elif case == "upper_hex":
        headers["X-Onestop-Signature"] = "v1=" + headers["X-Onestop-Signature"][3:].upper()
    elif case == "no_prefix":
        headers["X-Onestop-Signature"] = headers["X-Onestop-Signature"][3:]
    elif case == "bad_timestamp":
        headers["X-Onestop-Timestamp"] = "12x4"
    status, resp, data = sim.request("POST", "/parking/permits", body,
                                     {"Content-Type": "application/json", **headers})
    assert status == 401
    assert json.loads(data)["error"] == "bad_signature"
    got = sim.received("parking")
    assert got["requests"] == []
    assert got["attempts"] == 1


def test_timestamp_inside_window_is_accepted(sim):
    assert sim.post_permit("RP-OLD", "old-1", int(time.time()) - WINDOW_S + 20)[0] == 201


def test_replayed_signature_is_401_unless_already_accepted(sim):
    # a replay of a request that was never accepted (here: refused, it has no reference)
    body = json.dumps({"vrm": "AB12CDE"}).encode()
    headers = {"Content-Type": "application/json", **sign(PARKING_KEY, body, "replay-1")}
    assert sim.request("POST", "/parking/permits", body, headers)[0] == 400
    second = sim.request("POST", "/parking/permits", body, headers)
    assert second[0] == 401
    assert json.loads(second[2]) == {"error": "bad_signature", "message": "replay"}
    assert sim.received("parking")["requests"] == []
    # a resend of an accepted request (a sender that crashed before recording the answer)
    # gets the stored answer and acts on nothing
    body = json.dumps({"reference": "RP-RESEND"}).encode()
    headers = {"Content-Type": "application/json", **sign(PARKING_KEY, body, "resend-1")}
    first = sim.request("POST", "/parking/permits", body, headers)
    again = sim.request("POST", "/parking/permits", body, headers)
    assert first[0] == 201 and again[0] == 201 and again[2] == first[2]
    assert len(sim.received("parking")["requests"]) == 1


def test_signed_get_required_when_keyed_and_optional_when_not(sim):
    # bulky has a key: its reads must be signed too (empty body).
    assert sim.signed_get("/bulky/slots?uprn=100011429001", key=None)[0] == 401
    assert sim.signed_get("/bulky/slots?uprn=100011429001", key=b"wrong")[0] == 401
    assert sim.signed_get("/bulky/slots?uprn=100011429001")[0] == 200
    assert sim.signed_get("/bulky/slots?uprn=100011429001", idem="poll-1")[0] == 200
    # gazetteer has none: unsigned reads are fine, and recorded as unverified.
    status, body, _ = sim.json("GET", "/gazetteer/addresses?postcode=SK1+3XE")
    assert status == 200
    reads = sim.received("gazetteer", include_reads=True)["requests"]
    assert [r["signature_ok"] for r in reads] == [False]
    assert reads[0]["query"] == "postcode=SK1 3XE"
    assert sim.received("gazetteer")["requests"] == []  # reads are hidden by default


# --- idempotency ---------------------------------------------------------------------------

def test_idempotent_replay_returns_first_answer_and_is_recorded_once(sim):
    now = int(time.time())
    first = sim.post_permit("RP-IDEM", "idem-1", now - 2)
    again = sim.post_permit("RP-IDEM", "idem-1", now - 1)  # a retry: fresh timestamp
    assert first[0] == again[0] == 201
    assert first[1] == again[1] == {"id": "PP-000001", "status": "issued"}
    other = sim.post_permit("RP-IDEM2", "idem-2", now)
    assert other[1]["id"] == "PP-000002"
    got = sim.received("parking")
    assert got["attempts"] == 3
    assert [r["idempotency_key"] for r in got["requests"]] == ["idem-1", "idem-2"]


def test_concurrent_attempts_with_one_key_act_once(sim):
    now = int(time.time())
    results = []

    def attempt(i):
        results.append(sim.post_permit("RP-RACE", "race-1", now - i))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r[1]["id"] for r in results} == {"PP-000001"}
    assert len(sim.received("parking")["requests"]) == 1


def test_post_without_idempotency_key_is_400(sim):
    body = json.dumps({"reference": "RP-NOKEY"}).encode()
    headers = sign(PARKING_KEY, body, "")
    del headers["Idempotency-Key"]
    status, _, data = sim.request("POST", "/parking/permits", body,
                                  {"Content-Type": "application/json", **headers})
    assert status == 400
    assert json.loads(data)["error"] == "missing_idempotency_key"
    assert sim.received("parking")["requests"] == []


@pytest.mark.parametrize("key", ["k" * 256, "has space", "caf\u00e9"])
def test_unusable_idempotency_key_is_400(sim, key):
    body = json.dumps({"reference": "RP-BADKEY"}).encode()
    headers = sign(PARKING_KEY, body, key)
    headers["Idempotency-Key"] = headers["Idempotency-Key"].encode().decode("latin-1")
    status, _, data = sim.request("POST", "/parking/permits", body,
                                  {"Content-Type": "application/json", **headers})
    assert status == 400
    assert json.loads(data)["error"] == "invalid_idempotency_key"
    assert sim.received("parking")["requests"] == []


def test_permit_without_reference_is_400(sim):
    body = b'{"vrm":"AB12CDE"}'
    status, _, data = sim.request("POST", "/parking/permits", body,
                                  {"Content-Type": "application/json",
                                   **sign(PARKING_KEY, body, "noref-1")})
    assert status == 400
    assert sim.received("parking")["requests"] == []


# --- faults --------------------------------------------------------------------------------

def test_down_is_503_with_retry_after_and_does_not_act(sim):
    sim.faults("parking", "down", retry_after_s=7)
    status, body, resp = sim.post_permit("RP-DOWN", "down-1")
    assert status == 503
    assert resp.getheader("Retry-After") == "7"
    sim.faults("parking", "up")
    status, body, _ = sim.post_permit("RP-DOWN", "down-1")
    assert status == 201
    assert body["id"] == "PP-000001"  # the 503 issued nothing
    got = sim.received("parking")
    assert got["attempts"] == 2
    assert len(got["requests"]) == 1


def test_down_without_retry_after_has_no_header(sim):
    sim.faults("gazetteer", "down")
    status, _, resp = sim.json("GET", "/gazetteer/addresses?postcode=SK1%203XE")
    assert status == 503
    assert resp.getheader("Retry-After") is None


def test_error_is_500_without_acting(sim):
    sim.faults("parking", "error")
    assert sim.post_permit("RP-ERR", "err-1")[0] == 500
    got = sim.received("parking")
    assert got["attempts"] == 1 and got["requests"] == []


def test_reject_is_422_permanent(sim):
    sim.faults("parking", "reject")
    status, body, _ = sim.post_permit("RP-REJ", "rej-1")
    assert status == 422
    assert body == {"error": "rejected",
                    "message": "vehicle already has a permit at another address"}
    assert sim.received("parking")["requests"] == []


def test_slow_delays_then_acts_without_blocking_other_backends(sim):
    sim.faults("parking", "slow", delay_ms=1500)
    result = {}

    def slow_call():
        t0 = time.monotonic()
        result["permit"] = sim.post_permit("RP-SLOW", "slow-1")
        result["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=slow_call)
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    status, _, _ = sim.json("GET", "/gazetteer/addresses?postcode=SK13XE")
    fast = time.monotonic() - t0
    t.join()
    assert status == 200
    assert fast < 0.5
    assert result["permit"][0] == 201
    assert result["elapsed"] >= 1.4
    assert len(sim.received("parking")["requests"]) == 1


def test_flaky_rate_is_roughly_honoured(sim):
    sim.faults("parking", "flaky", rate=0.3)
    n = 200
    statuses = [sim.post_permit("RP-F%d" % i, "flaky-%d" % i)[0] for i in range(n)]
    failures = statuses.count(500)
    assert set(statuses) <= {201, 500}
    assert 30 <= failures <= 90, failures  # expected 60, sd about 6.5
    got = sim.received("parking")
    assert got["attempts"] == n
    assert len(got["requests"]) == n - failures


@pytest.mark.parametrize("rate,expected", [(0.0, 201), (1.0, 500)])
def test_flaky_extremes(sim, rate, expected):
    sim.faults("parking", "flaky", rate=rate)
    assert {sim.post_permit("RP-X%d" % i, "x-%d" % i)[0] for i in range(20)} == {expected}


def test_fault_requests_are_validated(sim):
    assert sim.control("faults", {"backend": "parking", "mode": "sideways"})[0] == 400
    assert sim.control("faults", {"backend": "nosuch", "mode": "down"})[0] == 404
    assert sim.control("faults", {"backend": "parking", "mode": "flaky", "rate": 2})[0] == 400
    status, body, _ = sim.json("GET", "/_sim/faults")
    assert status == 200 and body["parking"] == {"mode": "up"}


def test_faults_are_per_backend(sim):
    sim.faults("bulky", "down")
    assert sim.post_permit("RP-P", "per-1")[0] == 201


# --- gazetteer -----------------------------------------------------------------------------

@pytest.mark.parametrize("postcode", ["SK1 3XE", "sk13xe", " sk1  3xe ", "Sk13Xe"])
def test_gazetteer_normalises_postcode(sim, postcode):
    status, body, _ = sim.json("GET", "/gazetteer/addresses?postcode=" +
                               urllib.parse.quote(postcode))
    assert status == 200
    addresses = body["addresses"]
    assert len(addresses) == 6
    assert {a["postcode"] for a in addresses} == {"SK1 3XE"}
    assert addresses[0] == {"uprn": "100011429001", "line1": "Stockport Town Hall",
                            "street": "Edward Street", "town": "Stockport",
                            "postcode": "SK1 3XE"}


@pytest.mark.parametrize("postcode", ["M1 1AA", "SK1", "XYZ"])
def test_gazetteer_unknown_postcode_is_404(sim, postcode):
    status, body, _ = sim.json("GET", "/gazetteer/addresses?postcode=" +
                               urllib.parse.quote(postcode))
    assert status == 404
    assert body == {"error": "unknown_postcode"}


# --- bulky: slots and Open311 --------------------------------------------------------------

def london_today():
    # Europe/London without zoneinfo data assumptions: the sim's date must be UTC's
    # date or the day after (BST), never earlier.
    return time.strftime("%Y-%m-%d", time.gmtime())


def test_slots_are_ten_working_days_from_tomorrow(sim):
    slots = sim.slots()
    assert len(slots) == 10
    dates = [s["date"] for s in slots]
    assert dates == sorted(dates) and len(set(dates)) == 10
    for s in slots:
        assert s["id"] == s["date"]
        assert s["window"] == "07:00-16:00"
        assert s["available"] is True
        wday = time.strptime(s["date"], "%Y-%m-%d").tm_wday
        assert wday < 5, s  # Monday..Friday
    assert dates[0] > london_today()
    first = time.mktime(time.strptime(dates[0], "%Y-%m-%d"))
    last = time.mktime(time.strptime(dates[-1], "%Y-%m-%d"))
    assert 11 <= round((last - first) / 86400) <= 13  # ten working days span two weeks


def test_slots_unknown_uprn_is_404(sim):
    assert sim.signed_get("/bulky/slots?uprn=999999999999")[0] == 404


def test_open311_happy_path_and_completion(sim):
    slot = sim.slots()[2]["id"]
    status, body = sim.book(booking_fields(slot, reference="BR-HAPPY"), "bk-1")
    assert status == 201
    assert body == [{"service_request_id": "BW-000001",
                     "service_notice": "Collection booked for " + slot}]

    [entry] = sim.received("bulky")["requests"]
    assert entry["reference"] == "BR-HAPPY"
    assert entry["path"] == "/bulky/requests.json"
    assert "api_key=open311+test+key" in entry["body"]

    status, body, _ = sim.signed_get("/bulky/requests/BW-000001.json")
    assert status == 200
    [req] = body
    assert req["service_request_id"] == "BW-000001"
    assert req["status"] == "open"
    assert req["status_notes"] == "Collection booked for " + slot
    assert req["requested_datetime"].endswith("Z")

    status, done = sim.control("complete", {"backend": "bulky", "reference": "BR-HAPPY"})
    assert status == 200 and done["status"] == "closed"
    status, body, _ = sim.signed_get("/bulky/requests/BW-000001.json")
    assert body[0]["status"] == "closed"
    assert body[0]["status_notes"] == "Collected"


def test_open311_percent_encoded_names_are_decoded(sim):
    slot = sim.slots()[0]["id"]
    raw = ("api_key=open311+test+key&service_code=bulky-collection&address_id=100011429301"
           "&attribute%5Breference%5D=BR-%45NC&attribute%5Bslot%5D=" + slot +
           "&attribute%5Bitems%5D=sofa%3A1").encode()
    status, body = sim.book(None, "enc-1", raw=raw)
    assert status == 201, body
    assert sim.received("bulky")["requests"][0]["reference"] == "BR-ENC"


def test_slot_is_consumed_by_bookings(sim):
    slot = sim.slots()[0]["id"]
    for i in range(3):
        status, body = sim.book(booking_fields(slot, reference="BR-C%d" % i), "cap-%d" % i)
        assert status == 201, body
    first = sim.slots("100011429501")[0]  # capacity is per day, for every address
    assert first["id"] == slot and first["available"] is False
    assert sim.slots()[1]["available"] is True
    status, body = sim.book(booking_fields(slot, reference="BR-C4"), "cap-4")
    assert status == 400
    assert body == [{"code": 400, "description": "slot %s is no longer available" % slot}]
    # an idempotent retry of an accepted booking still gets its first answer (a retry
    # carries a fresh timestamp; within the same second it would be a replay)
    status, body = sim.book(booking_fields(slot, reference="BR-C0"), "cap-0",
                            timestamp=int(time.time()) - 1)
    assert status == 201 and body[0]["service_request_id"] == "BW-000001"
    assert len(sim.received("bulky")["requests"]) == 3


@pytest.mark.parametrize("overrides,status,text", [
    ({"api_key": "wrong"}, 403, "api_key"),
    ({"api_key": None}, 403, "api_key"),
    ({"service_code": "fly-tipping"}, 400, "service_code"),
    ({"address_id": "999999999999"}, 400, "address_id"),
    ({"address_id": None}, 400, "address_id"),
    ({"attribute[reference]": None}, 400, "reference"),
    ({"attribute[items]": None}, 400, "items"),
    ({"attribute[slot]": None}, 400, "slot"),
    ({"attribute[slot]": "2001-01-01"}, 400, "not offered"),
])
def test_open311_errors(sim, overrides, status, text):
    slot = sim.slots()[0]["id"]
    got_status, body = sim.book(booking_fields(slot, **overrides), "err-" + text.replace(" ", "-"))
    assert got_status == status
    [error] = body
    assert error["code"] == status
    assert text in error["description"]
    assert sim.received("bulky")["requests"] == []
    assert sim.slots()[0]["available"] is True


def test_open311_malformed_bodies(sim):
    assert sim.book(None, "m-1", raw=b"api_key=%zz")[0] == 400
    assert sim.book(None, "m-2", raw=b"a=1&a=2")[0] == 400
    slot = sim.slots()[0]["id"]
    raw = urllib.parse.urlencode(booking_fields(slot)).encode()
    assert sim.book(None, "m-3", raw=raw, content_type="application/json")[0] == 400


def test_open311_unknown_request_is_404(sim):
    status, body, _ = sim.signed_get("/bulky/requests/BW-999999.json")
    assert status == 404
    assert body[0]["code"] == 404


# --- completion callbacks -------------------------------------------------------------------

def test_complete_sends_signed_callback(sim, receiver):
    sim.post_permit("RP-DONE", "done-1")
    status, body = sim.control("complete", {"backend": "parking", "reference": "RP-DONE"})
    assert status == 200
    assert body["gateway_status"] == 204
    [cb] = receiver.requests
    assert cb["path"] == "/api/v1/callbacks/parking"
    assert cb["headers"]["Content-Type"] == "application/json"
    assert signature_valid(PARKING_KEY, cb["headers"], cb["body"])
    assert not signature_valid(BULKY_KEY, cb["headers"], cb["body"])
    assert cb["headers"]["Idempotency-Key"] == body["event_id"]
    assert cb["headers"]["Idempotency-Key"] != "done-1"
    payload = json.loads(cb["body"])
    assert payload["reference"] == "RP-DONE"
    assert payload["status"] == "completed"
    assert payload["backend_reference"] == "PP-000001"
    assert payload["note"]


def test_complete_reports_gateway_status(sim, receiver):
    receiver.reply_status = 401
    sim.post_permit("RP-GW", "gw-1")
    status, body = sim.control("complete", {"backend": "parking", "reference": "RP-GW"})
    assert status == 200 and body["gateway_status"] == 401


def test_complete_unknown_reference_is_404(sim, receiver):
    assert sim.control("complete", {"backend": "parking", "reference": "RP-NONE"})[0] == 404
    assert sim.control("complete", {"backend": "bulky", "reference": "BR-NONE"})[0] == 404
    assert receiver.requests == []


# --- housekeeping ---------------------------------------------------------------------------

def test_reset_forgets_everything(sim):
    slot = sim.slots()[0]["id"]
    sim.post_permit("RP-R", "reset-1")
    for i in range(3):
        sim.book(booking_fields(slot, reference="BR-R%d" % i), "reset-b%d" % i)
    sim.faults("parking", "down")
    assert sim.control("reset")[0] == 200
    assert sim.received("parking") == {"backend": "parking", "attempts": 0, "requests": []}
    assert sim.received("bulky")["attempts"] == 0
    assert sim.slots()[0]["available"] is True
    status, body, _ = sim.post_permit("RP-R", "reset-1")
    assert status == 201 and body["id"] == "PP-000001"  # key forgotten, numbering restarted


def test_body_over_one_mib_is_413(sim):
    body = b'{"reference":"RP-BIG","pad":"' + b"x" * (1024 * 1024) + b'"}'
    status, _, _ = sim.request("POST", "/parking/permits", body,
                               {"Content-Type": "application/json",
                                **sign(PARKING_KEY, body, "big-1")})
    assert status == 413
    assert sim.received("parking")["requests"] == []


def test_unknown_backend_and_paths_are_404(sim):
    assert sim.json("GET", "/nosuch/thing")[0] == 404
    assert sim.json("GET", "/_sim/received?backend=nosuch")[0] == 404
    assert sim.json("GET", "/_sim/nothing")[0] == 404


def test_help_and_sigterm(tmp_path, receiver):
    out = subprocess.run([str(SIM_BINARY), "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and "--callback-url" in out.stdout
    (tmp_path / "some.key").write_bytes(b"k")
    bad = subprocess.run([str(SIM_BINARY), "--data", str(ROOT / "sim" / "data"),
                          "--key", "nosuch=" + str(tmp_path / "some.key")],
                         capture_output=True, text=True, timeout=10)
    assert bad.returncode != 0 and "unknown back-end nosuch" in bad.stderr
    proc, port = start_sim(tmp_path, receiver.url)
    Sim(port).json("GET", "/_sim/health")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    log = (tmp_path / "sim.log").read_text()
    assert "GET /_sim/health 200" in log


def test_complete_with_unreachable_gateway_is_502(tmp_path):
    with socket_closed_port() as port:
        proc, sim_port = start_sim(tmp_path, "http://127.0.0.1:%d" % port)
        try:
            s = Sim(sim_port)
            assert s.post_permit("RP-502", "k-502")[0] == 201
            status, body = s.control("complete", {"backend": "parking", "reference": "RP-502"})
            assert status == 502
            assert body["error"] == "callback_failed"
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0


class socket_closed_port:
    """A loopback port with nothing listening (bound, never listened, then held)."""

    def __enter__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.sock.close()
