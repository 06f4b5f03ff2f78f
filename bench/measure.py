# Runs a command and prints one JSON line: its wall time, the seconds it reports itself (a "seconds N"
# in its output, which leaves out interpreter start-up), and its peak RSS (max over child processes).
import json, re, resource, subprocess, sys, time

t = time.time()
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.time() - t
if r.returncode != 0:
    sys.stderr.write(r.stdout[-2000:] + r.stderr[-4000:])
    sys.exit(r.returncode)
m = re.findall(r"seconds\W+([0-9.]+)", r.stdout)
print(json.dumps({"seconds": float(m[-1]) if m else wall, "wall_seconds": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "output": r.stdout.strip()[-300:]}))
