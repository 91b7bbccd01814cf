"""Rule resolution_memory: peak memory and time per NFE of one prior's denoiser at one image
size, in a fresh process (`python -m patchcore.experiments.profiling`, the method of rule memory
and benchmarks/patch_denoiser.py); the JSON it prints is saved as is."""

import json
import subprocess
import sys
from pathlib import Path

from patchcore.device import select_device
from patchcore.io.atomic import write_text
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
p = sm.params.point
cmd = [sys.executable, "-m", "patchcore.experiments.profiling", "--json",
       "--prior-options", str(Path(sm.input.prior).parent / "options.json"), "--image-size", str(p["size"]),
       "--patch", str(p["infer"]), "--device", str(select_device()), "--threads", str(sm.threads),
       "--nfe", str(p["nfe"])]
if p.get("micro_batch"):
    cmd += ["--micro-batch", str(p["micro_batch"])]
log.info("measuring %s", " ".join(cmd[3:]))
done = subprocess.run(cmd, capture_output=True, text=True)
if done.returncode != 0:
    raise RuntimeError(f"profiling failed for {sm.output[0]}: {done.stderr[-2000:]}")
result = json.loads(done.stdout.strip().splitlines()[-1])
log.info("peak %.1f MiB, %.4f s per NFE", result["peak_bytes"] / 2**20, result["time_per_nfe_s"])
write_text(sm.output[0], json.dumps(result, indent=2) + "\n")
