"""Reading a Jira REST response file into :class:`~importers.jira.records.JiraFile`.

Shapes told apart (anything else is a :class:`~graphsvc.errors.ParseError`):

* a search result: an object with an ``issues`` array (``GET /search``, the
  Agile sprint/board issue lists);
* one issue: an object with ``key`` and a ``fields`` object;
* one project: an object with ``key`` and ``name`` and project fields
  (``projectTypeKey``, ``lead``, ``issueTypes``, ``roles``, ``components`` or a
  ``self`` URL under ``/project/``);
* projects: an array of projects (``GET /project``) or a page of them
  (``GET /project/search``: ``{"values": [...]}``);
* link types: ``{"issueLinkTypes": [...]}`` or an array of ``{name, inward, outward}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from graphsvc.errors import ParseError
from importers.jira.records import (
    JiraFile,
    JiraIssue,
    JiraLink,
    JiraLinkType,
    JiraPage,
    JiraProject,
    JiraUser,
)

__all__ = ["FIELD_NAMES", "FieldChoice", "parse_jira_json"]

FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "changeType": ("change type",),
    "risk": ("change risk", "risk"),
    "plannedStart": ("planned start", "planned start date", "change start date", "start date"),
    "plannedEnd": ("planned end", "planned end date", "change completion date"),
    "epic": ("epic link",),
}
"""Field names (lower case, from ``expand=names``) looked for when no setting names the field."""

_PROJECT_MARKERS = (
    "projectTypeKey",
    "lead",
    "issueTypes",
    "roles",
    "components",
    "projectCategory",
)

FieldChoice = Mapping[str, str]
"""Logical field (``changeType``, ``risk``, ``plannedStart``, ``plannedEnd``,
``epic``) -> field id or name, from the settings ``<logical>Field``."""


def _str(raw: object) -> str | None:
    """A scalar or option-like JSON value as text; ``None`` when empty or absent."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        return raw.strip() or None
    if isinstance(raw, int | float):
        return str(raw)
    if isinstance(raw, Mapping):
        for name in ("value", "name", "displayName", "key"):
            found = _str(raw.get(name))
            if found:
                return found
        return None
    if isinstance(raw, list) and raw:
        return _str(raw[0])
    return None


def _obj(raw: object) -> Mapping[str, object]:
    return raw if isinstance(raw, Mapping) else {}


def _user(raw: object) -> JiraUser | None:
    """An assignee-like user object; ``None`` when absent or naming nobody."""
    user = _obj(raw)
    account = _str(user.get("accountId")) or _str(user.get("name")) or _str(user.get("key"))
    email = _str(user.get("emailAddress"))
    if account is None and email is None:
        return None
    account = account or email or ""
    return JiraUser(account, _str(user.get("displayName")) or account, email)


class _Reader:
    def __init__(self, path: Path, choices: FieldChoice) -> None:
        self.name = str(path)
        self.choices = choices

    def fail(self, element: str, reason: str) -> ParseError:
        return ParseError(self.name, element, reason)

    # ---------------------------------------------------------------- projects
    def project(self, raw: object, element: str) -> JiraProject:
        if not isinstance(raw, Mapping):
            raise self.fail(element, "a project must be a JSON object")
        key, name = _str(raw.get("key")), _str(raw.get("name"))
        if key is None:
            raise self.fail(f"{element}/key", "a project needs a key")
        lead = _obj(raw.get("lead"))
        account = _str(lead.get("name")) or _str(lead.get("key")) or _str(lead.get("accountId"))
        archived = raw.get("archived")
        return JiraProject(
            key=key,
            name=name or key,
            element=element,
            jira_id=_str(raw.get("id")),
            project_type=_str(raw.get("projectTypeKey")),
            lead=_str(lead.get("displayName")) or account,
            lead_account=account,
            description=_str(raw.get("description")),
            category=_str(_obj(raw.get("projectCategory")).get("name")),
            url=_str(raw.get("url")),
            archived=archived if isinstance(archived, bool) else None,
        )

    # ------------------------------------------------------------------ issues
    def field_ids(self, names: Mapping[str, object]) -> dict[str, str]:
        """Logical field -> field id, from the settings, else from the response's names."""
        by_name = {str(v).strip().lower(): str(k) for k, v in names.items() if isinstance(v, str)}
        out: dict[str, str] = {}
        for logical, defaults in FIELD_NAMES.items():
            chosen = self.choices.get(logical)
            if chosen:
                out[logical] = by_name.get(chosen.strip().lower(), chosen.strip())
                continue
            for default in defaults:
                if default in by_name:
                    out[logical] = by_name[default]
                    break
        return out

    def issue(self, raw: object, element: str, field_ids: Mapping[str, str]) -> JiraIssue:
        if not isinstance(raw, Mapping):
            raise self.fail(element, "an issue must be a JSON object")
        key = _str(raw.get("key"))
        if key is None:
            raise self.fail(f"{element}/key", "an issue needs a key")
        fields = raw.get("fields")
        if not isinstance(fields, Mapping):
            raise self.fail(f"{element}/fields", "an issue needs a fields object")
        if isinstance(raw.get("names"), Mapping):  # a single issue fetched with expand=names
            field_ids = {**self.field_ids(_obj(raw.get("names"))), **field_ids}
        project = _obj(fields.get("project"))
        status = _obj(fields.get("status"))
        links = fields.get("issuelinks") or []
        if not isinstance(links, list):
            raise self.fail(f"{element}/fields/issuelinks", "must be a JSON array")

        def custom(logical: str) -> str | None:
            fid = field_ids.get(logical)
            return _str(fields.get(fid)) if fid else None

        epic = _str(_obj(fields.get("epic")).get("key")) or custom("epic")
        parent = _obj(fields.get("parent"))
        return JiraIssue(
            key=key,
            element=element,
            issue_type=_str(_obj(fields.get("issuetype")).get("name")) or "",
            summary=_str(fields.get("summary")) or "",
            project_key=_str(project.get("key")) or key.rsplit("-", 1)[0],
            project_name=_str(project.get("name")),
            status=_str(status.get("name")),
            status_category=_str(_obj(status.get("statusCategory")).get("key")),
            resolution=_str(_obj(fields.get("resolution")).get("name")),
            priority=_str(_obj(fields.get("priority")).get("name")),
            change_type=custom("changeType"),
            risk=custom("risk"),
            planned_start=custom("plannedStart"),
            planned_end=custom("plannedEnd"),
            parent_key=_str(parent.get("key")),
            epic_key=epic,
            links=tuple(
                self.link(link, f"{element}/fields/issuelinks/{i}") for i, link in enumerate(links)
            ),
            parent_type=_str(_obj(_obj(parent.get("fields")).get("issuetype")).get("name")),
            self_url=_str(raw.get("self")),
            assignee=_user(fields.get("assignee")),
            due_date=_str(fields.get("duedate")),
            original_estimate_seconds=self.estimate(fields, element),
        )

    def estimate(self, fields: Mapping[str, object], element: str) -> float | None:
        """Return the original estimate in seconds (``None`` when unset).

        ``timeoriginalestimate`` wins over ``timetracking.originalEstimateSeconds``.

        Raises:
            ParseError: when the value is not a non-negative number.
        """
        for where, value in (
            ("fields/timeoriginalestimate", fields.get("timeoriginalestimate")),
            (
                "fields/timetracking/originalEstimateSeconds",
                _obj(fields.get("timetracking")).get("originalEstimateSeconds"),
            ),
        ):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise self.fail(
                    f"{element}/{where}",
                    f"an original estimate must be a number of seconds (0 or more), got {value!r}",
                )
            return float(value)
        return None

    def link(self, raw: object, element: str) -> JiraLink:
        if not isinstance(raw, Mapping):
            raise self.fail(element, "an issue link must be a JSON object")
        link_type = _obj(raw.get("type"))
        direction: Literal["outward", "inward"]
        if isinstance(raw.get("outwardIssue"), Mapping):
            direction, other = "outward", _obj(raw.get("outwardIssue"))
        elif isinstance(raw.get("inwardIssue"), Mapping):
            direction, other = "inward", _obj(raw.get("inwardIssue"))
        else:
            raise self.fail(element, "an issue link needs an inwardIssue or an outwardIssue")
        other_key = _str(other.get("key"))
        if other_key is None:
            raise self.fail(f"{element}/{direction}Issue/key", "the linked issue has no key")
        return JiraLink(
            type_name=_str(link_type.get("name")) or "",
            direction=direction,
            phrase=_str(link_type.get(direction)) or "",
            other_key=other_key,
            other_type=_str(_obj(_obj(other.get("fields")).get("issuetype")).get("name")),
            link_id=_str(raw.get("id")),
        )

    def link_types(self, items: Sequence[object], base: str) -> tuple[JiraLinkType, ...]:
        out = []
        for index, item in enumerate(items):
            obj = _obj(item)
            name = _str(obj.get("name"))
            if name is None:
                raise self.fail(f"{base}/{index}", "a link type needs a name")
            out.append(
                JiraLinkType(name, _str(obj.get("inward")) or "", _str(obj.get("outward")) or "")
            )
        return tuple(out)

    # ------------------------------------------------------------------- shape
    def read(self, raw: object) -> JiraFile:
        if isinstance(raw, Mapping):
            return self.read_object(raw)
        if isinstance(raw, list):
            objects = [x for x in raw if isinstance(x, Mapping)]
            if len(objects) != len(raw):
                raise self.fail("/", "an array must hold JSON objects only")
            if not raw:
                return JiraFile(self.name, "projects")
            if all({"name", "inward", "outward"} <= x.keys() for x in objects):
                return JiraFile(self.name, "linkTypes", link_types=self.link_types(raw, ""))
            if all("key" in x and "fields" not in x for x in objects):
                projects = tuple(self.project(x, f"/{i}") for i, x in enumerate(raw))
                return JiraFile(self.name, "projects", projects=projects)
            if all("key" in x and "fields" in x for x in objects):
                ids = self.field_ids({})
                issues = tuple(self.issue(x, f"/{i}", ids) for i, x in enumerate(raw))
                return JiraFile(self.name, "issues", issues=issues)
        raise self.unknown(raw)

    def read_object(self, raw: Mapping[str, object]) -> JiraFile:
        if isinstance(raw.get("issues"), list):
            ids = self.field_ids(_obj(raw.get("names")))
            items = raw["issues"]
            assert isinstance(items, list)
            issues = tuple(self.issue(x, f"/issues/{i}", ids) for i, x in enumerate(items))
            start, total = raw.get("startAt", 0), raw.get("total")
            page = JiraPage(
                start if isinstance(start, int) and not isinstance(start, bool) else 0,
                len(issues),
                total if isinstance(total, int) and not isinstance(total, bool) else None,
            )
            return JiraFile(self.name, "search", issues=issues, page=page)
        if isinstance(raw.get("fields"), Mapping) and "key" in raw:
            issue = self.issue(raw, "", self.field_ids({}))
            return JiraFile(self.name, "issue", issues=(issue,))
        if isinstance(raw.get("issueLinkTypes"), list):
            items = raw["issueLinkTypes"]
            assert isinstance(items, list)
            return JiraFile(
                self.name, "linkTypes", link_types=self.link_types(items, "/issueLinkTypes")
            )
        if isinstance(raw.get("values"), list):
            items = raw["values"]
            assert isinstance(items, list)
            projects = tuple(self.project(x, f"/values/{i}") for i, x in enumerate(items))
            return JiraFile(self.name, "projects", projects=projects)
        self_url = raw.get("self")
        looks_like_project = any(m in raw for m in _PROJECT_MARKERS) or (
            isinstance(self_url, str) and "/project/" in self_url
        )
        if "key" in raw and "name" in raw and looks_like_project:
            return JiraFile(self.name, "project", projects=(self.project(raw, ""),))
        if "errorMessages" in raw:
            raise self.fail(
                "/errorMessages", f"the file is a Jira error response: {raw['errorMessages']}"
            )
        raise self.unknown(raw)

    def unknown(self, raw: object) -> ParseError:
        if isinstance(raw, Mapping):
            got = f"an object with keys {', '.join(sorted(map(str, raw)))}" if raw else "{}"
        elif isinstance(raw, list):
            got = "an array of other objects"
        else:
            got = f"a JSON {type(raw).__name__}"
        return self.fail(
            "/",
            "not a Jira REST response this importer reads (a project, projects, an issue, "
            f"a search result with issues, or issue link types), got {got}",
        )


def parse_jira_json(path: Path, choices: FieldChoice | None = None) -> JiraFile:
    """Read one Jira REST response file (see the module docstring for the shapes).

    Args:
        path: The file.
        choices: Logical field -> field id or name (``customfield_10010`` or
            ``Change type``) for ``changeType``, ``risk``, ``plannedStart``,
            ``plannedEnd`` and ``epic``; by default they are found by their usual
            names in the response's ``names`` (``expand=names``).

    Raises:
        ParseError: naming the file, the line/column or JSON pointer and the
            reason, when the file is not JSON (truncated, for example), is of an
            unknown shape, is an error response, or holds a project or issue
            without a key.
    """
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ParseError(name, "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ParseError(name, f"byte {exc.start}", "not UTF-8 text") from None
    try:
        raw: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            name, f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}"
        ) from None
    except RecursionError:
        raise ParseError(name, "", "not valid JSON: nested too deeply") from None
    return _Reader(path, choices or {}).read(raw)
