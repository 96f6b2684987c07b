"""A txi2p mixed with txi2p-tahoe 0.3.x's files is named, with the fix; alone, nothing is said.

Built from real dist-info directories in a temporary site directory, as pip
leaves them after each install order.
"""

from __future__ import annotations

import base64
import hashlib
import warnings
from importlib import metadata
from pathlib import Path

import pytest

from txi2p import installation


def _record_line(site: Path, relative: str) -> str:
    data = (site / relative).read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{relative},sha256={digest},{len(data)}"


def _install(site: Path, name: str, version: str, files: dict[str, str]) -> None:
    """Write *files* and a dist-info whose RECORD lists them with their hashes."""
    for relative, text in files.items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(text)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = [_record_line(site, r) for r in files] + [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(lines) + "\n")


OURS = {"txi2p/__init__.py": "new init", "txi2p/address.py": "new address", "txi2p/session.py": "session",
        "twisted/plugins/txi2p_endpoint_parsers.py": "new plugin"}
OLD = {"txi2p/__init__.py": "old init", "txi2p/address.py": "old address", "txi2p/bob/__init__.py": "bob",
       "twisted/plugins/txi2p_endpoint_parsers.py": "old plugin"}


@pytest.fixture
def site(tmp_path, monkeypatch):
    """An empty site directory that installation's metadata look-ups see alone."""
    site = tmp_path / "site"
    site.mkdir()

    def dists() -> list[metadata.Distribution]:
        return [metadata.PathDistribution(p) for p in sorted(site.glob("*.dist-info"))]

    def distribution(name: str) -> metadata.Distribution:
        for dist in dists():
            if dist.metadata["Name"] == name:
                return dist
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", distribution)
    monkeypatch.setattr(metadata, "distributions", dists)
    return site


def test_alone_nothing_is_said(site):
    _install(site, "txi2p", "0.4.0", OURS)
    assert installation.problems() == []
    assert installation.status().startswith("ok")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        installation.warn_if_mixed()


def test_the_transitional_txi2p_tahoe_has_no_files_of_ours(site):
    _install(site, "txi2p", "0.4.0", OURS)
    _install(site, "txi2p-tahoe", "0.4.0", {})
    assert installation.problems() == []


def test_txi2p_over_txi2p_tahoe_names_the_old_distribution_and_the_fix(site):
    _install(site, "txi2p-tahoe", "0.3.7", OLD)
    _install(site, "txi2p", "0.4.0", OURS)  # pip overwrote the shared files
    found = installation.problems()
    assert any("txi2p-tahoe 0.3.7 is installed too" in p and "txi2p/__init__.py" in p for p in found)
    assert "pip uninstall -y txi2p txi2p-tahoe && pip install 'txi2p==0.4.0' 'txi2p-tahoe==0.4.0'" in found[-1]
    with pytest.warns(installation.MixedInstallWarning, match="txi2p-tahoe 0.3.7"):
        installation.warn_if_mixed()


def test_txi2p_tahoe_over_txi2p_says_which_files_are_not_ours(site):
    _install(site, "txi2p", "0.4.0", OURS)
    _install(site, "txi2p-tahoe", "0.3.7", OLD)  # overwrote __init__, address and the plugin
    (problem, fix) = installation.problems()
    assert problem.startswith("3 of txi2p 0.4.0's files were overwritten by txi2p-tahoe 0.3.7")
    assert "txi2p/address.py" in problem and "txi2p/session.py" not in problem
    assert fix.startswith("to fix: pip uninstall")


def test_files_deleted_by_uninstalling_the_other_one_are_named(site):
    _install(site, "txi2p-tahoe", "0.3.7", OLD)
    _install(site, "txi2p", "0.4.0", OURS)
    for relative in OLD:  # what pip uninstall txi2p-tahoe deletes
        (site / relative).unlink()
    (site / "txi2p_tahoe-0.3.7.dist-info" / "RECORD").unlink()
    (site / "txi2p_tahoe-0.3.7.dist-info" / "METADATA").unlink()
    (site / "txi2p_tahoe-0.3.7.dist-info").rmdir()
    (problem, fix) = installation.problems()
    assert problem.startswith("3 of txi2p 0.4.0's files are missing")
    assert "twisted/plugins/txi2p_endpoint_parsers.py" in problem and "pip uninstall -y txi2p &&" in fix


def test_an_unknown_distribution_overwriting_a_file_is_found_by_its_record(site):
    _install(site, "txi2p", "0.4.0", OURS)
    _install(site, "some-fork", "9.9", {"txi2p/session.py": "forked"})
    (problem, _fix) = installation.problems()
    assert "overwritten by some-fork 9.9 (txi2p/session.py)" in problem


def test_the_transitional_txi2p_tahoe_pins_this_txi2p():
    """compat/txi2p-tahoe has txi2p's version and requires exactly it (bump both together)."""
    import re

    import txi2p

    text = (Path(__file__).resolve().parents[2] / "compat" / "txi2p-tahoe" / "pyproject.toml").read_text()
    assert re.search(r'^name = "txi2p-tahoe"$', text, re.M)
    assert re.search(r'^version = "([^"]+)"$', text, re.M).group(1) == txi2p.__version__
    assert re.search(r"^dependencies = \[(.*)\]$", text, re.M).group(1) == f'"txi2p=={txi2p.__version__}"'
    assert re.search(r"^packages = \[\]$", text, re.M) and re.search(r"^py-modules = \[\]$", text, re.M)


def test_the_install_check_plugin_warns_only_when_init_is_not_ours(monkeypatch):
    """The plugin file warns when txi2p/__init__.py is another distribution's, and only then."""
    import importlib.util

    import txi2p

    path = Path(__file__).resolve().parents[2] / "twisted" / "plugins" / "txi2p_install_check.py"
    calls: list[bool] = []
    monkeypatch.setattr(installation, "warn_if_mixed", lambda: calls.append(True))

    def load() -> None:
        spec = importlib.util.spec_from_file_location("_txi2p_install_check_under_test", path)
        assert spec is not None and spec.loader is not None
        spec.loader.exec_module(importlib.util.module_from_spec(spec))

    load()
    assert calls == []
    monkeypatch.delattr(txi2p, "_warn_if_mixed")
    load()
    assert calls == [True]


@pytest.mark.parametrize("names,expected", [
    ([], False),
    (["twisted", "Twisted-26.10.0.dist-info", "txi2p-0.4.0.dist-info"], False),
    (["txi2p_tahoe-0.4.0.dist-info"], False),  # the transitional one, of this version
    (["txi2p_tahoe-0.3.7.dist-info"], True),
    (["txi2p_tahoe-0.3.7-py3.11.egg-info"], True),
])
def test_the_first_look_of_import_txi2p(monkeypatch, names, expected):
    monkeypatch.setattr(installation.os, "listdir", lambda path: names)
    assert installation.suspected("0.4.0") is expected


def test_import_time_check_runs_only_after_the_first_look_sees_a_reason(monkeypatch):
    looked: list[bool] = []
    monkeypatch.setattr(installation, "problems", lambda: looked.append(True) or ["mixed"])
    monkeypatch.setattr(installation, "suspected", lambda version: False)
    installation.warn_if_mixed("0.4.0")
    assert looked == []
    monkeypatch.setattr(installation, "suspected", lambda version: True)
    with pytest.warns(installation.MixedInstallWarning, match="mixed"):
        installation.warn_if_mixed("0.4.0")
    assert looked == [True]


def test_the_install_check_plugin_is_loaded_by_every_endpoint_parser_search():
    """Twisted's plugin cache re-imports only changed modules; a parser plugin is loaded on every search."""
    from twisted.internet.interfaces import (
        IStreamClientEndpointStringParserWithReactor,
        IStreamServerEndpointStringParser,
    )
    from twisted.plugin import getPlugins

    for interface in (IStreamClientEndpointStringParserWithReactor, IStreamServerEndpointStringParser):
        assert "txi2p-install-check" in {getattr(p, "prefix", None) for p in getPlugins(interface)}


def test_the_command_says_the_install_problem_when_it_cannot_start(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "txi2p.command", None)  # as when 0.3.x's modules are in place
    monkeypatch.setattr(installation, "status", lambda: "8 of txi2p's files were overwritten by txi2p-tahoe")
    with pytest.raises(SystemExit) as info:
        installation.command()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "txi2p: cannot start" in err and "install: 8 of txi2p's files were overwritten by txi2p-tahoe" in err
