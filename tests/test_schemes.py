"""The inference-scheme grammar: one parser, one registry, the same strings as the wildcard
regex and the config schema."""

import re
from pathlib import Path

import jsonschema
import pytest
import torch
import yaml

from patchcore.inverse import patches, schemes

ROOT = Path(__file__).resolve().parents[1]
# Candidates as YAML or a path would give them: ints from config, strings from paths (not
# floats: JSON Schema counts 16.0 as an integer, which no pattern can tell apart).
GOOD = ["full", 16, "16", 4, "avg16", "stitch16", "avg4", "stitch128", 1, "1"]
BAD = ["", "Full", "full16", "avg", "stitch", "avg0", "0", 0, "016", "-16", "16px", "avg-16",
       "grid16", " 16", "16 ", "stitch16x", None, True, "avg16stitch"]


@pytest.mark.parametrize("text", GOOD)
def test_parse_round_trips_the_text(text):
    scheme = schemes.parse(text)
    assert str(scheme) == str(text) and schemes.parse(str(scheme)) == scheme
    assert scheme.kind in schemes.KINDS and (scheme.patch is None) == (scheme.kind == "full")


@pytest.mark.parametrize("text", BAD)
def test_parse_refuses_other_text_naming_it(text):
    with pytest.raises(ValueError, match="inference scheme"):
        schemes.parse(text)
    assert not schemes.accepts(text)


@pytest.mark.parametrize("text", GOOD + BAD)
def test_wildcard_pattern_accepts_what_parse_accepts(text):
    """Snakemake matches wildcards with the whole pattern: the same strings as the parser."""
    if isinstance(text, str):
        assert bool(re.fullmatch(schemes.PATTERN, text)) == schemes.accepts(text)


def _schema_infer_items():
    schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
    items = schema["properties"]["tables"]["additionalProperties"]["properties"]["infer"]["items"]
    return {**items, "$defs": schema.get("$defs", {})}  # the item may refer to a shared definition


@pytest.mark.parametrize("value", GOOD + BAD)
def test_schema_infer_entries_are_what_parse_accepts(value):
    """The config schema's ``tables.*.infer`` items accept the values the parser reads."""
    valid = jsonschema.Draft7Validator(_schema_infer_items()).is_valid(value)
    assert valid == schemes.accepts(value), f"schema says {valid}, parser says {schemes.accepts(value)}"


def test_size_and_covers():
    assert schemes.parse("full").size(64) == 64 and schemes.parse("full").covers(64)
    assert schemes.parse("avg16").size(64) == 16 and not schemes.parse("16").covers(64)
    assert schemes.parse(64).covers(64) and schemes.parse("stitch128").covers(64)


def _prior(x, sigma, coords=None):
    return 0.5 * x


@pytest.mark.parametrize("text,cls", [("full", patches.ShiftedGridDenoiser), ("8", patches.ShiftedGridDenoiser),
                                      ("avg8", patches.PatchAveragingDenoiser),
                                      ("stitch8", patches.StitchingDenoiser)])
def test_registry_builds_each_kind(text, cls):
    den = schemes.make_denoiser(_prior, text, "zero", torch.Generator().manual_seed(0), 3)
    assert type(den) is cls and schemes.DENOISERS[schemes.parse(text).kind][0] is cls
    assert den.patch == ("full" if text == "full" else 8) and den.micro_batch == 3
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(den(x, 0.1), 0.5 * x)  # a pixel-wise prior: every scheme gives it back


def test_every_kind_is_registered_and_no_prior_means_no_denoiser():
    assert set(schemes.DENOISERS) == set(schemes.KINDS)
    assert schemes.make_denoiser(None, "16", "zero", None, None) is None
    with pytest.raises(ValueError, match="inference scheme"):
        schemes.make_denoiser(None, "tiles16", "zero", None, None)
