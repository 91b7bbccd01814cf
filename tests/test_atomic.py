"""Atomic writes: files and folders appear complete or not at all, with the usual modes."""

import os

import pytest

from patchcore.io.atomic import atomic_dir, atomic_path, usual_mode, write_text


def test_usual_mode_applies_the_umask():
    old = os.umask(0o027)
    try:
        assert usual_mode(0o666) == 0o640 and usual_mode(0o777) == 0o750
    finally:
        os.umask(old)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "a" / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists() and list(target.parent.iterdir()) == []
    write_text(target, "whole")
    assert target.read_text() == "whole" and (target.stat().st_mode & 0o777) == usual_mode(0o666)


def test_atomic_dir_replaces_the_folder_or_leaves_it(tmp_path):
    target = tmp_path / "data"
    with atomic_dir(target) as tmp:
        (tmp / "x").write_text("1")
    assert (target / "x").read_text() == "1" and (target.stat().st_mode & 0o777) == usual_mode(0o777)
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "y").write_text("2")
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"] and not (target / "y").exists()
    with atomic_dir(target) as tmp:
        (tmp / "z").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["z"]
