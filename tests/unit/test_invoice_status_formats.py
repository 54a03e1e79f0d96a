"""Invoice lifecycle inputs: the CPPStatut XML flow and the operator statuses CSV (SPEC §2, §6).

* Our schema ``schemas/cppstatut/CPPStatut-chorus-batch.xsd`` compiles offline with lxml, its
  header says where its structure comes from, and it accepts what the generator writes and a
  hand-written flow shaped like the AIFE ones.
* ``formats.cppstatut.parse`` maps codes 01-12 to the invoice statuses (expected names are
  written out here, not read from the product), rejects codes 13-41 record by record with
  STATUS_UNKNOWN, writes the supplier id as SPEC §10 does, normalises the time stamp and joins
  the comments.
* ``formats.csv_ops.parse_statuses`` reads both separators, a BOM, codes and names, and rejects
  bad rows one by one; ``header_kind`` tells statuses from responses.
* Hypothesis: random bytes and mutated generator output, through safe parsing + XSD + parse(),
  end in ``DocumentRejected`` or success only; the same for random CSV text.

Until the registry names ``cppstatut``, the schema is loaded here straight from its file.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from chorus_batch.demo.generate import ISSUERS, SUPPLIERS
from chorus_batch.demo.lifecycle import cppstatut_document, statuses_csv
from chorus_batch.domain.model import InvoiceStatusUpdate
from chorus_batch.errors import CODES, DocumentRejected, Issue
from chorus_batch.formats import cppstatut, csv_ops, schemas, xml

XSD_RELATIVE = "cppstatut/CPPStatut-chorus-batch.xsd"
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# The AIFE meaning of each code (CPPStatutPivot V1.19 annotation) -> chorus-batch status name.
EXPECTED = {
    "01": "DEPOSEE",
    "02": "EN_COURS_ACHEMINEMENT",
    "03": "MISE_A_DISPOSITION",
    "04": "A_RECYCLER",
    "05": "REJETEE",
    "06": "SUSPENDUE",
    "07": "SERVICE_FAIT",
    "08": "MANDATEE",
    "09": "MISE_A_DISPOSITION_COMPTABLE",
    "10": "COMPTABILISEE",
    "11": "MISE_EN_PAIEMENT",
    "12": "COMPLETEE",
}
SUPPLIER = SUPPLIERS[0].siret
OTHER_SUPPLIER = SUPPLIERS[1].siret
AT = "2026-03-02T09:15:00+01:00"


@functools.cache
def schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(schemas.schemas_dir() / XSD_RELATIVE), parser))


def xsd_errors(root: etree._Element) -> list[str]:
    s = schema()
    return [] if s.validate(root) else [e.message for e in s.error_log]


def integrate(data: bytes) -> list[InvoiceStatusUpdate | DocumentRejected]:
    """What intake does with a CPPStatut file: safe parse, root check, XSD, then ``parse``."""
    root = xml.parse(data)
    if not cppstatut.matches(root):
        raise DocumentRejected.one("UNKNOWN_DOCUMENT", "not a CPPStatut document")
    cppstatut.check_supported(root)
    errors = xsd_errors(root)
    if errors:
        raise DocumentRejected([Issue("XSD_INVALID", e[:200]) for e in errors])
    return cppstatut.parse(root)


def codes_of(result: list[Any]) -> list[str | None]:
    return [r.code if isinstance(r, DocumentRejected) else None for r in result]


def record(
    *,
    code: str = "07",
    number: str = "FA-2026-0042",
    kind: str = "1",
    ident: str = SUPPLIER,
    stamp: str = AT,
    complement: str | None = "Service fait",
    comment: str | None = "Service fait constaté le 2 mars",
    invoice_date: str | None = "2026-02-20",
) -> str:
    """One hand-written ``CPPFactureStatutUnitaire`` (element order as the AIFE schema has it)."""
    optional = f"<ComplementStatut>{complement}</ComplementStatut>" if complement is not None else ""
    optional += f"<Commentaire>{comment}</Commentaire>" if comment is not None else ""
    day = f"<DateFacture>{invoice_date}</DateFacture>" if invoice_date is not None else ""
    return f"""
    <CPPFactureStatutUnitaire NumOrdre="1">
      <Fournisseur><TypeIdentifiant>{kind}</TypeIdentifiant><Identifiant>{ident}</Identifiant>
        <RaisonSociale>Papeteries Réunies du Centre SAS</RaisonSociale><CodePays>FR</CodePays></Fournisseur>
      <Debiteur><TypeIdentifiant>1</TypeIdentifiant><Identifiant>{ISSUERS[0].siret}</Identifiant>
        <Nom>Mairie de Saint-Aubin-lès-Tours</Nom><CodeService>SERV-ACHATS</CodeService></Debiteur>
      <DonneesStatut><IdStatut>{code}</IdStatut>{optional}<Horodatage>{stamp}</Horodatage>
        <IdFacture>{number}</IdFacture>{day}</DonneesStatut>
    </CPPFactureStatutUnitaire>"""


def flow(*records: str, branch: str = "CPPFactureStatuts") -> bytes:
    """A minimal CPPStatut flow of our own around ``records``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<CPPStatut>
  <Enveloppe><EnveloppeUnitaire NumOrdre="1">
    <Parametres>
      <ParametreIndiv NumOrdre="0001"><Code>DtPrd</Code><Valeurparametre>2026-03-02</Valeurparametre></ParametreIndiv>
      <ParametreIndiv NumOrdre="0002"><Code>IdFlx</Code><Valeurparametre>FLX-TEST-7</Valeurparametre></ParametreIndiv>
    </Parametres>
    <Partenaires><Recepteur><Id>ACME01</Id></Recepteur><Emetteur><Id>CPP01</Id><Libelle>Chorus Pro</Libelle></Emetteur></Partenaires>
  </EnveloppeUnitaire></Enveloppe>
  <{branch} compteur="{len(records)}">{"".join(records)}
  </{branch}>
</CPPStatut>
""".encode()  # noqa: E501 -- a CPPStatut envelope as the portal writes it


FLOW_STATUS = """
    <CPPFluxStatutUnitaire NumOrdre="1"><DonneesStatut><IdStatut>92</IdStatut>
      <Horodatage>2026-03-02T10:00:00</Horodatage><IdFlux>FLX-TEST-7</IdFlux></DonneesStatut></CPPFluxStatutUnitaire>"""


# --------------------------------------------------------------------------- the schema
def test_schema_compiles_offline_and_says_where_it_comes_from() -> None:
    assert isinstance(schema(), etree.XMLSchema)
    path = schemas.schemas_dir() / XSD_RELATIVE
    source = path.read_text(encoding="utf-8")
    header = source.split("<xs:schema", 1)[0]
    for words in (
        "chorus-batch",
        "CPPStatutPivot V1.19",
        "CPPFactureStatuts",
        "CPPFluxStatuts",
        "13-41",
        "STATUS_UNKNOWN",
    ):
        assert words in header, words
    tree = etree.parse(str(path))
    assert tree.getroot().get("targetNamespace") is None  # CPPStatut has no namespace
    roots = tree.getroot().findall("{http://www.w3.org/2001/XMLSchema}element")
    assert [e.get("name") for e in roots] == ["CPPStatut"]


def test_registry_entry_points_at_this_file_once_registered() -> None:
    if cppstatut.SCHEMA not in schemas.NAMES:
        pytest.skip("the schema registry does not name 'cppstatut' yet")
    root = etree.fromstring(cppstatut_document([("F-1", SUPPLIER, "01", AT)]))
    assert schemas.get(cppstatut.SCHEMA).validate(root)
    assert xml.validate(etree.fromstring(flow(record(code="42"))), cppstatut.SCHEMA)


def test_root_recognition() -> None:
    assert cppstatut.ROOT_TAGS == ("CPPStatut",)
    assert cppstatut.matches(etree.fromstring(b"<CPPStatut/>"))
    assert not cppstatut.matches(etree.fromstring(b"<x:CPPStatut xmlns:x='urn:x'/>"))
    assert not cppstatut.matches(etree.fromstring(b"<CPPFactureStatuts/>"))
    assert cppstatut.flow_id(etree.fromstring(flow(record()))) == "FLX-TEST-7"


# --------------------------------------------------------------------------- generator
@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_generated_flow_is_valid_and_maps_each_code(code: str) -> None:
    data = cppstatut_document([(f"FA-{code}", SUPPLIER, code, "2026-03-02T10:00:00")], flow_id=f"FLX-{code}")
    root = etree.fromstring(data)
    assert xsd_errors(root) == []
    (update,) = integrate(data)
    assert update == InvoiceStatusUpdate(
        syntax="cppstatut",
        invoice_number=f"FA-{code}",
        supplier_id=SUPPLIER,
        status=EXPECTED[code],
        at="2026-03-02T10:00:00",
        comment=update.comment,  # checked below
    )
    assert cppstatut.flow_id(root) == f"FLX-{code}"
    if code in ("04", "05", "06"):  # a rejection or a suspension carries its reason
        assert update.comment and " - " in update.comment
    else:
        assert update.comment


def test_generated_flow_with_many_records_keeps_their_order() -> None:
    updates = [
        (f"FA-{i:03d}", SUPPLIERS[i % len(SUPPLIERS)].siret, code, f"2026-03-{1 + i % 28:02d}T08:00:00Z")
        for i, code in enumerate(list(EXPECTED) * 3)
    ]
    data = cppstatut_document(updates)
    result = integrate(data)
    assert [(u.invoice_number, u.supplier_id, u.status) for u in result] == [  # type: ignore[union-attr]
        (n, s, EXPECTED[c]) for n, s, c, _ in updates
    ]
    assert etree.fromstring(data).find("CPPFactureStatuts").get("compteur") == str(len(updates))


def test_generator_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError):
        cppstatut_document([])
    with pytest.raises(ValueError):
        cppstatut_document([("F", SUPPLIER, "42", AT)])
    with pytest.raises(ValueError):
        cppstatut_document([("F", "123", "01", AT)])


def test_generator_escapes_text() -> None:
    (update,) = integrate(cppstatut_document([("A&B <1>", SUPPLIER, "11", "2026-03-02")]))
    assert isinstance(update, InvoiceStatusUpdate)
    assert update.invoice_number == "A&B <1>" and update.at == "2026-03-02T00:00:00"


# --------------------------------------------------------------------------- parse()
def test_hand_written_flow_parses() -> None:
    """A flow shaped like the AIFE / Pastell examples (status 07 with both comment fields)."""
    (update,) = integrate(flow(record(stamp="2026-03-02T16:51:55.000+01:00")))
    assert update == InvoiceStatusUpdate(
        syntax="cppstatut",
        invoice_number="FA-2026-0042",
        supplier_id=SUPPLIER,
        status="SERVICE_FAIT",
        at="2026-03-02T16:51:55+01:00",
        comment="Service fait constaté le 2 mars - Service fait",
    )


@pytest.mark.parametrize("code", ["13", "17", "37", "41"])
def test_codes_13_to_41_are_valid_but_unknown(code: str) -> None:
    root = etree.fromstring(flow(record(code=code)))
    assert xsd_errors(root) == []
    (rejected,) = cppstatut.parse(root)
    assert isinstance(rejected, DocumentRejected) and rejected.code == "STATUS_UNKNOWN"
    assert rejected.issues[0].xpath == "/CPPStatut/CPPFactureStatuts/CPPFactureStatutUnitaire/DonneesStatut/IdStatut"
    assert rejected.issues[0].line is not None and code in rejected.message


@pytest.mark.parametrize("code", ["00", "42", "90", "7a", "", "-1"])
def test_codes_outside_the_list_fail_the_schema(code: str) -> None:
    assert xsd_errors(etree.fromstring(flow(record(code=code))))


@pytest.mark.parametrize(
    ("written", "status"),
    [("7", "SERVICE_FAIT"), ("007", "SERVICE_FAIT"), (" 11 ", "MISE_EN_PAIEMENT"), ("+1", "DEPOSEE")],
)
def test_codes_are_integers_as_in_the_aife_schema(written: str, status: str) -> None:
    (update,) = integrate(flow(record(code=written)))
    assert isinstance(update, InvoiceStatusUpdate) and update.status == status


def test_one_unknown_record_does_not_hide_the_others() -> None:
    result = integrate(
        flow(record(code="11", number="A"), record(code="13", number="B"), record(code="05", number="C"))
    )
    assert codes_of(result) == [None, "STATUS_UNKNOWN", None]
    assert [r.invoice_number for r in result if isinstance(r, InvoiceStatusUpdate)] == ["A", "C"]
    assert "'B'" in result[1].message  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "ident", "expected"),
    [
        ("1", SUPPLIER, SUPPLIER),
        ("1", "482 153 673 00249", "48215367300249"),
        ("01", SUPPLIER, SUPPLIER),
        ("2", "fr38482153673", "VAT:FR38482153673"),
        ("3", "US 12-3456789", "HORS_UE:US12-3456789"),
        ("4", "1234567.001", "RIDET:1234567.001"),
        ("5", "A12345", "TAHITI:A12345"),
        ("6", "EN-COURS-1", "EN_COURS_IMMATRICULATION:EN-COURS-1"),
        ("7", "DUPONT-JEAN", "PARTICULIER:DUPONT-JEAN"),
        ("2", "", None),
    ],
)
def test_supplier_id_follows_spec_10(kind: str, ident: str, expected: str | None) -> None:
    (update,) = integrate(flow(record(kind=kind, ident=ident)))
    assert isinstance(update, InvoiceStatusUpdate) and update.supplier_id == expected


@pytest.mark.parametrize("ident", ["482153673", "4821536730024X", "482153673002491"])
def test_a_siret_that_is_not_14_digits_is_rejected(ident: str) -> None:
    (rejected,) = integrate(flow(record(kind="1", ident=ident)))
    assert isinstance(rejected, DocumentRejected) and rejected.code == "SIRET_INVALID"
    assert rejected.issues[0].xpath.endswith("Fournisseur/Identifiant")  # type: ignore[union-attr]


def test_the_siret_check_digit_is_left_to_the_rules() -> None:
    """Chorus Pro's qualification platform sends SIRETs such as 00000000169959 (bad check digit)."""
    (update,) = integrate(flow(record(ident="00000000169959")))
    assert isinstance(update, InvoiceStatusUpdate) and update.supplier_id == "00000000169959"


@pytest.mark.parametrize(
    ("stamp", "at"),
    [
        ("2026-03-02T10:00:00", "2026-03-02T10:00:00"),
        ("2026-03-02T10:00:00Z", "2026-03-02T10:00:00+00:00"),
        ("2026-03-02T10:00:00.250-05:00", "2026-03-02T10:00:00.250000-05:00"),
    ],
)
def test_time_stamp_is_normalised(stamp: str, at: str) -> None:
    (update,) = integrate(flow(record(stamp=stamp)))
    assert isinstance(update, InvoiceStatusUpdate) and update.at == at


@pytest.mark.parametrize("stamp", ["10000-01-01T00:00:00", "2026-03-02T24:00:00"])
def test_time_stamp_python_cannot_hold_is_date_invalid(stamp: str) -> None:
    root = etree.fromstring(flow(record(stamp=stamp)))
    assert xsd_errors(root) == []  # valid xs:dateTime values
    (rejected,) = cppstatut.parse(root)
    assert isinstance(rejected, DocumentRejected) and rejected.code == "DATE_INVALID"


@pytest.mark.parametrize("stamp", ["2026-02-30T10:00:00", "2026-03-02", "02/03/2026 10:00"])
def test_bad_time_stamp_fails_the_schema(stamp: str) -> None:
    assert xsd_errors(etree.fromstring(flow(record(stamp=stamp))))


def test_comments() -> None:
    def comment_of(**kw: Any) -> str | None:
        (update,) = integrate(flow(record(**kw)))
        return update.comment  # type: ignore[union-attr]

    assert comment_of(complement="Suspendue", comment="Pièce manquante") == "Pièce manquante - Suspendue"
    assert comment_of(complement="Service fait", comment="Service fait") == "Service fait"
    assert comment_of(complement=None, comment=" Vu ") == "Vu"
    assert comment_of(complement="Payée", comment=None) == "Payée"
    assert comment_of(complement=None, comment=None) is None


@pytest.mark.parametrize("number", ["", "   "])
def test_a_record_without_invoice_number_fails_the_schema(number: str) -> None:
    root = etree.fromstring(flow(record(number=number)))
    assert xsd_errors(root)  # tightened on purpose: see the schema header
    (rejected,) = cppstatut.parse(root)  # and parse() alone still refuses it
    assert isinstance(rejected, DocumentRejected) and rejected.code == "XSD_INVALID"


def test_flow_statuses_are_not_supported() -> None:
    data = flow(FLOW_STATUS, branch="CPPFluxStatuts")
    root = xml.parse(data)
    assert cppstatut.matches(root)
    with pytest.raises(DocumentRejected) as caught:
        cppstatut.check_supported(root)
    assert caught.value.code == "DOCUMENT_NOT_SUPPORTED"
    assert xsd_errors(root)  # not covered by our schema either
    with pytest.raises(DocumentRejected):
        cppstatut.parse(root)


def test_a_document_without_records_is_rejected_whole() -> None:
    with pytest.raises(DocumentRejected) as caught:
        cppstatut.parse(etree.fromstring(b"<CPPStatut><Enveloppe/></CPPStatut>"))
    assert caught.value.code == "XSD_INVALID"


def test_dtd_is_refused_before_parsing() -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE CPPStatut [<!ENTITY x "y">]>' + flow(record()).split(b"?>", 1)[1]
    with pytest.raises(DocumentRejected) as caught:
        integrate(data)
    assert caught.value.code == "UNSAFE_XML"


# --------------------------------------------------------------------------- statuses CSV
def test_header_kind() -> None:
    assert csv_ops.header_kind(b"invoice_number;supplier_id;status;date\nF;1;01;\n") == "invoice_status"
    assert csv_ops.header_kind(b"\xef\xbb\xbfInvoice_Number,Status\n") == "invoice_status"
    assert csv_ops.header_kind(b'"invoice_number";"status"\n') == "invoice_status"
    assert csv_ops.header_kind(b"engagement_number;action;reason\n") == "order_response"
    assert csv_ops.header_kind(b"invoice_number;date\n") is None
    assert csv_ops.header_kind(b"") is None


def _header_kind_read_whole(data: bytes) -> str | None:
    """What ``header_kind`` says, by the csv module alone (no look at the bytes first)."""
    try:
        text, _codec = csv_ops.decode(data[:4096], head=True)
    except DocumentRejected:
        return None
    return None if "\x00" in text else csv_ops._kind_of_header(text)


_WORDS = [*csv_ops.RESPONSE_COLUMNS, *csv_ops.STATUS_COLUMNS, "reason", "date", "<?xml", "Order-2"]


@st.composite
def _named_cells(draw: st.DrawFn) -> str:
    """A column name in random case, with quotes or a space put in at its ends or inside."""
    chars = [c.upper() if draw(st.booleans()) else c for c in draw(st.sampled_from(_WORDS))]
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from([0, len(chars)]) | st.integers(0, len(chars)))
        chars.insert(where, draw(st.sampled_from(['"', '""', " "])))
    return "".join(chars)


_ODD = '\u00e9\u0130\u0131\u212a\u017f"; ,\t\r\nab_'  # é, dotted I, dotless i, Kelvin sign, long s


@st.composite
def _heads(draw: st.DrawFn) -> bytes:
    """A first row of cells, then anything, in one of the encodings an operator CSV may have."""
    cells = draw(st.lists(_named_cells() | st.text(alphabet=_ODD, max_size=6), min_size=1, max_size=5))
    end = draw(st.sampled_from(["\n", "\r\n", ""]))
    text = draw(st.sampled_from([";", ",", "\t"])).join(cells) + end + draw(st.text(alphabet=_ODD, max_size=20))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    return text.encode(encoding, errors="replace")


@settings(max_examples=600, deadline=None)
@given(_heads())
@example(b'"engagement_"number;action\n')  # the csv module reads engagement_number
@example('"Invoice_"Number,"Status",statut\r\n'.encode("utf-16"))
def test_header_kind_looks_at_the_bytes_first_and_says_what_the_csv_reader_says(head: bytes) -> None:
    assert csv_ops.header_kind(head) == _header_kind_read_whole(head)


def test_an_xml_head_is_no_csv_without_a_csv_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    head = b'<?xml version="1.0"?><Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2">'
    monkeypatch.setattr(csv_ops, "_first_record", lambda *_: pytest.fail("the CSV reader was used"))
    monkeypatch.setattr(csv_ops, "decode", lambda *_, **__: pytest.fail("the head was decoded"))
    assert csv_ops.header_kind(head) is None


@pytest.mark.parametrize("sep", [";", ","])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_both_separators_and_a_bom(sep: str, bom: bytes) -> None:
    rows = [("FA-1", SUPPLIER, "01", "2026-03-01"), ("FA-2", OTHER_SUPPLIER, "MISE_EN_PAIEMENT", "2026-03-02T10:00:00")]
    data = bom + statuses_csv(rows, sep=sep)
    assert csv_ops.header_kind(data) == "invoice_status"
    assert csv_ops.parse_statuses(data) == [
        InvoiceStatusUpdate("csv", "FA-1", SUPPLIER, "DEPOSEE", "2026-03-01"),
        InvoiceStatusUpdate("csv", "FA-2", OTHER_SUPPLIER, "MISE_EN_PAIEMENT", "2026-03-02T10:00:00"),
    ]


@pytest.mark.parametrize(
    ("written", "status"),
    [(code, name) for code, name in EXPECTED.items()]
    + [(str(int(code)), name) for code, name in EXPECTED.items()]
    + [
        ("mise_en_paiement", "MISE_EN_PAIEMENT"),
        ("Mise en paiement", "MISE_EN_PAIEMENT"),
        ("mise-a-disposition", "MISE_A_DISPOSITION"),
        ("Mise à disposition comptable", "MISE_A_DISPOSITION_COMPTABLE"),
        ("Rejetée", "REJETEE"),
        ("  service fait ", "SERVICE_FAIT"),
        ("Complétée", "COMPLETEE"),
    ],
)
def test_status_as_code_or_name(written: str, status: str) -> None:
    (update,) = csv_ops.parse_statuses(statuses_csv([("FA-1", SUPPLIER, written, "")]))
    assert isinstance(update, InvoiceStatusUpdate) and update.status == status and update.at is None


def test_bad_rows_are_rejected_one_by_one() -> None:
    data = statuses_csv(
        [
            ("FA-1", SUPPLIER, "11", "05/03/2026"),
            ("FA-2", SUPPLIER, "13", ""),
            ("FA-3", SUPPLIER, "0", ""),
            ("FA-4", SUPPLIER, "PAYEE", ""),
            ("", SUPPLIER, "01", ""),
            ("FA-6", SUPPLIER, "01", "31/02/2026"),
            ("FA-7", SUPPLIER, "01", "2026-13-01"),
            ("FA-8", SUPPLIER, "01", "yesterday"),
            ("FA-9", SUPPLIER, "", ""),
            ("FA-10", "", "comptabilisée", "2026-03-05 10:30"),
        ]
    )
    result = csv_ops.parse_statuses(data)
    assert codes_of(result) == [
        None,
        "STATUS_UNKNOWN",
        "STATUS_UNKNOWN",
        "STATUS_UNKNOWN",
        "CSV_INVALID",
        "DATE_INVALID",
        "DATE_INVALID",
        "DATE_INVALID",
        "STATUS_UNKNOWN",
        None,
    ]
    assert [r.issues[0].line for r in result if isinstance(r, DocumentRejected)] == [3, 4, 5, 6, 7, 8, 9, 10]
    assert result[0] == InvoiceStatusUpdate("csv", "FA-1", SUPPLIER, "MISE_EN_PAIEMENT", "2026-03-05")
    assert result[-1] == InvoiceStatusUpdate("csv", "FA-10", None, "COMPTABILISEE", "2026-03-05T10:30:00")


@pytest.mark.parametrize(
    ("written", "iso"),
    [
        ("2026-03-05", "2026-03-05"),
        ("5/3/2026", "2026-03-05"),
        ("05/03/2026", "2026-03-05"),
        ("2026-03-05T10:30:00Z", "2026-03-05T10:30:00+00:00"),
        ("2026-03-05T10:30:00+01:00", "2026-03-05T10:30:00+01:00"),
        ("2026-03-05 10:30", "2026-03-05T10:30:00"),
        ("2024-02-29", "2024-02-29"),
    ],
)
def test_dates_are_normalised(written: str, iso: str) -> None:
    (update,) = csv_ops.parse_statuses(statuses_csv([("FA-1", SUPPLIER, "01", written)]))
    assert isinstance(update, InvoiceStatusUpdate) and update.at == iso


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (SUPPLIER, SUPPLIER),
        ("482 153 673 00249", "48215367300249"),
        ("0009:48215367300249", "48215367300249"),
        ("siret:48215367300249", "48215367300249"),
        ("VAT:FR38482153673", "VAT:FR38482153673"),
        ("", None),
    ],
)
def test_supplier_id_column(written: str, expected: str | None) -> None:
    (update,) = csv_ops.parse_statuses(statuses_csv([("FA-1", written, "01", "")]))
    assert isinstance(update, InvoiceStatusUpdate) and update.supplier_id == expected


def test_columns_in_any_order_with_a_comment_and_quoted_cells() -> None:
    data = 'Status;Date;Invoice_Number;Comment\n05;2026-03-01;"FA;1";"Montant erroné"\n;;;\n'.encode()
    assert csv_ops.parse_statuses(data) == [
        InvoiceStatusUpdate("csv", "FA;1", None, "REJETEE", "2026-03-01", "Montant erroné")
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"invoice_number;supplier_id;date\nFA-1;1;2026-03-01\n",  # no status column
        b"invoice_number;status\n",  # no row
        b"invoice_number;status\n;;\n",  # only blank rows
        b"invoice_number;status\nFA-\x81\x8d;01\n",  # neither UTF-8 nor Windows-1252
        b"",
    ],
)
def test_unusable_files_are_rejected_whole(data: bytes) -> None:
    with pytest.raises(DocumentRejected) as caught:
        csv_ops.parse_statuses(data)
    assert caught.value.code == "CSV_INVALID"


def test_the_responses_reader_is_unchanged() -> None:
    data = b"engagement_number;action;reason\nEJ-1;accept;\nEJ-2;refuse;trop cher\n"
    assert csv_ops.header_kind(data) == "order_response"
    docs = csv_ops.parse_responses(data)
    assert [(d.order_number, d.code) for d in docs] == [("EJ-1", "AP"), ("EJ-2", "RE")]  # type: ignore[union-attr]


# --------------------------------------------------------------------------- properties
def _only_rejections_or_success(run: Any, data: Any) -> None:
    try:
        result = run(data)
    except DocumentRejected as exc:
        assert exc.issues and all(i.code in CODES for i in exc.issues)
        return
    assert result
    for item in result:
        assert isinstance(item, (InvoiceStatusUpdate, DocumentRejected))
        if isinstance(item, InvoiceStatusUpdate):
            assert item.status in EXPECTED.values() and item.invoice_number.strip()
        else:
            assert all(i.code in CODES for i in item.issues)


_BASE = cppstatut_document(
    [
        ("FA-1", SUPPLIER, "03", "2026-03-01T10:00:00"),
        ("FA-2", OTHER_SUPPLIER, "13", "2026-03-02"),
        ("FA-3", SUPPLIER, "11", AT),
    ]
)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    _only_rejections_or_success(integrate, data)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "insert", "delete", "digit"]),
            st.integers(0, len(_BASE) - 1),
            st.binary(min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_mutated_generator_bytes(edits: list[tuple[str, int, bytes]]) -> None:
    data = bytearray(_BASE)
    for op, pos, payload in edits:
        pos = min(pos, max(len(data) - 1, 0))
        if op == "flip" and data:
            data[pos] ^= payload[0] or 1
        elif op == "cut":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = payload
        elif op == "delete":
            del data[pos : pos + len(payload)]
        elif op == "digit" and data and 48 <= data[pos] <= 57:
            data[pos] = 48 + payload[0] % 10
    _only_rejections_or_success(integrate, bytes(data))


_XML_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")), max_size=40)


@FUZZ
@given(st.data())
def test_mutated_generator_texts(data: st.DataObject) -> None:
    """Replace the text of random elements (codes, ids, dates...) or drop elements: through the
    XSD, and straight into parse() without it (parse() must be safe on any CPPStatut tree)."""
    root = etree.fromstring(_BASE)
    elements = [e for e in root.iter() if e is not root]
    for _ in range(data.draw(st.integers(1, 4))):
        target = data.draw(st.sampled_from(elements))
        if data.draw(st.booleans()):
            target.text = data.draw(
                _XML_TEXT | st.sampled_from(["00", "12", "13", "41", "42", "7", "", " ", "2026-02-30", "1", "2"])
            )
        elif target.getparent() is not None:
            target.getparent().remove(target)
            elements = [e for e in root.iter() if e is not root]
            if not elements:
                break
    mutated = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    _only_rejections_or_success(integrate, mutated)
    _only_rejections_or_success(cppstatut.parse, etree.fromstring(mutated))


@FUZZ
@given(
    st.text(max_size=400), st.sampled_from(["invoice_number;supplier_id;status;date\n", "invoice_number,status\n", ""])
)
def test_random_csv(body: str, header: str) -> None:
    _only_rejections_or_success(csv_ops.parse_statuses, (header + body).encode("utf-8", "surrogatepass"))


def test_random_rows_of_the_generator() -> None:
    rng = random.Random(7)
    words = [
        "01",
        "7",
        "12",
        "13",
        "MANDATEE",
        "payée",
        "",
        "2026-03-01",
        "31/12/2025",
        "x",
        SUPPLIER,
        "FA-1",
        ";",
        '"',
    ]
    for _ in range(300):
        rows = [tuple(rng.choice(words) for _ in range(4)) for _ in range(rng.randint(1, 5))]
        _only_rejections_or_success(csv_ops.parse_statuses, statuses_csv(rows, sep=rng.choice([";", ","])))
