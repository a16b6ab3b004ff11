"""The request schemas restate the domain's vocabularies for OpenAPI: keep them in step."""

from __future__ import annotations

from typing import get_args

from casestore.api import schemas

from casestore.domain import values
from casestore.domain.roles import PERMISSIONS


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
    actions = set(PERMISSIONS) - {"submit", "submit-bundle", "bundle-extend", "catalogue"}
    assert set(schemas.COMMANDS) == actions
