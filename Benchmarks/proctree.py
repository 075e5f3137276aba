"""The /proc reading Benchmarks/history-rate.sh's embedded Python shares: a process's children and threads,
and a thread's CPU (schedstat, nanoseconds). Missing entries (a process that just exited) read as nothing."""
import os


def children(pid):
    """`pid` and its live children (by their stat's parent field), as strings."""
    out = [str(pid)]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if stat[stat.rfind(")") + 2:].split()[1] == str(pid):
                out.append(entry)
    return out


def threads(pid):
    """The thread ids of `pid` (none if it is gone)."""
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []


def thread_ns(pid, tid):
    """CPU nanoseconds of thread `tid` of `pid` so far (0 if it is gone)."""
    try:
        return int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
    except OSError:
        return 0
