#!/usr/bin/env python3
"""Scale benchmark for cluster snapshots at Kubernetes' documented limits.

Generates (once) a snapshot of 5,000 nodes and 150,000 pods with bench/gen_snapshot.rs, then
runs `hindsight scan` on it and records wall time, CPU time (user+sys) and peak RSS of that
process (wait4 rusage). Results go to stdout and target/bench/cluster_scale.json.

    python3 bench/cluster_scale.py [--nodes N] [--pods N] [--runs N]
"""
import argparse, json, os, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=150000)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--bin", "hindsight", "--example", "gen_snapshot"], cwd=ROOT, check=True)
    out_dir = os.path.join(ROOT, "target", "bench")
    os.makedirs(out_dir, exist_ok=True)
    snapshot = os.path.join(out_dir, f"snapshot-{args.nodes}-{args.pods}.json")
    if not os.path.exists(snapshot):
        t = time.monotonic()
        subprocess.run([os.path.join(ROOT, "target", "release", "examples", "gen_snapshot"), snapshot, str(args.nodes), str(args.pods)], check=True)
        print(f"generated in {time.monotonic() - t:.1f} s", file=sys.stderr)
    size = os.path.getsize(snapshot)
    results = []
    for _ in range(args.runs):
        report = os.path.join(out_dir, "report.json")
        t = time.monotonic()
        proc = subprocess.Popen([os.path.join(ROOT, "target", "release", "hindsight"), "scan", snapshot, "-f", "json", "-o", report])
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t
        with open(report) as f:
            summary = json.load(f)["summary"]
        results.append({
            "wall_s": round(wall, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "exit": os.waitstatus_to_exitcode(status),
            "objects": summary["objects"],
            "findings": summary["findings"],
        })
    record = {"snapshot": snapshot, "snapshot_mb": round(size / 1e6), "nodes": args.nodes, "pods": args.pods,
              "cores": os.cpu_count(), "runs": results}
    with open(os.path.join(out_dir, "cluster_scale.json"), "w") as f:
        json.dump(record, f, indent=2)
    print(json.dumps(record, indent=2))

if __name__ == "__main__":
    main()
