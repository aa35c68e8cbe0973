"""A private PostgreSQL for the tests: Debian's server binaries, a data folder in a temporary
directory, a unix socket there and 127.0.0.1 on a free port, a database and a role with a
password for onestop. Nothing is assumed about a server already running on the machine.

initdb refuses to run as root: when the tests run as root, the server runs as the `postgres`
user that Debian's postgresql package creates, and the temporary directory is handed to it.
A missing PostgreSQL fails the test that asked for one (scripts/deps installs it)."""
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile

from onestop_env import free_port, wait_until

PG_USER = "postgres"
START_TIMEOUT = 30.0


def bindir():
    """The folder holding initdb, postgres and pg_isready (pg_config --bindir names the
    client's, which on Debian is the server's too; else the newest under /usr/lib/postgresql)."""
    found = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        found.append(out.stdout.strip())
    found += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for d in found:
        if d and os.path.exists(os.path.join(d, "initdb")) and \
                os.path.exists(os.path.join(d, "postgres")):
            return d
    raise RuntimeError("PostgreSQL's server is not installed (no initdb and postgres in "
                       f"{found or 'pg_config --bindir'}); run scripts/deps")


def lock_key(space, name):
    """db_lock_key (gateway/store/db.c): FNV-1a over "space:name", 64 bits."""
    h = 14695981039346656037
    for b in f"{space}:{name}".encode():
        h = ((h ^ b) * 1099511628211) % 2**64
    return h


def lock_sessions_sql(space, name):
    """A query for the pids of the sessions holding onestop's session lock (space, name): a
    session advisory lock on a bigint key shows in pg_locks as classid (its high 32 bits),
    objid (its low 32 bits) and objsubid 1."""
    key = lock_key(space, name)
    return ("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
            f" AND classid::bigint = {key >> 32} AND objid::bigint = {key & 0xffffffff}")


class Postgres:
    """One PostgreSQL server. start() initdb's and starts it; stop() ends it and removes its
    folder. conninfo(db) is a libpq conninfo string for the onestop role over TCP."""

    def __init__(self, root=None):
        self.bin = bindir()
        self.root = root or tempfile.mkdtemp(prefix="onestop-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.role = "onestop"
        self.password = secrets.token_hex(16)
        self.proc = None
        self.log_path = os.path.join(self.root, "postgres.log")
        self.as_root = os.geteuid() == 0
        self.owner = PG_USER if self.as_root else pwd.getpwuid(os.geteuid()).pw_name

    def _run_as_owner(self, args, **kwargs):
        if self.as_root:
            kwargs.update(user=PG_USER, group=PG_USER, extra_groups=[])
        kwargs.setdefault("cwd", self.root)
        return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)

    def _popen_as_owner(self, args, **kwargs):
        if self.as_root:
            kwargs.update(user=PG_USER, group=PG_USER, extra_groups=[])
        kwargs.setdefault("cwd", self.root)
        return subprocess.Popen(args, **kwargs)

    def start(self):
        if self.as_root:
            try:
                pw = pwd.getpwnam(PG_USER)
            except KeyError:
                raise RuntimeError(f"no `{PG_USER}` user to run PostgreSQL as (initdb refuses "
                                   "root); install Debian's postgresql package (scripts/deps)")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            os.chmod(self.root, 0o700)
        if not os.path.exists(self.data):
            self._run_as_owner([os.path.join(self.bin, "initdb"), "-D", self.data, "-U",
                                self.owner, "--auth-local=trust", "--auth-host=scram-sha-256",
                                "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        self.launch()
        self.psql(f"CREATE ROLE {self.role} LOGIN PASSWORD '{self.password}'")
        self.create_database("onestop")
        return self

    def launch(self):
        """Starts the server on the existing data folder and waits until it accepts
        connections (pg_isready, polled)."""
        log = open(self.log_path, "a")
        self.proc = self._popen_as_owner(
            [os.path.join(self.bin, "postgres"), "-D", self.data, "-k", self.root,
             "-h", "127.0.0.1", "-p", str(self.port), "-c", "fsync=off",
             "-c", "max_connections=100", "-c", "shared_buffers=16MB"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}:\n"
                                   + self.log_tail())
            return subprocess.run([os.path.join(self.bin, "pg_isready"), "-q", "-h", self.root,
                                   "-p", str(self.port)]).returncode == 0
        wait_until(ready, timeout=START_TIMEOUT, interval=0.05, what="PostgreSQL to accept "
                   "connections")

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def psql(self, sql, db="postgres"):
        """Runs sql as the superuser over the unix socket; returns its unaligned output."""
        out = self._run_as_owner(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                  "-h", self.root, "-p", str(self.port), "-U", self.owner,
                                  "-d", db, "-c", sql])
        return out.stdout.strip()

    def dump(self, db):
        """pg_dump of db as the superuser: the schema and each row as an INSERT (without the
        \\restrict lines, whose key is new each time)."""
        out = self._run_as_owner([os.path.join(self.bin, "pg_dump"), "--inserts", "-h",
                                  self.root, "-p", str(self.port), "-U", self.owner, db]).stdout
        return "".join(line for line in out.splitlines(keepends=True)
                       if not line.startswith(("\\restrict", "\\unrestrict")))

    def create_database(self, name):
        self.psql(f"CREATE DATABASE {name} OWNER {self.role} ENCODING 'UTF8'")
        return self.conninfo(name)

    def conninfo(self, db="onestop"):
        return (f"host=127.0.0.1 port={self.port} dbname={db} user={self.role} "
                f"password={self.password} connect_timeout=5")

    def kill9(self):
        """A crash: the postmaster and every server process killed with SIGKILL."""
        pid = self.proc.pid
        children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == pid]
        os.kill(pid, signal.SIGKILL)
        for c in children:
            try:
                os.kill(c, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        wait_until(lambda: all(_state(str(c)) in ("gone", "Z") for c in children),
                   timeout=10, what="the server's processes to die")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"
