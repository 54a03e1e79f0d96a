"""Party identifiers in one spelling (``identifiers.SCHEMES``), and what an invoice must fit to
count toward its engagement (``matching.match``: currency, seller, buyer)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from chorus_batch.domain import matching
from chorus_batch.domain.identifiers import SCHEMES, canonical, check_party, party_key, same_identity, siren_key
from chorus_batch.domain.model import Party, PartyId
from chorus_batch.formats.common import serving
from chorus_batch.store import codec

SIRET = "21370214500011"
GLN = "3014531200003"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (f"GLN:{GLN}", f"0088:{GLN}"),
        (f"gln:{GLN}", f"0088:{GLN}"),
        (f"EAN:{GLN}", f"0088:{GLN}"),
        (f"0088:{GLN}", f"0088:{GLN}"),
        (f"0009:{SIRET}", SIRET),
        (f"SIRET:{SIRET}", SIRET),
        (f"FR:SIRET:{SIRET}", SIRET),
        (f"0002:{SIRET}", SIRET),  # 14 digits under 0002: a SIRET
        ("SIREN:213702145", "0002:213702145"),
        ("FR:SIRENE:213 702 145", "0002:213702145"),
        ("DUNS:150483782", "0060:150483782"),
        ("SE:ORGNR:5560360793", "0007:5560360793"),
        ("9957:fr38482153673", "VAT:FR38482153673"),
        ("FR:VAT:FR38482153673", "VAT:FR38482153673"),
        ("VA:FR38482153673", "VAT:FR38482153673"),
        (SIRET, SIRET),
        ("0184:12345678", "0184:12345678"),  # a scheme the table does not know: as it was
        ("urn:example:party:42", "urn:example:party:42"),
    ],
)
def test_canonical_spelling(key: str, expected: str) -> None:
    assert canonical(key) == expected
    assert canonical(expected) == expected  # once is enough


def test_every_spelling_maps_to_a_spelling_that_maps_to_itself() -> None:
    for alias, scheme in SCHEMES.items():
        assert SCHEMES[scheme] == scheme, alias


@pytest.mark.parametrize("scheme", ["0088", "GLN", "gln", " GLN "])
def test_party_key_is_canonical_whatever_the_scheme_written(scheme: str) -> None:
    party = Party("Mairie", (PartyId(scheme, GLN, "id@/x"),))
    assert party_key(party) == f"0088:{GLN}"


def test_party_key_reads_a_siret_under_any_spelling() -> None:
    assert party_key(Party(None, (PartyId("SIRET", SIRET, "id@/x"),))) == SIRET
    assert party_key(Party(None, (PartyId("FR:SIRET", SIRET, "id@/x"),))) == SIRET


def test_a_party_keeps_its_key_once_found_and_nothing_else_sees_it() -> None:
    """``party_key`` keeps what it found on the party (asked for several times a document): the
    same key again, a party made from it by ``replace`` finds its own, and the party's equality,
    hashing and stored JSON are those of its fields."""
    party = Party("Mairie", (PartyId("GLN", GLN), PartyId("0009", SIRET)))
    assert party_key(party) == SIRET
    object.__setattr__(party, "ids", (PartyId("GLN", GLN),))  # only the kept key can say SIRET now
    assert party_key(party) == SIRET
    other = replace(party, ids=(PartyId("GLN", GLN),))
    assert party_key(other) == f"0088:{GLN}"
    twin = Party("Mairie", (PartyId("GLN", GLN),))
    assert party == twin and hash(party) == hash(twin)
    assert json.loads(codec.party_json(party)) == json.loads(codec.party_json(twin))
    assert "_chorus" not in codec.party_json(party)


def test_a_party_keeps_its_json_once_made() -> None:
    """``party_json`` is made once a party (a party comes back in document after document): the
    same text again, without hashing the party; a party made by ``replace`` gets its own."""
    party = Party("Mairie", (PartyId("0009", SIRET),))
    made = codec.party_json(party)
    object.__setattr__(party, "name", "Autre")  # only the kept text can still say Mairie
    assert codec.party_json(party) == made
    assert json.loads(codec.party_json(replace(party)))["name"] == "Autre"


def test_a_party_keeps_its_checks_by_role() -> None:
    """``check_party`` keeps each role's issues on the party (the same parties come in file after
    file): the same issues again, even once nothing could find them any more, and a party made
    by ``replace`` is checked on its own."""
    party = Party("Mairie", (PartyId("0009", "12345678901234", "id@/x"),))
    [issue] = check_party(party, "issuer")
    assert issue.code == "SIRET_INVALID" and "issuer" in issue.message
    object.__setattr__(party, "ids", ())  # only what was kept can say it now
    assert check_party(party, "issuer") == [issue]
    assert [i.code for i in check_party(party, "supplier")] == []  # another role: checked now
    assert check_party(replace(party, ids=(PartyId("0009", SIRET),)), "issuer") == []


def test_an_issuer_serving_a_code_is_the_same_party_for_the_same_code() -> None:
    issuer = Party("Mairie", (PartyId("0009", SIRET),))
    first = serving(issuer, "SERVICE-A")
    assert first.service == "SERVICE-A" and first == replace(issuer, service="SERVICE-A")
    assert serving(issuer, "SERVICE-A") is first  # what it keeps (key, checks) serves again
    assert serving(issuer, "SERVICE-B").service == "SERVICE-B"
    assert serving(issuer, None) is issuer


def test_same_identity() -> None:
    assert same_identity(f"GLN:{GLN}", f"0088:{GLN}")
    assert same_identity(SIRET, "0002:213702145")  # SIREN prefix of the SIRET
    assert same_identity("VAT:FR29213702145", SIRET)  # French VAT: through the SIREN
    assert not same_identity(f"0088:{GLN}", SIRET)
    assert same_identity(SIRET, "21370214500029")  # two establishments of one legal identity (SIREN)
    assert not same_identity(SIRET, "48215367300249")


def test_a_nine_digit_duns_is_no_siren() -> None:
    assert siren_key("0060:213702145") is None
    assert siren_key("DUNS:213702145") is None
    assert not same_identity("0060:213702145", SIRET)


# -- what an invoice must fit -----------------------------------------------------------------------

ISSUER, SUPPLIER = SIRET, "48215367300249"
ENGAGEMENT = matching.Candidate(7, ISSUER, SUPPLIER, "EUR")


def _party(*ids: tuple[str, str]) -> Party:
    return Party(None, tuple(PartyId(s, v, "id@/x") for s, v in ids))


def _match(seller: Party | None, buyer: Party | None, currency: str | None = "EUR") -> matching.Match:
    return matching.match("EJ-1", seller, buyer, currency, [ENGAGEMENT])


def test_an_invoice_that_fits_counts() -> None:
    found = _match(_party(("0009", SUPPLIER)), _party(("0009", ISSUER)))
    assert (found.engagement_id, found.anomalies, found.excluded) == (7, (), None)


@pytest.mark.parametrize(
    ("seller", "buyer", "currency", "excluded"),
    [
        (_party(("0009", SUPPLIER)), _party(("0009", ISSUER)), "USD", "CURRENCY_MISMATCH"),
        (_party(("0009", SUPPLIER)), _party(("0009", ISSUER)), None, "CURRENCY_MISMATCH"),
        (_party(("0009", "79046152900196")), _party(("0009", ISSUER)), "EUR", "SELLER_MISMATCH"),
        (None, _party(("0009", ISSUER)), "EUR", "SELLER_MISMATCH"),
        (_party(("0009", SUPPLIER)), _party(("0009", "22360001600172")), "EUR", "BUYER_MISMATCH"),
        (_party(("0009", SUPPLIER)), None, "EUR", "BUYER_MISMATCH"),
        (_party(("0009", "79046152900196")), _party(("0009", "22360001600172")), "USD", "CURRENCY_MISMATCH"),
    ],
)
def test_an_invoice_that_does_not_fit_is_matched_flagged_and_excluded(
    seller: Party | None, buyer: Party | None, currency: str | None, excluded: str
) -> None:
    found = _match(seller, buyer, currency)
    assert found.engagement_id == 7  # kept on its engagement
    assert excluded in {a.code for a in found.anomalies}
    assert found.excluded == excluded


def test_an_engagement_without_currency_counts_invoices_without_one() -> None:
    none = matching.Candidate(8, ISSUER, SUPPLIER, None)
    found = matching.match("EJ-1", _party(("0009", SUPPLIER)), _party(("0009", ISSUER)), None, [none])
    assert found.excluded is None
    found = matching.match("EJ-1", _party(("0009", SUPPLIER)), _party(("0009", ISSUER)), "EUR", [none])
    assert found.excluded == "CURRENCY_MISMATCH"


def test_an_unmatched_invoice_has_no_exclusion() -> None:
    assert matching.match("EJ-1", None, None, "EUR", []).excluded is None


def test_parties_match_across_spellings_and_from_stored_identities() -> None:
    seller = _party(("GLN", GLN))
    buyer = _party(("VAT", "FR29213702145"))  # the issuer's SIREN behind a French VAT number
    engagement = matching.Candidate(9, ISSUER, f"0088:{GLN}", "EUR")
    found = matching.match("EJ-1", seller, buyer, "EUR", [engagement])
    assert found.excluded is None, found.anomalies
    # as stored on the invoice by an earlier version, then read back for re-matching
    stored = {"seller": [f"GLN:{GLN}"], "buyer": ["VAT:FR29213702145", "SIREN:213702145"]}
    again = matching.match(
        "EJ-1",
        matching.known_party(stored["seller"]),
        matching.known_party(stored["buyer"]),
        "EUR",
        [engagement],
    )
    assert again.excluded is None, again.anomalies


def test_a_number_failing_its_scheme_check_is_a_warning() -> None:
    from chorus_batch.domain.identifiers import check_party

    good = Party("A", (PartyId("GLN", "5790000435968", "id@x"),))
    bad = Party("A", (PartyId("0088", "5790000435969", "id@x"), PartyId("0192", "123456789", "id@y")))
    assert check_party(good, "issuer") == []
    found = check_party(bad, "issuer")
    assert [(i.code, i.severity) for i in found] == [("PARTY_ID_INVALID", "warning")] * 2
