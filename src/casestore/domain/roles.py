"""Who may issue which command (the role matrix the README documents).

Auditors and inspectors are read-only everywhere. ``applicant`` is the role of a
request authenticated by case number + query code (it may only evaluate its own case).
"""

from __future__ import annotations

from typing import Final

from casestore.domain.errors import Forbidden
from casestore.domain.values import Actor

STAFF_WRITERS: Final = frozenset(
    {"clerk", "reviewer", "approver", "surveyor", "sealer", "dispatcher", "admin"}
)

PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "submit": frozenset({"clerk", "admin"}),
    "submit-bundle": frozenset({"clerk", "admin"}),
    "supplement-request": frozenset({"clerk", "reviewer", "admin"}),
    "supplement": frozenset({"clerk", "admin"}),
    "accept": frozenset({"clerk", "admin"}),
    "reject": frozenset({"clerk", "reviewer", "admin"}),
    "withdraw": frozenset({"clerk", "admin"}),
    "review": frozenset({"reviewer", "approver"}),
    "survey-schedule": frozenset({"surveyor", "reviewer"}),
    "survey-result": frozenset({"surveyor"}),
    "suspend": frozenset({"reviewer", "approver"}),
    "resume": frozenset({"reviewer", "approver"}),
    "extend": frozenset({"approver"}),
    "decide": frozenset({"approver"}),
    "seal": frozenset({"sealer"}),
    "deliver": frozenset({"dispatcher", "clerk"}),
    "evaluate": frozenset({"clerk", "dispatcher", "admin", "applicant"}),
    "bad-review": frozenset({"admin", "approver"}),
    "follow-up": frozenset({"clerk", "admin"}),
    # 惠民服务 (刻章, 邮寄, 复印): the window that gives it, the dispatcher who mails
    "service": frozenset({"clerk", "dispatcher", "admin"}),
    "correct": STAFF_WRITERS,
    "bundle-extend": frozenset({"approver"}),
    "catalogue": frozenset({"admin"}),
    # 群众诉求/咨询: the window staff, and the leader on duty (领导带班) who is an approver
    "enquiry-receive": frozenset({"clerk", "approver", "admin"}),
    "enquiry-answer": frozenset({"clerk", "reviewer", "approver", "admin"}),
    "enquiry-refer": frozenset({"clerk", "approver", "admin"}),
    "enquiry-close": frozenset({"clerk", "approver", "admin"}),
    "window-register": frozenset({"admin"}),
    "window-revise": frozenset({"admin"}),
    "window-party-post": frozenset({"admin"}),
    "window-duty": frozenset({"admin"}),
    # the register: selections by the bureau's office (admin); thanks received at a window
    "award-grant": frozenset({"clerk", "admin"}),
    "award-revoke": frozenset({"admin"}),
    # staff and their authority (casestore.service.staff; the CLI, not HTTP): admins only,
    # never about themselves, and the admin role seconded by a second admin
    "staff-enroll": frozenset({"admin"}),
    "staff-grant": frozenset({"admin"}),
    "staff-second": frozenset({"admin"}),
    "staff-revoke": frozenset({"admin"}),
    "staff-suspend": frozenset({"admin"}),
    "staff-reinstate": frozenset({"admin"}),
    "staff-leave": frozenset({"admin"}),
}


def check_permission(action: str, actor: Actor) -> None:
    """Raise :class:`Forbidden` unless ``actor``'s role may issue ``action``."""
    allowed = PERMISSIONS.get(action)
    if allowed is None:
        raise Forbidden(f"unknown action {action!r}")
    if actor.role not in allowed:
        raise Forbidden(
            f"role {actor.role!r} may not {action} (allowed: {sorted(allowed)})",
            action=action,
            role=actor.role,
        )
