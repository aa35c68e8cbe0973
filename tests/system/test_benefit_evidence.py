"""benefit-evidence (issue 11): documents uploaded at the counter, named by a transaction with
one type each, delivered as multipart to the document system (the simulator), which recomputes
every hash; refusals of another counter's, expired, used and over-size submissions; a delivery
the back-end refuses for a hash mismatch is not forwarded; an altered sealed file is never
acknowledged."""

import hashlib
import json
import os
import secrets
import subprocess
import time
import uuid

import pytest

from onestop_env import ONESTOPD, Gateway, seal, unseal, wait_until
from test_documents import JPEG, PNG, pdf, tiff, upload
from test_personal_data import new_current_key

SERVICE = "benefit-evidence"


def make(tmp_path, documents=None):
    g = Gateway(tmp_path)
    for name in ("data-1", "documents"):
        with open(os.path.join(g.keys_dir, name + ".key"), "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    g.config["keys"]["data_key_file"] = "keys/data-1.key"
    g.config["documents"] = dict({"sweep_interval_s": 1}, **(documents or {}))
    sim = f"http://127.0.0.1:{g.sim_port}"
    g.config["backends"].append(
        {"name": "documents", "connector": "multipart", "url": sim + "/documents",
         "signing_key_file": "keys/documents.key", "timeout_ms": 30000,
         "retry_schedule_s": [1, 1, 2], "give_up_after_s": 600})
    g.config["services"]["enabled"].append(SERVICE)
    g.sim_args += ["--key", "documents=" + os.path.join(g.keys_dir, "documents.key")]
    g.write_config()
    return g


@pytest.fixture
def gw(tmp_path):
    g = make(tmp_path)
    g.start()
    yield g
    assert g.stop() == 0, g.log()[-3000:]
    log = g.log()
    assert "Sanitizer" not in log and "runtime error" not in log, log[-6000:]


def evidence(docs, **extra):
    fields = {"new_claim": False, "claim_reference": "CTS123456", "nino": "AB 12 34 56 C",
              "claimant_name": "Alex Example",
              "documents": [{"id": d["id"], "type": t} for d, t in docs]}
    fields.update(extra)
    return fields


def record(gw, token, fields, key=None):
    body = {"service": SERVICE, "fields": fields, "payment": {"method": "none"}}
    return gw.request("POST", "/api/v1/transactions", body, token=token,
                      headers={"Idempotency-Key": key or str(uuid.uuid4())})


def uploaded(gw, token, files):
    r = upload(gw, token, files)
    assert r.status == 201, r
    return r.json["documents"]


def transaction(gw, token, ref):
    return gw.request("GET", f"/api/v1/transactions/{ref}", token=token).json


def received(gw):
    r = gw.sim_request("GET", "/_sim/received?backend=documents")
    assert r.status == 200, r
    return r.json["requests"] if isinstance(r.json, dict) else r.json


def test_three_documents_delivered_with_matching_hashes(gw):
    token = gw.sign_in()
    files = [("passport.jpg", JPEG, "image/jpeg"), ("payslip.pdf", pdf(2), "application/pdf"),
             ("statement.tif", tiff(3), "image/tiff")]
    docs = uploaded(gw, token, files)
    r = record(gw, token, evidence(zip(docs, ["identity", "income", "capital"])))
    assert r.status == 201, r
    assert r.json["fee_pence"] == 0
    ref = r.json["reference"]
    # the receipt's lines: each document by type, pages and the start of its hash; no name,
    # NINO or file name
    lines = [line["description"] for line in r.json["lines"]]
    assert lines[1:] == [f"Identity, 1 page, hash {docs[0]['sha256'][:8]}",
                         f"Income, 2 pages, hash {docs[1]['sha256'][:8]}",
                         f"Capital, 3 pages, hash {docs[2]['sha256'][:8]}"], lines
    text = json.dumps(r.json)
    for personal in ("Alex", "AB123456C", "AB 12 34 56 C", "passport", "payslip", "CTS123456"):
        assert personal not in text
    assert ref.startswith("BE-")
    wait_until(lambda: transaction(gw, token, ref)["status"] == "forwarded", timeout=20,
               what="the evidence forwarded")
    got = received(gw)
    assert len(got) == 1
    kept = json.loads(got[0]["body"])
    manifest = kept["manifest"]
    assert manifest["reference"] == ref
    assert manifest["fields"]["nino"] == "AB123456C"
    assert "documents" not in manifest["fields"]
    assert [d["type"] for d in manifest["documents"]] == ["identity", "income", "capital"]
    want = [hashlib.sha256(c).hexdigest() for _, c, _ in files]
    assert [d["sha256"] for d in manifest["documents"]] == want
    # the hashes the simulator computed over the bytes it received
    assert [f["sha256"] for f in kept["received"]] == want
    assert [f["bytes"] for f in kept["received"]] == [len(c) for _, c, _ in files]
    assert got[0]["signature_ok"] is True
    # the document back-end's reference is the transaction's
    assert transaction(gw, token, ref)["delivery"]["backend_reference"].startswith("DMS-")
    # delivered, and retention_days is 0: the files go, the record of what was sent stays
    def rows():
        db = gw.store_db()
        try:
            return sorted(db.execute("SELECT id, type, bytes, sha256, reference,"
                                     " file_deleted_at IS NOT NULL FROM documents").fetchall())
        finally:
            db.close()

    want = sorted((d["id"], d["type"], d["bytes"], d["sha256"], ref, 1) for d in docs)
    wait_until(lambda: rows() == want, timeout=10, what="the delivered files recorded deleted")
    assert os.listdir(os.path.join(gw.data_dir, "documents")) == []


def test_documents_refused_from_another_counter_used_or_unknown(gw):
    sd = gw.sign_in(counter="SD-01")
    lib = gw.sign_in(counter="LIB-CEN")
    docs = uploaded(gw, sd, [("id.png", PNG, "image/png")])
    r = record(gw, lib, evidence(zip(docs, ["identity"])))
    assert r.status == 422, r
    assert r.json["error"]["fields"][0]["code"] == "document_not_found"
    assert r.json["error"]["fields"][0]["field"] == "fields.documents"
    assert record(gw, sd, evidence(zip(docs, ["identity"]))).status == 201
    r = record(gw, sd, evidence(zip(docs, ["identity"])))
    assert r.status == 422 and r.json["error"]["fields"][0]["code"] == "document_used", r
    r = record(gw, sd, evidence([({"id": "0" * 32}, "identity")]))
    assert r.status == 422 and r.json["error"]["fields"][0]["code"] == "document_not_found", r
    r = record(gw, sd, evidence(zip(docs, ["passport"])))
    assert r.status == 422 and r.json["error"]["fields"][0]["field"] == "fields.documents", r


def test_fields_rules(gw):
    token = gw.sign_in()
    docs = uploaded(gw, token, [("id.png", PNG, "image/png")])
    r = record(gw, token, evidence(zip(docs, ["identity"]), nino="BG123456A",
                                   claim_reference=None))
    assert r.status == 422, r
    problems = {f["field"]: f["code"] for f in r.json["error"]["fields"]}
    assert problems == {"fields.nino": "invalid_format", "fields.claim_reference": "required"}, problems
    r = record(gw, token, evidence(zip(docs, ["identity"]), new_claim=True, claim_reference=None))
    assert r.status == 201, r


def test_expired_upload_refused_and_deleted(tmp_path):
    # the janitor sweeps only at start here: the upload expires but its record stays a while
    g = make(tmp_path, {"unattached_ttl_s": 1, "sweep_interval_s": 3600})
    g.start()
    try:
        token = g.sign_in()
        docs = uploaded(g, token, [("id.png", PNG, "image/png")])
        folder = os.path.join(g.data_dir, "documents")
        db = g.store_db()
        try:
            (expires_at,) = db.execute("SELECT expires_at FROM documents WHERE id = ?",
                                       (docs[0]["id"],)).fetchone()
        finally:
            db.close()
        wait_until(lambda: time.time() > expires_at + 0.1, timeout=10, what="the upload's expiry")
        r = record(g, token, evidence(zip(docs, ["identity"])))
        assert r.status == 422, r
        assert r.json["error"]["fields"][0]["code"] == "document_expired"
        assert "Upload it again" in r.json["error"]["fields"][0]["message"]
        # the next upload sweeps what expired: its file and its record
        uploaded(g, token, [("later.png", PNG, "image/png")])
        assert docs[0]["id"] + ".doc" not in os.listdir(folder)
    finally:
        g.stop()


def test_over_size_submission_refused_when_recorded(tmp_path):
    # 3 files of 110 kB each are within the 200 kB file limit; together over 300 kB
    g = make(tmp_path, {"file_limit": 200000, "submission_limit": 300000})
    g.start()
    try:
        token = g.sign_in()
        docs = uploaded(g, token, [(f"p{i}.pdf", pdf(1, marker=os.urandom(110000)),
                                    "application/pdf") for i in range(3)])
        r = record(g, token, evidence(zip(docs, ["income", "income", "capital"])))
        assert r.status == 422, r
        f = r.json["error"]["fields"][0]
        assert f["code"] == "submission_too_large" and f["field"] == "fields.documents"
        assert "second submission" in f["message"]
        # nothing was taken: two of them still make a submission
        r = record(g, token, evidence(zip(docs[:2], ["income", "income"])))
        assert r.status == 201, r
    finally:
        g.stop()


def test_hash_mismatch_refused_and_not_forwarded(gw):
    token = gw.sign_in()
    content = pdf(1)
    docs = uploaded(gw, token, [("payslip.pdf", content, "application/pdf")])
    r = gw.sim_request("POST", "/_sim/faults", {"backend": "documents", "mode": "down"})
    assert r.status == 200, r
    r = record(gw, token, evidence(zip(docs, ["income"])))
    assert r.status == 201, r
    ref = r.json["reference"]
    wait_until(lambda: transaction(gw, token, ref)["delivery"]["attempts"] >= 1,
               what="a first attempt, refused while the back-end is down")
    # the stored request now names another hash than the file's: the document system must
    # refuse it when it recomputes the hash
    db = gw.store_db()
    try:
        (payload,) = db.execute("SELECT d.payload FROM deliveries d JOIN transactions t"
                                " ON t.id = d.transaction_id WHERE t.reference = ?",
                                (ref,)).fetchone()
        payload = unseal(gw.keys_dir, payload)  # sealed at rest (docs/personal-data.md)
        wrong = payload.replace(docs[0]["sha256"], "0" * 64)
        assert wrong != payload
        wrong = seal(gw.keys_dir, "data-1", wrong)
        db.execute("UPDATE deliveries SET payload = ? WHERE transaction_id ="
                   " (SELECT id FROM transactions WHERE reference = ?)", (wrong, ref))
        db.commit()
    finally:
        db.close()
    assert gw.sim_request("POST", "/_sim/faults", {"backend": "documents", "mode": "up"}).status == 200
    wait_until(lambda: transaction(gw, token, ref)["delivery"]["state"] == "failed", timeout=30,
               what="the refused delivery")
    t = transaction(gw, token, ref)
    assert t["status"] != "forwarded"
    assert "hash" in t["delivery"]["last_error"].lower() or "SHA-256" in t["delivery"]["last_error"]
    assert received(gw) == []


def test_altered_sealed_file_is_never_acknowledged(gw):
    token = gw.sign_in()
    docs = uploaded(gw, token, [("payslip.pdf", pdf(1, marker=b"x" * 5000), "application/pdf")])
    r = gw.sim_request("POST", "/_sim/faults", {"backend": "documents", "mode": "down"})
    r = record(gw, token, evidence(zip(docs, ["income"])))
    assert r.status == 201, r
    ref = r.json["reference"]
    wait_until(lambda: transaction(gw, token, ref)["delivery"]["attempts"] >= 1,
               what="a first attempt, refused while the back-end is down")
    path = os.path.join(gw.data_dir, "documents", docs[0]["id"] + ".doc")
    with open(path, "r+b") as f:
        f.seek(200)
        b = f.read(1)
        f.seek(200)
        f.write(bytes([b[0] ^ 1]))
    gw.sim_request("POST", "/_sim/faults", {"backend": "documents", "mode": "up"})
    wait_until(lambda: transaction(gw, token, ref)["delivery"]["attempts"] >= 3, timeout=30,
               what="attempts at the altered file")
    t = transaction(gw, token, ref)
    assert t["status"] == "accepted", t
    assert received(gw) == []


def test_a_purge_deletes_the_document_files_and_keeps_their_record(tmp_path):
    """Documents kept a year after delivery (documents.retention_days) still go when the
    retention purge anonymises their transaction: the files are deleted, the rows (type,
    bytes, sha256) stay, the NINO and name are purged."""
    from test_retention import complete
    g = make(tmp_path, documents={"retention_days": 365})
    with open(os.path.join(g.keys_dir, "documents.key")) as f:
        g.keys["documents"] = f.read().strip().encode()
    g.start()
    try:
        token = g.sign_in()
        docs = uploaded(g, token, [("passport.jpg", JPEG, "image/jpeg"),
                                   ("payslip.pdf", pdf(1), "application/pdf")])
        r = record(g, token, evidence(zip(docs, ["identity", "income"])))
        assert r.status == 201, r
        ref = r.json["reference"]
        wait_until(lambda: transaction(g, token, ref)["delivery"]["state"] == "delivered",
                   timeout=20, what="the evidence delivered")
        complete(g, token, "documents", ref)
        folder = os.path.join(g.data_dir, "documents")
        assert sorted(os.listdir(folder)) == sorted(d["id"] + ".doc" for d in docs)

        dry = g.cli("purge", "--dry-run", "--older-than-days", "0")
        assert dry.returncode == 0 and "2 document files" in dry.stdout, dry.stdout
        assert len(os.listdir(folder)) == 2  # a dry run deletes nothing

        done = g.cli("purge", "--older-than-days", "0")
        assert done.returncode == 0 and "2 document files" in done.stdout, done.stdout
        assert os.listdir(folder) == []
        db = g.store_db()
        try:
            kept = sorted(db.execute("SELECT id, type, bytes, sha256, reference,"
                                     " file_deleted_at IS NOT NULL FROM documents").fetchall())
            (fields,) = db.execute("SELECT fields FROM transactions WHERE reference=?",
                                   (ref,)).fetchone()
        finally:
            db.close()
        assert kept == sorted((d["id"], d["type"], d["bytes"], d["sha256"], ref, 1)
                              for d in docs)
        assert "AB123456C" not in fields and "Alex Example" not in fields, fields
        again = g.cli("purge", "--older-than-days", "0")
        assert again.stdout.startswith("purged: 0 transactions"), again.stdout
    finally:
        assert g.stop() == 0, g.log()[-3000:]


def test_a_document_sealed_under_an_old_key_still_delivers_after_the_key_changes(tmp_path):
    """Rotation: the evidence waits in the outbox (the document system is down) when a new
    data key becomes current; the old key stays configured for reading
    (keys.old_data_key_files), so the file sealed under it is still delivered whole, and new
    uploads are sealed under the new key."""
    g = make(tmp_path)
    g.start()
    try:
        token = g.sign_in()
        content = pdf(2)
        docs = uploaded(g, token, [("payslip.pdf", content, "application/pdf")])
        assert g.sim_request("POST", "/_sim/faults",
                             {"backend": "documents", "mode": "down"}).status == 200
        r = record(g, token, evidence(zip(docs, ["income"])))
        assert r.status == 201, r
        ref = r.json["reference"]
        wait_until(lambda: transaction(g, token, ref)["delivery"]["attempts"] >= 1,
                   what="a first attempt, refused while the back-end is down")
        token = new_current_key(g)
        assert g.sim_request("POST", "/_sim/faults",
                             {"backend": "documents", "mode": "up"}).status == 200
        wait_until(lambda: transaction(g, token, ref)["delivery"]["state"] == "delivered",
                   timeout=30, what="the evidence delivered after the key changed")
        [got] = received(g)
        assert [f["sha256"] for f in json.loads(got["body"])["received"]] == \
            [hashlib.sha256(content).hexdigest()]

        new = uploaded(g, token, [("id.png", PNG, "image/png")])
        db = g.store_db()
        try:
            keys = dict(db.execute("SELECT id, key_id FROM documents").fetchall())
        finally:
            db.close()
        assert keys == {docs[0]["id"]: "data-1", new[0]["id"]: "data-2"}, keys
    finally:
        assert g.stop() == 0, g.log()[-3000:]


def test_an_old_data_key_that_cannot_be_read_is_named_at_start(tmp_path):
    g = make(tmp_path)
    g.config["keys"]["old_data_key_files"] = ["keys/missing.key"]
    g.write_config()
    r = subprocess.run([ONESTOPD, "--check-config", g.config_path], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "keys" in r.stderr and "missing.key" in r.stderr, r


def test_a_sealed_file_no_record_names_is_removed_at_start(tmp_path):
    """A crash between an upload's rename to .doc and its records leaves a sealed file nothing
    names: the next start removes it, and keeps the files that have records."""
    g = make(tmp_path)
    g.start()
    try:
        token = g.sign_in()
        [kept] = uploaded(g, token, [("id.png", PNG, "image/png")])
        g.daemon.stop()
        folder = os.path.join(g.data_dir, "documents")
        orphan = secrets.token_hex(16) + ".doc"
        with open(os.path.join(folder, orphan), "wb") as f:
            f.write(b"OSDOC1\n\0" + secrets.token_bytes(64))
        with open(os.path.join(folder, "README.txt"), "w") as f:
            f.write("not a sealed file: left alone\n")
        assert orphan in os.listdir(folder)
        g.start_daemon()  # healthy only once the start's clean-up is done
        assert sorted(os.listdir(folder)) == sorted([kept["id"] + ".doc", "README.txt"])
        assert "document_orphans_removed" in g.log()
        assert orphan[:-4] not in g.log()
    finally:
        assert g.stop() == 0, g.log()[-3000:]
