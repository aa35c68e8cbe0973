"""Foundation: sign-in, tokens, limits, error format, health, metrics, catalogue."""

import json
import socket
import threading
import time

from onestop_env import DEMO_PASSWORD, request, wait_until


def error_of(resp):
    body = resp.json
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["message"], body
    return body["error"]


def test_sign_in_good_returns_token_and_staff(gateway):
    r = gateway.request("POST", "/api/v1/sessions",
                        {"username": "assistant", "password": DEMO_PASSWORD, "counter": "SD-01"})
    assert r.status == 201, r
    body = r.json
    assert len(body["token"]) == 43
    assert body["staff"]["username"] == "assistant"
    assert body["staff"]["role"] == "assistant"
    assert body["expires_at"].endswith("Z")
    me = gateway.request("GET", "/api/v1/sessions/current", token=body["token"])
    assert me.status == 200 and me.json["counter"] == "SD-01"


def test_sign_in_bad_password_and_unknown_user_look_the_same(gateway):
    bad = gateway.request("POST", "/api/v1/sessions",
                          {"username": "assistant", "password": "wrong-password", "counter": "SD-01"})
    unknown = gateway.request("POST", "/api/v1/sessions",
                              {"username": "nobody", "password": "wrong-password", "counter": "SD-01"})
    assert bad.status == unknown.status == 401
    assert error_of(bad) == error_of(unknown)
    assert "token" not in bad.body.decode()


def test_sign_in_validation_names_every_field(gateway):
    r = gateway.request("POST", "/api/v1/sessions", {"username": "", "colour": "red"})
    assert r.status == 422
    err = error_of(r)
    fields = {f["field"]: f["code"] for f in err["fields"]}
    assert fields == {"username": "required", "password": "required", "counter": "required",
                      "colour": "unknown_field"}


def test_unknown_counter_is_refused(gateway):
    r = gateway.request("POST", "/api/v1/sessions",
                        {"username": "assistant", "password": DEMO_PASSWORD, "counter": "XX-99"})
    assert r.status == 422
    assert error_of(r)["fields"][0]["field"] == "counter"


def test_repeated_failures_are_rate_limited_then_forgiven(gateway):
    for _ in range(5):
        r = gateway.request("POST", "/api/v1/sessions",
                            {"username": "assistant", "password": "guess-guess", "counter": "SD-01"})
        assert r.status == 401
    r = gateway.request("POST", "/api/v1/sessions",
                        {"username": "assistant", "password": DEMO_PASSWORD, "counter": "SD-01"})
    assert r.status == 429, r
    assert error_of(r)["code"] == "too_many_attempts"
    assert int(r.headers["retry-after"]) >= 1
    # the lockout in the test config is 2 s
    time.sleep(int(r.headers["retry-after"]) + 0.2)
    assert gateway.sign_in()
    # the attempts were audited, without passwords
    audit = gateway.cli("audit", "--limit", "50")
    assert audit.returncode == 0
    entries = json.loads(audit.stdout)
    actions = [e["action"] for e in entries]
    assert actions.count("sign_in_failed") >= 6 and "sign_in" in actions
    assert "guess-guess" not in audit.stdout and DEMO_PASSWORD not in audit.stdout


def test_api_needs_a_token(gateway):
    for path in ("/api/v1/services", "/api/v1/transactions", "/api/v1/sessions/current"):
        r = gateway.request("GET", path)
        assert r.status == 401, path
        assert error_of(r)["code"] == "unauthorised"
        assert r.headers["www-authenticate"].startswith("Bearer")
    r = gateway.request("GET", "/api/v1/services", token="A" * 43)
    assert r.status == 401 and error_of(r)["code"] == "session_expired"


def test_sign_out_ends_the_session(gateway):
    token = gateway.sign_in()
    assert gateway.request("GET", "/api/v1/services", token=token).status == 200
    assert gateway.request("DELETE", "/api/v1/sessions/current", token=token).status == 204
    assert gateway.request("GET", "/api/v1/services", token=token).status == 401
    audit = json.loads(gateway.cli("audit", "--action", "sign_out").stdout)
    assert audit and audit[0]["actor"] == "assistant"


def test_catalogue_lists_the_configured_services(gateway):
    token = gateway.sign_in()
    r = gateway.request("GET", "/api/v1/services", token=token)
    assert r.status == 200
    services = {s["code"]: s for s in r.json["services"]}
    assert set(services) == {"residents-parking-permit", "bulky-refuse", "leisure-key",
                             "bowling-permit", "hearing-aid-batteries", "library-sales"}
    parking = services["residents-parking-permit"]
    names = {f["name"]: f for f in parking["fields"]}
    assert {"uprn", "vrm", "permit_type", "start_date"} <= set(names)
    assert names["permit_type"]["values"] == [{"code": "resident", "label": "Resident"},
                                              {"code": "visitor", "label": "Visitor"}]
    assert {"code": "A", "label": "Band A"} in names["leisure_key_band"]["values"]
    assert all({"name", "type", "label", "required"} <= set(f) for f in parking["fields"])
    assert "cash" in parking["payment_methods"]
    assert any("£41.50" in rule for rule in parking["fee_rules"])


def send_headers_then_read(port, method, path, headers, body_part=b"", timeout=5):
    """Sends a request's headers (and maybe the start of its body) and reads the reply without
    sending the rest: a reply proves the gateway decided without reading the whole body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        s.sendall(head.encode() + body_part)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head_end = data.index(b"\r\n\r\n")
        status = int(data.split(b" ", 2)[1])
        length = 0
        for line in data[:head_end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = data[head_end + 4:]
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, json.loads(body) if body else None


def test_oversized_body_gets_413_before_it_is_sent(gateway):
    token = gateway.sign_in()
    # declared too large: refused on the headers, the 100 MB are never sent
    status, body = send_headers_then_read(
        gateway.port, "POST", "/api/v1/quotes",
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
         "Content-Length": str(100 * 1024 * 1024)})
    assert status == 413 and body["error"]["code"] == "body_too_large"
    # chunked, no declared length: nothing past the limit is kept; a body that ends soon
    # after gets its 413, an endless one is cut off at twice the limit
    chunk = b"x" * 65536
    piece = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    chunked = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Transfer-Encoding": "chunked"}
    status, body = send_headers_then_read(gateway.port, "POST", "/api/v1/quotes", chunked,
                                          body_part=piece * 17 + b"0\r\n\r\n")
    assert status == 413 and body["error"]["code"] == "body_too_large"
    sent = 0
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as s:
        s.sendall(b"POST /api/v1/quotes HTTP/1.1\r\nHost: x\r\n" +
                  "".join(f"{k}: {v}\r\n" for k, v in chunked.items()).encode() + b"\r\n")
        try:
            while sent < 64 * 1024 * 1024:
                s.sendall(piece)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert sent < 8 * 1024 * 1024, f"the gateway read {sent} bytes of an endless body"
    # and the daemon still serves
    assert gateway.request("GET", "/healthz").status == 200


def test_a_body_is_not_read_before_the_caller_is_authorised(gateway):
    big = {"Content-Type": "application/json", "Content-Length": str(512 * 1024)}
    status, body = send_headers_then_read(gateway.port, "POST", "/api/v1/quotes", big)
    assert status == 401 and body["error"]["code"] == "unauthorised"
    status, body = send_headers_then_read(gateway.port, "POST", "/api/v1/quotes",
                                          dict(big, Authorization="Bearer not-a-real-token"))
    assert status == 401 and body["error"]["code"] in ("unauthorised", "session_expired")
    token = gateway.sign_in()  # an assistant, on a supervisor's route
    status, body = send_headers_then_read(
        gateway.port, "POST", "/api/v1/transactions/RP-0000-0000/retry",
        dict(big, Authorization=f"Bearer {token}"))
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body = send_headers_then_read(gateway.port, "POST", "/api/v1/nothing-here", big)
    assert status == 404


def test_malformed_json_gets_400(gateway):
    for raw in (b"{not json", b"[1,2,3]", b"", b'{"a":1,"a":2}'):
        r = gateway.request("POST", "/api/v1/sessions", raw=raw,
                            headers={"Content-Type": "application/json"})
        assert r.status == 400, raw
        assert error_of(r)["code"] == "malformed_json"


def test_unknown_route_and_method(gateway):
    r = gateway.request("GET", "/api/v1/nothing-here")
    assert r.status == 404 and error_of(r)["code"] == "not_found"
    r = gateway.request("PUT", "/api/v1/sessions")
    assert r.status == 405 and error_of(r)["code"] == "method_not_allowed"


def test_health_ready_metrics(gateway):
    assert gateway.request("GET", "/healthz").json["status"] == "ok"
    ready = gateway.request("GET", "/readyz")
    assert ready.status == 200 and ready.json["checks"] == {"store": "writable", "config": "loaded"}
    gateway.request("GET", "/api/v1/services")  # a 401 to count
    text = gateway.request("GET", "/metrics").body.decode()
    assert 'onestop_build_info{version="' in text
    assert 'onestop_http_requests_total{route="/api/v1/services",method="GET",status="401"} 1' in text
    assert 'onestop_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"}' in text


def test_every_response_has_a_request_id_and_the_log_has_no_secrets(gateway):
    r = gateway.request("POST", "/api/v1/sessions",
                        {"username": "assistant", "password": DEMO_PASSWORD, "counter": "SD-01"})
    rid = r.headers["x-request-id"]
    token = r.json["token"]
    # the request's log line is written before its reply is sent: no wait is needed
    lines = [json.loads(l) for l in gateway.log().splitlines() if l.startswith("{")]
    mine = [l for l in lines if l.get("request_id") == rid]
    assert mine and mine[-1]["event"] == "http_request" and mine[-1]["status"] == 201
    assert mine[-1]["route"] == "/api/v1/sessions" and mine[-1]["duration_ms"] >= 0
    log = gateway.log()
    assert DEMO_PASSWORD not in log and token not in log


def test_slow_client_trickling_headers_does_not_block_others(gateway):
    stop = threading.Event()
    socks = []

    def trickle():
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", gateway.port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        while not stop.is_set():
            for s in socks:
                try:
                    s.sendall(b"X-Slow: a\r\n")
                except OSError:
                    pass
            time.sleep(0.5)

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    time.sleep(0.5)
    started = time.monotonic()
    for _ in range(50):
        assert gateway.request("GET", "/healthz", timeout=5).status == 200
    elapsed = time.monotonic() - started
    stop.set()
    t.join(5)
    for s in socks:
        s.close()
    assert elapsed < 5, f"50 requests took {elapsed:.1f}s beside 20 slow clients"


def test_idle_sessions_are_signed_out_by_the_server(make_gateway):
    import time as _time
    gw = make_gateway()
    gw.config["auth"]["idle_timeout_s"] = 8
    gw.write_config()
    gw.start()
    token = gw.sign_in()
    me = gw.request("GET", "/api/v1/sessions/current", token=token)
    assert me.json["idle_timeout_s"] == 8
    for _ in range(3):  # in use: every 4 s for 12 s, longer than the idle timeout
        _time.sleep(4)
        assert gw.request("GET", "/api/v1/services", token=token).status == 200
    _time.sleep(9.5)  # then idle for longer than it
    r = gw.request("GET", "/api/v1/services", token=token)
    assert r.status == 401 and r.json["error"]["code"] == "session_expired"
    assert gw.sign_in()
