"""Real printers for system tests: a private D-Bus, ippeveprinter instances and a private
cupsd with IPP Everywhere queues, plus a raw TCP "thermal printer".

Everything lives in one temporary folder with free loopback ports, every process runs
in its own process group, and stop() (or leaving the `with` block) ends them all and
removes the folder. Every wait is bounded. Only the Python standard library is used.

    with PrintEnv() as env:
        p = env.add_printer("ok")                      # prints instantly, keeps files
        jam = env.add_printer("jam", hook="jam")       # every job aborts: "paper jam"
        cups = env.start_cupsd()
        cups.add_queue("Receipt", p)                   # lpadmin ... -m everywhere
        ... p.uri, p.spooled("pdf"), cups.server ...

What ippeveprinter and cupsd need here (see the shared PRINTING-NOTES.md): ippeveprinter
will not start without a D-Bus bus even with `-r off`; cupsd runs as root with its own
ServerRoot/StateDir/CacheDir/RequestRoot/TempDir, and its filters run as user lp, so the
folder must be world-traversable (pytest's tmp_path is not).
"""

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time

from onestop_env import free_port, wait_until

START_TIMEOUT = 15.0  # seconds for any daemon to come up
STOP_TIMEOUT = 5.0  # seconds for a daemon to leave after SIGTERM
COMMAND_TIMEOUT = 60.0  # seconds for lpadmin, lpstat and friends

HOOKS = {
    # Print command for ippeveprinter -c: gets the spooled file as $1.
    "ok": "#!/bin/sh\nexit 0\n",
    "jam": '#!/bin/sh\necho "ERROR: paper jam" >&2\nexit 1\n',
    "slow": "#!/bin/sh\nsleep 3\nexit 0\n",
}
DEFAULT_FORMATS = ("application/pdf", "application/vnd.escpos", "application/octet-stream")


def closed_port():
    """A loopback port nothing listens on (free now; nobody is told about it)."""
    return free_port()


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def run(cmd, timeout=COMMAND_TIMEOUT, check=True, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd!r} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return proc


class Daemon:
    """A process started in its own session (process group), logging to a file."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        else:
            # The leader is gone; children in its group may not be.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._log.close()


class Printer:
    """An ippeveprinter: an IPP Everywhere printer without hardware."""

    def __init__(self, env, name, hook, formats, keep, attrs):
        self.env = env
        self.name = name
        self.port = free_port()
        self.dir = os.path.join(env.dir, f"printer-{name}")
        self.spool = os.path.join(self.dir, "spool")
        os.makedirs(self.spool)
        self.hook = os.path.join(self.dir, "hook.sh")
        with open(self.hook, "w") as f:
            f.write(HOOKS[hook])
        os.chmod(self.hook, 0o755)
        argv = ["ippeveprinter", "-r", "off", "-n", "localhost", "-p", str(self.port),
                "-d", self.spool, "-c", self.hook]
        if attrs:
            # Printer attributes in ipptool syntax ("ATTR keyword media-supported ...").
            # ippeveprinter takes no -f with -a: the formats go into the file.
            conf = os.path.join(self.dir, "attrs.conf")
            with open(conf, "w") as f:
                f.write(attrs)
                f.write("ATTR mimeMediaType document-format-supported "
                        + ",".join(f'"{x}"' for x in formats) + "\n")
            argv += ["-a", conf]
        else:
            argv += ["-f", ",".join(formats)]
        if keep:
            argv.append("-k")
        argv.append(name)
        env_vars = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=env.dbus_address)
        self.daemon = Daemon(f"ippeveprinter {name}", argv, os.path.join(self.dir, "log"),
                             env=env_vars)
        try:
            wait_until(lambda: self._ready(), timeout=START_TIMEOUT, what=f"ippeveprinter {name}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.daemon.log()}") from None

    def _ready(self):
        if not self.daemon.alive():
            raise AssertionError(f"ippeveprinter {self.name} exited: {self.daemon.log()}")
        return port_open(self.port)

    @property
    def uri(self):
        return f"ipp://localhost:{self.port}/ipp/print"

    def spooled(self, ext=None):
        """Documents the printer kept (-k), oldest job first: SPOOL/<job-id>-<name>.<ext>."""
        names = []
        for n in os.listdir(self.spool):
            if ext is None or n.endswith("." + ext):
                names.append(n)

        def job_id(n):
            head = n.split("-", 1)[0]
            return int(head) if head.isdigit() else 0

        return [os.path.join(self.spool, n) for n in sorted(names, key=job_id)]

    def job_attributes(self, job_id):
        """Get-Job-Attributes (all) through ipptool, as {name: value text}."""
        test = os.path.join(self.dir, f"get-job-{job_id}.test")
        with open(test, "w") as f:
            f.write("{\n OPERATION Get-Job-Attributes\n GROUP operation-attributes-tag\n"
                    " ATTR charset attributes-charset utf-8\n"
                    " ATTR language attributes-natural-language en\n"
                    " ATTR uri printer-uri $uri\n"
                    f" ATTR integer job-id {int(job_id)}\n"
                    " ATTR name requesting-user-name $user\n"
                    " ATTR keyword requested-attributes all\n}\n")
        out = run(["ipptool", "-tv", self.uri, test]).stdout
        attrs = {}
        for line in out.splitlines():
            line = line.strip()
            if " = " in line and " (" in line.split(" = ", 1)[0]:
                name = line.split(" (", 1)[0]
                attrs[name] = line.split(" = ", 1)[1]
        return attrs

    def stop(self):
        self.daemon.stop()


class Cupsd:
    """A private CUPS scheduler listening on 127.0.0.1:PORT only."""

    def __init__(self, env):
        self.env = env
        self.port = free_port()
        self.dir = os.path.join(env.dir, "cups")
        dirs = {k: os.path.join(self.dir, k) for k in
                ("root", "state", "cache", "spool", "tmp", "log")}
        for d in dirs.values():
            os.makedirs(d)
        os.chmod(dirs["tmp"], 0o1777)
        self.conf = os.path.join(dirs["root"], "cupsd.conf")
        self.files_conf = os.path.join(dirs["root"], "cups-files.conf")
        with open(self.conf, "w") as f:
            f.write(f"""Listen 127.0.0.1:{self.port}
Browsing Off
WebInterface No
LogLevel debug
DefaultAuthType None
MaxLogSize 0
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
""")
        with open(self.files_conf, "w") as f:
            f.write(f"""ServerRoot {dirs['root']}
StateDir {dirs['state']}
CacheDir {dirs['cache']}
RequestRoot {dirs['spool']}
TempDir {dirs['tmp']}
AccessLog {dirs['log']}/access_log
ErrorLog {dirs['log']}/error_log
PageLog {dirs['log']}/page_log
Printcap {self.dir}/printcap
FileDevice Yes
""")
        self.error_log = os.path.join(dirs["log"], "error_log")
        self.daemon = Daemon("cupsd", ["cupsd", "-f", "-c", self.conf, "-s", self.files_conf],
                             os.path.join(self.dir, "cupsd.out"))
        try:
            wait_until(self._ready, timeout=START_TIMEOUT, what="cupsd", interval=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.daemon.log()}\n{self.log()}") from None

    def _ready(self):
        if not self.daemon.alive():
            raise AssertionError(f"cupsd exited: {self.daemon.log()} {self.log()}")
        if not port_open(self.port):
            return False
        return run(["lpstat", "-h", self.server, "-r"], check=False).returncode == 0

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def log(self):
        try:
            with open(self.error_log, "r", errors="replace") as f:
                return f.read()[-6000:]
        except OSError:
            return ""

    def add_queue(self, queue, printer):
        """An IPP Everywhere queue for an ippeveprinter (lpadmin asks the printer)."""
        run(["lpadmin", "-h", self.server, "-p", queue, "-E", "-v", printer.uri,
             "-m", "everywhere"])
        return queue

    def add_raw_queue(self, queue, device_uri):
        """A raw queue (deprecated in CUPS 2.4 but still how a thermal printer on
        socket:// is shared): cupsd passes the bytes through untouched."""
        run(["lpadmin", "-h", self.server, "-p", queue, "-E", "-v", device_uri, "-m", "raw"])
        return queue

    def stop(self):
        self.daemon.stop()


class RawPrinter:
    """A socket:// (port 9100 style) printer: accepts connections and keeps the bytes
    of each one. jobs() returns them, one bytes object per connection.

    mode "read" reads each connection to its end (giving up after 10 s of silence);
    "hang" accepts and never answers or closes (a hung printer); "close" accepts and
    closes at once."""

    def __init__(self, mode="read"):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._jobs = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def uri(self):
        return f"socket://127.0.0.1:{self.port}"

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self.mode == "close":
                conn.close()
                continue
            conn.settimeout(None if self.mode == "hang" else 10)
            chunks = []
            try:
                while True:
                    b = conn.recv(65536)
                    if not b:
                        break
                    chunks.append(b)
            except OSError:
                pass
            finally:
                conn.close()
            with self._lock:
                self._jobs.append(b"".join(chunks))

    def jobs(self):
        with self._lock:
            return list(self._jobs)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=STOP_TIMEOUT)
        self.sock.close()


class PrintEnv:
    def __init__(self):
        # Not pytest's tmp_path: cupsd's filters run as lp and must reach the spool.
        self.dir = tempfile.mkdtemp(prefix="onestop-print-")
        os.chmod(self.dir, 0o755)
        self.dbus_address = f"unix:path={os.path.join(self.dir, 'dbus.sock')}"
        self._things = []
        self.dbus = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _start_dbus(self):
        if self.dbus is not None:
            return
        sock = os.path.join(self.dir, "dbus.sock")
        self.dbus = Daemon("dbus", ["dbus-daemon", "--session", f"--address=unix:path={sock}",
                                    "--nofork", "--nopidfile"],
                           os.path.join(self.dir, "dbus.log"))
        self._things.append(self.dbus)
        wait_until(lambda: os.path.exists(sock) and stat.S_ISSOCK(os.stat(sock).st_mode),
                   timeout=START_TIMEOUT, what="dbus-daemon")

    def add_printer(self, name="receipt", hook="ok", formats=DEFAULT_FORMATS, keep=True,
                    attrs=None):
        """hook: "ok", "jam" (exits 1 with "ERROR: paper jam") or "slow" (3 s);
        attrs: extra printer attributes for ippeveprinter -a, in ipptool syntax."""
        self._start_dbus()
        p = Printer(self, name, hook, formats, keep, attrs)
        self._things.append(p)
        return p

    def start_cupsd(self):
        c = Cupsd(self)
        self._things.append(c)
        return c

    def raw_printer(self, mode="read"):
        r = RawPrinter(mode)
        self._things.append(r)
        return r

    def stop(self):
        # Newest first: cupsd before the printers it talks to, dbus last.
        while self._things:
            thing = self._things.pop()
            try:
                thing.stop()
            except Exception:  # noqa: BLE001 - stop everything whatever happens
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
