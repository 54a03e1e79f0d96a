"""Bundles (SPEC §2, ``chorus_batch.formats.bundles``): zip / tar / tar.gz / gz read in memory,
member by member, and every hostile shape rejected whole with its code: unsafe paths, links,
bombs (checked while inflating, memory bounded), nesting beyond one level, corrupt archives.

Every archive is built in memory; the bombs are built streaming, never materialised.
"""

from __future__ import annotations

import gzip
import io
import stat
import struct
import tarfile
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chorus_batch.demo.generate import ISSUERS, SUPPLIERS, Line, ubl_order
from chorus_batch.errors import CODES, DocumentRejected
from chorus_batch.formats.bundles import Limits, kind_of, members

MiB = 1024 * 1024
MARKER = b"SECRET-MEMBER-CONTENT-42"
LINES = [Line("1", "Ramette papier A4", Decimal("10"), "C62", Decimal("4.25"), Decimal("20"))]
MEMORY_BOUND = 100 * MiB  # peak traced memory while reading a bomb
TIME_BOUND = 5.0  # seconds


# -- builders ------------------------------------------------------------------------------------


def _order(number: str) -> bytes:
    return ubl_order(number, ISSUERS[0], SUPPLIERS[0], LINES, date(2026, 1, 5))


def make_zip(entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


def tar_entry(
    name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = ""
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def make_tar(entries: Iterable[tuple[tarfile.TarInfo, bytes]], gz: bool = True) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def gzip_named(name: str, data: bytes) -> bytes:
    """A gzip file whose header carries ``name`` verbatim (GzipFile would keep only its basename)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = compressor.compress(data) + compressor.flush()
    header = b"\x1f\x8b\x08\x08\x00\x00\x00\x00\x02\xff" + name.encode("latin-1") + b"\x00"
    return header + body + struct.pack("<LL", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def gzip_of_zeros(pieces: Iterable[bytes | int]) -> bytes:
    """A gzip stream of ``pieces`` (bytes, or an int: that many MiB of zeros), deflated in
    chunks with ``zlib.compressobj``. Each zero MiB after a full flush deflates to the same bytes,
    so a GiB costs one compression plus CRCs, and nothing big is ever held."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero = bytes(MiB)
    zero_block = compressor.compress(zero) + compressor.flush(zlib.Z_FULL_FLUSH)
    parts = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"]
    crc = size = 0
    for piece in pieces:
        if isinstance(piece, int):
            parts.extend([zero_block] * piece)
            for _ in range(piece):
                crc = zlib.crc32(zero, crc)
            size += piece * MiB
        else:
            parts.append(compressor.compress(piece) + compressor.flush(zlib.Z_FULL_FLUSH))
            crc, size = zlib.crc32(piece, crc), size + len(piece)
    parts.append(compressor.flush(zlib.Z_FINISH))
    parts.append(struct.pack("<LL", crc, size & 0xFFFFFFFF))
    return b"".join(parts)


def tar_gz_of_zeros(sizes_mib: list[int]) -> bytes:
    """A tar.gz whose members hold ``sizes_mib`` MiB of zeros each, built streaming."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero = bytes(MiB)
    zero_block = compressor.compress(zero) + compressor.flush(zlib.Z_FULL_FLUSH)
    parts = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"]
    crc = size = 0
    for index, mib in enumerate(sizes_mib):
        info = tarfile.TarInfo(f"bomb-{index}.xml")
        info.size = mib * MiB
        header = info.tobuf(tarfile.USTAR_FORMAT)
        parts.append(compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH))
        crc, size = zlib.crc32(header, crc), size + len(header)
        parts.extend([zero_block] * mib)
        for _ in range(mib):
            crc = zlib.crc32(zero, crc)
        size += mib * MiB
    end = bytes(2 * tarfile.BLOCKSIZE)
    parts.append(compressor.compress(end) + compressor.flush(zlib.Z_FINISH))
    crc, size = zlib.crc32(end, crc), size + len(end)
    parts.append(struct.pack("<LL", crc, size & 0xFFFFFFFF))
    return b"".join(parts)


def zip_of_zeros(name: str, mib: int) -> bytes:
    """A zip of one deflated member holding ``mib`` MiB of zeros, its headers written here and
    its data made as in ``gzip_of_zeros``: one MiB compressed once, its bytes repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero = bytes(MiB)
    zero_block = compressor.compress(zero) + compressor.flush(zlib.Z_FULL_FLUSH)
    data = zero_block * mib + compressor.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zero, crc)
    size, encoded = mib * MiB, name.encode()
    assert size < 2**32  # no zip64 needed
    # version 2.0, no flags, deflate, 1980-01-01 00:00
    fields = struct.pack("<HHHHHIII", 20, 0, zipfile.ZIP_DEFLATED, 0, 0x21, crc, len(data), size)
    local = b"PK\x03\x04" + fields + struct.pack("<HH", len(encoded), 0) + encoded
    central = b"PK\x01\x02" + struct.pack("<H", 20) + fields + struct.pack("<HHHHHII", len(encoded), 0, 0, 0, 0, 0, 0)
    central += encoded
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    return local + data + central + end


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """One member inflating to 1.5 GiB of zeros (~1.5 MB on disk), streamed through ZipFile.open."""
    data = zip_of_zeros("bomb.xml", 1536)
    assert len(data) < 2 * MiB
    return data


def test_the_zip_bomb_is_a_zip_of_zeros() -> None:
    """``zip_of_zeros`` makes what ``zipfile`` reads back (checked small, CRC included)."""
    with zipfile.ZipFile(io.BytesIO(zip_of_zeros("small.xml", 3))) as archive:
        [info] = archive.infolist()
        assert (info.filename, info.file_size, info.compress_type) == ("small.xml", 3 * MiB, zipfile.ZIP_DEFLATED)
        assert archive.read(info) == bytes(3 * MiB)
        assert archive.testzip() is None


def measure(call: Callable[[], object]) -> tuple[BaseException | None, int, float]:
    """(exception raised or None, peak traced bytes, seconds)."""
    tracemalloc.start()
    start = time.perf_counter()
    raised: BaseException | None = None
    try:
        call()
    except BaseException as exc:
        raised = exc
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return raised, peak, elapsed


def rejected(data: bytes, limits: Limits | None = None) -> DocumentRejected:
    with pytest.raises(DocumentRejected) as caught:
        members(data, limits)
    assert caught.value.code in CODES
    assert MARKER.decode() not in caught.value.message
    return caught.value


def assert_bomb_rejected(data: bytes, limits: Limits | None = None, code: str = "ARCHIVE_TOO_LARGE") -> None:
    raised, peak, elapsed = measure(lambda: members(data, limits))
    print(f"\n  bomb ({len(data)} bytes): {type(raised).__name__}, peak {peak / MiB:.2f} MiB, {elapsed * 1000:.0f} ms")
    assert isinstance(raised, DocumentRejected), raised
    assert raised.code == code, raised.message
    assert peak < MEMORY_BOUND
    assert elapsed < TIME_BOUND


# -- kinds ---------------------------------------------------------------------------------------


def test_kind_of() -> None:
    assert kind_of(make_zip([("a.xml", b"<a/>")])) == "zip"
    assert kind_of(make_zip([])) == "zip"  # an empty zip is only its end record
    assert kind_of(make_tar([tar_entry("a.xml", b"<a/>")])) == "tar.gz"
    assert kind_of(make_tar([tar_entry("a.xml", b"<a/>")], gz=False)) == "tar"
    assert kind_of(make_tar([])) == "tar.gz"
    assert kind_of(gzip.compress(b"<Order/>")) == "gz"
    assert kind_of(gzip.compress(b"<Order/>" * 1000)) == "gz"
    assert kind_of(b"\x1f\x8bgarbage") == "gz"  # gzip by its magic; members() says it is corrupt
    for document in (_order("X"), b"%PDF-1.7\n", b"reference;action\n", b"", bytes(2048)):
        assert kind_of(document) is None
    # only the start is looked at: the first 64 KiB of a big tar.gz is enough
    assert kind_of(tar_gz_of_zeros([3])[: 64 * 1024]) == "tar.gz"


# -- members -------------------------------------------------------------------------------------


def test_zip_of_three_orders_and_a_broken_one_lists_the_four() -> None:
    orders = [_order(f"EJ2026-00000{i}") for i in (1, 2, 3)]
    broken = orders[0][: len(orders[0]) // 2]
    entries = [
        ("orders/", b""),
        ("orders/1.xml", orders[0]),
        ("__MACOSX/orders/._1.xml", b"apple double"),
        ("orders/2.xml", orders[1]),
        (".DS_Store", b"finder"),
        ("orders/broken.xml", broken),
        ("orders/3.xml", orders[2]),
        ("orders/upload.part", b"still writing"),
    ]
    found = members(make_zip(entries))
    assert found == [
        ("orders/1.xml", orders[0]),
        ("orders/2.xml", orders[1]),
        ("orders/broken.xml", broken),
        ("orders/3.xml", orders[2]),
    ]


def test_tar_gz_and_plain_tar_list_their_members_in_order() -> None:
    orders = [_order(f"EJ-{i}") for i in range(3)]
    entries = [tar_entry("./", kind=tarfile.DIRTYPE)] + [
        tar_entry(f"./o{i}.xml", data) for i, data in enumerate(orders)
    ]
    entries.insert(2, tar_entry("./.hidden.xml", b"x"))
    expected = [(f"o{i}.xml", data) for i, data in enumerate(orders)]
    assert members(make_tar(entries)) == expected
    assert members(make_tar(entries, gz=False)) == expected


def test_long_names_through_pax_headers() -> None:
    name = "a" * 150 + "/" + "b" * 150 + ".xml"
    assert members(make_tar([tar_entry(name, b"<x/>")])) == [(name, b"<x/>")]


def test_backslash_folders_are_normalised() -> None:
    assert members(make_zip([("orders\\1.xml", b"<a/>")])) == [("orders/1.xml", b"<a/>")]


def test_single_document_gzip_is_a_one_member_bundle() -> None:
    assert members(gzip_named("EJ-1.xml", b"<Order/>")) == [("EJ-1.xml", b"<Order/>")]
    assert members(gzip.compress(b"<Order/>")) == [("member", b"<Order/>")]
    assert rejected(gzip_named("../../etc/passwd", b"<Order/>")).code == "ARCHIVE_UNSAFE_PATH"


def test_empty_bundles_are_rejected_as_empty() -> None:
    for data in (
        make_zip([]),
        make_zip([("d/", b""), (".x", b"1")]),
        make_tar([]),
        make_tar([tar_entry("d", kind=tarfile.DIRTYPE)], gz=False),
    ):
        assert rejected(data).code == "FILE_EMPTY"
    # an empty plain tar is only zeros: nothing says it is a tar
    assert kind_of(make_tar([], gz=False)) is None


# -- unsafe paths --------------------------------------------------------------------------------

UNSAFE = [
    "../../etc/x",
    "/abs",
    "/etc/passwd",
    "a/../../b",
    "a/..",
    "C:\\x",
    "C:x",
    "c:/windows/x",
    "..\\x",
    "a\\..\\..\\b",
    "\\\\server\\share\\x",
    ".. /x",
    "a/.../b",
    "x\nfake-log-line",
]


@pytest.mark.parametrize("name", UNSAFE)
def test_unsafe_zip_names(name: str) -> None:
    data = make_zip([("ok.xml", b"<a/>"), (zipfile.ZipInfo(name), MARKER)])
    error = rejected(data)
    assert error.code == "ARCHIVE_UNSAFE_PATH", error.message


@pytest.mark.parametrize("name", UNSAFE)
def test_unsafe_tar_names(name: str) -> None:
    for gz in (True, False):
        error = rejected(make_tar([tar_entry("ok.xml", b"<a/>"), tar_entry(name, MARKER)], gz=gz))
        assert error.code == "ARCHIVE_UNSAFE_PATH", error.message


def test_nul_in_a_zip_name() -> None:
    data = make_zip([("aXb.xml", MARKER)]).replace(b"aXb.xml", b"a\x00b.xml")
    assert rejected(data).code == "ARCHIVE_UNSAFE_PATH"


def test_unsafe_name_under_a_temporary_folder_still_rejects() -> None:
    assert rejected(make_zip([("__MACOSX/../../x", b"1")])).code == "ARCHIVE_UNSAFE_PATH"


# -- links and special files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        tar_entry("link.xml", kind=tarfile.SYMTYPE, link="/etc/passwd"),
        tar_entry("hard.xml", kind=tarfile.LNKTYPE, link="ok.xml"),
        tar_entry("fifo", kind=tarfile.FIFOTYPE),
        tar_entry("dev", kind=tarfile.CHRTYPE),
        tar_entry("blk", kind=tarfile.BLKTYPE),
    ],
    ids=["symlink", "hardlink", "fifo", "chardev", "blockdev"],
)
def test_tar_links_and_devices(entry: tuple[tarfile.TarInfo, bytes]) -> None:
    for gz in (True, False):
        assert rejected(make_tar([tar_entry("ok.xml", b"<a/>"), entry], gz=gz)).code == "ARCHIVE_LINK"


def test_zip_symlink() -> None:
    info = zipfile.ZipInfo("link.xml")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert rejected(make_zip([("ok.xml", b"<a/>"), (info, b"/etc/passwd")])).code == "ARCHIVE_LINK"


def test_zip_unix_regular_file_is_fine() -> None:
    info = zipfile.ZipInfo("a.xml")
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    assert members(make_zip([(info, b"<a/>")])) == [("a.xml", b"<a/>")]


# -- bombs and sizes -----------------------------------------------------------------------------


def test_zip_bomb_of_one_and_a_half_gib(zip_bomb: bytes) -> None:
    assert_bomb_rejected(zip_bomb)


def test_zip_bomb_with_generous_limits_still_stops_on_ratio(zip_bomb: bytes) -> None:
    # member and total limits above 1.5 GiB: only the ratio stands between us and the bomb
    assert_bomb_rejected(zip_bomb, Limits(max_member_size=4096 * MiB, max_total_size=4096 * MiB))


def test_zip_that_lies_about_its_size_is_not_believed() -> None:
    """Central directory says 1000 bytes, the data inflates to 64 MiB: read stops at 1000, CRC fails."""
    data = bytearray(make_zip([("lie.xml", bytes(64 * MiB))]))
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<L", data, central + 24, 1000)
    raised, peak, _ = measure(lambda: members(bytes(data)))
    assert isinstance(raised, DocumentRejected) and raised.code == "ARCHIVE_MALFORMED", raised
    assert peak < 4 * MiB


@pytest.mark.slow  # long: the full suite runs it
def test_many_small_bombs_stop_on_the_overall_ratio() -> None:
    # 200 members of 900 KiB of zeros: each under ratio_grace, the whole 175 MiB from ~200 KB
    data = make_zip((f"m{i}.xml", bytes(900 * 1024)) for i in range(200))
    assert_bomb_rejected(data)


def test_tar_gz_bomb_of_one_and_a_half_gib() -> None:
    data = tar_gz_of_zeros([1536])
    assert len(data) < 2 * MiB
    assert_bomb_rejected(data)


@pytest.mark.slow  # long: the full suite runs it
def test_tar_gz_bomb_of_members_each_under_the_limit() -> None:
    """50 members of 30 MiB: every header is acceptable, so only reading can tell."""
    data = tar_gz_of_zeros([30] * 50)
    assert_bomb_rejected(data)  # the running ratio trips after ~1 MiB
    assert_bomb_rejected(data, Limits(max_ratio=10**9, max_total_size=64 * MiB))  # then the total


@pytest.mark.slow  # long: the full suite runs it
def test_gzip_bomb_of_one_document() -> None:
    data = gzip_of_zeros([b"<?xml version='1.0'?><Order>", 1536])
    assert kind_of(data) == "gz"
    assert_bomb_rejected(data)  # ratio
    assert_bomb_rejected(data, Limits(max_ratio=10**9))  # member size, while inflating


@pytest.mark.slow  # long: the full suite runs it
def test_forty_mib_xml_member() -> None:
    xml = b"<?xml version='1.0'?><Order>" + b"<Line>ramette papier A4 80 g</Line>\n" * (40 * MiB // 36) + b"</Order>"
    assert len(xml) > 40 * 1000 * 1000
    assert rejected(make_zip([("big.xml", xml)])).code == "ARCHIVE_TOO_LARGE"
    assert rejected(make_tar([tar_entry("big.xml", xml)])).code == "ARCHIVE_TOO_LARGE"
    assert rejected(gzip_named("big.xml", xml)).code == "ARCHIVE_TOO_LARGE"


def test_member_size_limit_comes_from_the_caller() -> None:
    limits = Limits(max_member_size=100)
    assert members(make_zip([("a.xml", bytes(100))]), limits) == [("a.xml", bytes(100))]
    assert rejected(make_zip([("a.xml", bytes(101))]), limits).code == "ARCHIVE_TOO_LARGE"
    assert rejected(make_tar([tar_entry("a.xml", bytes(101))]), limits).code == "ARCHIVE_TOO_LARGE"


def test_total_returned_stays_within_max_total_size() -> None:
    limits = Limits(max_total_size=1000)
    two = [(f"{i}.xml", b"x" * 400) for i in range(2)]
    assert sum(len(data) for _, data in members(make_zip(two), limits)) == 800
    three = [(f"{i}.xml", b"x" * 400) for i in range(3)]
    assert rejected(make_zip(three), limits).code == "ARCHIVE_TOO_LARGE"
    assert rejected(make_tar([tar_entry(n, d) for n, d in three]), limits).code == "ARCHIVE_TOO_LARGE"


def test_too_many_members() -> None:
    assert rejected(make_zip((f"{i}.xml", b"") for i in range(1001))).code == "ARCHIVE_TOO_LARGE"
    assert rejected(make_tar([tar_entry(f"{i}.xml") for i in range(1001)])).code == "ARCHIVE_TOO_LARGE"
    assert len(members(make_zip((f"{i}.xml", b"<a/>") for i in range(1000)))) == 1000


def test_member_count_is_checked_before_zipfile_builds_its_index() -> None:
    data = make_zip(((str(i), b"") for i in range(30000)), zipfile.ZIP_STORED)
    raised, peak, _ = measure(lambda: members(data))
    assert isinstance(raised, DocumentRejected) and raised.code == "ARCHIVE_TOO_LARGE"
    assert peak < MiB


def test_member_count_includes_nested_archives() -> None:
    inner = make_zip([("a.xml", b"<a/>"), ("b.xml", b"<b/>")])
    outer = make_zip([("x.xml", b"<x/>"), ("inner.zip", inner)])
    assert len(members(outer, Limits(max_members=4))) == 3
    assert rejected(outer, Limits(max_members=3)).code == "ARCHIVE_TOO_LARGE"


def test_oversized_tar_extended_header() -> None:
    info, data = tar_entry("a.xml", b"<a/>")
    info.pax_headers = {"comment": "x" * 100_000}
    assert rejected(make_tar([(info, data)])).code == "ARCHIVE_TOO_LARGE"


# -- nesting -------------------------------------------------------------------------------------


def test_one_level_of_nesting_is_flattened() -> None:
    inner_zip = make_zip([("a.xml", b"<a/>"), ("b.xml", b"<b/>")])
    inner_tgz = make_tar([tar_entry("c.xml", b"<c/>")])
    outer = make_zip(
        [
            ("first.xml", b"<0/>"),
            ("inner.zip", inner_zip),
            ("more/inner.tar.gz", inner_tgz),
            ("d.xml.gz", gzip_named("d.xml", b"<d/>")),
        ]
    )
    assert members(outer) == [
        ("first.xml", b"<0/>"),
        ("inner.zip/a.xml", b"<a/>"),
        ("inner.zip/b.xml", b"<b/>"),
        ("more/inner.tar.gz/c.xml", b"<c/>"),
        ("d.xml.gz/d.xml", b"<d/>"),
    ]
    assert members(make_tar([tar_entry("inner.zip", inner_zip)])) == [
        ("inner.zip/a.xml", b"<a/>"),
        ("inner.zip/b.xml", b"<b/>"),
    ]


def test_two_levels_of_nesting_are_rejected() -> None:
    deepest = make_zip([("a.xml", MARKER)])
    middle = make_zip([("deepest.zip", deepest)])
    assert rejected(make_zip([("ok.xml", b"<a/>"), ("middle.zip", middle)])).code == "ARCHIVE_NESTED"
    assert rejected(make_tar([tar_entry("middle.zip", middle)])).code == "ARCHIVE_NESTED"
    assert rejected(gzip_named("middle.zip", middle)).code == "ARCHIVE_NESTED"
    assert (
        rejected(make_zip([("x.tar.gz", make_tar([tar_entry("y.gz", gzip.compress(b"<a/>"))]))])).code
        == "ARCHIVE_NESTED"
    )
    # max_depth=0: no nesting at all
    assert rejected(middle, Limits(max_depth=0)).code == "ARCHIVE_NESTED"
    assert members(middle, Limits(max_depth=2)) == [("deepest.zip/a.xml", MARKER)]


def test_nested_bomb_is_caught_inside() -> None:
    inner = make_zip([("bomb.xml", bytes(40 * MiB))])
    assert_bomb_rejected(make_zip([("inner.zip", inner)], zipfile.ZIP_STORED))


# -- corrupt archives ----------------------------------------------------------------------------


def test_truncated_archives() -> None:
    zipped = make_zip([("a.xml", _order("A")), ("b.xml", _order("B"))])
    assert rejected(zipped[: len(zipped) // 2]).code == "ARCHIVE_MALFORMED"
    tgz = make_tar([tar_entry("a.xml", _order("A")), tar_entry("b.xml", _order("B"))])
    assert rejected(tgz[: len(tgz) // 2]).code == "ARCHIVE_MALFORMED"
    assert rejected(tgz[:-4]).code == "ARCHIVE_MALFORMED"  # gzip length trailer missing
    tar = make_tar([tar_entry("a.xml", _order("A")), tar_entry("b.xml", _order("B"))], gz=False)
    assert rejected(tar[: len(tar) // 2]).code == "ARCHIVE_MALFORMED"
    first_member_only = tar[: 512 + -(-len(_order("A")) // 512) * 512]  # cut exactly after member 1
    assert rejected(first_member_only).code == "ARCHIVE_MALFORMED"


def test_crc_errors() -> None:
    data = bytearray(make_zip([("a.xml", MARKER)], zipfile.ZIP_STORED))
    data[data.index(MARKER)] ^= 0xFF
    assert rejected(bytes(data)).code == "ARCHIVE_MALFORMED"
    tgz = bytearray(make_tar([tar_entry("a.xml", MARKER)]))
    tgz[-8] ^= 0xFF  # gzip CRC32
    assert rejected(bytes(tgz)).code == "ARCHIVE_MALFORMED"


def test_encrypted_zip_member() -> None:
    data = bytearray(make_zip([("a.xml", MARKER)]))
    data[data.index(b"PK\x03\x04") + 6] |= 0x01
    data[data.index(b"PK\x01\x02") + 8] |= 0x01
    assert rejected(bytes(data)).code == "ARCHIVE_MALFORMED"


def test_unsupported_zip_compression() -> None:
    assert rejected(make_zip([("a.xml", MARKER * 100)], zipfile.ZIP_BZIP2)).code == "ARCHIVE_MALFORMED"
    assert rejected(make_zip([("a.xml", MARKER * 100)], zipfile.ZIP_LZMA)).code == "ARCHIVE_MALFORMED"


def test_not_an_archive() -> None:
    assert rejected(_order("X")).code == "ARCHIVE_MALFORMED"


# -- fuzz ----------------------------------------------------------------------------------------

PREFIXES = [
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"\x1f\x8b",
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff",
    b"\x1f\x8b\x08\x08\x00\x00\x00\x00\x00\xff",
]
SEEDS = [
    make_zip([("a.xml", _order("A")), ("d/", b""), ("inner.zip", make_zip([("b.xml", b"<b/>")]))]),
    make_zip([("a.xml", b"<a/>" * 50)], zipfile.ZIP_STORED),
    make_tar([tar_entry("a.xml", _order("A")), tar_entry("inner.zip", make_zip([("b.xml", b"<b/>")]))]),
    make_tar([tar_entry("a" * 120 + ".xml", b"<a/>")], gz=False),
    gzip_named("x.xml", b"<a/>" * 30),
]


def _check(data: bytes) -> None:
    try:
        found = members(data, Limits(max_total_size=8 * MiB, max_member_size=2 * MiB))
    except DocumentRejected as exc:
        assert exc.code in CODES
        return
    assert isinstance(found, list)
    for name, content in found:
        assert isinstance(name, str) and isinstance(content, bytes)
        assert not name.startswith("/") and ".." not in name.split("/")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(PREFIXES), tail=st.binary(max_size=2048))
def test_random_bytes_behind_an_archive_magic(prefix: bytes, tail: bytes) -> None:
    _check(prefix + tail)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
)
def test_corrupted_archives(seed: bytes, flips: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(seed)
    for where, mask in flips:
        data[where % len(data)] ^= mask
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    _check(bytes(data))


@pytest.mark.slow  # long: the full suite runs it
def test_tar_sparse_map_abuse_is_bounded() -> None:
    """A GNU sparse 1.0 member announcing 10^8 map entries: tarfile would read the map forever."""
    body = b"100000000\n" + b"0\n" * (4 * MiB)
    info = tarfile.TarInfo("x.xml")
    info.size = len(body)
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "x.xml",
        "GNU.sparse.realsize": "1",
    }
    assert_bomb_rejected(make_tar([(info, body)]))
