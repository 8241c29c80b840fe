"""The CSP middleware gives every response exactly the header django-csp's own middleware gives."""

import pytest
from csp.constants import NONCE, SELF
from csp.exceptions import CSPNonceError
from csp.middleware import CSPMiddleware
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

from serving.middleware import ContentSecurityPolicyMiddleware

POLICY = {"DIRECTIVES": {"default-src": [SELF], "script-src": [SELF, NONCE]}}


def answered(middleware_class: type, view: object, path: str = "/v6/nodes/") -> tuple[HttpRequest, HttpResponse]:
    request = RequestFactory().get(path)
    response = middleware_class(view)(request)
    return request, response


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("{}")


def with_nonce(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"<script nonce='{request.csp_nonce}'></script>")


def with_update(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("{}")
    response._csp_update = {"img-src": ["https://images.example.test"]}
    return response


@pytest.mark.parametrize("view", [plain, with_nonce, with_update])
def test_the_header_is_django_csps_for_plain_nonce_and_decorated_answers(view: object) -> None:
    with override_settings(CONTENT_SECURITY_POLICY=POLICY, CONTENT_SECURITY_POLICY_REPORT_ONLY=POLICY):
        ours = answered(ContentSecurityPolicyMiddleware, view)[1]
        theirs = answered(CSPMiddleware, view)[1]
    for header in ("Content-Security-Policy", "Content-Security-Policy-Report-Only"):
        mine = ours[header].split("; ")
        expected = theirs[header].split("; ")
        if view is with_nonce:
            # A fresh nonce per request: compare the directives with it blanked out.
            mine = [part.split("'nonce-")[0] for part in mine]
            expected = [part.split("'nonce-")[0] for part in expected]
        assert sorted(mine) == sorted(expected), (ours[header], theirs[header])
    if view is with_update:
        assert "https://images.example.test" in ours["Content-Security-Policy"]
    if view is with_nonce:
        assert "'nonce-" in ours["Content-Security-Policy"]


def test_a_changed_setting_changes_the_header_at_once() -> None:
    with override_settings(CONTENT_SECURITY_POLICY=POLICY):
        first = answered(ContentSecurityPolicyMiddleware, plain)[1]["Content-Security-Policy"]
    other = {"DIRECTIVES": {"default-src": ["'none'"]}}
    with override_settings(CONTENT_SECURITY_POLICY=other):
        second = answered(ContentSecurityPolicyMiddleware, plain)[1]["Content-Security-Policy"]
    assert "default-src 'self'" in first
    assert second == "default-src 'none'"


def test_excluded_paths_are_left_to_django_csp() -> None:
    policy = {**POLICY, "EXCLUDE_URL_PREFIXES": ["/metrics"]}
    with override_settings(CONTENT_SECURITY_POLICY=policy):
        excluded = answered(ContentSecurityPolicyMiddleware, plain, "/metrics")[1]
        included = answered(ContentSecurityPolicyMiddleware, plain, "/v6/nodes/")[1]
    assert "Content-Security-Policy" not in excluded
    assert "default-src 'self'" in included["Content-Security-Policy"]


def test_a_nonce_asked_for_after_the_header_is_written_is_an_error() -> None:
    with override_settings(CONTENT_SECURITY_POLICY=POLICY):
        request, _ = answered(ContentSecurityPolicyMiddleware, plain)
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)
