#!/usr/bin/env python3
"""Times `export` or `erase` of one person at a time with several binaries taking turns.

    bench/rights_ab.py export URL N BIN...   # N people, each exported once by every binary
    bench/rights_ab.py erase URL N BIN...    # N people per binary, each erased once

URL is a big `demo` database (sqlite:///path or postgres://...); erase changes it, so use a
copy. The people are ones with bookings at two tenants, away from the first ones
`bench/rights.sh` takes. Each command is followed by `hold list` (a trivial command: process
start, policies, connecting); the work is the median command minus the median trivial one.

Why not one person many times: every export registers a request, which the next letter of
that person lists, so a repeated export grows its own letter. Why in turns: the time of the
same binary can drift by a third within an hour on a shared host, so binaries compared are
run within the same minutes, in rotated order.
"""

import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time


def people(url, count):
    query = (
        "select email from bookings where email is not null group by email "
        "having count(distinct tenant_id) > 1 order by email limit %d offset 100" % count
    )
    if url.startswith("sqlite://"):
        return [r[0] for r in sqlite3.connect(url[len("sqlite://"):]).execute(query)]
    out = subprocess.run(["psql", url, "-Atc", query], capture_output=True, text=True, check=True)
    return out.stdout.split()


def timed(args, env):
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env=env)
    return (time.perf_counter() - start) * 1000


def main():
    if len(sys.argv) < 5 or sys.argv[1] not in ("export", "erase"):
        sys.exit(__doc__)
    verb, url, n, bins = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    # PostgreSQL has no default erasure ledger: a throwaway one unless the caller set one.
    env = dict(os.environ)
    env.setdefault("DATENWART_LEDGER", os.path.join(tempfile.mkdtemp(), "bench.ledger"))
    emails = people(url, n if verb == "export" else n * len(bins))
    times = {b: ([], []) for b in bins}
    for i, email in enumerate(emails):
        turn = bins[i % len(bins):] + bins[: i % len(bins)]
        runs = turn if verb == "export" else turn[:1]
        for b in runs:
            base = [b, "--database-url", url, "-q"]
            folder = tempfile.mkdtemp()
            if verb == "export":
                args = ["export", "--email", email, "--all-tenants",
                        "--identity-checked-by", "in_person", "--out", os.path.join(folder, "a")]
            else:
                args = ["erase", "--email", email, "--all-tenants",
                        "--identity-checked-by", "in_person", "--yes"]
            times[b][0].append(timed(base + args, env))
            times[b][1].append(timed(base + ["hold", "list"], env))
            subprocess.run(["rm", "-rf", folder], check=True)
    for b in bins:
        cmd, trivial = times[b]
        work = statistics.median(cmd) - statistics.median(trivial)
        print(f"{b}: {verb} median {statistics.median(cmd):.1f} ms (min {min(cmd):.1f}), "
              f"hold list median {statistics.median(trivial):.1f} ms, work {work:.1f} ms, "
              f"{len(cmd)} people")


if __name__ == "__main__":
    main()
