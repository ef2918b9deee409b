"""ZITADEL's published Python SDK (PyPI zitadel-client 4.x), unmodified, against a running
Vestibule: the Session API v2 and v2beta (the SDK posts JSON to the Connect paths).

Environment: VESTIBULE_URL, VESTIBULE_API_KEY, VESTIBULE_OTHER_KEY, VESTIBULE_LOGIN,
VESTIBULE_PASSWORD, VESTIBULE_SCENARIO (main | ownership). Prints "ok: ..." per check; exits 1
on the first failure.
"""

import base64
import json
import os
import sys
import time

import zitadel_client as zc
from zitadel_client import models as m
from zitadel_client.exceptions import ApiError

URL = os.environ["VESTIBULE_URL"]
KEY = os.environ["VESTIBULE_API_KEY"]
LOGIN = os.environ["VESTIBULE_LOGIN"]
PASSWORD = os.environ["VESTIBULE_PASSWORD"]
SCENARIO = os.environ.get("VESTIBULE_SCENARIO", "main")


def check(condition, what):
    if not condition:
        print(f"failed: python: {what}")
        sys.exit(1)
    print(f"ok: python: {what}")


def expect_error(call, status, code, what):
    try:
        call()
    except ApiError as err:
        body = err.response_body
        if isinstance(body, (bytes, str)):
            body = json.loads(body)
        check(err.code == status and body.get("code") == code,
              f"{what}: {err.code} {body.get('code')} ({body.get('message')})")
        return body
    check(False, f"{what}: no error")


# The two packages differ only in their class names.
PACKAGES = {
    "v2": ("sessions", "SessionService"),
    "v2beta": ("beta_sessions", "BetaSessionService"),
}


def models(prefix):
    return lambda name: getattr(m, prefix + name)


def main(name, api, anonymous, M):
    expect_error(
        lambda: anonymous.create_session(M("CreateSessionRequest")(
            checks=M("Checks")(user=M("CheckUser")(login_name=LOGIN)))),
        401, "unauthenticated", f"{name} no bearer is Unauthenticated")

    raw = bytes([0, 1, 127, 128, 255])
    created = api.create_session(M("CreateSessionRequest")(
        checks=M("Checks")(user=M("CheckUser")(login_name=LOGIN),
                           password=M("CheckPassword")(password=PASSWORD)),
        metadata={"raw": base64.b64encode(raw).decode()},
        lifetime="3600s",
    ))
    check(created.session_id and created.session_token, f"{name} create with user and password")

    err = expect_error(
        lambda: api.set_session(M("SetSessionRequest")(
            session_id=created.session_id,
            checks=M("Checks")(password=M("CheckPassword")(password="not the password")))),
        400, "invalid_argument", f"{name} wrong password")
    check("COMMAND-3M0fs" in err["message"], f"{name} wrong password names COMMAND-3M0fs")
    detail = err["details"][0]
    check(detail.get("type") == "zitadel.v1.CredentialsCheckError"
          and detail.get("debug", {}).get("failedAttempts") == 1,
          f"{name} CredentialsCheckError detail")

    updated = api.set_session(M("SetSessionRequest")(
        session_id=created.session_id,
        checks=M("Checks")(password=M("CheckPassword")(password=PASSWORD))))
    check(updated.session_token and updated.session_token != created.session_token,
          f"{name} token rotation")

    expect_error(
        lambda: api.get_session(M("GetSessionRequest")(
            session_id=created.session_id, session_token=created.session_token)),
        403, "permission_denied", f"{name} old token refused")
    got = api.get_session(M("GetSessionRequest")(
        session_id=created.session_id, session_token=updated.session_token)).session
    check(got.id == created.session_id, f"{name} get with the new token")
    check(got.factors.user.login_name.lower() == LOGIN.lower(), f"{name} user factor")
    check(got.factors.password.verified_at is not None, f"{name} password factor")
    value = got.metadata["raw"]
    value = value if isinstance(value, bytes) else base64.b64decode(value)
    check(value == raw, f"{name} metadata bytes round trip")
    left = got.expiration_date.timestamp() - time.time()
    check(3500 < left <= 3600, f"{name} lifetime sets expirationDate")

    listed = api.list_sessions(M("ListSessionsRequest")(queries=[
        M("SearchQuery")(ids_query=M("IDsQuery")(ids=[created.session_id]))]))
    check(len(listed.sessions) == 1 and listed.sessions[0].id == created.session_id,
          f"{name} list by ids")

    host = URL.split("://", 1)[1].split(":", 1)[0].split("/", 1)[0]
    request = M("CreateSessionRequest")(
        challenges=M("RequestChallenges")(web_auth_n=M("WebAuthN")(
            domain=host,
            user_verification_requirement=M("UserVerificationRequirement")(
                "USER_VERIFICATION_REQUIREMENT_REQUIRED"))))
    passkey = api.create_session(request)
    check(passkey.challenges is not None and passkey.challenges.web_auth_n is not None,
          f"{name} WebAuthn challenge answered")
    # The SDK 4.x models Challenges.webAuthN with the request's WebAuthN class, which has no
    # publicKeyCredentialRequestOptions field, so the parsed object drops the options. The
    # SDK's own lower layer (the same request, serialized and sent by the SDK) shows them.
    params = api._create_session_serialize(request, None, None, None, 0)
    response = api.api_client.call_api(*params)
    response.read()
    options = json.loads(response.data)["challenges"]["webAuthN"]["publicKeyCredentialRequestOptions"]
    check("challenge" in options.get("publicKey", {}), f"{name} WebAuthn challenge options present")


def ownership(name, api, other, M):
    created = api.create_session(M("CreateSessionRequest")(
        checks=M("Checks")(user=M("CheckUser")(login_name=LOGIN),
                           password=M("CheckPassword")(password=PASSWORD))))
    seen = other.list_sessions(M("ListSessionsRequest")(queries=[
        M("SearchQuery")(ids_query=M("IDsQuery")(ids=[created.session_id]))]))
    check(len(seen.sessions or []) == 0, f"{name} a key sees only its own sessions")
    api.delete_session(M("DeleteSessionRequest")(
        session_id=created.session_id, session_token=created.session_token))
    expect_error(
        lambda: api.get_session(M("GetSessionRequest")(session_id=created.session_id)),
        404, "not_found", f"{name} delete then get fails")


for name, (attr, prefix) in PACKAGES.items():
    M = models(prefix)
    client = zc.Zitadel.with_access_token(URL, KEY)
    api = getattr(client, attr)
    if SCENARIO == "ownership":
        other = getattr(zc.Zitadel.with_access_token(URL, os.environ["VESTIBULE_OTHER_KEY"]), attr)
        ownership(name, api, other, M)
    else:
        # The SDK always sends a bearer; an empty token is what "no credentials" looks like.
        anonymous = getattr(zc.Zitadel.with_access_token(URL, ""), attr)
        main(name, api, anonymous, M)
print(f"sdk python {SCENARIO}: all passed")
