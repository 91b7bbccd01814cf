"""Rule memory: peak memory and time of one DiffPIR denoiser call (Roy et al. Fig. 3).

Each point runs in a fresh process (`python -m patchcore.experiments.profiling`); the peak is the
allocator's own statistic (CPU: the torch profiler's memory events; CUDA:
torch.cuda.max_memory_allocated), the peak resident memory is kept beside it. How memory was
measured is stated once, in the sidecar JSON, not on every row.
"""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from patchcore.device import select_device
from patchcore.inverse import schemes
from patchcore.io.atomic import write_text
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
m = sm.params.memory
options = Path(sm.input.prior).parent / "options.json"
device = select_device()
rows, methods = [], set()
for size in m["image_sizes"]:
    for infer in m["infer"]:
        scheme = schemes.parse(infer)
        for micro_batch in m["micro_batch"]:
            if not scheme.whole and scheme.covers(size):
                continue  # a patch as large as the image is the whole image
            cmd = [sys.executable, "-m", "patchcore.experiments.profiling", "--json", "--prior-options", str(options),
                   "--image-size", str(size), "--patch", str(infer), "--device", str(device),
                   "--threads", str(sm.threads), "--nfe", str(m.get("nfe", 2))]
            if micro_batch:
                cmd += ["--micro-batch", str(micro_batch)]
            log.info("measuring %s", " ".join(cmd[3:]))
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"profiling failed for size {size}, patch {infer}: {done.stderr[-2000:]}")
            r = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append({"image_size": size, "infer": str(infer), "micro_batch": micro_batch,
                         "tiles": r["tiles"], "padded_size": r["padded_size"],
                         "peak_mb": r["peak_bytes"] / 2**20, "time_per_nfe_s": r["time_per_nfe_s"],
                         "peak_rss_mb": r["peak_rss_bytes"] / 2**20 if "peak_rss_bytes" in r else float("nan"),
                         "device": r["device"]})
            methods.add(r["memory_method"])
            log.info("size %s, patch %s, micro-batch %s: peak %.1f MiB, %.4f s per NFE", size, infer,
                     micro_batch, rows[-1]["peak_mb"], rows[-1]["time_per_nfe_s"])
about = {"device": str(device), "memory_method": " | ".join(sorted(methods)),
         "peak_mb": "the allocator's peak of one denoiser call in MiB (2^20 bytes), see memory_method",
         "peak_rss_mb": "peak resident set size of the process in MiB (secondary; see memory_method)",
         "time_per_nfe_s": "wall time of one denoiser call in seconds (machine load matters)",
         "points": "one fresh process per (image_size, infer, micro_batch); micro_batch empty = no bound"}
write_text(sm.output.method, json.dumps(about, indent=2) + "\n")
write_text(sm.output.csv, pd.DataFrame(rows).to_csv(index=False, float_format="%.4f"))
