"""ServiceNow importer (``graphsvc import servicenow export.json …``).

Reads ServiceNow Table API responses (``GET /api/now/table/<table>``, saved as
JSON: ``{"result": [...]}``), the CMDB Instance API response of one CI, JSONv2
exports (``{"records": [...]}``) and bare arrays of records. Files of one run
may mix tables; each record's table comes from the ``table`` setting, its
``sys_class_name``, a table name in the file name, or its fields (see
:mod:`importers.servicenow.parser`). A file of any other shape raises
:class:`~graphsvc.errors.ParseError`.

Every field may come raw (``"1"``, a reference ``{"link", "value"}``, or ``""``
when empty) or with display values (``sysparm_display_value=all``:
``{"display_value", "value"[, "link"]}``). Codes, sys_ids and dates are read
from the raw ``value``; names and labels from ``display_value`` when present.

Mapping (every key is ``snow/<sys_id>`` but a change's, which is its number;
every entity carries the identifier ``servicenowSysId``):

=========================  ===========================================================
records                    become
=========================  ===========================================================
``cmdb_ci*`` service class ``Service`` (classes: ``cmdb_ci_service``, ``…_business``,
                           ``…_technical``, ``…_discovered``, ``…_auto``, ``…_calculated``,
                           ``…_by_tags``, ``…_manual``, ``cmdb_ci_query_based_service``,
                           ``service_offering``, plus the ``serviceClasses`` setting):
                           ``tier`` from ``busines_criticality`` (``1 - most critical``
                           -> 1), ``serviceType`` from ``service_classification`` or the
                           class, ``lifecycle`` (Operational -> live, Retired ->
                           retired, On Order/Pending Install -> planned)
other ``cmdb_ci*``         ``ConfigurationItem`` with ``ciClass`` = ``sys_class_name``
``sys_user_group``         ``Team``: ``email``, ``manager``, ``description``;
                           ``parent`` -> Team ``PART_OF`` parent team
``change_request``         ``Change`` keyed by its ``number`` (below); ``cmdb_ci`` /
                           ``business_service`` / ``service_offering`` -> Change
                           ``MODIFIES`` that CI or service; ``assignment_group`` ->
                           Change ``ASSIGNED_TO`` the Team, ``assigned_to`` -> Change
                           ``ASSIGNED_TO`` the Person
``sc_task``, ``change_task``, ``Task`` keyed by its ``number`` (below)
``pm_project_task``
``pm_project``             ``Project`` keyed by its ``number`` (``PRJ0010001``):
                           ``status`` (state label), ``plannedStart``/``plannedEnd``
``task_ci``                a change's Affected CIs: Change ``MODIFIES`` ``ci_item``;
                           rows of other tasks (incidents …) skipped with a warning
``cmdb_rel_ci``            a relation per its ``type`` (below)
``cmdb_rel_type``          no entity: names the types of ``cmdb_rel_ci`` records
                           whose ``type`` is a bare sys_id
anything else              skipped, one warning per table
=========================  ===========================================================

CI and service identifiers use the types and normalisation every importer uses,
so that the engine merges one host described by Nmap and by ServiceNow:
``ipAddress`` (``ip_address``), ``fqdn`` (``fqdn``; else ``host_name`` when it
contains a dot; else ``host_name.dns_domain``), ``hostname`` (``host_name``
without a dot), ``serial`` (``serial_number``) and ``macAddress``
(``mac_address``). Values that would merge unrelated machines are not used as
identifiers: loopback, unspecified and link-local addresses, ``localhost``
names, and placeholder serial numbers (``0``, ``N/A``, ``To be filled by
O.E.M.``, ``System Serial Number`` …). Unreadable IP or MAC addresses are
skipped with a warning.

CI attributes (empty values are omitted, never sent as ``null``): ``os``,
``osVersion``, ``assetTag``, ``category``, ``shortDescription``, ``cpuCount``,
``ramMb``, ``diskSpaceGb`` (ServiceNow's ``-1`` = unknown is omitted),
``virtual`` (boolean), ``installStatus`` / ``operationalStatus`` (labels),
``environment`` (``environment``, else ``used_for``; ``Production`` ->
``prod``, ``Development`` -> ``dev`` …), the display values of ``location``,
``company``, ``manufacturer``, ``model_id`` …, and user references
(``owned_by``, ``managed_by``, ``supported_by``, ``assigned_to``) as the user's
display name, or sys_id when the export has no display values (users are not
imported as ``Person``). A CI or service whose ``install_status`` is 7
(Retired) or ``operational_status`` is 6 (Retired) is sent with status
``retired``; so is a group whose ``active`` is ``false``.

Ownership: ``support_group`` -> Team ``SUPPORTS`` CI; ``managed_by_group`` ->
Team ``OWNS`` CI; ``owned_by`` -> Team ``OWNS`` CI when it references a group
(its link points at ``sys_user_group`` or the run imports a group with that
sys_id); otherwise ``owned_by`` is a user and becomes the ``ownedBy`` attribute.

``cmdb_rel_ci`` types (``Parent descriptor::Child descriptor``, compared
without regard to case and spacing; a type written the other way round, such as
``Used by::Depends on``, maps like its counterpart with the ends swapped):

===================================  =================================================
type                                 relation
===================================  =================================================
Depends on::Used by, Uses::Used by,  parent ``DEPENDS_ON`` child
Consumes::Consumed by,
Provided by::Provides
Provides storage for::Stored on      child ``DEPENDS_ON`` parent
Runs on::Runs, Hosted on::Hosts,     parent ``RUNS_ON`` child
Virtualized by::Virtualizes
Contains::Contained by               child ``PART_OF`` parent
Members::Member of                   parent (the cluster) ``DEPENDS_ON`` child (the
                                     member), ``redundancyGroup`` ``cluster:<key>``
Cluster of::Cluster                  child (the cluster) ``DEPENDS_ON`` parent (the
                                     node), ``redundancyGroup`` ``cluster:<key>``
anything else                        skipped; one warning per type with the count
===================================  =================================================

Cluster membership is a redundant dependency, not ``PART_OF``: ``PART_OF``
would make any failing node take the whole cluster down, while a shared
``redundancyGroup`` on the cluster's ``DEPENDS_ON`` edges says the cluster is
degraded when one node fails and down when all do. ``Cluster of::Cluster`` is
read as ServiceNow's discovery patterns write it (node = parent, cluster =
child, e.g. Storage/Cassandra Cluster Node ``Cluster of::Cluster`` Cluster).

A ``type`` given as a bare sys_id is named by a ``cmdb_rel_type`` export in the
same run, or by the sys_ids of the out-of-box types (Depends on, Runs on,
Contains, Members, Virtualized by); an unknown one is skipped with a warning.
A relationship whose shape the vocabulary forbids (``RUNS_ON`` a service) is
skipped with a warning.

The kind of a referenced record (relationship ends, a change's ``cmdb_ci``)
is the kind it gets in this run. A relationship end not in the run is taken
to be a ``ConfigurationItem``; if the store holds it under another kind, the
relation is not created and the import says so. A change's references to
records not in the run are sent by sys_id (``{kind, identifiers:
{servicenowSysId}}``), so they reach the entity whatever its key (an Nmap host
merged with the ServiceNow CI, say), and a ``cmdb_ci`` or ``ci_item`` that is
no ``ConfigurationItem`` in the store is looked for as a ``Service`` (a
``business_service`` or ``service_offering`` the other way round).

Changes. The key is the change ``number`` (``CHG0000001``), the name its
``short_description``; the sys_id is the ``servicenowSysId`` identifier, so
exports that name the change by sys_id (``task_ci``) reach it, and a store
that holds it under the key ``snow/<sys_id>`` of earlier versions keeps one
entity: the identifier identifies it and the number becomes an alias, by
which it is found from then on. Two records of one import with one number but
different sys_ids (exports of two instances) are refused.
``state`` maps codes and labels (``-5`` New -> ``new``, ``-4`` Assess
and ``-3`` Authorize -> ``assess``, ``-2`` -> ``scheduled``, ``-1`` ->
``implement``, ``0`` -> ``review``, ``3`` -> ``closed``, ``4`` Canceled ->
``cancelled``; legacy labels such as Closed Skipped too); ``type`` -> ``changeType``
(``standard``/``normal``/``emergency``; Expedited -> emergency); unknown values
are left out with a warning. ``start_date``/``end_date`` -> ``plannedStart`` /
``plannedEnd``: **the Table API returns raw date-times as ``YYYY-MM-DD
HH:MM:SS`` in UTC without a zone, so they are read as UTC and written with
``+00:00``.** Display values of dates are in the exporting user's time zone
and are never used. A change from an export of display values only
(``sysparm_display_value=true``: a reference without ``value``, or a
``state`` label instead of its code) has no UTC times: its dates are refused
(a :class:`~graphsvc.errors.ParseError` naming the record and field) unless
the ``timeZone`` setting names the exporting user's zone
(``--set timeZone=Europe/Amsterdam``). An export of raw values only
(``sysparm_display_value=false``) is read in full; names are then the run's
own names of the records referenced, else their sys_ids.
``risk`` is the label (``High``; from the code when there is no label),
``approval`` the choice value (``requested``, ``approved`` …),
``requestedBy`` / ``assignedTo`` / ``assignmentGroup`` the names of those
references, ``configurationItem`` the name of the ``cmdb_ci`` (kept whether or
not the graph has that CI, so that a report can say what the change tool
named), ``backoutPlan``, ``testPlan``, ``implementationPlan``, ``changePlan``,
``justification``, ``riskImpactAnalysis`` and ``description`` the texts (each
line stripped), plus ``number``, ``shortDescription``, ``priority``,
``impact`` and ``category``.

Tasks. ``sc_task``, ``change_task`` and ``pm_project_task`` records (told
by ``sys_class_name``, else the file name, else the number prefix
``SCTASK``/``CTASK``/``PRJTASK``) become ``Task`` entities keyed by their
``number``, with the sys_id as ``servicenowSysId``, the ``short_description``
as name, and: ``status`` from ``state`` (codes of the task table: ``-5``
Pending and ``1`` Open -> open, ``2`` Work in Progress -> in_progress, ``3``
Closed Complete -> done, ``4`` Closed Incomplete / Canceled and ``7`` Closed
Skipped -> cancelled; the labels too; a change task ``on_hold`` and not closed
-> blocked); ``due`` from ``due_date`` (a project task: else ``end_date``, its
planned end); ``plannedStart`` from ``expected_start``, ``start_date``,
``planned_start_date`` or ``work_start`` (the first set); ``effortHours`` from
``effort``, ``planned_effort`` or ``estimated_work``: a ``glide_duration``
comes from the Table API as a time after the epoch (``1970-01-03 04:00:00`` =
52 hours), a display value as ``2 Days 4 Hours``, a plain number as hours;
``origin`` ``itsm`` for ``sc_task``/``change_task`` and ``ppm`` for
``pm_project_task``; ``externalUrl`` ``<instance>/<table>.do?sys_id=…`` when a
reference link tells the instance; ``table``, ``number``,
``shortDescription``, ``priority``, ``assignmentGroup``, ``assignedTo``.
Relations: ``assignment_group`` -> Task ``ASSIGNED_TO`` Team, ``assigned_to``
-> Task ``ASSIGNED_TO`` Person, ``cmdb_ci`` -> Task ``MODIFIES`` the CI (or
service), a change task's ``change_request`` -> that Change ``IMPLEMENTS`` the
Task, a project task's ``top_task`` (else ``project``) -> Task ``PART_OF`` the
Project. Dates are read as for changes (UTC). Each end outside the import is
sent by sys_id, and reported like a change's when the store lacks it.

Unresolved references. Every relation end the import names that is neither in
the import nor in the store is reported in ServiceNow's words, and its
relation is not created: ``change CHG0000001: cmdb_ci 'db-prod-07' (sys_id …)
is not in the graph (…); the MODIFIES relation was not created``
(:class:`~graphsvc.ingest.runner.UnresolvedReference`). Users are not
imported, so ``assigned_to`` resolves only when some source has a ``Person``
with the user's sys_id.

Runs. Each import is one complete run of its source and scope: what that
source asserted before in the scope and does not assert now goes stale. Import
changes together with the CMDB files, or under a scope of their own
(``--scope changes``; files of changes, affected CIs, tasks and projects
alone go there by default); a run of changes alone in the CMDB's scope would mark
the CMDB's entities stale.

A record present in several files of a run is one entity; per attribute the
later file wins.
"""

from importers.servicenow.importer import ServiceNowImporter

__all__ = ["ServiceNowImporter"]
