"""Grid expansion, cell seeds and config cross-references."""

import copy

import pytest
import yaml

from patchcore.experiments import grid

SPEC = {"datasets": ["knee", "brain"], "tasks": ["denoise"], "solvers": ["dps", "diffpir"],
        "priors": ["whole"], "infer": ["full", 32], "pad": ["reflect"]}


def test_expand_table_is_the_product_in_spec_order():
    cells = grid.expand_table(SPEC)
    assert len(cells) == 2 * 1 * 2 * 1 * 2 * 1
    assert cells[0] == {"dataset": "knee", "task": "denoise", "solver": "dps", "prior": "whole",
                        "infer": "full", "pad": "reflect"}
    assert cells[1]["infer"] == "32"  # integers become path strings
    assert len({grid.cell_stem(c) for c in cells}) == len(cells)
    assert grid.cell_stem(cells[1]) == "results/cells/knee/denoise/dps/whole/32-reflect"


def test_cell_seed_depends_on_the_cell_only():
    a, b = grid.expand_table(SPEC)[:2]
    assert grid.cell_seed(0, a) == grid.cell_seed(0, dict(a))
    assert grid.cell_seed(0, a) != grid.cell_seed(0, b)
    assert grid.cell_seed(0, a) != grid.cell_seed(1, a)
    assert 0 <= grid.cell_seed(0, a) < 2**32


def test_measurement_seed_is_shared_across_solvers_and_priors():
    s = grid.measurement_seed(0, "knee", "sr2", 3)
    assert s == grid.measurement_seed(0, "knee", "sr2", 3)
    assert s != grid.measurement_seed(0, "knee", "sr2", 4)
    assert s != grid.measurement_seed(0, "knee", "denoise", 3)


def test_default_config_tables_reference_defined_names():
    with open("config.yaml") as f:
        config = yaml.safe_load(f)
    assert grid.check_references(config) == []
    assert len(grid.expand_table(config["tables"]["table1"])) == 48


def test_check_references_names_the_bad_entry():
    config = yaml.safe_load(open("config.yaml"))
    bad = copy.deepcopy(config)
    bad["tables"]["table1"]["solvers"].append("nosuch")
    errors = grid.check_references(bad)
    assert any("tables.table1.solvers" in e and "nosuch" in e for e in errors)
    bad = copy.deepcopy(config)
    bad["groups"]["ct"].append("knee")
    assert any("'knee' must be in exactly one group" in e for e in grid.check_references(bad))


@pytest.mark.parametrize("table", ["table1", "padding"])
def test_every_default_table_expands(table):
    config = yaml.safe_load(open("config.yaml"))
    assert grid.expand_table(config["tables"][table])


def test_prior_presets_and_derived_data_size_names():
    import re
    priors = {"whole": {"sampler": {"mode": "whole"}}, "padis": {"sampler": {"mode": "padis"}},
              "padis-nocoords": {"sampler": {"mode": "padis"}}, "none": {"kind": "none"}}
    assert grid.prior_preset(priors, "whole") == priors["whole"]
    assert grid.prior_preset(priors, "padis-n48") == {"sampler": {"mode": "padis"}, "train_images": 48}
    assert grid.prior_preset(priors, "padis-nocoords")["sampler"]["mode"] == "padis"
    for bad in ["nosuch", "padis-n0", "padis-nx", "nosuch-n4"]:
        with pytest.raises(KeyError):
            grid.prior_preset(priors, bad)
    pattern = re.compile(grid.prior_pattern(priors) + "$")
    assert pattern.match("padis-n48") and pattern.match("padis-nocoords") and pattern.match("none")
    assert not pattern.match("padis-n0") and not pattern.match("other")
    assert not grid.needs_checkpoint(priors["none"]) and grid.needs_checkpoint(priors["whole"])
