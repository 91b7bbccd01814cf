"""The rule files: formatted by snakefmt, and every script rule's script writes to its log."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULE_FILES = [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]


def script_rules():
    """``(rule name, script path)`` of every rule with a ``script:`` directive."""
    found = []
    for path in RULE_FILES:
        for block in re.split(r"^(?=rule \w+:)", path.read_text(), flags=re.M):
            name = re.match(r"rule (\w+):", block)
            script = re.search(r"^    script:\s*\n\s+\"([^\"]+)\"", block, re.M)
            if name and script:
                found.append((name.group(1), (ROOT / "rules" / script.group(1)).resolve()))
    return found


def test_every_script_rule_is_found():
    names = [name for name, _ in script_rules()]
    for name in ("table1", "fig1_padding", "fig2_grid", "fig3_memory", "tuning", "padis_table", "padis_figure"):
        assert name in names, names


@pytest.mark.parametrize("rule,script", script_rules(), ids=[name for name, _ in script_rules()])
def test_script_logs_to_its_log_file(rule, script):
    text = script.read_text()
    # script_logger(sm.log[0]); train.py passes the same path on to its worker processes.
    assert re.search(r"script_logger\((sm\.log\[0\]|spec\[\"log\"\])\)", text), \
        f"rule {rule}: {script.name} does not open its log: file"
    assert re.search(r"\blog\.(info|warning)\(", text), f"rule {rule}: {script.name} never writes to its log"


def test_rule_files_are_snakefmt_clean():
    if importlib.util.find_spec("snakefmt") is None:
        pytest.skip("snakefmt is not installed in this environment (requirements.lock pins it: make env)")
    done = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "--diff", *map(str, RULE_FILES)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
