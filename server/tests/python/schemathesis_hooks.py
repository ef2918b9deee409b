"""A check for server/tests/schemathesis.rs, loaded through SCHEMATHESIS_HOOKS.

schemathesis' own `positive_data_acceptance` fails every 400 answer to a request the document
allows. The Session API answers 400 for two different things, though: input the server refuses
as malformed, and requests that are well formed but fail a precondition the document cannot know
(a wrong code, a terminated session, a user without a password: the contract gives
FailedPrecondition HTTP 400). The suite lets 400 pass that check and runs this one instead: a 400
(or 415) to a request the document allows fails when its error id is one of the ids for malformed
input. Other 4xx and every 5xx stay with the built-in checks.
"""

import schemathesis

# Ids the server gives bad input: the request does not match its message or a field is out of
# bounds. Seeing one of them for a document-valid request means the document says too little.
MALFORMED_INPUT_IDS = {
    "API-Json01",  # malformed JSON or a field of the wrong type or length
    "API-Json02",  # body too large
    "API-Json03",  # not application/json
    "API-Param1",  # a path or query parameter that does not parse
    "API-Codec1",  # a content type the route does not serve
    "ARG-Inval1",  # a field out of bounds
    "COMMAND-asEG4",  # a lifetime out of bounds
    "COMMAND-Tpl01",  # a malformed URL template
    "REQ-Body01",  # a malformed handoff body
    "REQ-Media01",  # a handoff body type not served
}


def _error_id(body):
    """The stable id of an error answer in any of the server's three error shapes."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("error"), str):  # the handoff
        return body["error"]
    details = body.get("details")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        detail = details[0]
        if isinstance(detail.get("id"), str):  # REST
            return detail["id"]
        debug = detail.get("debug")
        if isinstance(debug, dict) and isinstance(debug.get("id"), str):  # Connect
            return debug["id"]
    return None


@schemathesis.check
def valid_input_is_not_refused_as_malformed(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if response.status_code not in (400, 415):
        return None
    try:
        body = response.json()
    except Exception:
        body = None
    error_id = _error_id(body)
    if error_id is None or error_id in MALFORMED_INPUT_IDS:
        raise AssertionError(
            f"A request the document allows was refused as malformed input "
            f"({response.status_code}, {error_id or 'no error id'}): {response.text[:300]}"
        )
    return None
