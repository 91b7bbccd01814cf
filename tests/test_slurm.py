"""The Slurm profile (slurm/config.yaml) against a real single-node Slurm started by ci/slurm-up.sh.

What is checked, from Slurm's own records (`scontrol show job`, read after the workflow ends; the
test cluster keeps them for MinJobAge, a day, longer than any run is allowed to take): the GPU rules of the profile went through sbatch with `--gpus=1` (TresPerJob=gres:gpu:1) and the CPU
rules without a GPU; site settings given as environment variables reached sbatch; the jobs ran
with this interpreter (the project's venv); the target was produced. Slurm is stopped again by
ci/slurm-down.sh whatever the outcome, unless it was already up before the tests.
"""

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from snakemake.profiles import ProfileConfigFileParser

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "slurm" / "config.yaml"
SLURM_DIR = Path(os.environ.get("PATCHCORE_SLURM_DIR", "/tmp/patchcore-slurm"))
SLURM_COMMANDS = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo", "munged")
# Status polling made quick for tests; on a real cluster the plugin's defaults are kinder.
FAST_POLLING = ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2"]
# Limits that only catch a hang (Snakemake waiting forever on a status it cannot read), never a
# slow machine: far above a run on a loaded 2-core machine (minutes), below pytest's timeout so
# that the run's own log is what a failure shows. Slurm must keep job records at least that long.
UP_LIMIT_S = 900  # ci/slurm-up.sh, apt-get install included
RUN_LIMIT_S = 2700
TEST_TIMEOUT_S = UP_LIMIT_S + RUN_LIMIT_S + 300


def render_profile(env: dict) -> dict:
    """The profile as Snakemake reads it (YTE rendered) under the environment variables env."""
    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.startswith("PATCHCORE_SLURM_")]:
            del os.environ[name]
        os.environ.update(env)
        with open(PROFILE) as stream:
            return dict(ProfileConfigFileParser().parse(stream))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def gpu_rules() -> set[str]:
    """Rules the profile sends to a GPU (set-resources RULE:gpu=1)."""
    entries = render_profile({})["set-resources"]
    return {e.split(":")[0] for e in entries if e.split(":", 1)[1] == "gpu=1"}


# --- the profile alone (no Slurm needed) ---------------------------------------------------------


def test_profile_defaults_suit_a_cluster_without_accounting():
    profile = render_profile({})
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue"
    assert profile["slurm-no-account"] == "True"
    assert profile["rerun-incomplete"] == "True"
    assert {"train", "evaluate", "memory"} <= gpu_rules()
    assert not any(r.startswith(("slurm_partition", "slurm_account")) for r in profile["default-resources"])


def test_profile_reads_site_settings_from_environment():
    profile = render_profile({
        "PATCHCORE_SLURM_PARTITION": "cpu-q", "PATCHCORE_SLURM_GPU_PARTITION": "gpu-q",
        "PATCHCORE_SLURM_ACCOUNT": "proj1", "PATCHCORE_SLURM_CONSTRAINT": "a100|h100",
        "PATCHCORE_SLURM_GPU_MODEL": "a100", "PATCHCORE_SLURM_EXTRA": "--qos=normal --nice=5",
        "PATCHCORE_SLURM_JOBS": "7", "PATCHCORE_SLURM_STATUS": "sacct",
        "PATCHCORE_SLURM_RESOURCES": "train:runtime=2880 prepare:mem_mb=64000",
    })
    defaults, per_rule = profile["default-resources"], profile["set-resources"]
    assert "slurm_partition='cpu-q'" in defaults and "slurm_account='proj1'" in defaults
    assert "slurm_extra='--qos=normal --nice=5'" in defaults
    assert {"train:slurm_partition='gpu-q'", "train:constraint='a100|h100'", "train:gpu_model='a100'"} <= set(per_rule)
    # PATCHCORE_SLURM_RESOURCES is merged: the GPU request stays, the runtime changes.
    assert {"train:gpu=1", "train:runtime=2880", "prepare:mem_mb=64000"} <= set(per_rule)
    assert "train:runtime=1440" not in per_rule
    assert (profile["jobs"], profile["slurm-status-command"], profile["slurm-no-account"]) == ("7", "sacct", "False")


def test_profile_rejects_malformed_resource_override():
    with pytest.raises(Exception, match="PATCHCORE_SLURM_RESOURCES"):
        render_profile({"PATCHCORE_SLURM_RESOURCES": "train-runtime=5"})


# --- a real Slurm --------------------------------------------------------------------------------


def cannot_start_slurm() -> str | None:
    """Why ci/slurm-up.sh cannot work on this machine, or None."""
    if os.geteuid() != 0:
        return "Slurm cannot be started: ci/slurm-up.sh needs root (apt-get, munged, slurmd)"
    if not all(shutil.which(c) for c in SLURM_COMMANDS) and not shutil.which("apt-get"):
        return "Slurm cannot be started: it is not installed and apt-get is missing"
    return None


@pytest.fixture(scope="module")
def slurm_env():
    """Environment for Slurm's clients and Snakemake, with Slurm up; stops Slurm afterwards."""
    reason = cannot_start_slurm()
    if reason:
        pytest.skip(reason)
    env = dict(os.environ, PATCHCORE_SLURM_DIR=str(SLURM_DIR), SLURM_CONF=str(SLURM_DIR / "etc" / "slurm.conf"))
    env = {k: v for k, v in env.items() if not k.startswith("PATCHCORE_SLURM_") or k == "PATCHCORE_SLURM_DIR"}
    up = subprocess.run(["timeout", "-k", "10", str(UP_LIMIT_S), "bash", str(ROOT / "ci" / "slurm-up.sh")],
                        env=env, capture_output=True, text=True)
    started_here = "already up" not in up.stdout
    try:
        if up.returncode != 0:
            pytest.fail(f"ci/slurm-up.sh failed ({up.returncode}):\n{up.stdout}\n{up.stderr}")
        age = min_job_age(env)
        if age < RUN_LIMIT_S:
            pytest.fail(f"the Slurm in {SLURM_DIR} keeps finished jobs {age} s (MinJobAge), less than a test "
                        f"run may take ({RUN_LIMIT_S} s): restart it with ci/slurm-down.sh and ci/slurm-up.sh")
        yield env
    finally:
        if started_here:
            subprocess.run(["timeout", "-k", "10", "120", "bash", str(ROOT / "ci" / "slurm-down.sh")],
                           env=env, capture_output=True, text=True)


def min_job_age(env: dict) -> int:
    """Seconds the running Slurm keeps a finished job's record (its MinJobAge)."""
    out = subprocess.run(["scontrol", "show", "config"], env=env, capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^MinJobAge\s*=\s*(\d+)", out, re.MULTILINE).group(1))


def snakemake(workdir: Path, args: list[str], env: dict, limit_s: int = RUN_LIMIT_S) -> subprocess.CompletedProcess:
    """`snakemake --profile slurm ARGS` in workdir under `timeout -k`; unlocks after a timeout."""
    command = [sys.executable, "-m", "snakemake", "--profile", "slurm", *FAST_POLLING, *args]
    run = subprocess.run(["timeout", "-k", "10", str(limit_s), *command],
                         cwd=workdir, env=env, capture_output=True, text=True)
    if run.returncode in (124, 137):
        subprocess.run([sys.executable, "-m", "snakemake", "--unlock"], cwd=workdir, env=env, capture_output=True)
    return run


def submitted_jobs(log: str, env: dict) -> list[dict]:
    """Slurm's record of every job the Snakemake log says it submitted."""
    ids = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    records = []
    for job_id in ids:
        out = subprocess.run(["scontrol", "-o", "show", "job", job_id], env=env,
                             capture_output=True, text=True, check=True).stdout
        record = dict(re.findall(r"(\w+)=(\S*)", out))
        record["rule"] = re.match(r"rule_(.+?)(_wildcards_.*)?$", record["Comment"]).group(1)
        records.append(record)
    return records


def check_gpu_requests(jobs: list[dict], gpu: set[str]) -> None:
    """GPU rules went through sbatch --gpus=1 (TresPerJob), the other rules without a GPU."""
    for job in jobs:
        assert job["JobState"] == "COMPLETED", job
        if job["rule"] in gpu:
            assert job.get("TresPerJob") == "gres:gpu:1", job
        else:
            assert "gpu" not in job.get("TresPerJob", ""), job


MINI_SNAKEFILE = textwrap.dedent('''
    # Two GPU "cells" (rule evaluate: the GPU request comes from the profile alone) and a CPU
    # aggregation (rule table1), each recording where and with which interpreter it ran.
    import os, sys

    def where():
        return (f"python={os.path.realpath(sys.executable)} job={os.environ.get('SLURM_JOB_ID', '')}"
                f" cuda={os.environ.get('CUDA_VISIBLE_DEVICES', '')}")

    rule table1:
        input: expand("cells/{cell}.txt", cell=["a", "b"])
        output: "table1.csv"
        run:
            with open(output[0], "w") as f:
                f.write(f"table1 {where()}\\n" + "".join(open(p).read() for p in input))

    rule evaluate:
        output: "cells/{cell}.txt"
        run:
            with open(output[0], "w") as f:
                f.write(f"{wildcards.cell} {where()}\\n")
''')


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT_S)  # also covers starting Slurm (apt-get install on a fresh machine)
def test_profile_sends_gpu_rules_through_sbatch_gpus(slurm_env, tmp_path):
    shutil.copytree(ROOT / "slurm", tmp_path / "slurm")
    (tmp_path / "Snakefile").write_text(MINI_SNAKEFILE)
    env = dict(slurm_env, PATCHCORE_SLURM_PARTITION="main", PATCHCORE_SLURM_CONSTRAINT="patchcore",
               PATCHCORE_SLURM_EXTRA="--nice=7")
    run = snakemake(tmp_path, [], env)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]

    jobs = submitted_jobs(log, env)
    assert sorted(j["rule"] for j in jobs) == ["evaluate", "evaluate", "table1"]
    check_gpu_requests(jobs, gpu_rules())
    # Site settings from the environment reached sbatch: partition and extra flags for every
    # job, the node constraint for the GPU jobs only.
    assert all(j["Partition"] == "main" and j["Nice"] == "7" for j in jobs), jobs
    assert [j["Features"] for j in jobs if j["rule"] == "evaluate"] == ["patchcore", "patchcore"]
    # Each job ran in Slurm with this interpreter; the GPU jobs saw the GPU Slurm gave them.
    lines = (tmp_path / "table1.csv").read_text().splitlines()
    assert len(lines) == 3
    ids = {j["JobId"] for j in jobs}
    for line in lines:
        fields = dict(f.split("=", 1) for f in line.split()[1:])
        assert fields["python"] == os.path.realpath(sys.executable), line
        assert fields["job"] in ids, line
        if not line.startswith("table1"):
            assert fields["cuda"] != "", line


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT_S)
def test_pipeline_table1_on_slurm(slurm_env, tmp_path):
    tiny = ROOT / "tests" / "configs" / "tiny.yaml"
    for needed in (ROOT / "Snakefile", tiny):
        if not needed.exists():
            pytest.skip(f"{needed.relative_to(ROOT)} does not exist yet")
    # A copy of the workflow, so that results/ of this run stays apart from the work tree's.
    skip = shutil.ignore_patterns(".git", ".venv", ".snakemake", "results", "resources", "__pycache__",
                                  "*.egg-info", ".pytest_cache", "logs", "out")
    shutil.copytree(ROOT, tmp_path / "wf", ignore=skip, symlinks=True)
    env = dict(slurm_env, PATCHCORE_DEVICE=os.environ.get("PATCHCORE_DEVICE", "cpu"))
    run = snakemake(tmp_path / "wf", ["results/table1.csv", "--configfile", "tests/configs/tiny.yaml"], env)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-6000:]
    assert (tmp_path / "wf" / "results" / "table1.csv").stat().st_size > 0

    jobs = submitted_jobs(log, env)
    check_gpu_requests(jobs, gpu_rules())
    assert sum(j["rule"] == "evaluate" for j in jobs) >= 2, [j["rule"] for j in jobs]
