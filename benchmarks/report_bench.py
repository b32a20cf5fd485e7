#!/usr/bin/env python3
"""Hours reports over the load benchmark's data set (issue #17): EXPLAIN ANALYZE of the report statements, the same
reports through GET /reports/hours, and the server's RSS while it streams a large CSV export.

    python3 benchmarks/report_bench.py                      # the release binary if built, else the debug one
    python3 benchmarks/report_bench.py --binary .build/debug/timesheets
    python3 benchmarks/report_bench.py --binary OLD/.build-release/release/timesheets --workdir OLD   # a before

It reuses scripts/bench's pieces (its PostgreSQL cluster, `timesheets dev`, token minting and its seed: 10,000 users,
1,000,000 entries over 100 days from 2020-01-01, 13 projects, 90% approved), prints a table and writes
benchmarks/results/reports-<time>.json. Figures for people: it never fails on a figure.
"""
import argparse
import datetime
import importlib.machinery
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_loader = importlib.machinery.SourceFileLoader("bench", os.path.join(ROOT, "scripts", "bench"))
_spec = importlib.util.spec_from_loader("bench", _loader)
bench = importlib.util.module_from_spec(_spec)
_loader.exec_module(bench)

# HoursReportQuery.expression(for:), character for character.
DIMENSIONS = {
    "user": 'user_id COLLATE "C"',
    "project": 'project COLLATE "C"',
    "week": "(work_date - DATE '1970-01-01') - (extract(isodow FROM work_date)::int - 1)",
    "day": "(work_date - DATE '1970-01-01')",
}

# (name, query string of GET /reports/hours)
REPORTS = [
    ("all 100 days by user,project", "from=2020-01-01&to=2020-04-09&group_by=user,project"),
    ("all 100 days by project,week", "from=2020-01-01&to=2020-04-09&group_by=project,week"),
    ("February by user,project", "from=2020-02-01&to=2020-02-29&group_by=user,project"),
    ("one week by user,day", "from=2020-02-03&to=2020-02-09&group_by=user,day"),
    ("one user, a year, by project,day", "from=2020-01-01&to=2020-12-31&group_by=project,day&user_id=bench-user-42"),
    ("one project, all statuses, by week,user",
     "from=2020-01-01&to=2020-04-09&group_by=week,user&status=all&project=Project%207"),
]


def statement(query):
    """The SQL HoursReportQuery.statement writes for a report, with the values inlined."""
    params = dict(p.split("=", 1) for p in query.split("&"))
    params = {k: urllib.parse.unquote_plus(v) for k, v in params.items()}
    groups = params.get("group_by", "user,project").split(",")
    columns = [DIMENSIONS[g] for g in groups]
    sql = (f"SELECT {', '.join(columns)}, (sum(hours) * 100)::int8, count(*) FROM timesheets WHERE work_date BETWEEN "
           f"DATE '{params['from']}' AND DATE '{params['to']}'")
    status = params.get("status", "approved")
    if status != "all":
        sql += f" AND status = '{status}'"
    if "user_id" in params:
        sql += f" AND user_id = '{params['user_id']}'"
    if "project" in params:
        sql += f" AND project = '{params['project']}'"
    return sql + f" GROUP BY {', '.join(columns)} ORDER BY {', '.join(columns)}"


def explain(postgres, sql, runs):
    """Median execution time (ms) of EXPLAIN ANALYZE over `runs` (TIMING OFF: per-node clocks would add their own
    cost to every row), and the plan with per-node timing."""
    times = []
    plan = postgres.psql("EXPLAIN (ANALYZE, BUFFERS) " + sql)
    for _ in range(runs):
        for line in postgres.psql("EXPLAIN (ANALYZE, TIMING OFF) " + sql).splitlines():
            if line.startswith("Execution Time:"):
                times.append(float(line.split()[2]))
    return statistics.median(times), plan


def fetch(base, path, token, accept="application/json"):
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}", "Accept": accept})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        size = 0
        while chunk := response.read(1 << 16):
            size += len(chunk)
        status = response.status
    return (time.perf_counter() - started) * 1000, size, status


def curl_ms(base, path, token, accept="application/json"):
    """The same request through curl (whose reading costs next to nothing): total time in ms."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}", "-H", f"Authorization: Bearer {token}",
                          "-H", f"Accept: {accept}", base + path], capture_output=True, text=True, check=True).stdout
    return float(out) * 1000


def sample_rss(proc, stop, samples):
    while not stop.is_set():
        samples.append(proc.rss())
        time.sleep(0.02)


def export_rss(server, proc, token, path, accept):
    """Peak RSS (MiB) of the server while it sends one report, the RSS before, the time and the body's size."""
    samples, stop = [], threading.Event()
    before = proc.rss()
    thread = threading.Thread(target=sample_rss, args=(proc, stop, samples))
    thread.start()
    elapsed, size, status = fetch(server.base, path, token, accept)
    stop.set()
    thread.join()
    return {"before_mib": before / 2**20, "peak_mib": max(samples + [before]) / 2**20, "ms": elapsed,
            "bytes": size, "status": status}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    release = os.path.join(ROOT, ".build-release", "release", "timesheets")
    parser.add_argument("--binary", default=release if os.path.exists(release) else
                        os.path.join(ROOT, ".build", "debug", "timesheets"))
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each report (median)")
    parser.add_argument("--workdir", default=ROOT, help="the server's working directory, where it finds migrations/ "
                        "(for an older --binary: that commit's checkout, so it runs its own migrations)")
    args = parser.parse_args()
    bindir = bench.pg_binaries()
    if not bindir:
        bench.fail("PostgreSQL's server binaries are missing: apt-get install postgresql")
    os.makedirs(os.path.join(ROOT, "benchmarks", "tmp"), exist_ok=True)
    directory = tempfile.mkdtemp(prefix="reports-", dir=os.path.join(ROOT, "benchmarks", "tmp"))
    if os.geteuid() == 0:
        os.chmod(directory, 0o755)
    postgres = bench.Postgres(directory, bindir, bench.free_port())
    server = None
    results = {"binary": args.binary, "entries": bench.ENTRIES, "users": bench.USERS, "reports": [],
               "started": datetime.datetime.now(datetime.timezone.utc).isoformat(), "loadavg": bench.loadavg()}
    try:
        bench.say(f"==> PostgreSQL in {postgres.data}")
        postgres.start(max_connections=100)
        bench.run([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres",
                   "timesheets"])
        server = bench.Server(args.binary, os.path.join(directory, "dev"), postgres.url(20),
                              os.path.join(directory, "server.log"), workdir=args.workdir)
        bench.say(f"==> timesheets dev ({args.binary}) on {server.base}")
        proc = server.start({})
        started = time.time()
        postgres.psql(bench.seed_sql(bench.USERS, bench.ENTRIES))
        postgres.psql("VACUUM ANALYZE timesheets")
        bench.say(f"==> seeded {int(postgres.psql('SELECT count(*) FROM timesheets')):,} entries "
                  f"in {time.time() - started:.1f} s")
        results["indexes"] = postgres.psql(
            "SELECT indexname || ': ' || indexdef FROM pg_indexes WHERE tablename = 'timesheets' ORDER BY 1")
        tokens = os.path.join(directory, "manager.tokens")
        bench.mint(args.binary, server.directory, server.port, "manager", "bench-manager", 1, tokens)
        with open(tokens) as f:
            token = f.readline().strip()

        bench.say(f"{'report':42} {'rows':>8} {'SQL ms':>8} {'HTTP ms':>8} {'CSV ms':>8} {'curl ms':>8} "
                  f"{'srv µs/row':>10}")
        for name, query in REPORTS:
            sql_ms, plan = explain(postgres, statement(query), args.runs)
            rows = int(postgres.psql(f"SELECT count(*) FROM ({statement(query)}) AS r"))
            path = "/reports/hours?" + query
            fetch(server.base, path, token)  # warm up
            cpu_before = proc.cpu_seconds()
            http = [fetch(server.base, path, token) for _ in range(args.runs)]
            server_cpu_ms = (proc.cpu_seconds() - cpu_before) * 1000 / args.runs
            csv = [fetch(server.base, path, token, "text/csv") for _ in range(args.runs)]
            entry = {"name": name, "query": query, "rows": rows, "sql_ms": sql_ms,
                     "http_ms": statistics.median(t for t, _, _ in http),
                     "http_all_ms": [round(t, 1) for t, _, _ in http],
                     "server_cpu_ms": server_cpu_ms, "server_us_per_row": server_cpu_ms * 1000 / max(rows, 1),
                     "csv_ms": statistics.median(t for t, _, _ in csv),
                     "csv_all_ms": [round(t, 1) for t, _, _ in csv],
                     "curl_ms": statistics.median(curl_ms(server.base, path, token) for _ in range(args.runs)),
                     "json_bytes": http[0][1], "csv_bytes": csv[0][1],
                     "statuses": sorted({s for _, _, s in http + csv}), "plan": plan}
            results["reports"].append(entry)
            bench.say(f"{name:42} {rows:>8,} {sql_ms:>8.1f} {entry['http_ms']:>8.1f} {entry['csv_ms']:>8.1f} "
                      f"{entry['curl_ms']:>8.1f} {entry['server_us_per_row']:>10.2f}")

        bench.say("==> server RSS while streaming exports by user,day (sampled every 20 ms)")
        results["exports"] = []
        for label, query, accept in [
            ("one week by user,day (CSV)", "from=2020-02-03&to=2020-02-09&group_by=user,day", "text/csv"),
            ("all 100 days by user,day (CSV)", "from=2020-01-01&to=2020-04-09&group_by=user,day", "text/csv"),
            ("all 100 days by user,day, all statuses (CSV)",
             "from=2020-01-01&to=2020-04-09&group_by=user,day&status=all", "text/csv"),
            ("all 100 days by user,day, all statuses (JSON)",
             "from=2020-01-01&to=2020-04-09&group_by=user,day&status=all", "application/json"),
        ]:
            measured = export_rss(server, proc, token, "/reports/hours?" + query, accept)
            measured["name"] = label
            results["exports"].append(measured)
            bench.say(f"{label:48} {measured['bytes'] / 2**20:7.1f} MiB in {measured['ms']:7.0f} ms; "
                      f"RSS {measured['before_mib']:.0f} MiB before, peak {measured['peak_mib']:.0f} MiB")
    finally:
        if server:
            server.stop()
        postgres.stop()
    out = os.path.join(ROOT, "benchmarks", "results",
                       "reports-" + datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + ".json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    bench.say(f"==> wrote {os.path.relpath(out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
