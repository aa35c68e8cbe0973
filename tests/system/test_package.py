"""The Debian package (scripts/package, debian/, packaging/): it builds, lintian finds no error in
it, and what it installs runs: unpacked into a throw-away root, its onestopd starts against its
own example config (with only the listen port and the data folder moved into the test's
folder), serves the installed web app and answers /healthz and /readyz; its onestop adds a user
and takes a backup. The systemd units pass systemd-analyze verify.

Then a real installation: apt-get installs the .deb into a minimal Debian root of this
machine's release (package_root.py: made once by mmdebstrap from this machine's apt sources
and cached in the build folder), so the maintainer scripts make the system user, the state
folder and the keys; the units pass systemd-analyze verify inside it and the backup and purge
timers are enabled; the installed onestopd, started in the root against the installed example
config unchanged (only --listen moves its port), is ready, signs an assistant in and takes a
sale; dpkg --purge then leaves nothing of the package but the store it documents it keeps.

Selected with -m package; builds the package from scratch (a minute or two) and, on the first
run on a machine, the root (about a minute more)."""

import json
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

import package_root
from onestop_env import BUILD, DEMO_PASSWORD, ROOT, Process, free_port, request, wait_until

pytestmark = [pytest.mark.package, pytest.mark.slow]

UNITS = ["onestopd.service", "onestop-backup.service", "onestop-backup.timer",
         "onestop-purge.service", "onestop-purge.timer"]


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    out = tmp_path_factory.mktemp("package")
    r = subprocess.run([os.path.join(ROOT, "scripts", "package"), str(out)],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    path = r.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r".*/onestop_[0-9.]+_[a-z0-9]+\.deb", path), r.stdout[-500:]
    assert os.path.dirname(path) == str(out)  # nothing written beside the checkout
    return path


@pytest.fixture(scope="module")
def root(deb, tmp_path_factory):
    d = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg", "-x", deb, str(d)], check=True, timeout=120)
    return str(d)


def test_lintian_finds_no_error(deb):
    r = subprocess.run(["lintian", "--fail-on", "error", deb], capture_output=True, text=True,
                       timeout=600)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not [line for line in r.stdout.splitlines() if line.startswith("E:")], r.stdout


def test_the_package_declares_its_conffiles_and_holds_every_part(deb, tmp_path):
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", deb, str(control)], check=True, timeout=60)
    conffiles = (control / "conffiles").read_text().split()
    assert "/etc/onestop/onestop.json" in conffiles
    assert "/etc/onestop/services/residents-parking-permit.json" in conffiles
    depends = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], capture_output=True, text=True,
                             check=True).stdout
    for package in ("adduser", "openssl", "tzdata", "libmicrohttpd12", "libsqlite3-0"):
        assert package in depends, depends
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True,
                             check=True).stdout
    for path in ("./usr/sbin/onestopd", "./usr/bin/onestop", "./usr/share/onestop/web/index.html",
                 "./usr/share/onestop/openapi.json",
                 "./usr/share/man/man8/onestopd.8.gz", "./usr/share/man/man1/onestop.1.gz",
                 "./usr/libexec/onestop/make-keys", "./usr/lib/tmpfiles.d/onestop.conf",
                 *(f"./lib/systemd/system/{u}" for u in UNITS)):
        assert re.search(rf" {re.escape(path)}$", listing, re.M), path
    # the timers are started at installation, never the oneshot jobs themselves
    postinst = (control / "postinst").read_text()
    assert "'onestop-backup.timer'" in postinst and "'onestop-backup.service'" not in postinst
    # the service user exists before the units are started, and makes its own keys
    assert postinst.index("adduser --system") < postinst.index("deb-systemd-invoke")
    assert "runuser -u onestop -- /usr/libexec/onestop/make-keys /etc/onestop/keys" in postinst


def unit(root, name):
    with open(os.path.join(root, "lib", "systemd", "system", name)) as f:
        return f.read()


def test_the_units_are_hardened_and_pass_systemd_analyze(root, tmp_path):
    service = unit(root, "onestopd.service")
    for line in ("User=onestop", "StateDirectory=onestop", "ProtectSystem=strict",
                 "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "StandardError=journal",
                 "ExecStart=/usr/sbin/onestopd --config /etc/onestop/onestop.json"):
        assert line in service.splitlines(), line
    assert "backup /var/lib/onestop/backups" in unit(root, "onestop-backup.service")
    assert "onestop.json purge" in unit(root, "onestop-purge.service")
    # every program a unit runs is in the package (the copies below point into the root)
    for name in UNITS:
        for prog in re.findall(r"^Exec\w+=(\S+)", unit(root, name), re.M):
            assert os.access(os.path.join(root, prog.lstrip("/")), os.X_OK), (name, prog)
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: scripts/deps installs systemd"
    for name in UNITS:
        text = unit(root, name).replace("/usr/sbin/", f"{root}/usr/sbin/")
        (tmp_path / name).write_text(text.replace("/usr/bin/", f"{root}/usr/bin/"))
    # Documentation=man:... must open the packaged man pages
    env = dict(os.environ, MANPATH=os.path.join(root, "usr", "share", "man"))
    r = subprocess.run([analyze, "verify", *(str(tmp_path / u) for u in UNITS)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    sec = subprocess.run([analyze, "security", "--offline=yes", str(tmp_path / UNITS[0])],
                         capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for onestopd.service: ([0-9.]+)", sec.stdout)
    assert m, sec.stdout[-500:] + sec.stderr
    print(f"systemd-analyze security: onestopd.service exposure {m.group(1)}")
    assert float(m.group(1)) <= 2.0  # "OK" on systemd's scale (10 is unprotected)


def test_the_installed_onestopd_starts_from_its_example_config(root, tmp_path):
    etc = os.path.join(root, "etc", "onestop")
    with open(os.path.join(etc, "onestop.json")) as f:
        shipped = json.load(f)
    # the example config points where the package and its units put things
    assert shipped["data_dir"] == "/var/lib/onestop"
    assert "StateDirectory=onestop" in unit(root, "onestopd.service")
    assert shipped["web_dir"] == "/usr/share/onestop/web"
    web = os.path.join(root, shipped["web_dir"].lstrip("/"))
    assert os.path.isfile(os.path.join(web, "index.html"))
    for code in shipped["services"]["enabled"]:
        assert os.path.isfile(os.path.join(etc, shipped["services"]["dir"], code + ".json")), code

    # a throw-away copy of /etc/onestop: keys made by the packaged make-keys, as postinst does;
    # only the port, the data folder and the web folder (inside the root) are changed
    conf = tmp_path / "etc-onestop"
    shutil.copytree(etc, conf)
    subprocess.run([os.path.join(root, "usr", "libexec", "onestop", "make-keys"),
                    str(conf / "keys")], check=True, capture_output=True, timeout=300)
    port = free_port()
    cfg = dict(shipped, listen=f"127.0.0.1:{port}", data_dir=str(tmp_path / "data"),
               web_dir=web)
    (conf / "onestop.json").write_text(json.dumps(cfg, indent=2))
    onestopd = os.path.join(root, "usr", "sbin", "onestopd")
    onestop = os.path.join(root, "usr", "bin", "onestop")
    config = str(conf / "onestop.json")

    version = subprocess.run([onestopd, "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("onestopd "), version
    check = subprocess.run([onestopd, "--check-config", config], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stderr

    daemon = Process([onestopd, "--config", config], str(tmp_path / "onestopd.log"))
    try:
        wait_until(lambda: request(port, "GET", "/healthz").status == 200, timeout=60,
                   what="the packaged onestopd's /healthz")
        assert request(port, "GET", "/readyz").status == 200
        page = request(port, "GET", "/")
        with open(os.path.join(web, "index.html"), "rb") as f:
            assert page.status == 200 and page.body == f.read()
        api = request(port, "GET", "/api/v1/openapi.json")
        with open(os.path.join(os.path.dirname(web), "openapi.json"), "rb") as f:
            assert api.status == 200 and api.json == json.loads(f.read()), api
        add = subprocess.run([onestop, "--config", config, "user", "add", "counter1", "--role",
                              "assistant"], input=DEMO_PASSWORD + "\n", capture_output=True,
                             text=True, timeout=60)
        assert add.returncode == 0, add.stderr
        r = request(port, "POST", "/api/v1/sessions",
                    {"username": "counter1", "password": DEMO_PASSWORD, "counter": "SD-01"})
        assert r.status == 201, r
        backup = subprocess.run([onestop, "--config", config, "backup", str(tmp_path)],
                                capture_output=True, text=True, timeout=60)
        assert backup.returncode == 0 and "integrity ok" in backup.stdout, backup.stderr
    finally:
        assert daemon.stop() == 0, daemon.output()[-2000:]


def test_the_copyright_file_is_dep5_and_states_the_terms():
    """No licence has been chosen: debian/copyright names the holder and says so, in
    machine-readable form (every License short name has its stand-alone text)."""
    from debian import copyright as dep5
    with open(os.path.join(ROOT, "debian", "copyright")) as f:
        c = dep5.Copyright(f, strict=True)
    files = c.find_files_paragraph("gateway/main.c")
    assert files is not None and files.copyright and "onestop maintainers" in files.copyright
    name = files.license.synopsis
    assert name and name.lower() != "other", name
    standalone = [p.license for p in c.all_license_paragraphs() if p.license.synopsis == name]
    assert standalone and standalone[0].text.strip(), f"no License: {name} paragraph"
    assert "All rights reserved" in standalone[0].text
    assert c.header.upstream_contact, "Upstream-Contact names who to ask about the terms"


# ---- a real installation into a throw-away Debian root ----

CONFIG = "/etc/onestop/onestop.json"


@pytest.fixture(scope="module")
def installed(deb, tmp_path_factory):
    """A fresh Debian root with the package installed by apt-get; the root's path, its files
    before the installation and the phases' timings."""
    timings = {}
    t = time.monotonic()
    tarball, made = package_root.root_tarball(BUILD, deb)
    timings["root made by mmdebstrap" if made else "root from the cache"] = time.monotonic() - t
    root = str(tmp_path_factory.mktemp("installed") / "root")
    t = time.monotonic()
    package_root.unpack(tarball, root)
    timings["root unpacked"] = time.monotonic() - t
    before = package_root.listing(root)
    shutil.copy(deb, os.path.join(root, "tmp"))
    t = time.monotonic()
    r = package_root.run(root, ["apt-get", "install", "-y", "-q", "-o", "Dpkg::Use-Pty=0",
                                "/tmp/" + os.path.basename(deb)])
    timings["apt-get install"] = time.monotonic() - t
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Setting up onestop" in r.stdout, r.stdout[-2000:]
    os.remove(os.path.join(root, "tmp", os.path.basename(deb)))
    yield {"root": root, "before": before, "timings": timings}
    print("package install timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    shutil.rmtree(root, ignore_errors=True)


def in_root(installed, path):
    return os.path.join(installed["root"], path.lstrip("/"))


def test_apt_installs_the_package_and_its_maintainer_scripts_set_it_up(installed):
    root = installed["root"]
    status = package_root.run(root, ["dpkg-query", "-W", "-f", "${Status}", "onestop"])
    assert status.stdout == "install ok installed", status
    # a system user with no login, owning the state folder and its own keys
    uid, gid = package_root.ids(root, "onestop")
    assert uid < 1000, uid
    with open(in_root(installed, "/etc/passwd")) as f:
        entry = next(line for line in f if line.startswith("onestop:"))
    assert entry.rstrip().endswith(":/var/lib/onestop:/usr/sbin/nologin"), entry
    for path, mode in (("/var/lib/onestop", 0o750), ("/etc/onestop/keys", 0o700)):
        st = os.stat(in_root(installed, path))
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (uid, gid, mode), (path, st)
    keys = os.listdir(in_root(installed, "/etc/onestop/keys"))
    for name in ("status-token.key", "data-1.key", "index.key", "parking.key"):
        assert name in keys, keys
        st = os.stat(in_root(installed, f"/etc/onestop/keys/{name}"))
        assert st.st_uid == uid and st.st_mode & 0o077 == 0, (name, oct(st.st_mode))
    assert os.path.isfile(in_root(installed, CONFIG))
    # onestopd and the two timers are enabled (a timer starts its job; the jobs are not)
    wants = {"multi-user.target.wants": ["onestopd.service"],
             "timers.target.wants": ["onestop-backup.timer", "onestop-purge.timer"]}
    for target, units in wants.items():
        for u in units:
            link = in_root(installed, f"/etc/systemd/system/{target}/{u}")
            assert os.readlink(link) == f"/lib/systemd/system/{u}", link
    for job in ("onestop-backup.service", "onestop-purge.service"):
        assert not glob_wants(installed, job), job
    # the units as installed pass systemd-analyze verify in the root (the man pages are
    # checked by test_the_units_are_hardened_and_pass_systemd_analyze)
    verify = package_root.run(root, ["systemd-analyze", "verify", "--man=no",
                                     *(f"/lib/systemd/system/{u}" for u in UNITS)])
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr


def glob_wants(installed, unit):
    d = in_root(installed, "/etc/systemd/system")
    return [os.path.join(top, unit) for top, _, files in os.walk(d) if unit in files]


def test_the_installed_onestopd_starts_from_the_installed_config_and_takes_a_sale(installed):
    root = installed["root"]
    check = package_root.run(root, ["/usr/sbin/onestopd", "--check-config", CONFIG],
                             user="onestop", timeout=60)
    assert check.returncode == 0, check.stderr
    port = free_port()
    log = os.path.join(os.path.dirname(root), "onestopd.log")
    started = time.monotonic()
    daemon = Process(package_root.command(root, ["/usr/sbin/onestopd", "--config", CONFIG,
                                                 "--listen", f"127.0.0.1:{port}"],
                                          user="onestop"), log)
    try:
        wait_until(lambda: request(port, "GET", "/readyz").status == 200, timeout=60,
                   what="the installed onestopd's /readyz")
        installed["timings"]["onestopd ready"] = time.monotonic() - started
        assert os.path.isfile(in_root(installed, "/var/lib/onestop/onestop.db"))
        add = package_root.run(root, ["/usr/bin/onestop", "--config", CONFIG, "user", "add",
                                      "counter1", "--role", "assistant"], user="onestop",
                               input=DEMO_PASSWORD + "\n", timeout=60)
        assert add.returncode == 0, add.stderr
        r = request(port, "POST", "/api/v1/sessions",
                    {"username": "counter1", "password": DEMO_PASSWORD, "counter": "SD-01"})
        assert r.status == 201, r
        token = r.json["token"]
        r = request(port, "POST", "/api/v1/till/open", {"float_pence": 5000}, token=token)
        assert r.status in (200, 201), r
        sale = {"service": "library-sales",
                "fields": {"items": [{"code": "bag", "quantity": 2}]},
                "payment": {"method": "card", "auth_code": "A12345"}}
        r = request(port, "POST", "/api/v1/transactions", sale, token=token,
                    headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status == 201, r
        assert r.json["fee_pence"] == 200 and r.json["status"] == "completed", r.json
        got = request(port, "GET", f"/api/v1/transactions/{r.json['reference']}", token=token)
        assert got.status == 200 and got.json["fee_pence"] == 200, got
    finally:
        assert daemon.stop() == 0, daemon.output()[-2000:]


def test_purge_leaves_nothing_but_the_store(installed):
    root = installed["root"]
    t = time.monotonic()
    r = package_root.run(root, ["dpkg", "--purge", "onestop"])
    installed["timings"]["dpkg --purge"] = time.monotonic() - t
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    status = package_root.run(root, ["dpkg-query", "-W", "-f", "${Status}", "onestop"])
    assert "install ok installed" not in status.stdout, status
    after = package_root.listing(root)
    # debian/onestop.postrm: the store (the council's financial record) stays until removed by
    # hand; the system user stays, as Debian's policy for system users has it
    kept = sorted(p for p in set(after) - set(installed["before"])
                  if not (p == "/var/lib/onestop" or p.startswith("/var/lib/onestop/")))
    assert kept == [], kept
    gone = sorted(set(installed["before"]) - set(after))
    assert gone == [], gone
    assert os.path.isfile(in_root(installed, "/var/lib/onestop/onestop.db"))
    assert not os.path.exists(in_root(installed, "/etc/onestop"))
