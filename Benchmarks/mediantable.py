"""The side-by-side table of medians that tls.sh and websocket.sh print (imported with PYTHONPATH=Benchmarks):
one row per metric, one column per server, ratio columns, the widest spread of the servers; then the load
generator's highest CPU per workload and the caller's footer lines.

runs(server, workload) gives the result dicts of the runs made; a metric is (label, workload, value(result),
unit, "higher" | "lower"); a ratio column is (title, server, server) and divides the first server's median
by the second's.
"""
import statistics


def runs_of(rows):
    """runs(server, workload) over the JSON lines of a results file: the result dicts of the runs made."""
    def runs(server, workload):
        return [r["result"] for r in rows if r["server"] == server and r["workload"] == workload and r["result"]]
    return runs


def fanout_metrics(per_delivery):
    """The fan-out rows both tables open with: throughput and server CPU per delivery, 50x200 and 200x50."""
    return [
        ("fan-out 50x200 deliveries/s", "fanout-50x200", lambda r: r.get("deliveries_per_s"), "", "higher"),
        ("fan-out 50x200 server CPU/delivery", "fanout-50x200", per_delivery, "ns", "lower"),
        ("fan-out 200x50 deliveries/s", "fanout-200x50", lambda r: r.get("deliveries_per_s"), "", "higher"),
        ("fan-out 200x50 server CPU/delivery", "fanout-200x50", per_delivery, "ns", "lower"),
    ]


def cell(results, value, tool_limit):
    """(median or None, text, spread) over the runs that completed; ! marks a run the tool limited."""
    if not results:
        return None, "-", None
    good = [r for r in results if r.get("ok") == 1 and value(r) is not None]
    if not good:
        return None, "FAIL", None
    values = [value(r) for r in good]
    median = statistics.median(values)
    text = f"{median:,.0f}" if abs(median) >= 100 else f"{median:.2f}"
    if any(r.get("tool_cores", 0) >= tool_limit for r in good):
        text += "!"
    if len(good) < len(results):
        text += f" ({len(good)}/{len(results)})"
    spread = (max(values) - min(values)) / median if median and len(values) > 1 else None
    return median, text, spread


def ratio(a, b):
    return f"{a / b:.2f}x" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "-"


def print_table(runs, servers, titles, metrics, ratios, tool_limit, footer):
    header = ["metric", "better"] + [titles[s] for s in servers] + [title for title, _, _ in ratios] + ["spread"]
    table = [header]
    for label, workload, value, unit, better in metrics:
        if not any(runs(s, workload) for s in servers):
            continue
        cells = {s: cell(runs(s, workload), value, tool_limit) for s in servers}
        spreads = [c[2] for c in cells.values() if c[2] is not None]
        table.append([f"{label} ({unit})" if unit else label, better] + [cells[s][1] for s in servers]
                     + [ratio(cells[a][0], cells[b][0]) for _, a, b in ratios]
                     + [f"{max(spreads) * 100:.0f}%" if spreads else "-"])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for n, row in enumerate(table):
        print("  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1])]
                        + [c.rjust(w) for c, w in zip(row[2:], widths[2:])]))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()
    print("load generator CPU, highest over the runs (cores; ! marks a run at or above %.2f):" % tool_limit)
    for workload in dict.fromkeys(m[1] for m in metrics):
        parts = [f"{titles[s]} {max(r['tool_cores'] for r in runs(s, workload) if 'tool_cores' in r):.2f}"
                 for s in servers if any(r.get("tool_cores") is not None for r in runs(s, workload))]
        if parts:
            print(f"  {workload}: " + ", ".join(parts))
    print()
    for line in footer:
        print(line)
