"""Every error chorus-batch reports, with its stable UPPER_SNAKE code.

Two shapes, one catalogue:

* ``Issue`` is data: one finding about a document (code, message, line, xpath). Parsers and
  rules collect issues; the integration report lists them.
* ``ChorusError`` is control flow. Its subclasses carry a ``code`` and, for document problems,
  the list of issues that made the document unacceptable::

    ChorusError
      ├─ DocumentRejected     a file or document cannot be integrated (carries issues)
      ├─ ConfigError          bad configuration file or option (exit 2)
      ├─ NotFound             no such engagement / file (exit 1 at the CLI)
      ├─ WorkspaceError       the workspace cannot be used (exit 2)
      │    └─ StoreError      its store is missing, another workspace's, busy, unreachable, damaged... (exit 2)
      └─ WorkspaceLocked      another run or watch holds the workspace (exit 3)

``CODES`` maps every code to its meaning and the fix an operator can apply; ``docs/errors.md``
is generated from it and a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class ErrorCode:
    meaning: str
    fix: str


CODES: dict[str, ErrorCode] = {
    # -- the file itself
    "FILE_EMPTY": ErrorCode(
        "The file has no content.", "Send the document again; the sender's transfer probably failed."
    ),
    "FILE_TOO_LARGE": ErrorCode(
        "The file is larger than `max_file_size` allows.",
        "Split the flow, or raise `max_file_size` in chorus-batch.toml if the file is legitimate.",
    ),
    "FILE_UNREADABLE": ErrorCode(
        "The file could not be read (its permissions do not let chorus-batch's user read it, or the disk failed). "
        "It is moved to `var/rejected/` like any rejected file.",
        "Give chorus-batch's user read access to the file (`chmod`, `chown`, or have the sender's account write "
        "files readable by the group), then `files retry NAME`.",
    ),
    "NOT_A_REGULAR_FILE": ErrorCode(
        "The entry dropped in the inbox is not a regular file: a symbolic link (never followed, whatever it "
        "points at), a named pipe, a socket or a device. It is never opened; it is moved to `var/rejected/` as "
        "it is (a link stays a link).",
        "Drop a copy of the document itself (`cp -L` copies the file a link points at), then remove the entry "
        "from `var/rejected/`.",
    ),
    "UNKNOWN_DOCUMENT": ErrorCode(
        "The content is not a document chorus-batch knows (binary data, unknown root element or namespace, "
        "unsupported type code).",
        "Check that the sender produces one of the formats listed in docs/formats.md.",
    ),
    "DOCUMENT_NOT_SUPPORTED": ErrorCode(
        "The document was recognised, but this version of chorus-batch does not integrate that kind yet.",
        "Keep the file; retry it with `files retry` after upgrading.",
    ),
    "DOCUMENT_AMBIGUOUS": ErrorCode(
        "Two document syntaxes chorus-batch knows both claim the content; chorus-batch does not guess which "
        "one is meant.",
        "Send the document in a form only one syntax claims (see docs/formats.md); if the sender's format is "
        "standard, report it: chorus-batch must recognise it one way only.",
    ),
    "DUPLICATE_DOCUMENT": ErrorCode(
        "The same bytes were already integrated (same SHA-256), or the engagement already holds exactly this "
        "order. Nothing was applied again.",
        "Nothing to do; the first copy is in the store. Check the sender's resend logic if this repeats.",
    ),
    "PDF_WITHOUT_XML": ErrorCode(
        "A PDF without an embedded XML invoice or order (a plain PDF, or a PDF/A-3 whose attachments hold no "
        "factur-x.xml, zugferd-invoice.xml, xrechnung.xml, order-x.xml or other XML file).",
        "Send the Factur-X / Order-X PDF with its XML embedded, or the XML itself.",
    ),
    "PDF_AMBIGUOUS_XML": ErrorCode(
        "A PDF embeds two or more XML documents that could each be the invoice or the order "
        "(e.g. factur-x.xml and xrechnung.xml); chorus-batch does not guess which one counts.",
        "Send a PDF with exactly one embedded invoice or order XML, or send the XML itself.",
    ),
    "PDF_UNREADABLE": ErrorCode(
        "The file starts like a PDF but cannot be read: damaged, truncated or encrypted (PDF/A-3 forbids encryption).",
        "Ask the sender for an intact, unencrypted PDF/A-3 (or the XML alone).",
    ),
    # -- bundles (.zip, .tar, .tar.gz, .gz): the whole bundle is rejected, none of its members is integrated
    "ARCHIVE_UNSAFE_PATH": ErrorCode(
        "A bundle member's name could point outside a folder: absolute path, `..` component, drive letter "
        "(`C:`), backslash trick (`..\\x`), NUL or control character. Nothing was extracted.",
        "Ask the sender to rebuild the archive with plain relative names (e.g. `orders/EJ-1.xml`).",
    ),
    "ARCHIVE_LINK": ErrorCode(
        "A bundle member is a symbolic or hard link, a device or a fifo; bundles may only hold regular files.",
        "Ask the sender to archive the documents themselves, not links to them.",
    ),
    "ARCHIVE_TOO_LARGE": ErrorCode(
        "A bundle exceeds a safety limit (possible zip bomb): too many members (1000), a member larger than "
        "`max_file_size`, more than 256 MiB in all, or a compression ratio above 200. It was not unpacked further.",
        "Split the bundle into smaller ones, or send the documents one by one.",
    ),
    "ARCHIVE_NESTED": ErrorCode(
        "A bundle holds an archive that holds another archive: only one level of nesting is read.",
        "Flatten the bundle: put the documents (or one level of archives) directly in it.",
    ),
    "ARCHIVE_MALFORMED": ErrorCode(
        "A bundle is corrupt or truncated (bad header, CRC error), has an encrypted member, a compression "
        "other than stored or deflate, or a member type other than file or folder.",
        "Ask the sender for an intact, unencrypted .zip or .tar.gz (deflate / gzip compression).",
    ),
    # -- XML safety and syntax
    "XML_MALFORMED": ErrorCode(
        "The file is not well-formed XML (or is truncated).",
        "Fix the XML at the sender; the line number points to the first fault.",
    ),
    "XML_ENCODING": ErrorCode(
        "The bytes do not match the encoding the XML declares (or UTF-8 when it declares none).",
        "Declare the real encoding in the XML declaration, or send UTF-8.",
    ),
    "UNSAFE_XML": ErrorCode(
        "The XML contains a DTD or entity declarations (possible XXE or entity-expansion attack). "
        "Its content is not read and never echoed.",
        "Send the document without a DOCTYPE; standard order and invoice formats never need one.",
    ),
    "XSD_INVALID": ErrorCode(
        "The document does not conform to its official XML schema.",
        "Fix the element named by the XPath at the sender; every violation is listed.",
    ),
    # -- business rules
    "SIRET_INVALID": ErrorCode(
        "A SIRET (scheme 0009, or 14 digits under 0002) fails its check digit or format.",
        "Correct the SIRET at the sender (14 digits, Luhn key; La Poste numbers follow their own rule).",
    ),
    "SIREN_INVALID": ErrorCode(
        "Warning: a SIREN (9 digits under scheme 0002) fails its check digit. The document is still integrated.",
        "Correct the SIREN at the sender.",
    ),
    "VAT_INVALID": ErrorCode(
        "Warning: a French VAT number (FR + key + SIREN) is not valid. The document is still integrated.",
        "Correct the VAT number at the sender.",
    ),
    "PARTY_ID_INVALID": ErrorCode(
        "Warning: a party identifier fails the check of its scheme (GLN 0088: GS1 check digit; 0007 Swedish, "
        "0151 Australian, 0192 Norwegian and 0208 Belgian numbers: their own checks, as Peppol applies them). "
        "The document is still integrated; an order response names that identifier without its scheme and "
        "never as the electronic address.",
        "Correct the identifier at the sender.",
    ),
    "PARTY_MISSING": ErrorCode(
        "The buyer (issuer) or the seller (supplier) has no identifier, so the engagement cannot be keyed.",
        "Give each party an identifier (SIRET, SIREN, GLN, VAT...).",
    ),
    "ENGAGEMENT_NUMBER_INVALID": ErrorCode(
        "The engagement number is empty, a placeholder (NA, n/a, -) or longer than 50 characters after trimming.",
        "Send the real engagement number (1 to 50 characters).",
    ),
    "INVOICE_NUMBER_INVALID": ErrorCode(
        "The invoice or credit note number (BT-1) is empty or longer than 100 characters after trimming.",
        "Send the invoice with its real number (1 to 100 characters).",
    ),
    "CURRENCY_INVALID": ErrorCode(
        "The currency is not an ISO 4217 code, or amounts use another currency than the document's.",
        "Use one ISO 4217 code (e.g. EUR) for the document and all its amounts.",
    ),
    "TOTALS_MISMATCH": ErrorCode(
        "The document totals do not match the sum of its lines (or each other) to the cent.",
        "Recompute the totals at the sender; the message shows the expected and the found amount.",
    ),
    "LINE_AMOUNT_MISMATCH": ErrorCode(
        "A line's stated net amount is not quantity × unit price ÷ base quantity (1 when the document gives "
        "none), plus the line's own charges and minus its allowances, to the cent. Rejects an order, a change "
        "or an answer; a warning on an invoice or credit note, which is kept with its stated amounts.",
        "Correct the line at the sender; the message shows the quantity, price, base quantity and expected amount. "
        "A price per 2 or per 100 units needs its base quantity (UBL cbc:BaseQuantity, CII ram:BasisQuantity).",
    ),
    "BASE_QUANTITY_INVALID": ErrorCode(
        "A line's price base quantity (UBL cac:Price/cbc:BaseQuantity, CII ram:BasisQuantity) is 0 or negative "
        "(or not a usable number). Rejects an order, a change or an answer; a warning on an invoice.",
        "Send the quantity the price is for, above zero (e.g. 2 for a price per 2 units), or leave it out for 1.",
    ),
    "AMOUNT_INVALID": ErrorCode(
        "An amount or quantity is not a decimal number (NaN, infinity), is 10^12 or more or has more than 6 "
        "decimals; or an order, a change or an answer (a file's, a CSV row's or `orders modify`'s) has a "
        "negative quantity, price or total (Peppol BIS PEPPOL-T01-R004 to R007).",
        "Send plain decimal numbers with a dot separator (a comma in an operator CSV), not negative in orders, "
        "changes and answers.",
    ),
    "DATE_INVALID": ErrorCode(
        "A date is not a real calendar date or is absurd (before 2000 or more than 10 years ahead).",
        "Correct the date at the sender.",
    ),
    "RULE_FATAL": ErrorCode(
        "Warning: the document breaks an official business rule that its rule set marks fatal (EN 16931 BR-..., "
        "French BR-FR-..., Factur-X or Order-X profile rules, Peppol BIS Ordering rules when `peppol_rules` is "
        "set); the message starts with the rule id. "
        "The document is still integrated, unless `strict_rules = true`, which rejects it.",
        "Fix the element named by the XPath at the sender; the rule id explains what the rule requires.",
    ),
    "RULE_WARNING": ErrorCode(
        "Warning: an official business rule reports a warning or a notice about the document (or a rule set "
        "could not be run, or applies but is not configured: the CEN EN 16931 CII rules without "
        "`en16931_cii_rules`, the Peppol advanced order response rules T116). The document is integrated, "
        "also with `strict_rules = true`.",
        "Nothing blocks; correct the sender's data when convenient. For a rule set that did not run, set the "
        "folder its message names (docs/configuration.md) to have the document judged by it.",
    ),
    # -- engagement store
    "ORDER_ALREADY_EXISTS": ErrorCode(
        "An engagement with the same issuer and number already exists with other content; "
        "a new order cannot replace it.",
        "To change an engagement the issuer sends an order change (UBL OrderChange, Order-X 230).",
    ),
    "ORDER_NOT_FOUND": ErrorCode(
        "No engagement has that number (and issuer).", "Check the number; `orders search` lists them."
    ),
    "ORDER_AMBIGUOUS": ErrorCode(
        "Several issuers have an engagement with that number.", "Add `--issuer SIRET` to say which one."
    ),
    "ALREADY_IN_STATE": ErrorCode(
        "Warning: the engagement is already in the state this answer asks for (e.g. accepting an accepted order). "
        "Nothing changed and no order response was emitted.",
        "Nothing to do.",
    ),
    "REASON_REQUIRED": ErrorCode(
        "A refusal must give its reason (UBL cbc:Note, Order-X IncludedNote, CSV column reason, CLI --reason). "
        "Nothing changed.",
        "Send the refusal again with a reason.",
    ),
    "LINE_UNKNOWN": ErrorCode(
        "`orders modify` names a line the engagement does not have (`--line 9=...` or `--drop 9` on an order "
        "whose lines are 1 and 2). Nothing changed (exit 2); the message lists the engagement's lines.",
        "Give the line ids `orders show NUMBER` lists (column `line`).",
    ),
    "LINE_REPEATED": ErrorCode(
        "`orders modify` names the same line twice (two `--line`, two `--drop`, or a `--line` and a `--drop`). "
        "Nothing changed (exit 2).",
        "Name each line once.",
    ),
    "QUANTITY_NOT_POSITIVE": ErrorCode(
        "`orders modify --line LINE=QTY` gives a quantity of 0. Nothing changed (exit 2).",
        "Give a quantity above 0; to remove the line, use `--drop LINE`.",
    ),
    "ALL_LINES_DROPPED": ErrorCode(
        "`orders modify` would remove every line of the engagement, which leaves no order to accept. "
        "Nothing changed (exit 2).",
        "To decline the whole order, use `orders refuse NUMBER --reason TEXT`.",
    ),
    "CONFIRMATION_REQUIRED": ErrorCode(
        "`orders accept`, `refuse` or `modify` would change an engagement but runs without a terminal (its "
        "standard input is a pipe or a file) and without `--yes`, so nobody can confirm. Nothing changed (exit 2).",
        "Add `--yes` in scripts to say the change is meant; run the command on a terminal to be asked.",
    ),
    "RESPONSE_CODE_INVALID": ErrorCode(
        "The answer's code is not one of AP (accept), RE (refuse), CA (accept with changes), AB (acknowledge), "
        "or the CSV action is not accept / refuse / modify.",
        "Use one of the listed codes.",
    ),
    "HABILITATION_DENIED": ErrorCode(
        "The partner whose folder the file came from has no `modification` right on the order's recipient "
        "structure (see [[partners]] in chorus-batch.toml). Nothing changed.",
        "Drop the file in the right partner folder, or grant the right in the configuration and `files retry` it.",
    ),
    "RESPONSE_UNWRITABLE": ErrorCode(
        "The answer would leave the order without data its order response must carry (e.g. an added Order-X line "
        "without unit or price), so no valid response can be emitted. Nothing changed.",
        "Give the missing values in the answer and send it again.",
    ),
    "PARK_EXPIRED": ErrorCode(
        "An answer or a change waited `park_days` days for its order, which never arrived.",
        "Check the engagement number with the issuer; send the order first, then `files retry` the answer.",
    ),
    "CSV_INVALID": ErrorCode(
        "An operator CSV has no header, an unknown separator, a missing required column, or a row that cannot be read.",
        "Use UTF-8 (or Windows-1252), a header row and `;`, `,` or tab as separator (see docs/formats.md).",
    ),
    "CSV_ENCODING_GUESSED": ErrorCode(
        "Warning: the operator CSV is not UTF-8; it was read as Windows-1252, the encoding a spreadsheet such as "
        'Excel writes by default ("CSV (séparateur: point-virgule)"). Its rows are applied.',
        "Check the accented letters of what was stored (reasons, comments); to be sure, save the file as "
        '"CSV UTF-8" next time.',
    ),
    # -- reconciliation anomalies: warnings on an integrated invoice, listed by the reports
    "NO_ENGAGEMENT": ErrorCode(
        "Anomaly: the invoice gives no engagement number (BT-13 absent, blank or a placeholder such as NA).",
        "Ask the supplier to quote the engagement number on its invoices.",
    ),
    "UNKNOWN_ENGAGEMENT": ErrorCode(
        "Anomaly: no engagement has this number (yet). The invoice is matched automatically if the order arrives "
        "later.",
        "Check the number with the supplier and the issuer.",
    ),
    "AMBIGUOUS_ENGAGEMENT": ErrorCode(
        "Anomaly: several issuers have an engagement with this number and the invoice's buyer does not tell them "
        "apart.",
        "Ask the supplier to name the buyer (its SIRET) on the invoice.",
    ),
    "ENGAGEMENT_NOT_ACCEPTED": ErrorCode(
        "Anomaly: the invoice's engagement is not in PRIS_EN_COMPTE (it is A_TRAITER, REFUSE, A_RECYCLER or CLOTURE).",
        "Answer the order first, or check why a refused or closed engagement is invoiced.",
    ),
    "SELLER_MISMATCH": ErrorCode(
        "Anomaly: the invoice's seller is not the engagement's supplier.",
        "The invoice is kept but not counted in the engagement's totals. Check who invoices this engagement; "
        "the supplier sends a corrected invoice.",
    ),
    "BUYER_MISMATCH": ErrorCode(
        "Anomaly: the invoice's buyer is not the engagement's issuer.",
        "The invoice is kept but not counted in the engagement's totals. Check the buyer named on the invoice; "
        "the supplier sends a corrected invoice.",
    ),
    "CURRENCY_MISMATCH": ErrorCode(
        "Anomaly: the invoice's currency is not the engagement's.",
        "The invoice is kept but not counted in the engagement's totals (no currency is converted). Check the "
        "currency with the supplier; an invoice in the engagement's currency replaces it.",
    ),
    "DUPLICATE_INVOICE": ErrorCode(
        "Anomaly: an invoice with the same seller and number was received before. It is kept but never counted twice.",
        "Check whether the supplier sent it twice by mistake.",
    ),
    "OVER_INVOICED": ErrorCode(
        "Anomaly: the invoices net of credit notes exceed the ordered amount beyond the tolerance ([reconciliation]).",
        "Check the invoices against the order; an order change may be missing.",
    ),
    "INVOICE_NOT_FOUND": ErrorCode(
        "A lifecycle status named an invoice chorus-batch never received: it was parked until the invoice "
        "arrived, and rejected after `park_days`.",
        "Check the invoice number and the supplier id; send the invoice first.",
    ),
    "INVOICE_AMBIGUOUS": ErrorCode(
        "A lifecycle status names an invoice number that several suppliers used, without a supplier id to tell "
        "them apart.",
        "Give the supplier id (CSV column supplier_id, CPPStatut Fournisseur).",
    ),
    "STATUS_UNKNOWN": ErrorCode(
        "A lifecycle status chorus-batch does not map: a CPPStatut code other than 01-12 (codes 13-41 exist in "
        "the AIFE list but have no meaning here), or a CSV status that is neither one of the invoice statuses "
        "(DEPOSEE ... COMPLETEE) nor its code 01-12. Only that status is rejected; the others of the file are applied.",
        "Send one of the statuses listed in docs/formats.md (name or code 01-12).",
    ),
    "TRANSITION_NOT_ALLOWED": ErrorCode(
        "The engagement's current state does not allow this event (see docs/state-machine.md).",
        "Nothing changed. Check the engagement's status with `orders show`.",
    ),
    # -- operator side
    "CONFIG_INVALID": ErrorCode(
        "chorus-batch.toml has an unknown key or a bad value.",
        "Fix the key named in the message (see docs/configuration.md).",
    ),
    "WORKSPACE_INVALID": ErrorCode(
        "The workspace folder cannot be used (not writable, full, or a file where a folder is expected).",
        "Fix the path or its permissions, or free space on its disk, then run `chorus-batch init`.",
    ),
    "WORKSPACE_NOT_FOUND": ErrorCode(
        "The folder given as workspace (`--workspace`, `CHORUS_BATCH_WORKSPACE`, or the current folder) does not "
        "exist or is not a chorus-batch workspace: it has no `var/workspace.id` (nor, made by an older version, "
        "both `inbox/` and `var/`). Nothing was created in it. Exit code 2.",
        "Check the path for a typo; to make a new workspace there, run `chorus-batch init PATH` first.",
    ),
    "WORKSPACE_REFUSED": ErrorCode(
        "`init` (or `demo`) will not make a workspace of this folder: the root folder `/` or the home folder "
        "(never), a file, or a folder that already holds other things and is not a workspace. Nothing was "
        "created. Exit code 2.",
        "Give a new or empty folder of its own (e.g. /srv/edi); for a non-empty folder you mean to use, add `--force`.",
    ),
    "WORKSPACE_LOCKED": ErrorCode(
        "Another `run` or `watch` holds this workspace (SQLite store); the message names it (PID, host, since). "
        "Exit code 3.",
        "Wait for it to finish, or stop it. A lock left by a killed process is released by the system.",
    ),
    # -- the store and its workspace (docs/operations.md#the-store)
    "STORE_MISSING": ErrorCode(
        "The store is not there (no `var/store.sqlite`, or no file at the `--db` SQLite path), or it was deleted "
        "or replaced while `watch` ran, and the workspace has a history: its id in `var/workspace.id`, reports "
        "in `outbox/acks/`, files in `var/archive/` or `var/rejected/`. Nothing was done: a new empty store "
        "would take again as new the files already integrated. Exit code 2.",
        "Restore the store from its latest backup, run `chorus-batch store check`, then start again. To start "
        "again with an empty store on purpose: `chorus-batch init --new-store`.",
    ),
    "STORE_EMPTY": ErrorCode(
        "The store holds no received file (a new database, or a store made again), but the workspace has a "
        "history. Nothing was done. Exit code 2.",
        "Give the workspace its own store (check `--db` and `CHORUS_BATCH_DB`) or restore it from its backup. "
        "To start again with an empty store on purpose: `chorus-batch init --new-store` (on PostgreSQL, into "
        "a new database).",
    ),
    "STORE_FOREIGN": ErrorCode(
        "The store belongs to another workspace: the id it records differs from `var/workspace.id`, or, for a "
        "workspace that has no id yet, the store does not know the newest reports of `outbox/acks/` (or the "
        "newest files of `var/archive/`). Nothing was done. Exit code 2.",
        "Use this workspace's own store (check `--db` and `CHORUS_BATCH_DB`), or restore it from its backup. "
        "To start again with an empty store on purpose: `chorus-batch init --new-store`.",
    ),
    "STORE_CORRUPT": ErrorCode(
        "The SQLite store is damaged: `PRAGMA quick_check` found faults, or the file is not an SQLite "
        "database (truncated, overwritten, a copy taken mid-write). Exit code 2.",
        "Stop `watch` and the `cron` runs, keep the damaged file aside, restore the latest backup to "
        "`var/store.sqlite`, run `chorus-batch store check`, then start again.",
    ),
    "STORE_UNREACHABLE": ErrorCode(
        "The store's database server could not be reached or refused the connection (PostgreSQL), or the disk "
        "under a SQLite store failed. Exit code 2; `watch` tries again by itself once it is running.",
        "Check that the server runs, the URL given with `--db` (host, port, database, user) and `~/.pgpass`; "
        "the message gives the driver's own reason.",
    ),
    "STORE_NOT_EMPTY": ErrorCode(
        "`init --new-store` on PostgreSQL: the database already holds chorus-batch tables. It is never "
        "emptied by chorus-batch. Exit code 2.",
        "Create a new database (`createdb`) and give its URL with `--db`; drop the old one yourself once it "
        "is no longer needed.",
    ),
    "BACKUP_EXISTS": ErrorCode(
        "`store backup FILE`: FILE already exists; it is not replaced. Exit code 2.",
        "Give another name (a date in it, for instance), or add `--force` to replace the file.",
    ),
    "BACKUP_FOLDER_INVALID": ErrorCode(
        "`store backup FILE`: the folder of FILE does not exist or cannot be written by this user; nothing was "
        "written. Exit code 2.",
        "Create the folder first (`mkdir -p`), or give a file in a folder the user running chorus-batch can write.",
    ),
    "BACKUP_NOT_SQLITE": ErrorCode(
        "`store backup` copies SQLite stores only; this store is on a database server. Exit code 2.",
        "Use the server's own tool: the message gives the `pg_dump` command for this store.",
    ),
    # -- the store failing: every command that opens it exits with 2 and one line naming it (its URL
    # with the password masked, or its file), the cause and the fix
    "STORE_BUSY": ErrorCode(
        "Another process kept the store locked for longer than `busy_timeout_seconds` (30 s by default): an "
        "operator's `orders` answer or a backup while `watch` or `run` writes, a long transaction. Nothing of the "
        "command was applied; `run` put the files it had taken back in the inbox, `watch` retries by itself.",
        "Try again. If it repeats, look for the process that keeps the store locked, or raise "
        "`busy_timeout_seconds` in chorus-batch.toml.",
    ),
    "STORE_DRIVER_MISSING": ErrorCode(
        "The store URL names a database whose Python driver is not installed (or a driver SQLAlchemy does not "
        "know, e.g. `postgresql+nosuchdriver://`).",
        "For PostgreSQL: `pip install 'chorus-batch[postgres]'` (psycopg 3) and a URL starting "
        "`postgresql+psycopg://`.",
    ),
    "STORE_UNWRITABLE": ErrorCode(
        "The store cannot be written: chorus-batch's user may not write the store file, its `-wal` / `-shm` "
        "companions or the folder that holds them (`var/`), the file system is read-only, or the database user "
        "lacks the rights. The message names the path.",
        "Give chorus-batch's user write access to the path named (`chown`, `chmod`), or use a database user "
        "with the rights to write the tables.",
    ),
    "STORE_FULL": ErrorCode(
        "The store cannot grow: the disk (or the database server's) is full. The transaction under way was rolled "
        "back: nothing of it was applied.",
        "Free space on the file system named in the message (old archives, logs), then run again.",
    ),
    "STORE_URL_INVALID": ErrorCode(
        "The store URL given with `--db` / `CHORUS_BATCH_DB` cannot be read as a database URL.",
        "Give `sqlite:///PATH` or `postgresql+psycopg://USER@HOST[:PORT]/DATABASE`.",
    ),
    "FILE_NOT_FOUND": ErrorCode("No received file has that name.", "`files list` shows the names."),
    "INTERNAL_ERROR": ErrorCode(
        "An unexpected error inside chorus-batch while processing this file. The file is kept in var/rejected/.",
        "Report it with the file and the log; retry with `files retry` after the fix.",
    ),
}


@dataclass(frozen=True)
class Issue:
    """One finding about a document. ``severity`` is ``error`` (rejects) or ``warning``."""

    code: str
    message: str
    line: int | None = None
    xpath: str | None = None
    severity: str = "error"

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered error code {self.code!r}")

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "line": self.line, "xpath": self.xpath}


class ChorusError(Exception):
    """Base of every error chorus-batch raises on purpose. Never raised itself."""

    code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            if code not in CODES:
                raise ValueError(f"unregistered error code {code!r}")
            self.code = code  # type: ignore[misc]  # this error's own code, over its class's

    @property
    def message(self) -> str:
        return str(self)


class DocumentRejected(ChorusError):
    """A file or document cannot be integrated; ``issues`` says why (first issue gives the code)."""

    def __init__(self, issues: list[Issue]) -> None:
        if not issues:
            raise ValueError("DocumentRejected needs at least one issue")
        self.issues = issues
        super().__init__(issues[0].message, code=issues[0].code)

    @classmethod
    def one(cls, code: str, message: str, *, line: int | None = None, xpath: str | None = None) -> DocumentRejected:
        return cls([Issue(code, message, line, xpath)])


class ConfigError(ChorusError):
    code = "CONFIG_INVALID"


class WorkspaceError(ChorusError):
    code = "WORKSPACE_INVALID"


class StoreError(WorkspaceError):
    """The store cannot be used with this workspace (exit 2, like every ``WorkspaceError``):
    missing, empty, another workspace's (``identity``), or failing: busy beyond the busy timeout,
    unreachable, its driver missing, not writable, full, damaged, its URL unreadable
    (``store.engine``). The message names the store (its URL with the password masked, or its
    file), the cause and the fix; ``store`` is that name.

    ``lasting``: waiting will not heal it (a missing driver, a bad URL, a damaged file: any code
    but those of ``HEALING``), so ``watch`` stops instead of retrying. ``uncertain``: the
    failure came while a transaction was committing on a database server, which may have
    committed it: what that transaction claimed is left to ``recovery``, which asks the store,
    instead of being put back blindly."""

    code = "STORE_UNREACHABLE"
    # what may pass by itself, or once an operator frees the disk or fixes a permission
    HEALING: ClassVar[frozenset[str]] = frozenset({"STORE_BUSY", "STORE_UNREACHABLE", "STORE_FULL", "STORE_UNWRITABLE"})

    def __init__(self, message: str, *, code: str | None = None, store: str = "", uncertain: bool = False) -> None:
        super().__init__(message, code=code)
        self.store, self.uncertain = store, uncertain

    @property
    def lasting(self) -> bool:
        return self.code not in self.HEALING


class WorkspaceLocked(ChorusError):
    code = "WORKSPACE_LOCKED"


class NotFound(ChorusError):
    code = "ORDER_NOT_FOUND"
