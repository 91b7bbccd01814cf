"""Rule resolution_table: PSNR/SSIM, peak memory and time per NFE per (method, image size)."""

import json

import pandas as pd

from patchcore.experiments.resolution import resolution_markdown, resolution_table
from patchcore.io.atomic import write_text
from patchcore.io.logs import script_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = script_logger(sm.log[0])
cells, memory = [], []
for label, csv, mem in zip(sm.params.labels, sm.input.cells, sm.input.memory):
    key = {"method": label["method"], "image_size": label["image_size"]}
    cells.append(pd.read_csv(csv).assign(**key))
    r = json.loads(open(mem).read())
    memory.append({**key, "prior": label["prior"], "infer": label["infer"], "tiles": r["tiles"],
                   "peak_mb": r["peak_bytes"] / 2**20, "peak_rss_mb": r.get("peak_rss_bytes", float("nan")) / 2**20,
                   "time_per_nfe_s": r["time_per_nfe_s"], "cpu_time_per_nfe_s": r["cpu_time_per_nfe_s"],
                   "device": r["device"], "memory_method": r["memory_method"]})
table = resolution_table(pd.concat(cells, ignore_index=True), pd.DataFrame(memory))
write_text(sm.output.md, resolution_markdown(table, sm.params.about)
           + f"\nMemory: {memory[0]['memory_method']}\n")
write_text(sm.output.csv, table.drop(columns=["memory_method"]).to_csv(index=False, float_format="%.6f"))
log.info("%d rows", len(table))
