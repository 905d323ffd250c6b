"""Is a file named ``.h5ad`` one? Tell the usual impostors apart before anndata reads it.

Users hand over interrupted downloads, web pages saved under the file's name (a login or
"file not found" page), and Cell Ranger or loom HDF5 files renamed to ``.h5ad``; anndata then
fails with an h5py traceback that names no dataset and no fix. :func:`check_h5ad_file` reads the
first bytes and the HDF5 superblock (format specification, "Superblock", versions 0-3) and then the
top-level groups with h5py, and says which of these it is.
"""

from __future__ import annotations

import struct
from pathlib import Path

from scrobin.errors import ScrobinError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# The superblock may follow a user block of 512, 1024, 2048... bytes (HDF5 specification).
_FIRST_USER_BLOCK = 512
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"


def check_h5ad_file(path: str | Path, name: str) -> None:
    """Refuse a file that is not a complete ``.h5ad`` in one line naming the dataset and the fix.

    Parameters
    ----------
    path
        The dataset's source file.
    name
        The dataset's name in the config, for the message.

    Raises
    ------
    ScrobinError
        ``dataset '<name>': '<file>' is not a readable .h5ad (<what it is>): <fix>`` for a web
        page (starts with ``<``), a gzip or zip archive, a file without the HDF5 signature, a
        truncated HDF5 file (its superblock's end-of-file address beyond the file's size: "N of
        M bytes"; download it again), one h5py cannot open (its error, and download it again), a
        Cell Ranger matrix (a ``matrix`` group, v3, or genome groups holding ``barcodes``, v2;
        convert with ``scanpy.read_10x_h5``), a loom file (convert with ``anndata.read_loom``) or
        another HDF5 file without anndata's ``obs`` and ``var``.
    """
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(64)
        offset = _signature_offset(handle, size)
        superblock = None
        if offset is not None:
            handle.seek(offset)
            superblock = handle.read(96)

    def refuse(problem: str, fix: str):
        raise ScrobinError(f"dataset '{name}': '{path.name}' is not a readable .h5ad ({problem}): {fix}")

    if offset is None:
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if text.startswith(b"<"):
            refuse("it is a web page (HTML), e.g. a login or error page saved under the file's name",
                   "download the file itself, not the page that links to it")
        if head.startswith(GZIP_MAGIC) or head.startswith(ZIP_MAGIC):
            refuse("it is a compressed archive", "decompress it (gunzip or unzip) and point source at the .h5ad inside")
        refuse(f"not an HDF5 file: it starts with {head[:8]!r}", "download it again, or convert it to .h5ad")
    expected = _stored_end_of_file(superblock)
    if expected is not None and expected > size:
        refuse(f"truncated: {size:,} of {expected:,} bytes", "the download or copy stopped early; download it again")
    groups, error = _top_level(path)
    if error is not None:
        refuse(f"h5py cannot open it: {error}", "download it again")
    if groups.get("matrix") == "group" or "genome" in groups.values():
        refuse("it is a Cell Ranger HDF5 matrix (.h5)",
               "convert it with adata = scanpy.read_10x_h5(path) and adata.write_h5ad('cells.h5ad')")
    if "matrix" in groups and "row_attrs" in groups:
        refuse("it is a loom file",
               "convert it with adata = anndata.read_loom(path) (pip install loompy) and adata.write_h5ad('cells.h5ad')")
    if not {"obs", "var"} <= set(groups):
        listed = ", ".join(sorted(groups)) or "none"
        refuse(f"an HDF5 file without anndata's obs and var (top level: {listed})",
               "write it with AnnData.write_h5ad, or convert it with the reader of its format")


def _signature_offset(handle, size: int) -> int | None:
    """Where the HDF5 signature is: byte 0, or after a user block of 512 x 2^k bytes; None if absent."""
    offset = 0
    while offset + len(HDF5_SIGNATURE) <= size:
        handle.seek(offset)
        if handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
            return offset
        offset = _FIRST_USER_BLOCK if offset == 0 else 2 * offset
    return None


def _stored_end_of_file(superblock: bytes) -> int | None:
    """The file size the superblock records (its end-of-file address), or None if unreadable.

    Versions 0 and 1 keep the sizes of offsets at byte 13 and the addresses after 24 (v0) or 28
    (v1) bytes; versions 2 and 3 keep the size at byte 9 and the addresses after 12 bytes, in the
    order base, extension (v2/3) or free-space (v0/1), end of file.
    """
    version = superblock[8] if len(superblock) > 8 else None
    if version in (0, 1):
        size_of_offsets, start = superblock[13], 24 if version == 0 else 28
    elif version in (2, 3):
        size_of_offsets, start = superblock[9], 12
    else:
        return None
    formats = {2: "<H", 4: "<I", 8: "<Q"}
    if size_of_offsets not in formats or len(superblock) < start + 3 * size_of_offsets:
        return None
    end = struct.unpack_from(formats[size_of_offsets], superblock, start + 2 * size_of_offsets)[0]
    # The HDF5 library refuses a file shorter than this address ("truncated file: eof = ...,
    # stored_eof = ..."), user block included: it is the whole file's size, not relative to base.
    return None if end == (1 << (8 * size_of_offsets)) - 1 else end


def _top_level(path: Path) -> tuple[dict[str, str], str | None]:
    """Top-level names -> ``group``, ``genome`` (a Cell Ranger v2 group) or ``dataset``; or h5py's error."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            groups = {}
            for key, item in file.items():
                if isinstance(item, h5py.Group):
                    groups[key] = "genome" if {"barcodes", "data", "indptr"} <= set(item) and key != "matrix" else "group"
                else:
                    groups[key] = "dataset"
            return groups, None
    except OSError as error:
        return {}, str(error).strip().splitlines()[0]
