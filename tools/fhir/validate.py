#!/usr/bin/env python3
"""Validate FHIR R4 JSON with an independent validator: fhir.resources (PyPI).

Reads one resource, a Bundle, or a JSON array of them from each file named on
the command line, or from standard input when none is. Every resource is
checked against the fhir.resources R4B models (R4B covers R4's scheduling and
clinical resources) and each Bundle's entries are checked one by one, so a
failure names the resource it is in. The models check structure, cardinality
and datatypes but not ids' length nor required code bindings, so those two
R4 rules are checked here too, for the elements Carebook serves.

Prints one line per failure (`Type/id: what`) and a count; exits 1 when any
resource failed, 2 when the input is not JSON, 0 otherwise.

Also a module: `client_journey.py` imports `check` and `Report`.
"""

import json
import sys

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

# R4's `id` datatype is at most 64 characters
# (http://hl7.org/fhir/R4/datatypes.html#id); the models check its characters.
ID_MAX = 64

# Required bindings of the elements Carebook serves (path from the resource,
# list elements stepped through), which the models accept as any code.
REQUIRED_CODES = {
    "Appointment": {
        ("status",): {
            "proposed", "pending", "booked", "arrived", "fulfilled",
            "cancelled", "noshow", "entered-in-error", "checked-in", "waitlist",
        },
        ("participant", "status"): {"accepted", "declined", "tentative", "needs-action"},
    },
    "Slot": {("status",): {"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"}},
    "Bundle": {
        ("type",): {
            "document", "message", "transaction", "transaction-response", "batch",
            "batch-response", "history", "searchset", "collection",
        },
        ("entry", "search", "mode"): {"match", "include", "outcome"},
    },
    "OperationOutcome": {
        ("issue", "severity"): {"fatal", "error", "warning", "information"},
    },
    "CapabilityStatement": {
        ("status",): {"draft", "active", "retired", "unknown"},
        ("kind",): {"instance", "capability", "requirements"},
        ("rest", "mode"): {"client", "server"},
        ("rest", "resource", "interaction", "code"): {
            "read", "vread", "update", "patch", "delete", "history-instance",
            "history-type", "create", "search-type",
        },
        ("rest", "resource", "searchParam", "type"): {
            "number", "date", "string", "token", "reference", "composite",
            "quantity", "uri", "special",
        },
    },
    "Observation": {("status",): {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}},
    "MedicationStatement": {("status",): {"active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken"}},
    "DocumentReference": {("status",): {"current", "superseded", "entered-in-error"}},
    "AllergyIntolerance": {("criticality",): {"low", "high", "unable-to-assess"}},
    "Practitioner": {("gender",): {"male", "female", "other", "unknown"}},
    "Patient": {("gender",): {"male", "female", "other", "unknown"}},
}


class Report:
    """What was checked: how many resources, and one line per failure."""

    def __init__(self):
        self.checked = 0
        self.failed = 0
        self.failures = []

    @property
    def ok(self):
        return not self.failures

    def summary(self):
        return f"{self.checked} resources validated, {self.failed} failed"


def _values(node, path):
    """The values at `path` under `node`, stepping through lists."""
    if not path:
        yield from (node if isinstance(node, list) else [node])
        return
    for item in node if isinstance(node, list) else [node]:
        if isinstance(item, dict) and path[0] in item:
            yield from _values(item[path[0]], path[1:])


def _name(resource):
    kind = resource.get("resourceType", "?") if isinstance(resource, dict) else "?"
    rid = resource.get("id") if isinstance(resource, dict) else None
    return f"{kind}/{rid}" if rid is not None else kind


def _errors(exc, skip_entries):
    """Readable lines of a pydantic error, without those inside Bundle entries
    (`skip_entries`: those are reported by the entry's own check)."""
    lines = []
    for err in exc.errors():
        loc = err.get("loc", ())
        if skip_entries and len(loc) >= 3 and loc[0] == "entry" and loc[2] == "resource":
            continue
        where = ".".join(str(part) for part in loc) or "(resource)"
        lines.append(f"{where}: {err.get('msg')}")
    return lines


def check(resource, report=None, where=""):
    """Validate `resource` (a dict; a Bundle's entries too, recursively, and a
    list of resources item by item) into `report`, which is returned."""
    report = report if report is not None else Report()
    if isinstance(resource, list):
        for i, item in enumerate(resource):
            check(item, report, f"{where}[{i}]")
        return report
    report.checked += 1
    name = _name(resource)
    label = f"{where} {name}".strip() if where else name
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        report.failed += 1
        report.failures.append(f"{label}: not a FHIR resource (no resourceType)")
        return report
    kind = resource["resourceType"]
    try:
        model = get_fhir_model_class(kind)
    except (KeyError, ValueError) as exc:
        report.failed += 1
        report.failures.append(f"{label}: unknown resource type ({exc})")
        return report

    problems = []
    entries = resource.get("entry") if kind == "Bundle" else None
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        problems.extend(_errors(exc, skip_entries=isinstance(entries, list)))
    rid = resource.get("id")
    if isinstance(rid, str) and len(rid) > ID_MAX:
        problems.append(f"id: {len(rid)} characters, R4 allows {ID_MAX}")
    for path, allowed in REQUIRED_CODES.get(kind, {}).items():
        for value in _values(resource, path):
            if value not in allowed:
                problems.append(f"{'.'.join(path)}: {value!r} is not in the required value set")
    if problems:
        report.failed += 1
        report.failures.extend(f"{label}: {p}" for p in problems)

    if isinstance(entries, list):
        for i, entry in enumerate(entries):
            if isinstance(entry, dict) and "resource" in entry:
                check(entry["resource"], report, f"{label} entry[{i}]")
    return report


def main(argv):
    report = Report()
    sources = argv[1:] or ["-"]
    for source in sources:
        try:
            if source == "-":
                data = json.load(sys.stdin)
            else:
                with open(source, encoding="utf-8") as f:
                    data = json.load(f)
        except (OSError, json.JSONDecodeError) as exc:
            print(f"{'stdin' if source == '-' else source}: not JSON ({exc})", file=sys.stderr)
            return 2
        check(data, report)
    for line in report.failures:
        print(line)
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
