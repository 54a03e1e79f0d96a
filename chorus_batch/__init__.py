"""chorus-batch: batch EDI processing of Chorus Pro orders ("engagements").

Layers, each importing only from the ones above it:

* ``errors``                    the error catalogue (codes, meanings, fixes)
* ``domain``                    pure core: models, identifiers, rules, the state machine table
* ``formats``                   one module per document syntax (bytes → domain)
* ``store``                     the only SQL: tables, migrations, queries
* ``workspace``, ``config``     folders, file lifecycle, configuration
* ``engagements``               documents applied to engagements (the rules over the store)
* ``ingest``                    one file from inbox to archive, through the store
* ``answers``, ``watch``        operator answers; the watcher (events → ``ingest``)
* ``views``, ``reports``        store → JSON shapes and CSV reports
* ``cli``, ``render``, ``demo`` the thin command line
"""

__version__ = "0.1.0"
