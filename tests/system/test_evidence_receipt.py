"""The benefit evidence receipt, printed for real (ippeveprinter, PDF): each document by type
with its page count and the first 8 characters of its hash, and no personal data (name,
NINO, claim reference, file names)."""

import os
import sys


sys.path.insert(0, os.path.dirname(__file__))

from printenv import PrintEnv  # noqa: E402
from test_benefit_evidence import evidence, make, record, uploaded  # noqa: E402
from test_documents import JPEG, pdf, tiff  # noqa: E402
from test_receipts import pdf_text, wait_print  # noqa: E402



def test_receipt_lists_documents_without_personal_data(tmp_path):
    with PrintEnv() as env:
        p = env.add_printer("evidence")
        gw = make(tmp_path)
        gw.config["printers"] = [{"name": "sd01-receipt", "uri": p.uri, "format": "pdf",
                                  "paper": "80mm"}]
        gw.config["counters"][0]["printer"] = "sd01-receipt"
        gw.write_config()
        gw.start()
        try:
            token = gw.sign_in()
            docs = uploaded(gw, token, [("passport-alex.jpg", JPEG, "image/jpeg"),
                                        ("payslip-alex.pdf", pdf(2), "application/pdf"),
                                        ("statement-alex.tif", tiff(3), "image/tiff")])
            r = record(gw, token, evidence(zip(docs, ["identity", "income", "capital"])))
            assert r.status == 201, r
            ref = r.json["reference"]
            t = wait_print(gw, token, ref, ("printed", "print_failed"))
            assert t["print"]["state"] == "printed", t["print"]
            files = p.spooled("pdf")
            assert len(files) == 1, files
            text = " ".join(pdf_text(files[0]).split())
            assert ref in text
            for line in (f"Identity, 1 page, hash {docs[0]['sha256'][:8]}",
                         f"Income, 2 pages, hash {docs[1]['sha256'][:8]}",
                         f"Capital, 3 pages, hash {docs[2]['sha256'][:8]}"):
                assert line in text, (line, text)
            for personal in ("Alex", "AB123456C", "AB 12 34 56 C", "CTS123456", "passport",
                             "payslip", "statement-"):
                assert personal not in text, (personal, text)
        finally:
            gw.stop()
