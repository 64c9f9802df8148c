"""A PEP 517 build backend for jqclient, standard library only.

pip builds a package in an isolated environment into which it first
installs the backend named by pyproject.toml; with setuptools that means a
download, which Debian 12 without network cannot do.  This backend is in
the tree (``backend-path``) and needs nothing, so ``pip install
client/python`` works offline.  It builds a pure-Python wheel of the
``jqclient`` package and an sdist; the metadata is here, the version in
``jqclient/__init__.py``.
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import time
import zipfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "jqclient"
SUMMARY = ("Client of jqd, the job-queue daemon: sync and asyncio, "
           "multiplexed, reconnecting, typed, with a worker loop")
REQUIRES_PYTHON = ">=3.9"
SDIST_FILES = ("pyproject.toml", "README.md", "build_backend/jqbuild.py")


def _version():
    with open(os.path.join(HERE, NAME, "__init__.py"), encoding="utf-8") as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


def _package_files():
    """Paths under the package directory, relative to HERE, sorted."""
    out = []
    for name in sorted(os.listdir(os.path.join(HERE, NAME))):
        if name.endswith(".py") or name == "py.typed":
            out.append(os.path.join(NAME, name))
    return out


def _metadata():
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n"
            "Requires-Python: %s\nDescription-Content-Type: text/markdown\n"
            "\n%s" % (NAME, _version(), SUMMARY, REQUIRES_PYTHON, readme))


def _dist_info():
    return "%s-%s.dist-info" % (NAME, _version())


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return "%s,sha256=%s,%d" % (path, digest.rstrip(b"=").decode(),
                                len(data))


def _write_wheel(wheel_directory, editable=False):
    tag = "py3-none-any"
    wheel_name = "%s-%s-%s.whl" % (NAME, _version(), tag)
    entries = []
    if editable:
        entries.append((NAME + ".pth", (HERE + "\n").encode()))
    else:
        for rel in _package_files():
            with open(os.path.join(HERE, rel), "rb") as f:
                entries.append((rel.replace(os.sep, "/"), f.read()))
    info = _dist_info()
    entries.append((info + "/METADATA", _metadata().encode("utf-8")))
    entries.append((info + "/WHEEL", (
        "Wheel-Version: 1.0\nGenerator: jqbuild\nRoot-Is-Purelib: true\n"
        "Tag: %s\n" % tag).encode()))
    record = [_record_line(p, d) for p, d in entries]
    record.append(info + "/RECORD,,")
    entries.append((info + "/RECORD", ("\n".join(record) + "\n").encode()))
    path = os.path.join(wheel_directory, wheel_name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            z.writestr(zi, data, zipfile.ZIP_DEFLATED)
    return wheel_name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory,
                                     config_settings=None):
    info = os.path.join(metadata_directory, _dist_info())
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    return _dist_info()


def build_wheel(wheel_directory, config_settings=None,
                metadata_directory=None):
    return _write_wheel(wheel_directory)


def build_editable(wheel_directory, config_settings=None,
                   metadata_directory=None):
    """PEP 660: a wheel holding a .pth file naming this directory."""
    return _write_wheel(wheel_directory, editable=True)


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (NAME, _version())
    path = os.path.join(sdist_directory, base + ".tar.gz")
    pkg_info = _metadata().encode("utf-8")
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for rel in list(SDIST_FILES) + _package_files():
            tar.add(os.path.join(HERE, rel), arcname=base + "/" + rel)
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(pkg_info)
        ti.mtime = int(time.time())
        tar.addfile(ti, io.BytesIO(pkg_info))
    return base + ".tar.gz"
