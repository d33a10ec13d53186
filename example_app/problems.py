"""The example's OpenAPI document describes its error answers as they are: problem documents.

flask-prodready answers every error with an RFC 9457 ``application/problem+json`` document;
flask-smorest documents errors with its own schema as ``application/json``. ``ProblemApi``
documents ours instead, so that contract tests can hold the API to its document.
"""

from __future__ import annotations

import http

from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import Schema, fields

#: The media type of every error answer.
PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemSchema(Schema):
    """An RFC 9457 problem document, with flask-prodready's members."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String()
    code = fields.String(required=True)
    request_id = fields.String()
    errors = fields.Dict()


class ProblemApi(Api):  # type: ignore[misc]
    """flask-smorest's ``Api``, with every error response documented as a problem document."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, object] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)
