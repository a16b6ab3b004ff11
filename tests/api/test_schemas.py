"""The request schemas restate the domain's vocabularies for OpenAPI: keep them in step."""

from __future__ import annotations

import dataclasses
from typing import get_args
from uuid import uuid4

from casestore.api import practice_schemas, schemas

from casestore.domain import values
from casestore.domain.roles import PERMISSIONS
from casestore.domain.values import Actor, Party, SurveyParticipant
from casestore.service import commands
from casestore.service.staff import STAFF_COMMANDS, StaffCommand


def test_literals_match_the_domain_vocabularies() -> None:
    pairs = [
        (schemas.Channel, values.CHANNELS),
        (schemas.IdType, values.ID_TYPES),
        (schemas.Opinion, values.OPINIONS),
        (schemas.SurveyParty, values.SURVEY_PARTIES),
        (schemas.Conclusion, values.SURVEY_CONCLUSIONS),
        (schemas.Outcome, values.OUTCOMES),
        (schemas.DeliveryMethod, values.DELIVERY_METHODS),
    ]
    for literal, vocabulary in pairs:
        assert set(get_args(literal)) == set(vocabulary)


def test_every_service_action_has_an_endpoint_schema() -> None:
    practice = {
        schema.command.action
        for schema in (
            practice_schemas.EnquiryCreate,
            *practice_schemas.ENQUIRY_SCHEMAS.values(),
            practice_schemas.WindowCreate,
            *practice_schemas.WINDOW_SCHEMAS.values(),
            practice_schemas.AwardCreate,
            practice_schemas.AwardRevokeCreate,
        )
    }
    prefixes = ("enquiry-", "window-", "award-")
    assert practice == {a for a in PERMISSIONS if a.startswith(prefixes)}
    staff = {a for a in PERMISSIONS if a.startswith("staff-")}  # the CLI's, not HTTP's
    assert staff == set(STAFF_COMMANDS)
    actions = set(PERMISSIONS) - {"submit", "submit-bundle", "bundle-extend", "catalogue"} - staff
    assert set(schemas.COMMANDS) == actions - practice


def test_practice_literals_match_the_domain_vocabularies() -> None:
    from casestore.domain import enquiry, window

    assert set(get_args(practice_schemas.EnquiryKind)) == set(enquiry.ENQUIRY_KINDS)
    assert set(get_args(practice_schemas.EnquiryChannel)) == set(enquiry.ENQUIRY_CHANNELS)
    assert set(get_args(practice_schemas.EnquiryOutcome)) == set(enquiry.ENQUIRY_OUTCOMES)
    assert set(get_args(practice_schemas.WindowType)) == set(window.WINDOW_TYPES)
    from casestore.domain import award

    assert set(get_args(practice_schemas.AwardKind)) == set(award.AWARD_KINDS)


def _concrete_commands() -> set[type[commands.Command]]:
    from casestore.service import practice

    abstract = {
        commands.Command,
        commands.Update,
        commands.CaseCommand,
        commands.TimedCommand,
        practice.EnquiryCommand,
        practice.WindowCommand,
    }
    found: set[type[commands.Command]] = set()
    todo = [commands.Command]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls not in abstract:
            found.add(cls)
    return found


#: What the request's path and headers say, never its body.
CONTEXT = {
    "actor",
    "idempotency_key",
    "expected_version",
    "case_id",
    "bundle_id",
    "enquiry_id",
    "window_code",
    "award_id",
}


def test_one_request_schema_per_command_with_the_same_fields() -> None:
    request_schemas = [
        s
        for module in (schemas, practice_schemas)
        for s in vars(module).values()
        if isinstance(s, type) and issubclass(s, schemas.Strict) and "command" in vars(s)
    ]
    staff = [s for s in request_schemas if s is not schemas.PublicEvaluateCreate]
    by_command = {s.command: s for s in staff}
    assert len(by_command) == len(staff), "two staff schemas name the same command"
    # the catalogue is loaded from a file by the CLI, never over HTTP; so are staff changes
    cli_only = {commands.LoadCatalogue, StaffCommand, *STAFF_COMMANDS.values()}
    assert set(by_command) == _concrete_commands() - cli_only
    for command, schema in by_command.items():
        fields = {f.name for f in dataclasses.fields(command)} - CONTEXT
        assert set(schema.model_fields) == fields, command.__name__
    # the applicant's own evaluation is the staff one with its channel fixed
    public = set(schemas.PublicEvaluateCreate.model_fields)
    assert public == set(schemas.EvaluateCreate.model_fields) - {"channel", "occurred_at"}


def test_to_command_builds_domain_values() -> None:
    actor = Actor("s-1", "surveyor")
    body = schemas.SurveyResultCreate.model_validate(
        {
            "participants": [
                {"name": "甲", "party": "approval_bureau", "staff_id": "s1"},
                {"name": "丙", "party": "applicant"},
            ],
            "conclusion": "pass",
        }
    )
    case_id = uuid4()
    command = schemas.to_command(body, actor=actor, case_id=case_id, expected_version=3)
    assert command == commands.RecordSurvey(
        case_id=case_id,
        actor=actor,
        expected_version=3,
        participants=[
            SurveyParticipant("甲", "approval_bureau", "s1"),
            SurveyParticipant("丙", "applicant"),
        ],
        conclusion="pass",
    )
    intake = schemas.to_command(
        schemas.CaseCreate.model_validate(
            {
                "item_code": "XK-001",
                "applicant": {"name": "张三", "id_type": "passport", "id_number": "E1"},
            }
        ),
        actor=Actor("c-1", "clerk"),
    )
    assert isinstance(intake, commands.SubmitCase)
    assert intake.applicant == Party("张三", "passport", "E1")


def test_practice_path_segments_are_the_actions_without_their_family() -> None:
    """The enquiry and window routes' segments come from the commands' actions
    (``service.practice.by_segment``), each with its one schema."""
    assert list(practice_schemas.ENQUIRY_SCHEMAS) == ["answer", "refer", "close"]
    assert list(practice_schemas.WINDOW_SCHEMAS) == ["revise", "party-post", "duty"]
    for family, table in (
        ("enquiry", practice_schemas.ENQUIRY_SCHEMAS),
        ("window", practice_schemas.WINDOW_SCHEMAS),
    ):
        for segment, schema in table.items():
            assert schema.command.action == f"{family}-{segment}"
