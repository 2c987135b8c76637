"""The guardian: a tiny process that kills its owner's children when the owner dies.

``PR_SET_PDEATHSIG`` only reaches the direct child, and only when the thread
that forked it exits; a node's own children (a shell's ``sleep``, a server's
workers) survive it. So the owner also starts this guardian with a pipe on
its stdin and tells it, one line each, which process groups it started:

    add PGID STARTTIME      (STARTTIME: field 22 of /proc/PGID/stat)
    del PGID
    dir PATH                a temp directory the run made (the rest of the line)
    undir PATH

When the pipe closes -- the owner exited, crashed or was SIGKILLed -- the
guardian SIGKILLs every group still registered, then removes every directory
still registered (a SIGKILLed run cannot: its event sockets, PostgreSQL data
dirs), and exits. It runs as
``python -I -S guardian.py`` and imports nothing from distlab, so it starts
in a few milliseconds and cannot be broken by the code it protects.
"""

import os
import signal
import sys


def _start_time(pid):
    """The kernel start time of ``pid`` (clock ticks since boot), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def _kill_groups(groups):
    for pgid, started in groups.items():
        now = _start_time(pgid)
        # A leader that is alive with another start time means the pid was reused:
        # that group is not ours. A dead leader may still have live group members.
        if now is not None and now != started:
            continue
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass


# Only directories named like the ones distlab makes are ever removed: a
# mistaken registration cannot take a user's files with it.
_DIR_PREFIX = "distlab-"


def _remove_dirs(dirs):
    import shutil
    import time

    # The groups were just SIGKILLed, but PostgreSQL's backends lead groups of
    # their own and may write a file or two until they see the postmaster gone:
    # try again for a few seconds while anything is left.
    for _attempt in range(15):
        for path in list(dirs):
            if not os.path.basename(path).startswith(_DIR_PREFIX):
                dirs.discard(path)
                continue
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.exists(path):
                dirs.discard(path)
        if not dirs:
            return
        time.sleep(0.2)


def main():
    # Ctrl-C and SIGTERM aimed at the owner's terminal or group must not stop the guardian
    # before it has done its one job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    groups = {}
    dirs = set()
    for raw in sys.stdin.buffer:
        if raw.startswith((b"dir ", b"undir ")):
            verb, _, path = raw.rstrip(b"\n").partition(b" ")
            (dirs.add if verb == b"dir" else dirs.discard)(os.fsdecode(path))
            continue
        parts = raw.split()
        if len(parts) == 3 and parts[0] == b"add":
            groups[int(parts[1])] = parts[2].decode()
        elif len(parts) == 2 and parts[0] == b"del":
            groups.pop(int(parts[1]), None)
    _kill_groups(groups)
    if dirs:
        _remove_dirs(dirs)


if __name__ == "__main__":
    main()
