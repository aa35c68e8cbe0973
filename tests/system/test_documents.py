"""Uploads of scanned documents (POST /api/v1/documents, issue 11): streamed multipart, typed by
magic bytes, counted pages, sealed at rest (AES-256-GCM) with no plaintext copy in the database,
its WAL or the data folder; per-file limit 413 naming the file; a renamed executable refused
422 naming the file; the 1 MiB JSON limit kept for every other route."""

import hashlib
import http.client
import json
import os
import subprocess
import secrets
import socket
import struct
import time
import uuid

import pytest

from onestop_env import STORE_ENGINE, Gateway, wait_until
from test_foundation import send_headers_then_read

BOUNDARY = "----onestopTestBoundary7MA4YWxkTrZu0gW"


def multipart(files, boundary=BOUNDARY, extra=None):
    out = bytearray()
    for name, value in (extra or {}).items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    for filename, content, ctype in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n").encode()
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def pdf(pages, marker=b""):
    body = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    body += b"2 0 obj << /Type /Pages /Count %d >> endobj\n" % pages
    for i in range(pages):
        body += b"%d 0 obj << /Type /Page /Parent 2 0 R >> endobj\n" % (i + 3)
    return body + marker + b"\n%%EOF\n"


def tiff(pages):
    """A little-endian TIFF whose IFD chain has `pages` directories (one entry each)."""
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for i in range(pages):
        offset = len(out)
        nxt = offset + 2 + 12 + 4 if i + 1 < pages else 0
        out += struct.pack("<H", 1) + struct.pack("<HHII", 256, 4, 1, 1) + struct.pack("<I", nxt)
    return bytes(out)


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(64)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(200) + b"\xff\xd9"
ELF = b"\x7fELF\x02\x01\x01\x00" + os.urandom(500)


def upload(gw, token, files, **kw):
    body = multipart(files, **kw)
    return gw.request("POST", "/api/v1/documents", token=token, raw=body,
                      headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})


def headers_only(port, path, token, length, ctype):
    """Sends only the headers of a POST declaring `length` bytes; the reply to them."""
    return send_headers_then_read(port, "POST", path, {
        "Authorization": f"Bearer {token}", "Content-Type": ctype,
        "Content-Length": str(length)})


def with_key(g):
    with open(os.path.join(g.keys_dir, "data-1.key"), "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    g.config["keys"]["data_key_file"] = "keys/data-1.key"


@pytest.fixture
def gw(tmp_path):
    g = Gateway(tmp_path, with_sim=False)
    with_key(g)
    g.config["documents"] = {"file_limit": 200000}
    g.write_config()
    g.start()
    yield g
    assert g.stop() == 0, g.log()[-3000:]
    log = g.log()
    assert "Sanitizer" not in log and "runtime error" not in log, log[-6000:]


def test_upload_types_pages_and_hashes(gw):
    token = gw.sign_in()
    files = [("payslip.pdf", pdf(2), "application/pdf"),
             ("bank.tif", tiff(3), "image/tiff"),
             ("photo.jpg", JPEG, "image/jpeg"),
             # the declared type and the name do not decide: the content does
             ("scan.bin", PNG, "application/octet-stream")]
    r = upload(gw, token, files)
    assert r.status == 201, r
    docs = r.json["documents"]
    assert [(d["name"], d["type"], d["pages"], d["bytes"]) for d in docs] == [
        ("payslip.pdf", "pdf", 2, len(files[0][1])),
        ("bank.tif", "tiff", 3, len(files[1][1])),
        ("photo.jpg", "jpeg", 1, len(JPEG)),
        ("scan.bin", "png", 1, len(PNG))]
    for d, (_, content, _) in zip(docs, files):
        assert d["sha256"] == hashlib.sha256(content).hexdigest()
        assert len(d["id"]) == 32
    assert len({d["id"] for d in docs}) == 4


def classic_pdf(pages):
    """A well-formed PDF 1.4: a page tree, one page object each, a cross-reference table."""
    kids = " ".join(f"{i + 3} 0 R" for i in range(pages))
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>"]
    objects += ["<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"] * pages
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def object_stream_pdf(tmp_path, pages):
    """A real PDF 1.5 with its objects, the pages among them, in compressed object streams and
    a cross-reference stream, as scanners and office suites write them (qpdf rewrites one)."""
    plain, packed = tmp_path / "plain.pdf", tmp_path / "packed.pdf"
    plain.write_bytes(classic_pdf(pages))
    out = subprocess.run(["qpdf", "--object-streams=generate", "--compress-streams=y",
                          str(plain), str(packed)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = packed.read_bytes()
    assert b"/ObjStm" in data and b"/Type /Page" not in data and b"/Type/Page" not in data
    info = subprocess.run(["pdfinfo", str(packed)], capture_output=True, text=True, timeout=60)
    assert f"Pages:           {pages}" in info.stdout, info.stdout
    return data


def test_object_stream_pdf_pages_are_counted(gw, tmp_path):
    token = gw.sign_in()
    packed = object_stream_pdf(tmp_path, 5)
    # a broken file that only looks like one with object streams is kept, its pages unknown
    broken = b"%PDF-1.5\n1 0 obj << /Type /ObjStm /N 1 /First 4 /Length 3 >> stream\nxyz"
    r = upload(gw, token, [("statement.pdf", packed, "application/pdf"),
                           ("torn.pdf", broken, "application/pdf"),
                           ("payslip.pdf", pdf(2), "application/pdf")])
    assert r.status == 201, r
    docs = r.json["documents"]
    assert [(d["name"], d["pages"]) for d in docs] == [
        ("statement.pdf", 5), ("torn.pdf", None), ("payslip.pdf", 2)]
    assert docs[0]["sha256"] == hashlib.sha256(packed).hexdigest()
    # the count came from the sealed file: no plaintext copy was left beside it
    names = os.listdir(os.path.join(gw.data_dir, "documents"))
    assert len(names) == 3 and all(n.endswith(".doc") for n in names), names
    for n in names:
        with open(os.path.join(gw.data_dir, "documents", n), "rb") as f:
            assert b"/ObjStm" not in f.read()


def test_renamed_executable_refused_naming_the_file(gw):
    token = gw.sign_in()
    r = upload(gw, token, [("payslip.pdf", pdf(1), "application/pdf"),
                           ("statement.pdf", ELF, "application/pdf")])
    assert r.status == 422, r
    err = r.json["error"]
    assert err["code"] == "unsupported_type"
    assert err["file"] == "statement.pdf"
    assert "statement.pdf" in err["message"] and "PDF, JPEG, PNG or TIFF" in err["message"]
    # all or nothing: the good file of the refused upload was not kept either
    assert os.listdir(os.path.join(gw.data_dir, "documents")) == []


def test_over_size_file_refused_naming_the_file(gw):
    token = gw.sign_in()
    big = pdf(1, marker=os.urandom(250000))
    r = upload(gw, token, [("small.pdf", pdf(1), "application/pdf"),
                           ("huge-scan.pdf", big, "application/pdf")])
    assert r.status == 413, r
    err = r.json["error"]
    assert err["code"] == "file_too_large" and err["file"] == "huge-scan.pdf"
    assert "huge-scan.pdf" in err["message"] and "limit" in err["message"]
    assert os.listdir(os.path.join(gw.data_dir, "documents")) == []
    # the connection's failure left the gateway serving
    assert upload(gw, token, [("small.pdf", pdf(1), "application/pdf")]).status == 201


def test_no_plaintext_at_rest(gw):
    token = gw.sign_in()
    marker = b"ONESTOP-PLAINTEXT-" + uuid.uuid4().hex.encode()
    content = pdf(1, marker=marker * 200)
    r = upload(gw, token, [("evidence-alex-example.pdf", content, "application/pdf")])
    assert r.status == 201, r
    doc = r.json["documents"][0]
    sealed = os.path.join(gw.data_dir, "documents", doc["id"] + ".doc")
    assert os.path.exists(sealed)
    assert oct(os.stat(sealed).st_mode & 0o777) == "0o600"
    # the sealed file: header, key id, IV, ciphertext as long as the plaintext, tag
    with open(sealed, "rb") as f:
        raw = f.read()
    assert raw.startswith(b"OSDOC1\n\x00") and b"data-1" in raw[:40]
    assert len(raw) == 8 + 1 + len(b"data-1") + 12 + len(content) + 16
    seen = []
    for root, _, names in os.walk(gw.data_dir):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            seen.append(name)
            assert marker not in data, f"plaintext found in {name}"
            assert marker[:20] not in data
            assert b"alex-example" not in data, f"the file name found in {name}"
    if STORE_ENGINE == "sqlite":  # the control: the database was among them
        assert any(n.endswith("-wal") for n in seen) or any(n.endswith(".db") for n in seen), seen
    assert marker.decode() not in gw.log()


def test_body_limits_per_route(tmp_path):
    """The upload route takes bodies far past the 1 MiB JSON limit (10 MiB a file by
    default); every other route keeps 1 MiB."""
    g = Gateway(tmp_path, with_sim=False)
    with_key(g)
    g.write_config()
    g.start()
    try:
        token = g.sign_in()
        five = pdf(3, marker=os.urandom(5 * 1024 * 1024))
        r = upload(g, token, [("long-statement.pdf", five, "application/pdf")])
        assert r.status == 201, r
        assert r.json["documents"][0]["pages"] == 3
        assert r.json["documents"][0]["sha256"] == hashlib.sha256(five).hexdigest()
        over = pdf(1, marker=os.urandom(10 * 1024 * 1024))
        r = upload(g, token, [("too-big.pdf", over, "application/pdf")])
        assert r.status == 413 and r.json["error"]["file"] == "too-big.pdf", r
        assert "10 MiB" in r.json["error"]["message"]
        # declared lengths are judged on the headers, each route by its own limit
        status, body = headers_only(g.port, "/api/v1/quotes", token, 2 * 1024 * 1024,
                                    "application/json")
        assert status == 413 and body["error"]["code"] == "body_too_large"
        assert "1048576-byte" in body["error"]["message"]
        status, body = headers_only(g.port, "/api/v1/documents", token, 4 * 1024 ** 3,
                                    f"multipart/form-data; boundary={BOUNDARY}")
        assert status == 413 and body["error"]["code"] == "body_too_large"
    finally:
        g.stop()


def test_refusals_of_the_body_itself(gw):
    token = gw.sign_in()
    r = gw.request("POST", "/api/v1/documents", token=token, body={"file": "x"})
    assert r.status == 400 and r.json["error"]["code"] == "not_multipart", r
    truncated = multipart([("a.pdf", pdf(1), "application/pdf")])[:-20]
    r = gw.request("POST", "/api/v1/documents", token=token, raw=truncated,
                   headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert r.status == 400 and r.json["error"]["code"] == "malformed_multipart", r
    r = upload(gw, token, [])
    assert r.status == 422 and r.json["error"]["code"] == "no_files", r
    assert os.listdir(os.path.join(gw.data_dir, "documents")) == []
    # no token: refused before the body is read
    r = upload(gw, None, [("a.pdf", pdf(1), "application/pdf")])
    assert r.status == 401


def test_without_a_data_key_uploads_are_refused(tmp_path):
    g = Gateway(tmp_path, with_sim=False)
    del g.config["keys"]["data_key_file"]
    g.write_config()
    g.start()
    try:
        token = g.sign_in()
        r = upload(g, token, [("a.pdf", pdf(1), "application/pdf")])
        assert r.status == 503 and r.json["error"]["code"] == "documents_unavailable", r
        assert "data key" in r.json["error"]["message"]
    finally:
        g.stop()


def test_chunked_upload_and_a_client_that_goes_away(gw):
    """A body without a declared length (chunked) streams like any other; a client that goes
    away in the middle of a file leaves nothing behind."""
    token = gw.sign_in()
    body = multipart([("chunked.pdf", pdf(4, marker=os.urandom(150000)),
                       "application/pdf")])
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    pieces = (body[i:i + 7000] for i in range(0, len(body), 7000))
    conn.request("POST", "/api/v1/documents", body=pieces, encode_chunked=True,
                 headers={"Authorization": f"Bearer {token}",
                          "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    resp = conn.getresponse()
    reply = json.loads(resp.read())
    conn.close()
    assert resp.status == 201, reply
    assert reply["documents"][0]["pages"] == 4
    folder = os.path.join(gw.data_dir, "documents")
    kept = set(os.listdir(folder))
    assert kept == {reply["documents"][0]["id"] + ".doc"}

    half = multipart([("gone.pdf", pdf(1, marker=os.urandom(100000)), "application/pdf")])
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall((f"POST /api/v1/documents HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {token}\r\n"
                   f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                   f"Content-Length: {len(half)}\r\n\r\n").encode() + half[:60000])
        wait_until(lambda: any(n.endswith(".part") for n in os.listdir(folder)),
                   what="the upload under way")
    wait_until(lambda: set(os.listdir(folder)) == kept, what="the interrupted upload removed")


def test_an_upload_has_its_own_body_deadline(tmp_path):
    """http.body_deadline_s (1 s here) cuts other bodies short; an upload from a slow scanner
    PC gets documents.upload_deadline_s."""
    g = Gateway(tmp_path, with_sim=False)
    with_key(g)
    g.config["http"] = {"body_deadline_s": 1}
    g.write_config()
    g.start()
    try:
        token = g.sign_in()
        body = multipart([("slow.pdf", pdf(2, marker=os.urandom(20000)), "application/pdf")])
        with socket.create_connection(("127.0.0.1", g.port), timeout=30) as s:
            s.sendall((f"POST /api/v1/documents HTTP/1.1\r\nHost: x\r\n"
                       f"Authorization: Bearer {token}\r\n"
                       f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode())
            step = len(body) // 5 + 1
            for i in range(0, len(body), step):
                s.sendall(body[i:i + step])
                time.sleep(0.5)  # the client's pace: 2.5 s in all, past the 1 s deadline
            reply = s.recv(65536)
        assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
        # the JSON routes keep the short deadline: a body trickled past it is cut
        with socket.create_connection(("127.0.0.1", g.port), timeout=30) as s:
            s.sendall((f"POST /api/v1/quotes HTTP/1.1\r\nHost: x\r\n"
                       f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: 100\r\n\r\n{{").encode())
            assert s.recv(65536) == b""  # closed at the deadline, no answer
    finally:
        g.stop()
