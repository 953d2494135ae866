"""Keys never go to the origin: before anything is sent, every file of a package is scanned for every key
the key store holds for the title (in every form ``packager.leaks`` knows), and a package inside the key
store (or the other way round) is refused."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from origin.errors import KeyMaterialFound
from origin.files import LocalFile
from packager import KeyStore, KeyStoreError, Package, find_key_material
from vodflow.errors import UsageError

__all__ = ["refuse_key_material"]


def refuse_key_material(
    package_dir: Path, pkg: Package, title: str, files: Sequence[LocalFile], store: KeyStore
) -> None:
    """Return when no file of the package holds a key of ``pkg.title`` or ``title``. Raises
    ``KeyMaterialFound`` (a file holds one; the key store and the package overlap) and ``UsageError``
    (the key store cannot be read, or has no keys for an encrypted package)."""
    pkg_root, key_root = package_dir.resolve(), store.root.resolve()
    if pkg_root.is_relative_to(key_root) or key_root.is_relative_to(pkg_root):
        raise KeyMaterialFound(f"{package_dir}: the key store {store.root} is inside the package or holds it")
    keys: list[bytes] = []
    for name in dict.fromkeys((pkg.title, title)):
        try:
            if store.exists(name):
                keys.extend(k.key_bytes for k in store.load(name).keys.values())
        except KeyStoreError as exc:
            raise UsageError(f"cannot check {package_dir} for key material: {exc}") from None
    if not keys:
        if pkg.encryption != "none":
            raise UsageError(
                f"cannot check {package_dir} for key material: {store} has no keys for title {pkg.title!r} "
                "(give the key store it was packaged with: --keys)"
            )
        return
    for path in find_key_material((f.path for f in files), keys):
        raise KeyMaterialFound(f"{path}: contains a content key of {pkg.title!r}; nothing was published")
