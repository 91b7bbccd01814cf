"""Images larger than any training image (issue 14): the data entry of a larger size, and the
table of quality, peak memory and time per NFE per (method, image size). Pure functions on
dicts and DataFrames."""

import pandas as pd


def resolution_entry(entry, image_size, size, synthetic, images):
    """The dataset entry that generates and prepares ``size``-px images with the same anatomy
    generator as ``entry`` (prepared at ``image_size`` px).

    The raw matrix (fastMRI ``matrix``, AAPM ``size``) and the centre crop scale by
    ``size / image_size``, so the field of view is the training one, sampled finer. ``synthetic``
    overrides the generator's volume count, slices and seed (new patients: none was seen in
    training); one volume is the test split, the rest (at least one) train, which is not used.
    """
    if not entry.get("synthetic"):
        raise ValueError("resolution: the dataset has no 'synthetic' entry (a download has one size)")
    scale = size / image_size
    s = {**entry["synthetic"], **synthetic}
    if "matrix" in s:
        s["matrix"] = [int(round(m * scale)) for m in s["matrix"]]
    if "size" in s:
        s["size"] = int(round(s["size"] * scale))
    out = {**entry, "synthetic": s, "split": {"val": 0, "test": 1, "seed": 0},
           "slices": {"train": 1, "eval": int(images)}}
    if entry.get("crop"):
        out["crop"] = int(round(entry["crop"] * scale))
    return out


def resolution_table(cells, memory):
    """One row per (method, image size): mean PSNR/SSIM of the reconstruction and of the task
    baseline, peak memory and time per NFE of the denoiser.

    Args:
        cells: DataFrame of per-image rows with ``method``, ``image_size``, ``psnr``, ``ssim``,
            ``baseline_psnr``, ``baseline_ssim``.
        memory: DataFrame with ``method``, ``image_size``, ``peak_mb``, ``peak_rss_mb``,
            ``time_per_nfe_s``, ``cpu_time_per_nfe_s``, ``tiles``.
    """
    keys = ["method", "image_size"]
    quality = cells.groupby(keys, sort=False)[["psnr", "ssim", "baseline_psnr", "baseline_ssim"]].mean()
    quality["images"] = cells.groupby(keys, sort=False).size()
    table = quality.reset_index().merge(memory, on=keys, how="left")
    order = {m: i for i, m in enumerate(dict.fromkeys(cells["method"]))}
    return table.sort_values(["image_size", "method"], key=lambda c: c.map(order) if c.name == "method" else c,
                             ignore_index=True)


def resolution_markdown(table, about):
    """The resolution table as Markdown, one block of rows per image size."""
    head = ["size", "method", "PSNR", "SSIM", "baseline PSNR", "peak MiB", "time/NFE s", "CPU s/NFE", "tiles"]
    lines = [f"# Larger than training ({about})", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        lines.append("| " + " | ".join([
            str(int(r.image_size)), r.method, f"{r.psnr:.2f}", f"{r.ssim:.3f}", f"{r.baseline_psnr:.2f}",
            f"{r.peak_mb:.1f}", f"{r.time_per_nfe_s:.3f}", f"{r.cpu_time_per_nfe_s:.3f}", str(int(r.tiles))]) + " |")
    return "\n".join(lines) + "\n"
