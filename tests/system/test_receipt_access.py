"""Receipts for every resident: large print, the resident's language, tagged PDFs.

A counter assistant chooses the receipt's size and language on the sale (and again on a
reprint): `"receipt": {"size": "standard" | "large", "language": "en" | "pl" | "ur"}`.
Receipts go through the real printer path (onestopd's spooler, libcups, an ippeveprinter
or a raw TCP thermal printer), and what came out is read back:
- an Urdu receipt is set right to left: pdftotext -bbox gives each Arabic-script glyph its
  box, and the glyphs of a word, taken in the word's logical order, run from right to
  left; the labels sit at the right edge with their values to the left; the reference and
  the QR code stay as they are;
- large print is at least 16 pt (the height of a text line's glyph boxes);
- every PDF receipt is tagged (pdfinfo "Tagged: yes"), names its language (/Lang on the
  catalog: en-GB, pl, ur) and describes its QR code (/Alt on the Figure element, in the
  receipt's language), read back with qpdf --json;
- a Polish receipt carries the Polish "what happens next" text;
- an unknown language or size is refused with 422 naming the field, and nothing is sold;
- a thermal (ESC/POS) printer prints large print double size, and refuses a language its
  code page cannot print rather than printing '?' marks.
"""

import html
import json
import os
import re
import subprocess
import sys
import time


sys.path.insert(0, os.path.dirname(__file__))

from onestop_env import ONESTOPD, ROOT, wait_until  # noqa: E402
from test_printing import decode_pdf_qr, parse_escpos  # noqa: E402
from test_receipts import (PRINTER, check_status_url, clean_stops, env,  # noqa: E402,F401
                           start_gateway, transaction, wait_print)
from txn_helpers import IN_ZONE, cash, parking, sell, vrm  # noqa: E402


ARABIC = re.compile(r"^[\u0600-\u06FF\uFB50-\uFDFF\uFE70-\uFEFF]+$")
WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                  r"([^<]*)</word>")
LARGE_PT = 16.0


def sell_with_receipt(gw, token, receipt, n=0, key=None):
    fields = parking(uprn=IN_ZONE[n % len(IN_ZONE)], vrm=vrm(n))
    body_payment = cash(5000)
    r = gw.request("POST", "/api/v1/transactions",
                   {"service": "residents-parking-permit", "fields": fields,
                    "payment": body_payment, "receipt": receipt},
                   token=token, headers={"Idempotency-Key": key or f"access-{n}-{time.time()}"})
    return r


def printed_pdf(gw, token, printer, reference, count=1):
    t = wait_print(gw, token, reference, ("printed", "print_failed"))
    assert t["print"]["state"] == "printed", t["print"]
    files = printer.spooled("pdf")
    assert len(files) == count, files
    return sorted(files)[-1]


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout


def tagged(path):
    return re.search(r"^Tagged:\s+yes$", run(["pdfinfo", path]), re.M) is not None


def pdf_string(value):
    """A string as qpdf --json=2 writes it: "u:text" or "b:hex" (UTF-16 with a BOM)."""
    if value.startswith("u:"):
        return value[2:]
    raw = bytes.fromhex(value[2:])
    return raw[2:].decode("utf-16-be") if raw.startswith(b"\xfe\xff") else raw.decode("latin-1")


def accessibility(path):
    """(the catalog's /Lang, [/Alt of each Figure structure element]) of a PDF."""
    objects = json.loads(run(["qpdf", "--json=2", "--json-key=qpdf", path]))["qpdf"][1]
    root = objects["obj:" + objects["trailer"]["value"]["/Root"]]["value"]
    lang = pdf_string(root["/Lang"]) if "/Lang" in root else None
    alts = []

    def walk(v):
        if isinstance(v, dict):
            if v.get("/S") == "/Figure":
                alts.append(pdf_string(v["/Alt"]) if "/Alt" in v else None)
            for k in v.values():
                walk(k)
        elif isinstance(v, list):
            for k in v:
                walk(k)

    walk([o.get("value") for o in objects.values()])
    return lang, alts


QR_ALT = {"en": "QR code linking to the status page of reference {}",
          "pl": "Kod QR prowadzący do strony ze statusem sprawy {}",
          "ur": "حوالہ {} کے اسٹیٹس صفحے کا لنک، QR کوڈ"}


def check_accessible(path, lang, reference):
    """Tagged, in language lang, and the one QR code described in that language."""
    assert tagged(path), run(["pdfinfo", path])
    assert accessibility(path) == ({"en": "en-GB"}.get(lang, lang),
                                   [QR_ALT[lang].format(reference)]), accessibility(path)


def text_of(path):
    """The receipt's text with runs of white space made single spaces."""
    return " ".join(run(["pdftotext", path, "-"]).split())


def bbox_lines(path):
    """pdftotext -bbox words grouped into printed lines: {round(yMax): [(xMin, xMax, h, w)]}."""
    lines = {}
    for m in WORD.finditer(run(["pdftotext", "-bbox", path, "-"])):
        x0, y0, x1, y1 = (float(v) for v in m.groups()[:4])
        lines.setdefault(round(y1), []).append((x0, x1, y1 - y0, html.unescape(m.group(5))))
    return lines


def rtl_reading(words):
    """A line's Arabic-script glyphs read from the right edge to the left."""
    glyphs = [w for w in words if ARABIC.match(w[3])]
    return "".join(w[3] for w in sorted(glyphs, key=lambda w: -w[0]))


def find_line(lines, urdu_word):
    for y, words in lines.items():
        if urdu_word in rtl_reading(words):
            return words
    raise AssertionError(f"{urdu_word} read right to left on no line: "
                         f"{[rtl_reading(w) for w in lines.values()]}")


# ---- Urdu, large print, on a receipt printer ----

def test_large_print_urdu_receipt_is_right_to_left_tagged_and_keeps_reference_and_qr(
        env, make_gateway, clean_stops, tmp_path):
    p = env.add_printer("direct")
    gw = start_gateway(make_gateway, clean_stops, {"uri": p.uri, "format": "pdf", "paper": "80mm"})
    token = gw.sign_in()
    r = sell_with_receipt(gw, token, {"size": "large", "language": "ur"})
    assert r.status == 201, r
    assert r.json["receipt"] == {"size": "large", "language": "ur"}
    ref = r.json["reference"]
    options = gw.request("GET", "/api/v1/receipt-options", token=token)
    assert options.status == 200, options
    assert [lang["code"] for lang in options.json["languages"]] == ["en", "pl", "ur"]
    urdu_option = options.json["languages"][2]
    assert (urdu_option["name"], urdu_option["english_name"], urdu_option["direction"],
            urdu_option["printable"]) == ("اردو", "Urdu", "rtl", True)
    assert [s["code"] for s in options.json["sizes"]] == ["standard", "large"]
    pdf = printed_pdf(gw, token, p, ref)

    check_accessible(pdf, "ur", ref)
    assert "NotoNaskhArabic" in run(["pdffonts", pdf])
    # The QR code and the reference are the same as on an English receipt.
    assert decode_pdf_qr(pdf, tmp_path) == r.json["status_url"]
    check_status_url(gw, r.json["status_url"], ref)
    lines = bbox_lines(pdf)
    assert any(w[3] == ref for ws in lines.values() for w in ws), \
        f"the reference {ref}, left to right, in {[[w[3] for w in ws] for ws in lines.values()]}"

    # "Date" (تاریخ) read from the right edge leftwards, never left to right.
    date_line = find_line(lines, "تاریخ")
    assert "تاریخ" not in rtl_reading(date_line)[::-1]
    arabic = [w for w in date_line if ARABIC.match(w[3])]
    latin = [w for w in date_line if not ARABIC.match(w[3])]
    # The label at the right edge, its value (the date, in digits) to its left.
    assert latin and min(w[0] for w in arabic) > max(w[1] for w in latin), date_line
    assert max(w[1] for w in arabic) > 200, "the label ends at the right margin of 80 mm"
    # Counter (کاؤنٹر) and the Urdu "what happens next" heading too.
    find_line(lines, "کاؤنٹر")
    assert "آگے" in text_of(pdf) and "کیا ہوگا" in text_of(pdf)
    assert "پارکنگ ٹیم" in text_of(pdf), "the service's own Urdu text"
    # Large print: the Urdu label's glyph boxes are at least 16 pt tall.
    assert min(w[2] for w in arabic) >= LARGE_PT, arabic


def test_standard_english_receipt_is_tagged_and_stays_left_to_right(env, make_gateway,
                                                                   clean_stops):
    p = env.add_printer("direct")
    gw = start_gateway(make_gateway, clean_stops, {"uri": p.uri, "format": "pdf", "paper": "80mm"})
    token = gw.sign_in()
    r = sell_with_receipt(gw, token, {})
    assert r.status == 201, r
    assert r.json["receipt"] == {"size": "standard", "language": "en"}
    pdf = printed_pdf(gw, token, p, r.json["reference"])
    check_accessible(pdf, "en", r.json["reference"])
    lines = bbox_lines(pdf)
    date = next(ws for ws in lines.values() if any(w[3] == "Date" for w in ws))
    label = next(w for w in date if w[3] == "Date")
    assert label[0] < min(w[0] for w in date if w[3] != "Date"), "label on the left"
    heights = [w[2] for ws in lines.values() for w in ws if w[3] == "Date"]
    assert heights and max(heights) < LARGE_PT, "standard print is smaller than large"


# ---- Polish, on A4 ----

def test_polish_receipt_says_what_happens_next_in_polish(env, make_gateway, clean_stops,
                                                         tmp_path):
    p = env.add_printer("direct")
    gw = start_gateway(make_gateway, clean_stops, {"uri": p.uri, "format": "pdf", "paper": "a4"})
    token = gw.sign_in()
    r = sell_with_receipt(gw, token, {"language": "pl"})
    assert r.status == 201, r
    pdf = printed_pdf(gw, token, p, r.json["reference"])
    text = text_of(pdf)
    for expected in ("Co dalej", "Twoje zezwolenie trafia dziś do zespołu ds. parkowania",
                     "Zezwolenie na parkowanie dla mieszkańców",
                     "Gotówka", "Reszta", "Twój numer sprawy", r.json["reference"], "£41.50",
                     "Dziękujemy za wizytę w Stockport Direct"):
        assert expected in text, (expected, text)
    assert "What happens next" not in text
    check_accessible(pdf, "pl", r.json["reference"])
    assert decode_pdf_qr(pdf, tmp_path) == r.json["status_url"]


def test_reprint_chooses_its_own_size_and_language(env, make_gateway, clean_stops):
    p = env.add_printer("direct")
    gw = start_gateway(make_gateway, clean_stops, {"uri": p.uri, "format": "pdf", "paper": "80mm"})
    token = gw.sign_in()
    r = sell_with_receipt(gw, token, {"size": "standard", "language": "en"})
    assert r.status == 201, r
    ref = r.json["reference"]
    printed_pdf(gw, token, p, ref)
    rp = gw.request("POST", f"/api/v1/transactions/{ref}/reprint",
                    {"receipt": {"size": "large", "language": "ur"}}, token=token)
    assert rp.status == 202, rp
    assert rp.json["print"]["receipt"] == {"size": "large", "language": "ur"}
    t = wait_print(gw, token, ref, ("printed",))
    assert t["print"]["receipt"] == {"size": "large", "language": "ur"}, t["print"]
    copy = printed_pdf(gw, token, p, ref, count=2)
    text = text_of(copy)
    assert "رسید کی نقل" in text, text  # "Copy receipt"
    assert tagged(copy)
    # A reprint with no body is still a standard English copy.
    plain = gw.request("POST", f"/api/v1/transactions/{ref}/reprint", token=token)
    assert plain.status == 202, plain
    assert plain.json["print"]["receipt"] == {"size": "standard", "language": "en"}


# ---- refusals ----

def field_errors(r):
    return {f["field"]: f for f in r.json["error"]["fields"]}


def test_unknown_language_or_size_is_422_naming_the_field_and_nothing_is_sold(
        env, make_gateway, clean_stops):
    p = env.add_printer("direct")
    gw = start_gateway(make_gateway, clean_stops, {"uri": p.uri, "format": "pdf", "paper": "80mm"})
    token = gw.sign_in()
    r = sell_with_receipt(gw, token, {"language": "xx", "size": "huge"}, key="refused-1")
    assert r.status == 422, r
    assert r.json["error"]["code"] == "validation_failed"
    fields = field_errors(r)
    assert fields["receipt.language"]["code"] == "unsupported"
    assert "en, pl, ur" in fields["receipt.language"]["message"]
    assert fields["receipt.size"]["code"] == "invalid"
    assert "large" in fields["receipt.size"]["message"]
    bad = sell_with_receipt(gw, token, "large", key="refused-2")
    assert bad.status == 422 and "receipt" in field_errors(bad), bad
    extra = sell_with_receipt(gw, token, {"colour": "red"}, key="refused-3")
    assert extra.status == 422 and "receipt.colour" in field_errors(extra), extra
    # Nothing was stored: the same key with a good body sells now.
    ok = sell_with_receipt(gw, token, {"language": "pl"}, key="refused-1")
    assert ok.status == 201, ok
    listing = gw.request("GET", "/api/v1/transactions", token=token)
    assert listing.status == 200
    # A reprint is refused the same way.
    ref = ok.json["reference"]
    wait_print(gw, token, ref, ("printed",))
    rp = gw.request("POST", f"/api/v1/transactions/{ref}/reprint",
                    {"receipt": {"language": "klingon"}}, token=token)
    assert rp.status == 422, rp
    assert field_errors(rp)["receipt.language"]["code"] == "unsupported"
    assert len(p.spooled("pdf")) == 1


def test_a_listed_language_without_its_text_file_fails_the_config_check(make_gateway, tmp_path):
    gw = make_gateway("gw")
    gw.config["receipts"] = {"text_dir": os.path.join(ROOT, "config", "receipt-text"),
                             "languages": ["pl", "bn"]}
    gw.write_config()
    check = subprocess.run([ONESTOPD, "--check-config", gw.config_path], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode != 0
    out = check.stdout + check.stderr
    assert "receipts" in out and "bn.json" in out, out


# ---- thermal printers ----

def test_escpos_prints_large_type_double_size_and_refuses_urdu(env, make_gateway, clean_stops,
                                                               tmp_path):
    raw = env.raw_printer()
    gw = start_gateway(make_gateway, clean_stops, {"uri": raw.uri, "format": "escpos"})
    token = gw.sign_in()
    options = gw.request("GET", "/api/v1/receipt-options", token=token)
    assert options.status == 200, options
    printable = {lang["code"]: lang["printable"] for lang in options.json["languages"]}
    assert printable == {"en": True, "pl": False, "ur": False}, options.json
    assert options.json["printer"]["format"] == "escpos"
    urdu = sell_with_receipt(gw, token, {"language": "ur"}, key="thermal-ur")
    assert urdu.status == 422, urdu
    f = field_errors(urdu)["receipt.language"]
    assert f["code"] == "printer_cannot_print" and "English" in f["message"], f

    r = sell_with_receipt(gw, token, {"size": "large", "language": "en"}, key="thermal-large")
    assert r.status == 201, r
    t = wait_print(gw, token, r.json["reference"], ("printed", "print_failed"))
    assert t["print"]["state"] == "printed", t["print"]
    # the raw printer records a job once its connection closes, which may be after the gateway
    # has marked the receipt printed
    wait_until(lambda: raw.jobs(), timeout=10, what="bytes at the raw printer")
    jobs = raw.jobs()
    assert len(jobs) == 1
    cmds, lines, image = parse_escpos(jobs[0])
    sizes = [c[1] for c in cmds if c[0] == "GS !"]
    assert sizes[:-1] and all(s == 0x11 for s in sizes[:-1]), sizes  # double width and height
    text_lines = [ln for ln in lines if ln.strip()]
    assert max(len(ln) for ln in text_lines) <= 21, text_lines
    assert any(r.json["reference"].encode() in ln for ln in lines), lines
    assert image is not None
