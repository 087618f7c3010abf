"""CSV importer (``graphsvc import csv hosts.csv --option mapping=hosts.yaml``).

Imports any CSV table (read with the stdlib :mod:`csv` module; the first row is
the header) through a *column mapping*: a YAML file (or JSON, for a ``.json``
file) given by the ``mapping`` setting, or found next to the CSV file as
``<file>.csv.mapping.yaml`` (``.yml``, ``.json``). The mapping is read in
``parse()`` together with the table, and checked before any row is read.

Mapping format, by example::

    # servers.csv.mapping.yaml
    kind: ConfigurationItem          # the kind of every row...
    # kind: {column: type}           # ...or the column that holds each row's kind
    key: sys_id                      # the column holding the key (required)
    keyPrefix: "cmdb/"               # optional, put in front of every key
    name: name                       # optional: the column holding the display name
    attributes:                      # attribute -> column, or {column|value, type}
      ciClass: sys_class_name        # a column, converted as a string
      cpuCount: {column: cpu_count, type: integer}
      virtual: {column: virtual, type: boolean}
      environment: {value: prod}     # a constant, the same on every row
      # status: {column: Status, values: {Complete: done, Late: in_progress}}
      # due: {column: Finish, type: date, format: "%a %m/%d/%y %I:%M %p"}
      # effortHours: {column: Work, type: hours}
    identifiers:                     # identifier type -> column
      serial: serial_number
      ipAddress: ip_address
    relations:                       # one entry per relation column
      - column: runs_on              # the cell names the target(s)
        type: RUNS_ON                # a relation type of the vocabulary
        targetKind: ConfigurationItem
        direction: out               # out: row -> target (default); in: target -> row
        separator: ";"               # optional: several targets in one cell
        targetPrefix: "cmdb/"        # optional, put in front of each target key
        # targetIdentifier: fqdn     # optional: the cell holds this identifier of the
        #                            # target instead of its key
        # targetPattern: "^([0-9]+)" # optional: a regular expression each target must
        #                            # match; its first group is the target (MS Project
        #                            # predecessors "4FS+1 day" -> 4)
        attributes: {redundancyGroup: web}   # optional constants on each relation
    delimiter: ","                   # optional, one character (default ",")
    encoding: utf-8                  # optional (default utf-8; a byte order mark is skipped)

Attribute ``type`` is one of ``string``, ``integer`` (digits with an optional
sign), ``number`` (finite; an integer stays an integer), ``boolean``
(true/false, yes/no, y/n, 1/0, t/f, on/off), ``datetime`` (ISO 8601 with a
time zone), and, for PPM tools' exports, ``date`` (an ISO 8601 date or
date-time, or the strptime ``format`` the rule gives, such as MS Project's
``%a %m/%d/%y %I:%M %p``; a value without a zone is read in UTC; fits a
datetime attribute) and ``hours`` (work as MS Project and Smartsheet write
it: ``16``, ``16 hrs``, ``2d``/``2 days`` of 8 hours, ``1 wk`` of 40, ``30
mins``; fits a number attribute). An attribute rule's ``values`` maps cell
texts (case-insensitive) to the value to convert instead, for tools whose
words differ from the vocabulary's (``Complete`` -> ``done``). Left out,
``type`` is the vocabulary's type for a well-known attribute
(``tier`` is an integer, ``start`` a datetime …) and ``string`` otherwise; a
type that contradicts the vocabulary is a mapping error. Converted values of
well-known attributes must also fit the vocabulary (``lifecycle`` one of its
choices, ``email`` an address, ``tier`` 1-4 …).

Checks and errors (all :class:`~graphsvc.errors.ParseError`, and nothing of
the run is written):

* the mapping: unknown fields (typos), a missing ``kind`` or ``key``, an
  unknown kind, relation type or value type, a ``format`` on a type other
  than ``date``, a ``targetPattern`` that is no regular expression, a relation shape the vocabulary
  forbids for a fixed kind (``OWNS`` from a ``ConfigurationItem``), a fixed
  kind's required attribute left unmapped (``ciClass`` for a
  ``ConfigurationItem``) -> the error names the mapping file and the field
  (``relations[0].type``), or the line and column of a YAML/JSON syntax error;
* the table: no header, a header naming a column twice, a column named by the
  mapping missing from the header (the mapping file and field are named too),
  a row with more or fewer fields than the header, an empty key, an unknown
  kind in the kind column, a value that does not convert or does not fit the
  vocabulary, an empty cell for a required attribute, or (with a kind column)
  a relation the row's kind cannot have, a relation target that does not match
  its ``targetPattern`` -> the error names the CSV file, the
  line the row starts on (the header is line 1) and the column.

Empty cells are left out (never sent as ``null``); blank lines are skipped.
Rows with the same kind and key (in one file or several of the run) are one
entity: the later row wins per attribute, identifier and name, with a warning
when it changes a value, and their relations add up. A relation whose target
is neither in the run nor in the store is dropped with a warning by the runner.
"""

from importers.csv_table.importer import CsvImporter

__all__ = ["CsvImporter"]
