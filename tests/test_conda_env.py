"""environment.yml: the pip lines resolve from a copy of the file elsewhere (as under
`snakemake --use-conda`) to exactly the lock's pins plus the repository itself.

Conda itself cannot be run here (no conda channel is reachable); this checks what pip, run by
conda on the file's pip section, would be asked to install.
"""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pip_section():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)


def test_conda_pip_section_resolves_from_a_copy_elsewhere(tmp_path, monkeypatch):
    from pip._internal.network.session import PipSession
    from pip._internal.req.req_file import parse_requirements

    # conda writes the pip section to a requirements file beside the (copied) environment file
    # and runs pip there; Snakemake's copy lives in .snakemake/conda/.
    copy = tmp_path / ".snakemake" / "conda" / "condaenv.requirements.txt"
    copy.parent.mkdir(parents=True)
    copy.write_text("\n".join(pip_section()) + "\n")
    monkeypatch.chdir(copy.parent)
    monkeypatch.setenv("PATCHCORE_ROOT", str(ROOT))
    parsed = list(parse_requirements(str(copy), session=PipSession()))
    editable = [r.requirement for r in parsed if r.is_editable]
    assert [Path(e).resolve() for e in editable] == [ROOT]
    lock = {line.strip() for line in (ROOT / "requirements.lock").read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    assert {r.requirement for r in parsed if not r.is_editable} == lock


def test_conda_env_file_has_no_relative_paths():
    for line in pip_section():
        for token in line.split():
            assert not token.startswith((".", "requirements")), f"relative path in environment.yml: {line}"
