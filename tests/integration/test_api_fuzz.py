"""The API fuzzed from its own OpenAPI document (schemathesis): valid and invalid calls of every
operation, as a city client that may write. No answer is a 500 and every answer matches the
document (status, media type, body schema)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import jobs
from app.api.clients import create_client
from tests.admissions_factories import create_area, create_season

pytestmark = pytest.mark.slow
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_document(app, world, mode):
    app.config["API_RATE_LIMIT"] = "100000/minute"
    create_area(world["districts"][0], n_children=2)
    create_season()
    _client, token = create_client("fuzzer", can_write=True)
    jobs.commit()
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        fuzz()
