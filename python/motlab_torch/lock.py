"""The lab's run lock (src-main/runs/lock.ts, docs/runs.md), the same protocol in Python: `<run>/.lock`
names the one process that may write the run, so that the lab can tell a live PyTorch run from a
dead one, stop it with SIGTERM, and refuse a second writer (the lab's or this trainer's).

The lock file holds {"pid", "identity", "host", "nonce", "since", "purpose"}; identity is
`<boot id>/<process start time in clock ticks>` on Linux (null where /proc is missing). It appears
complete: written to a private file, then hard-linked to `.lock` (which fails if one exists). A
lock whose process is gone, or whose pid now names another process, is stale and is taken over
(through the guard file `.lock.break`, removing only the lock judged stale); a lock from another
host is left alone.
"""
import datetime
import errno
import json
import os
import secrets
import socket
import time

from .errors import MotlabError

LOCK_FILE = ".lock"
BREAK_GUARD_STALE_S = 10.0
ACQUIRE_ATTEMPTS = 5
HOLDER_KEYS = {"pid": int, "host": str, "nonce": str, "since": str, "purpose": str}


def process_identity(pid):
    """`<boot id>/<start time>`; None where /proc cannot tell; False when there is no such process."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot_id = f.read().strip()
    except OSError:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            stat = f.read()
    except OSError:
        return False
    # The command name (field 2) is in parentheses and may hold spaces; field 22 is the start time.
    fields = stat[stat.rfind(")") + 2:].split(" ")
    return f"{boot_id}/{fields[22 - 3]}"


def _pid_exists(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _why_gone(holder):
    if not _pid_exists(holder["pid"]):
        return f"process {holder['pid']} has ended"
    if holder["identity"] is None:
        return None
    now = process_identity(holder["pid"])
    if now is False:
        return f"process {holder['pid']} has ended"
    if now is not None and now != holder["identity"]:
        return f"pid {holder['pid']} now belongs to another process"
    return None


def _read_holder(path):
    """The holder, None when unreadable, "missing" when there is no lock file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return "missing"
    try:
        holder = json.loads(text)
    except ValueError:
        return None
    if not isinstance(holder, dict):
        return None
    for key, kind in HOLDER_KEYS.items():
        if not isinstance(holder.get(key), kind) or isinstance(holder.get(key), bool):
            return None
    if holder["pid"] < 1 or not holder["nonce"] or not (holder.get("identity") is None or isinstance(holder["identity"], str)):
        return None
    holder.setdefault("identity", None)
    return holder


def inspect_run_lock(run_dir):
    """{"state": "free"|"held"|"stale"|"foreign", "holder"?, "reason"?} (reads only)."""
    path = os.path.join(run_dir, LOCK_FILE)
    holder = _read_holder(path)
    if holder == "missing":
        return {"state": "free"}
    if holder is None:
        return {"state": "stale", "holder": None, "reason": f"{path} is unreadable"}
    if holder["host"] != socket.gethostname():
        return {"state": "foreign", "holder": holder}
    reason = _why_gone(holder)
    return {"state": "held", "holder": holder} if reason is None else {"state": "stale", "holder": holder, "reason": reason}


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _try_create(path, holder):
    temp = f"{path}.{holder['pid']}.{holder['nonce']}"
    with open(temp, "x", encoding="utf-8") as f:
        f.write(json.dumps(holder, separators=(",", ":")) + "\n")
    try:
        os.link(temp, path)
        return True
    except FileExistsError:
        return False
    finally:
        try:
            os.unlink(temp)
        except OSError:
            pass


def _break_stale_lock(path, stale_nonce):
    guard = f"{path}.break"
    try:
        fd = os.open(guard, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        try:
            if time.time() - os.stat(guard).st_mtime > BREAK_GUARD_STALE_S:
                os.unlink(guard)
        except OSError:
            pass
        return
    try:
        current = _read_holder(path)
        if current != "missing" and (current or {}).get("nonce") == stale_nonce:
            os.unlink(path)
    finally:
        os.close(fd)
        try:
            os.unlink(guard)
        except OSError:
            pass


def _describe(holder):
    return f"process {holder['pid']} on {holder['host']} ({holder['purpose']}, since {holder['since']})"


class RunLock:
    def __init__(self, run_dir, holder):
        self.run_dir, self.holder = run_dir, holder

    def release(self):
        """Remove the lock file if it is still ours."""
        path = os.path.join(self.run_dir, LOCK_FILE)
        current = _read_holder(path)
        if current not in ("missing", None) and current["nonce"] == self.holder["nonce"]:
            try:
                os.unlink(path)
            except OSError:
                pass


def acquire_run_lock(run_dir, purpose):
    """Take the run's lock (taking over a stale one); MotlabError "conflict" when a live process or another host holds it."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, LOCK_FILE)
    identity = process_identity(os.getpid())
    holder = {
        "pid": os.getpid(),
        "identity": identity if isinstance(identity, str) else None,
        "host": socket.gethostname(),
        "nonce": secrets.token_hex(8),
        "since": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "purpose": purpose,
    }
    for _ in range(ACQUIRE_ATTEMPTS):
        try:
            created = _try_create(path, holder)
        except OSError as e:
            if e.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):  # a filesystem without hard links
                raise MotlabError("conflict", f"{run_dir}: cannot take the run lock {path} ({e.strerror})") from None
            raise
        if created:
            _fsync_dir(run_dir)
            return RunLock(run_dir, holder)
        current = inspect_run_lock(run_dir)
        if current["state"] == "held":
            raise MotlabError("conflict", f"{run_dir} is already being trained by {_describe(current['holder'])}; stop it first")
        if current["state"] == "foreign":
            raise MotlabError("conflict", f"{run_dir} is locked by {_describe(current['holder'])}, which cannot be checked from "
                                          f"{socket.gethostname()}; if nothing trains it there any more, delete {path}")
        if current["state"] == "stale":
            _break_stale_lock(path, (current.get("holder") or {}).get("nonce"))
    raise MotlabError("conflict", f"{run_dir}: could not take {path} (other processes keep taking it)")
