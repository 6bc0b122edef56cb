"""The e-mail an SNS subscriber receives: a subject within SNS's limit and a plain-text body."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Final

from vpn_doctor.render.common import AlertView, category_words

# SNS: subjects must be under 100 characters, with no line breaks or control characters.
SUBJECT_LIMIT: Final = 99
_ELLIPSIS: Final = "..."


@dataclass(frozen=True, slots=True)
class EmailMessage:
    """What the SNS e-mail protocol sends: the ``Subject`` and the body."""

    subject: str
    body: str


def render_email(view: AlertView) -> EmailMessage:
    """The subject (the title, shortened to fit SNS) and a readable plain-text body."""
    # A cut subject loses the problem at its end: drop the connection name first.
    subject = view.title if len(email_subject(view.title)) == len(view.title) else view.short_title
    return EmailMessage(subject=email_subject(subject), body=_body(view))


def email_subject(title: str) -> str:
    """``title`` as a valid SNS subject: printable ASCII on one line, at most ``SUBJECT_LIMIT`` characters.

    Non-ASCII letters are folded (``é`` -> ``e``) rather than dropped, so connection names stay readable.
    """
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    line = " ".join("".join(ch if ch.isprintable() else " " for ch in folded).split())
    if len(line) <= SUBJECT_LIMIT:
        return line or "vpn-doctor alert"
    return line[: SUBJECT_LIMIT - len(_ELLIPSIS)].rstrip() + _ELLIPSIS


def _body(view: AlertView) -> str:
    cause = f" / {view.cause.value}" if view.cause else ""
    lines = [
        view.title,
        "",
        f"{view.lifecycle} - severity {view.severity.value} - "
        f"{category_words(view.category)} ({view.category.value}{cause})",
        "",
        "WHAT BROKE",
        f"  Started:  {view.started}",
        f"  Now:      {view.at}",
        f"  State:    {view.state}",
    ]
    if view.duration:
        lines.append(f"  Lasted:   {view.duration}")
    if view.flips:
        lines.append(f"  Flapping: {view.flips}")
    if view.phases:
        lines.append(f"  Phases:   {view.phases}")
    lines.append(f"  Reason:   {view.reason}")
    if view.tunnels:
        lines += ["", f"  {view.parts_label}:", *(f"    {line}" for line in view.tunnels)]
    if view.evidence:
        lines += ["", "  Decisive log lines:", *(f"    {line}" for line in view.evidence)]
    lines += ["", "WHY"]
    lines += [f"  {check}" for check in view.failed_checks] or [f"  {view.no_failed_checks}"]
    if view.self_heal:
        lines.append(f"  {view.self_heal}")
    lines += ["", "WHAT WAS DONE", f"  {view.remediation}"]
    if view.escalation:
        lines.append(f"  Escalation: {view.escalation}")
    lines += ["", "WHAT TO DO NEXT", *(f"  {index}. {step}" for index, step in enumerate(view.next_steps, 1))]
    if view.links:
        lines += ["", "LINKS", *(f"  {link.label}:\n    {link.url}" for link in view.links)]
    lines += ["", f"Incident {view.incident_id} - {view.kind.value} - event {view.event_id}", ""]
    return "\n".join(lines)
