"""The built wheel, installed in a clean virtualenv, registers the i2p: plugins.

An import error inside a Twisted plugin module is swallowed and shows up
only as "Unknown endpoint type", so this checks the installed package, not
the source tree.  No network: dependencies come from the running
environment through a path entry (whose own .pth files are not run, so the
editable install of the source tree stays out).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = r"""
import sys, txi2p, twisted.plugins
from twisted.internet import reactor
from twisted.internet.endpoints import clientFromString, serverFromString
assert "site-packages" in txi2p.__file__, txi2p.__file__
print(type(clientFromString(reactor, "i2p:example.i2p:80")).__name__)
print(type(serverFromString(reactor, "i2p:node.key:3457:api=SAM:apiEndpoint=tcp\\:127.0.0.1\\:7656")).__name__)
import txi2p.testing, txi2p.sam.codec
print("py.typed" if (__import__("pathlib").Path(txi2p.__file__).parent / "py.typed").exists() else "no py.typed")
"""


def test_wheel_registers_endpoint_plugins(tmp_path):
    try:
        import setuptools  # noqa: F401
    except ImportError:
        pytest.skip("setuptools is needed to build the wheel")
    dist = tmp_path / "dist"
    # built from a copy of the sources: a build/ left in the tree would hide a package missing from setup.cfg
    tree = tmp_path / "src"
    tree.mkdir()
    for name in ("pyproject.toml", "setup.cfg", "setup.py", "README.rst", "LICENSE", "MANIFEST.in"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, tree / name)
    for name in ("txi2p", "twisted"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(tree)],
        check=True, cwd=tmp_path, capture_output=True)
    (wheel,) = dist.glob("txi2p-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # Install the wheel by unpacking it (what pip does for a pure wheel).
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    out = subprocess.run([python, "-c", CHECK], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.split() == ["I2PClientEndpoint", "I2PServerEndpoint", "py.typed"]
    # every module of the source tree is in the wheel (a package missing from setup.cfg is not)
    source = {p.relative_to(ROOT).as_posix() for p in (ROOT / "txi2p").rglob("*.py")}
    installed = {p.relative_to(site).as_posix() for p in Path(site, "txi2p").rglob("*.py")}
    assert source - installed == set()
    assert not Path(site, "twisted", "__init__.py").exists()
    # the plugin file has txi2p-tahoe 0.3.7's name, so installing one over the other replaces it
    assert Path(site, "twisted", "plugins", "txi2p_endpoint_parsers.py").exists()
    assert Path(site, "twisted", "plugins", "txi2p_install_check.py").exists()


def test_the_sans_io_layer_imports_no_twisted():
    """``txi2p.sam.codec``, ``.dialect``, ``.replies``, ``.events``, ``.control`` and ``.data``
    are sans I/O: importing
    them (and so ``txi2p`` and ``txi2p.sam``) in a fresh interpreter loads
    no Twisted module; ``txi2p``'s own names still import on first use."""
    code = (
        "import sys, txi2p.sam.codec, txi2p.sam.dialect, txi2p.sam.replies\n"
        "import txi2p.sam.events, txi2p.sam.control, txi2p.sam.data, txi2p.states\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'twisted')\n"
        "assert not loaded, loaded[:10]\n"
        "from txi2p import SAMBridge, Destination, generateDestination\n"
        "assert 'twisted' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_classic_and_compat_names_of_txi2p_sam_come_from_their_modules():
    """txi2p.sam offers the classic i2p.sam and txi2p 0.3.x names, each the public one of its module."""
    import importlib

    import txi2p.sam as sam

    for module_name, names in sam._PROVIDERS.items():
        module = importlib.import_module(module_name)
        for name in names:
            assert name in module.__all__, (module_name, name)
            assert getattr(sam, name) is getattr(module, name)
    assert set(sam.__all__) <= set(dir(sam))
    with pytest.raises(AttributeError):
        sam.no_such_name  # noqa: B018
