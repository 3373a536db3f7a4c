#!/usr/bin/env python3
"""A third-party FHIR client's journey through Carebook's FHIR R4 API.

fhirpy (beda.software, PyPI) is a FHIR client written by others, knowing
nothing of Carebook. With it, against `{gateway}/fhir/R4`:

1. a demo patient logs in (the REST login: the token endpoint the SMART
   configuration names), reads the CapabilityStatement, finds the provider,
   pages through their free Slots, books the first with `Appointment.save()`,
   reads it back, cancels it (PUT with `status: cancelled`) and reads the
   cancellation;
2. the provider reads the patient's AllergyIntolerance (the caller has set up
   the care relationship and written one);
3. another patient is refused both the allergies and the appointment
   (403 or 404, with an OperationOutcome).

Every resource received, errors included, is validated with validate.py
(fhir.resources). One line per step; exit 0 when all passed, 1 with the
failing step otherwise. Tokens and record contents are never printed.

Run by crates/carebook/tests/fhir.rs; by hand against `scripts/dev`:
  python client_journey.py --gateway http://127.0.0.1:8080 \
    --provider-id ID --patient-id ID --other-patient-id ID
"""

import argparse
import datetime as dt
import itertools
import json
import os
import sys
import urllib.error
import urllib.request

import requests
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import (
    AuthorizationError,
    BaseFHIRError,
    ForbiddenError,
    OperationOutcome,
    ResourceNotFound,
)

# validate.py beside this file, imported without leaving a __pycache__ in the clone.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import validate  # noqa: E402

DEMO_PASSWORD = "Carebook-demo-2026!"
HTTP_TIMEOUT = 30


class JourneyFailed(Exception):
    """A step did not go as the contract says."""


# The last step that passed and the last request sent, for the failure message.
PROGRESS = {"step": "(none)", "request": "(none)"}


def step(message):
    PROGRESS["step"] = message
    print(f"ok   {message}", flush=True)


class TracedClient(SyncFHIRClient):
    """fhirpy's client as it is, remembering its last request (method, path,
    parameters; never the token) so that a failure says which one failed."""

    def _do_request(self, method, path, data=None, params=None, extra_headers=None, **kwargs):
        PROGRESS["request"] = f"{method.upper()} {self._build_request_url(path, params)}"
        return super()._do_request(method, path, data, params, extra_headers, **kwargs)


def plain(value):
    """fhirpy's resources and references are dicts underneath: plain JSON."""
    return json.loads(json.dumps(value))


class Journey:
    def __init__(self, args):
        self.args = args
        self.base = args.gateway.rstrip("/") + "/fhir/R4"
        self.report = validate.Report()

    # -- validation -----------------------------------------------------

    def received(self, what, data):
        """Validate what the server sent; a failure stops the journey."""
        before = len(self.report.failures)
        validate.check(plain(data), self.report, what)
        new = self.report.failures[before:]
        if new:
            raise JourneyFailed(f"{what}: not valid FHIR R4:\n  " + "\n  ".join(new))

    # -- logging in -----------------------------------------------------

    def login(self, email, password):
        """An access token from `POST /api/v1/auth/login`."""
        url = self.args.gateway.rstrip("/") + "/api/v1/auth/login"
        body = json.dumps({"email": email, "password": password}).encode()
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as r:
                answer = json.load(r)
        except urllib.error.HTTPError as exc:
            raise JourneyFailed(
                f"login of {email}: {exc.code} {exc.read().decode(errors='replace')[:500]}"
            ) from exc
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
            raise JourneyFailed(f"login of {email}: {exc}") from exc
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise JourneyFailed(f"login of {email}: no access_token (mfa_required={answer.get('mfa_required')})")
        return token

    def client(self, email, password):
        token = self.login(email, password)
        return TracedClient(
            self.base,
            authorization=f"Bearer {token}",
            requests_config={"timeout": HTTP_TIMEOUT},
        )

    # -- the refusals ---------------------------------------------------

    def refused(self, what, attempt):
        """`attempt()` must fail with 403 or 404 and an OperationOutcome."""
        try:
            got = attempt()
        except (ForbiddenError, ResourceNotFound) as exc:
            status = 403 if isinstance(exc, ForbiddenError) else 404
            text = str(exc)
            try:
                outcome = json.loads(text)
            except json.JSONDecodeError as bad:
                raise JourneyFailed(f"{what}: {status} without a JSON OperationOutcome: {text[:300]}") from bad
            if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
                raise JourneyFailed(f"{what}: {status} answered {text[:300]}, not an OperationOutcome")
            self.received(f"{what} ({status})", outcome)
            return status
        except OperationOutcome as exc:
            raise JourneyFailed(f"{what}: refused with another status than 403/404: {exc.resource}") from exc
        except AuthorizationError as exc:
            raise JourneyFailed(f"{what}: 401, the token was not accepted: {exc}") from exc
        summary = plain(got)
        if isinstance(summary, dict):
            summary = f"{summary.get('resourceType')} total={summary.get('total')}"
        raise JourneyFailed(f"{what}: answered ({summary}) instead of refusing")

    # -- the journey ----------------------------------------------------

    def run(self):
        a = self.args
        patient = self.client(a.patient_email, a.patient_password)
        step(f"patient logged in ({a.patient_email})")

        statement = patient.execute("metadata", method="get")
        self.received("metadata", statement)
        if statement.get("fhirVersion") != "4.0.1":
            raise JourneyFailed(f"metadata: fhirVersion {statement.get('fhirVersion')!r}, not 4.0.1")
        step("CapabilityStatement read and valid (FHIR 4.0.1)")

        # The provider, found by name as an app would.
        found = patient.resources("Practitioner").search(name=a.provider_name).fetch_raw()
        self.received("Practitioner search", found)
        ids = [e["resource"]["id"] for e in found.get("entry", [])]
        provider_id = a.provider_id or (ids[0] if ids else None)
        if provider_id is None or provider_id not in ids:
            raise JourneyFailed(
                f"Practitioner?name={a.provider_name}: {len(ids)} found, not the provider {a.provider_id}"
            )
        practitioner = patient.reference("Practitioner", provider_id).to_resource()
        self.received("Practitioner read", practitioner)
        step(f"Practitioner found by name and read ({len(ids)} match)")

        # Free slots in the next week, two a page: fhirpy follows the next link.
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        free = (
            patient.resources("Slot")
            .search(**{"schedule.actor": f"Practitioner/{provider_id}", "status": "free"})
            .search(start__ge=_instant(now), start__lt=_instant(now + dt.timedelta(days=7)))
            .limit(2)
        )
        slots = list(itertools.islice(free, 3))
        for s in slots:
            self.received("Slot", s)
        if len(slots) < 3:
            raise JourneyFailed(f"Slot search: {len(slots)} free slots over two pages, expected 3")
        for s in slots:
            if s.get("status") != "free":
                raise JourneyFailed(f"Slot/{s.get('id')}: status {s.get('status')!r} in a status=free search")
            start = _parse(s.get("start"))
            if start is None or start < now - dt.timedelta(minutes=1):
                raise JourneyFailed(f"Slot/{s.get('id')}: start {s.get('start')!r} not from now on")
        starts = [_parse(s["start"]) for s in slots]
        if starts != sorted(starts) or len(set(s["id"] for s in slots)) != 3:
            raise JourneyFailed(f"Slot search: pages overlap or are out of order: {[s['id'] for s in slots]}")
        slot = slots[0]
        schedule = patient.reference(reference=slot["schedule"]["reference"]).to_resource()
        self.received("Schedule read", schedule)
        step(f"free Slots searched over two pages (first Slot/{slot['id']} at {slot['start']})")

        # Book it with fhirpy's create.
        appointment = patient.resource(
            "Appointment",
            status="booked",
            slot=[{"reference": f"Slot/{slot['id']}"}],
            participant=[
                {"actor": {"reference": f"Patient/{a.patient_id}"}, "status": "accepted"}
            ],
        )
        appointment.save()
        self.received("Appointment create", appointment)
        if not appointment.get("id"):
            raise JourneyFailed("Appointment create: the answer has no id")
        if appointment.get("status") != "booked":
            raise JourneyFailed(f"Appointment create: status {appointment.get('status')!r}, not booked")
        if _parse(appointment.get("start")) != _parse(slot["start"]):
            raise JourneyFailed(
                f"Appointment create: start {appointment.get('start')} is not the slot's {slot['start']}"
            )
        appointment_id = appointment["id"]
        step(f"Appointment/{appointment_id} booked")

        # Read it back.
        read = patient.reference("Appointment", appointment_id).to_resource()
        self.received("Appointment read", read)
        actors = [p.get("actor", {}).get("reference") for p in read.get("participant", [])]
        if f"Patient/{a.patient_id}" not in actors or f"Practitioner/{provider_id}" not in actors:
            raise JourneyFailed(f"Appointment read: participants {actors} lack the patient or the provider")
        if read.get("status") != "booked":
            raise JourneyFailed(f"Appointment read: status {read.get('status')!r}, not booked")
        mine = patient.resources("Appointment").search(patient=f"Patient/{a.patient_id}").fetch_raw()
        self.received("Appointment search", mine)
        if appointment_id not in [e["resource"]["id"] for e in mine.get("entry", [])]:
            raise JourneyFailed("Appointment search: the new appointment is not among the patient's")
        step("Appointment read back and found by search")

        # Cancel it: the resource as read, with status cancelled (PUT).
        read["status"] = "cancelled"
        read["cancelationReason"] = {"text": "Cancelled by the FHIR client journey"}
        read.save()
        self.received("Appointment update", read)
        if read.get("status") != "cancelled":
            raise JourneyFailed(f"Appointment update: status {read.get('status')!r} after cancelling")
        again = patient.reference("Appointment", appointment_id).to_resource()
        self.received("Appointment read after cancelling", again)
        if again.get("status") != "cancelled":
            raise JourneyFailed(f"Appointment read: status {again.get('status')!r}, not cancelled")
        step(f"Appointment/{appointment_id} cancelled and read as cancelled")

        # The provider reads the patient's allergies.
        provider = self.client(a.provider_email, a.provider_password)
        step(f"provider logged in ({a.provider_email})")
        allergies = (
            provider.resources("AllergyIntolerance")
            .search(patient=f"Patient/{a.patient_id}")
            .fetch_raw()
        )
        self.received("AllergyIntolerance search (provider)", allergies)
        entries = [e["resource"] for e in allergies.get("entry", [])]
        named = [
            r for r in entries
            if a.allergy.lower() in json.dumps(plain(r.get("code", {}))).lower()
        ]
        if not named:
            raise JourneyFailed(
                f"AllergyIntolerance?patient=Patient/{a.patient_id}: {len(entries)} entries, none coded {a.allergy}"
            )
        subject = plain(named[0].get("patient", {})).get("reference")
        if subject != f"Patient/{a.patient_id}":
            raise JourneyFailed(f"AllergyIntolerance: patient {subject!r}, not Patient/{a.patient_id}")
        step(f"provider read the patient's AllergyIntolerance ({len(entries)} entries, {a.allergy} among them)")

        # Another patient reads their own allergies, and is refused the first
        # patient's and their appointment.
        other = self.client(a.other_email, a.other_password)
        own = other.resources("AllergyIntolerance").search(patient=f"Patient/{a.other_patient_id}").fetch_raw()
        self.received("AllergyIntolerance search (other patient, own)", own)
        step(f"other patient logged in ({a.other_email}) and read their own allergies")
        status = self.refused(
            "other patient's AllergyIntolerance search",
            lambda: other.resources("AllergyIntolerance").search(patient=f"Patient/{a.patient_id}").fetch_raw(),
        )
        step(f"other patient refused the allergies ({status})")
        status = self.refused(
            "other patient's Appointment read",
            lambda: other.reference("Appointment", appointment_id).to_resource(),
        )
        step(f"other patient refused the appointment ({status})")

        print(f"ok   {self.report.summary()}")


def _instant(at):
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value):
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def arguments(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gateway", required=True, help="the gateway's base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--provider-id", help="the provider's id (found by --provider-name when left out)")
    p.add_argument("--provider-name", default="Vogel", help="a name of the provider to search for")
    p.add_argument("--patient-id", required=True)
    p.add_argument("--other-patient-id", required=True, help="another patient, who must be refused")
    p.add_argument("--patient-email", default="patient1@demo.carebook.test")
    p.add_argument("--patient-password", default=DEMO_PASSWORD)
    p.add_argument("--provider-email", default="provider1@demo.carebook.test")
    p.add_argument("--provider-password", default=DEMO_PASSWORD)
    p.add_argument("--other-email", default="patient2@demo.carebook.test")
    p.add_argument("--other-password", default=DEMO_PASSWORD)
    p.add_argument("--allergy", default="Penicillin", help="a substance the patient's allergies name")
    return p.parse_args(argv)


def main(argv):
    args = arguments(argv)
    journey = Journey(args)
    try:
        journey.run()
    except JourneyFailed as exc:
        failure = str(exc)
    except BaseFHIRError as exc:
        # fhirpy's own errors carry the server's answer (an OperationOutcome).
        failure = f"{PROGRESS['request']} -> {type(exc).__name__}: {str(exc)[:1500]}"
    except requests.RequestException as exc:
        failure = f"{PROGRESS['request']} -> no answer: {exc}"
    else:
        return 0
    print(f"FAIL after \"{PROGRESS['step']}\": {failure}", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
