"""A throw-away Debian root to install the package into, as on a council's server
(tests/system/test_package.py).

The root is a minimal Debian of this machine's own release (VERSION_CODENAME in
/etc/os-release), made by mmdebstrap from this machine's apt sources, read at run time
(/etc/apt/sources.list and sources.list.d: every file naming the release), with the
package's dependencies and systemd already in it. It is made once and kept as a tarball in
the build folder, named by a hash of the release, the package list and the sources, so a
later run only unpacks it (seconds) and a change of any of them makes a new one. The
package is then installed inside the root by apt-get from the .deb file, so dpkg runs its
maintainer scripts; its dependencies are already there, so nothing is downloaded then.

Commands run in the root with chroot inside a mount namespace of their own that has a fresh
/proc (unshare --mount-proc), so nothing is mounted on the host and nothing is left
mounted when they end."""

import glob
import hashlib
import os
import re
import shutil
import subprocess

SOURCES = ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list")),
           *sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))]
# What a Debian server running onestop has besides the package's own dependencies: systemd
# (the units, systemd-tmpfiles in postinst, systemd-analyze) and its helpers for dpkg.
BASE = ["systemd", "init-system-helpers"]
# Paths that a package manager run changes by itself (logs, caches, dpkg's and apt's own
# records), left out when the test compares the root before installing and after purging.
VOLATILE = re.compile(r"^/(proc|sys|dev|run|tmp|var/tmp|var/log|var/cache|var/lib/dpkg|"
                      r"var/lib/apt|var/lib/systemd/deb-systemd-helper-enabled|"
                      r"var/lib/systemd/deb-systemd-user-helper-enabled|etc/ld\.so\.cache)(/|$)")


def release():
    with open("/etc/os-release") as f:
        m = re.search(r"^VERSION_CODENAME=\"?([a-z]+)\"?$", f.read(), re.M)
    assert m, "/etc/os-release names no VERSION_CODENAME"
    return m.group(1)


def apt_sources(codename):
    """This machine's apt source files that name the release (a third-party repository for
    another suite is left out)."""
    found = []
    for path in SOURCES:
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            lines = [ln for ln in f.read().splitlines() if not ln.lstrip().startswith("#")]
        if any(re.search(rf"\b{codename}\b", ln) for ln in lines):
            found.append(path)
    assert found, f"no apt source for {codename} in {SOURCES}"
    return found


def depends(deb):
    """The package names in the .deb's Depends (the first of each set of alternatives)."""
    field = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], capture_output=True, text=True,
                           check=True, timeout=60).stdout
    return sorted({re.split(r"[\s(]", alt.split("|")[0].strip())[0]
                   for alt in field.split(",") if alt.strip()})


def root_tarball(build_dir, deb):
    """The cached tarball of a root holding deb's dependencies; made by mmdebstrap when
    missing (older tarballs for other package lists are removed). (path, made_now)."""
    codename = release()
    sources = apt_sources(codename)
    packages = sorted(set(depends(deb)) | set(BASE))
    key = hashlib.sha256()
    key.update(codename.encode() + b"\0" + ",".join(packages).encode() + b"\0")
    for path in sources:
        with open(path, "rb") as f:
            key.update(f.read())
    cache = os.path.join(os.path.abspath(build_dir), "package-root")
    os.makedirs(cache, exist_ok=True)
    tarball = os.path.join(cache, f"{codename}-{key.hexdigest()[:16]}.tar")
    if os.path.exists(tarball):
        return tarball, False
    for old in glob.glob(os.path.join(cache, "*.tar")):
        os.remove(old)  # made for another package list or other sources
    mmdebstrap = shutil.which("mmdebstrap")
    assert mmdebstrap, "mmdebstrap is missing: scripts/deps installs it"
    partial = f"{tarball}.{os.getpid()}.partial"  # two runs at once each make their own
    r = subprocess.run([mmdebstrap, "--variant=apt", "--mode=root", "--format=tar",
                        "--include=" + ",".join(packages), codename, partial, *sources],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    os.replace(partial, tarball)
    return tarball, True


def unpack(tarball, root):
    os.makedirs(root, exist_ok=True)
    subprocess.run(["tar", "-C", root, "--numeric-owner", "-xpf", tarball], check=True,
                   timeout=300)


def command(root, args, user=None):
    """The command line that runs args in root (as user, a name in the root's passwd)."""
    spec = []
    if user is not None:
        uid, gid = ids(root, user)
        spec = [f"--userspec={uid}:{gid}", "--groups="]
    return ["unshare", f"--mount-proc={os.path.join(root, 'proc')}", "chroot", *spec, root,
            *args]


def run(root, args, user=None, **kw):
    kw.setdefault("timeout", 300)
    return subprocess.run(command(root, args, user), capture_output=True, text=True, **kw)


def ids(root, user):
    """(uid, gid) of user in the root's /etc/passwd."""
    with open(os.path.join(root, "etc", "passwd")) as f:
        for line in f:
            fields = line.split(":")
            if fields[0] == user:
                return int(fields[2]), int(fields[3])
    raise AssertionError(f"no user {user} in the root")


def listing(root):
    """{path in the root: (mode, uid)} of every file, except VOLATILE ones."""
    out = {}
    for top, dirs, files in os.walk(root):
        rel = "/" + os.path.relpath(top, root) if top != root else "/"
        if VOLATILE.match(rel):
            dirs[:] = []
            continue
        for name in dirs + files:
            path = os.path.join(rel, name) if rel != "/" else "/" + name
            if VOLATILE.match(path):
                continue
            st = os.lstat(os.path.join(top, name))
            out[path] = (st.st_mode, st.st_uid)
    return out
