"""The Snakemake workflow: config validation, planning, lint, and a tiny end-to-end run."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
# Time limits here only catch a hang, never a slow machine: the tiny end-to-end run gets far more
# than it takes on a loaded 2-core machine, and the tests that share it a pytest timeout above that
# (the fixture's set-up counts in the first test's timeout).
TINY_RUN_LIMIT_S = 2700
TINY_TEST_TIMEOUT_S = TINY_RUN_LIMIT_S + 900


def smk(*args, cwd=ROOT, timeout=600, check=False, env=None):
    env = dict(os.environ, PATCHCORE_DEVICE="cpu", **(env or {}))
    done = subprocess.run(SNAKEMAKE + list(args), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def planned_jobs(output):
    """Job counts per rule from the table snakemake -n prints."""
    counts = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def scratch(tmp_path):
    """Arguments that run the workflow in an empty working directory with the default config."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    return ["-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path)]


def test_default_config_plans_the_whole_table1_dag(tmp_path):
    done = smk(*scratch(tmp_path), "-n", "results/table1.csv", "--quiet", "rules", check=True)
    jobs = planned_jobs(done.stdout + done.stderr)
    assert jobs.get("evaluate") == 48, jobs
    assert jobs.get("train") == 2 and jobs.get("prepare_dataset") == 2, jobs
    assert jobs.get("synthesize") == 2 and jobs.get("table1") == 1, jobs


def test_lint_has_no_complaints():
    done = smk("--lint", "text")
    text = done.stdout + done.stderr
    assert done.returncode == 0 and "Congratulations" in text, text[-3000:]


def test_config_value_outside_schema_is_named():
    done = smk("-n", "results/table1.csv", "--config", "image_size=-4")
    assert done.returncode != 0
    assert "image_size" in done.stderr + done.stdout


def test_unknown_table_entry_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables: {table1: {datasets: [liver], tasks: [denoise], solvers: [dps], "
                   "priors: [whole], infer: [full], pad: [reflect]}}\n")
    done = smk("-n", "results/table1.csv", "--configfile", str(bad))
    assert done.returncode != 0
    assert "tables.table1.datasets: 'liver'" in done.stderr + done.stdout


def test_paper_config_without_data_paths_names_every_key_at_once():
    done = smk("-n", "results/table1.csv", "--configfile", "configs/paper.yaml")
    text = done.stdout + done.stderr
    assert done.returncode != 0
    assert "datasets.knee.raw_dir" in text and "datasets.brain.raw_dir" in text, text[-2000:]


def test_paper_config_plans_with_data_paths(tmp_path):
    for name in ("knee", "brain"):
        (tmp_path / name).mkdir()
    work = tmp_path / "work"
    work.mkdir()
    done = smk(*scratch(work), "-n", "results/table1.csv", "--quiet", "rules", "--configfile",
               str(ROOT / "configs/paper.yaml"),
               "--config",
               f"datasets={{knee: {{raw_dir: {tmp_path / 'knee'}}}, brain: {{raw_dir: {tmp_path / 'brain'}}}}}")
    jobs = planned_jobs(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert jobs.get("evaluate") == 48 and jobs.get("train") == 2, jobs
    assert jobs.get("prepare_dataset") == 2 and "synthesize" not in jobs, jobs


def test_paper_config_does_not_inherit_the_demo_tuned_values():
    import yaml
    from snakemake.utils import update_config

    merged = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert any(entry.get("tuned") for entry in merged["solvers"].values())
    update_config(merged, yaml.safe_load((ROOT / "configs/paper.yaml").read_text()))
    leaked = {name: entry["tuned"] for name, entry in merged["solvers"].items() if entry.get("tuned")}
    assert not leaked, f"demo-tuned values reach paper scale: {leaked}"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny 2-cell grid run end to end in a scratch working directory.

    tests/configs/tiny.yaml is an overlay: Snakemake merges it over the config.yaml it finds in
    the working directory, as it does for configs/paper.yaml from the repository root.
    """
    work = tmp_path_factory.mktemp("tiny")
    shutil.copy(ROOT / "config.yaml", work / "config.yaml")
    args = ["-s", str(ROOT / "Snakefile"), "--directory", str(work), "--configfile", str(TINY),
            "--cores", "2"]
    smk(*args, "results/table1.csv", timeout=TINY_RUN_LIMIT_S, check=True)
    return work, args


@pytest.mark.slow
@pytest.mark.timeout(TINY_TEST_TIMEOUT_S)
def test_tiny_grid_end_to_end(tiny_run):
    work, _ = tiny_run
    table = pd.read_csv(work / "results" / "table1.csv")
    assert len(table) == 2 and set(table["infer"].astype(str)) == {"full", "16"}
    assert table["whole_psnr_mean"].notna().all()
    cell = pd.read_csv(work / "results/cells/knee/denoise/diffpir/whole/16-reflect.csv")
    assert {"psnr", "ssim", "baseline_psnr"} <= set(cell.columns)
    assert cell["psnr"].between(5, 60).all() and len(cell) == 2
    scores = pd.read_csv(work / "results/cells/knee/denoise/diffpir/whole/16-reflect.lpips.csv")
    assert {"lpips", "baseline_lpips"} <= set(scores.columns) and list(scores["image"]) == [0, 1]
    import numpy as np
    recons = np.load(work / "results/cells/knee/denoise/diffpir/whole/16-reflect.recons.npy")
    kept = np.load(work / "results/cells/knee/denoise/diffpir/whole/16-reflect.npy")
    assert recons.shape[:2] == (2, 3) and kept.shape[0] == 1 and (kept[0] == recons[0]).all()
    assert (work / "results/table1.md").read_text().count("knee") >= 2
    assert "Table 1:" in (work / "logs/table1.log").read_text()  # the script writes its log: file


def ran_rules(output):
    """Names of the rules Snakemake ran (from its 'localrule x:' / 'rule x:' job headers)."""
    return [line.split()[-1].rstrip(":") for line in output.splitlines()
            if line.strip().startswith(("rule ", "localrule ")) and line.strip().endswith(":")]


def stand_in_alexnet(torch_home):
    """A stand-in AlexNet trunk (random, seeded) where torchvision keeps the real weights.

    For the mechanics of re-scoring only: numbers computed with it mean nothing.
    """
    import torch
    import torchvision

    torch.manual_seed(0)
    trunk = torchvision.models.alexnet(weights=None).features.state_dict()
    path = torch_home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in trunk.items()}, path)
    return path


@pytest.mark.slow
def test_placing_the_lpips_weights_rescores_without_resolving(tiny_run, tmp_path):
    work, args = tiny_run
    cells = sorted((work / "results/cells").rglob("*-reflect.csv"))
    cells = [c for c in cells if not c.name.endswith(".lpips.csv")]
    recons = [c.with_suffix(".recons.npy") for c in cells]
    home = tmp_path / "torch"
    # Without weights (an empty TORCH_HOME): LPIPS is missing.
    smk(*args, "results/table1.csv", check=True, env={"TORCH_HOME": str(home)})
    assert pd.read_csv(work / "results/table1.csv")["whole_lpips_mean"].isna().all()
    solved = {p: p.stat().st_mtime_ns for p in cells + recons}
    before = {p: p.read_bytes() for p in cells}
    # Placing the weights file (a stand-in made here) re-runs rule lpips and the table only.
    stand_in_alexnet(home)
    done = smk(*args, "results/table1.csv", check=True, env={"TORCH_HOME": str(home)})
    ran = ran_rules(done.stdout + done.stderr)
    assert sorted(set(ran)) == ["lpips", "table1"] and ran.count("lpips") == len(cells), ran
    assert {p: p.stat().st_mtime_ns for p in cells + recons} == solved  # nothing re-solved
    assert {p: p.read_bytes() for p in cells} == before
    table = pd.read_csv(work / "results/table1.csv")
    assert table["whole_lpips_mean"].notna().all() and (table["whole_lpips_mean"] > 0).all()
    assert "| missing" not in (work / "results/table1.md").read_text()
    # Nothing left to do with the weights in place.
    done = smk(*args, "results/table1.csv", "-n", check=True, env={"TORCH_HOME": str(home)})
    assert ran_rules(done.stdout + done.stderr) == []


@pytest.mark.slow
@pytest.mark.timeout(TINY_TEST_TIMEOUT_S)
def test_forcing_one_cell_reproduces_it_byte_for_byte(tiny_run):
    work, args = tiny_run
    cell = "results/cells/knee/denoise/diffpir/whole/16-reflect.csv"
    before = (work / cell).read_bytes()
    mtime = (work / "results/cells/knee/denoise/diffpir/whole/full-reflect.csv").stat().st_mtime
    done = smk(*args, cell, "--force", check=True)
    assert "evaluate" in done.stdout + done.stderr
    assert (work / cell).read_bytes() == before
    # Only that cell ran: the other cell's file is untouched.
    assert (work / "results/cells/knee/denoise/diffpir/whole/full-reflect.csv").stat().st_mtime == mtime
    smk(*args, "--forcerun", cell, "--", "results/table1.csv", check=True)


@pytest.mark.slow
@pytest.mark.timeout(TINY_TEST_TIMEOUT_S)
def test_a_killed_cell_leaves_nothing_complete_looking(tiny_run, tmp_path):
    work, args = tiny_run
    slow = tmp_path / "slow.yaml"  # a long-running version of the cell, so the kill lands mid-run
    slow.write_text("solvers: {diffpir: {nfe: 400}}\n")
    slow_args = list(args)
    slow_args.insert(slow_args.index(str(TINY)) + 1, str(slow))
    cell = work / "results/cells/knee/denoise/diffpir/whole/full-reflect.csv"
    log = work / "logs/cells/knee/denoise/diffpir/whole/full-reflect.log"
    log.unlink(missing_ok=True)
    proc = subprocess.Popen(SNAKEMAKE + slow_args + [str(cell.relative_to(work)), "--force"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=dict(os.environ, PATCHCORE_DEVICE="cpu"))
    # Wait for the job to reach its solver, however long start-up takes on a loaded machine.
    while proc.poll() is None and not (log.exists() and "cell" in log.read_text()):
        time.sleep(0.1)
    assert proc.poll() is None, "the cell ended before it could be killed"
    time.sleep(1.0)  # inside the solver loop
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert log.exists() and "PSNR" not in log.read_text()  # the job was killed mid-run
    assert not cell.exists()  # --force removed it; the killed job did not write it
    smk(*args, "--unlock")
    done = smk(*args, str(cell.relative_to(work)), check=True)
    assert cell.exists(), done.stdout[-2000:]


@pytest.mark.slow
def test_report_after_table1_alone(tiny_run):
    work, args = tiny_run
    assert not (work / "results/memory.csv").exists()  # only Table 1 was built
    smk(*args, "report", check=True)
    assert (work / "results/figures/training_curves.png").stat().st_size > 0
    smk(*args, "--report", "results/report.html", "report", check=True)
    page = (work / "results/report.html").read_text()
    for expected in ("table1.html", "training_curves.png", "What was run", "Commit"):
        assert expected in page, expected
    assert "fig3_memory" not in page


def test_make_clean_keeps_priors_and_their_data(tmp_path):
    files = ["results/priors/mri/whole/model.safetensors", "results/prepared/knee.h5",
             "resources/synthetic/knee/a.h5", "results/table1.csv", "results/cells/k/x.csv",
             "results/figures/fig1.png", "logs/train/mri/whole.log"]
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    done = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    kept = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert kept == ["Makefile", *sorted(files[:3])], kept
    assert "kept results/priors" in done.stdout
    subprocess.run(["make", "clean-all"], cwd=tmp_path, capture_output=True, check=True)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["Makefile"]
