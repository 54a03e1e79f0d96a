"""The floor loop: only the unavoidable work of the spec for each file of WORKSPACE/inbox.

read bytes -> sha256 -> hardened lxml parse -> XSD validation (schema chosen by the root,
compiled once) -> small JSON integration report in outbox/acks (temp + rename) -> rename the
input into var/archive. CSV files are read, hashed and parsed with the csv module instead.

Usage: python bench/floor.py WORKSPACE   (prints one JSON line: counts and seconds per step)
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import os
import sys
import time
from pathlib import Path

from lxml import etree


def _schemas():
    """chorus_batch.formats.schemas, loaded alone: the package __init__ imports every reader,
    which the floor does not need (the registry itself only needs lxml)."""
    spec = importlib.util.find_spec("chorus_batch")
    path = Path(next(iter(spec.submodule_search_locations))) / "formats" / "schemas.py"
    mod_spec = importlib.util.spec_from_file_location("_bench_schemas", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


SCHEMAS = _schemas()
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
BY_ROOT = {
    "Order": "ubl-order",
    "OrderResponse": "ubl-order-response",
    "OrderChange": "ubl-order-change",
    "OrderCancellation": "ubl-order-cancellation",
    "Invoice": "ubl-invoice",
    "CreditNote": "ubl-creditnote",
}
GUIDELINE = "{*}ExchangedDocumentContext/{*}GuidelineSpecifiedDocumentContextParameter/{*}ID"


def schema_name(root: etree._Element) -> str:
    local = etree.QName(root).localname
    if local == "SCRDMCCBDACIOMessageStructure":  # Order-X: the profile is in the guideline id
        return "orderx-" + (root.findtext(GUIDELINE) or "").rsplit(":", 1)[-1].lower()
    return BY_ROOT[local]


def main(workspace: Path) -> None:
    inbox, acks = workspace / "inbox", workspace / "outbox" / "acks"
    archive = workspace / "var" / "archive"
    acks.mkdir(parents=True, exist_ok=True)
    archive.mkdir(parents=True, exist_ok=True)
    steps = dict.fromkeys(("read", "hash", "parse", "xsd", "report", "rename"), 0.0)
    counts = {"files": 0, "valid": 0}
    clock = time.perf_counter
    for entry in sorted(os.scandir(inbox), key=lambda e: e.name):
        if not entry.is_file() or entry.name.startswith("."):
            continue
        t0 = clock()
        data = Path(entry.path).read_bytes()
        t1 = clock()
        sha = hashlib.sha256(data).hexdigest()
        t2 = clock()
        errors: list[str] = []
        if entry.name.endswith(".csv"):
            rows = list(csv.reader(io.StringIO(data.decode("utf-8")), delimiter=";"))
            t3 = t4 = clock()
            errors = [] if rows else ["empty CSV"]
        else:
            root = etree.fromstring(data, PARSER)
            t3 = clock()
            schema = SCHEMAS.get(schema_name(root))
            if not schema.validate(root):
                errors = [f"{e.line}: {e.message}" for e in schema.error_log]
            t4 = clock()
        report = {
            "file": entry.name,
            "sha256": sha,
            "status": "IN_REJETE" if errors else "IN_INTEGRE",
            "errors": errors,
        }
        target, tmp = acks / f"{entry.name}.json", acks / f".{entry.name}.json.tmp"
        tmp.write_bytes(json.dumps(report, indent=2).encode("utf-8"))
        os.replace(tmp, target)
        t5 = clock()
        os.rename(entry.path, archive / entry.name)
        t6 = clock()
        for key, dt in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True):
            steps[key] += dt
        counts["files"] += 1
        counts["valid"] += not errors
    print(json.dumps({**counts, "steps": {k: round(v, 3) for k, v in steps.items()}}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
